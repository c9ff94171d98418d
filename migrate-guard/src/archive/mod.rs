//! Point-in-time recovery: an archive of every commit, and the database rebuilt as it was at
//! any of them.
//!
//! The [`Archiver`] follows a database's WAL and ships each committed transaction's frames
//! into segments after a base snapshot, each commit with its time and the page hash of the
//! database it leaves ([`pagehash`]); [`rebuild::rebuild`] writes the state at a point into a
//! new file and checks it against that hash and by SQLite; [`status::status`] and
//! [`verify::verify`] say what the archive holds and whether it is whole. The format is in
//! docs/pitr.md.
//!
//! ```no_run
//! use std::path::Path;
//! use belay_guard::archive::{self, Archiver, Catalog, Options};
//!
//! let db = Path::new("app.db");
//! let dir = archive::default_dir(db); // app.db.archive
//! let mut archiver = Archiver::start(db, &dir, Options::default())?;
//! archiver.round()?; // ship what is committed now; call again every second or so
//! let catalog = Catalog::read(&dir)?;
//! let point = catalog.last().expect("a point");
//! archive::rebuild::rebuild(&catalog, point.id, Path::new("copy.db"), 0o644)?;
//! # Ok::<(), belay_guard::Error>(())
//! ```

pub mod archiver;
pub mod base;
pub mod catalog;
pub mod compact;
pub mod marks;
pub mod mirror;
pub mod pagehash;
pub mod rebuild;
pub mod segment;
pub mod status;
pub mod verify;
pub mod walfile;

use std::path::{Path, PathBuf};

pub use archiver::{Archiver, Checkpointing, Options, Round};
pub use catalog::{Catalog, Gap, Point};

/// `<db file>.archive` beside the database.
pub fn default_dir(db: &Path) -> PathBuf {
    crate::database::db::sibling(db, ".archive")
}
