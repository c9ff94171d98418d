//! The safety net of a SQLite database, usable on its own: by the migration engine that is
//! built on it (`belay-migrate`), and by an application that uses another migration tool or
//! none.
//!
//! - [`integrity`]: checks that say ok, damaged, or could not check and why; the repair ladder.
//! - [`backup`]: hot backups of a pinned snapshot, compressed and verified, rotated; whole and
//!   per-table restores through SQLite's backup API, with the proof that nobody committed since.
//! - [`database`]: opening the file after one check of what it is, letting SQLite finish what a
//!   killed process left ([`database::settle`]), the migration lock, the writers' proof.
//! - [`files`]: files written whole or not at all, only ever the user's own; the journal.
//! - [`archive`]: point-in-time recovery: every commit shipped from the WAL into an archive,
//!   and the database rebuilt as it was at any of them, checked against the hash recorded there.
//! - [`connect`]: the connection layer for an application: one writer and bounded readers set
//!   up with the `[database]` settings, writes retried within a deadline, read-only while the
//!   disk is full or writes keep failing, and back by itself.
//!
//! ```no_run
//! use belay_guard::integrity::{self, Depth, Options, Verdict};
//!
//! let report = integrity::check("app.db".as_ref(), &Options::new(Depth::Quick))?;
//! match report.verdict {
//!     Verdict::Ok => println!("ok"),
//!     Verdict::Damaged => println!("damaged: {} problem(s)", report.damage),
//!     Verdict::CouldNotCheck => println!("no verdict: {:?}", report.obstacle),
//! }
//! # Ok::<(), belay_guard::Error>(())
//! ```
//!
//! Layers, bottom to top (each uses only those below it): [`vocab`], [`files`],
//! [`foreign_keys`], [`database`], [`connect`], [`integrity`], [`backup`], [`archive`], [`repair`], [`watch`]. Nothing here knows of migrations: where the
//! engine records what the net did (a restore, a repair, as an attempt in its history), the net
//! hands it what happened through a hook.
#![warn(missing_docs)]

// The layers, bottom to top; each uses only those below it (tests/tests/layering.rs).
pub mod archive;
pub mod backup;
pub mod connect;
pub mod database;
pub mod files;
pub mod foreign_keys;
pub mod integrity;
pub mod remote;
pub mod repair;
pub mod vocab;
pub mod watch;

pub use rusqlite;
pub use vocab::error::{Error, storage_hint};
