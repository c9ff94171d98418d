//! Putting a repaired file in place of the damaged database, and keeping a copy of the damaged
//! one first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::Error;
use crate::backup;
use crate::database::db::sibling;
use crate::vocab::error::SqliteContext;

/// How the repaired file went in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Installed {
    /// Copied page by page into the live database through SQLite's backup API (other
    /// connections see the change as an ordinary write).
    Copied,
    /// Renamed over the database file, because SQLite could not open the damaged file to
    /// write into it.
    Renamed,
}

/// Copies the damaged database (and its WAL) into `dir` as `damaged-<stamp>.db`, returning the
/// copy's path.
///
/// # Errors
///
/// [`Error::Io`] when the copy cannot be written (then nothing has been changed).
pub(crate) fn keep_copy(db: &Path, dir: &Path, stamp: &str) -> Result<PathBuf, Error> {
    backup::create_dir(dir)?;
    let copy = dir.join(format!("damaged-{stamp}.db"));
    for suffix in ["", "-wal"] {
        let from = sibling(db, suffix);
        if suffix == "-wal" && !from.exists() {
            continue;
        }
        let to = sibling(&copy, suffix);
        let mut out = backup::create_private(&to)?;
        let mut input = std::fs::File::open(&from).map_err(|source| Error::Io {
            path: from.clone(),
            source,
        })?;
        std::io::copy(&mut input, &mut out)
            .and_then(|_| out.sync_all())
            .map_err(|source| Error::Io {
                path: to.clone(),
                source,
            })?;
    }
    backup::sync_dir(&copy)?;
    Ok(copy)
}

/// Puts the checked database at `new` in place of `db`: through the backup API when SQLite can
/// write into the damaged file, else by renaming (the WAL and shared-memory files of the
/// damaged database removed first, so SQLite never replays an old WAL onto the new file).
///
/// # Errors
///
/// [`Error::Io`] or [`Error::Sqlite`] when neither way works.
pub(crate) fn install(new: &Path, db: &Path, timeout: Duration) -> Result<Installed, Error> {
    match copy_pages(new, db, timeout) {
        Ok(()) => return Ok(Installed::Copied),
        // Only a file SQLite cannot write into for its damage is renamed over: a lock, a
        // permission, a full disk would stay in the way of the rename's readers too, and an
        // open connection would go on writing into the file the rename unlinked.
        Err(e) if !damage_in_the_way(&e, db) => return Err(e),
        Err(_) => {}
    }
    for suffix in ["-wal", "-shm"] {
        let path = sibling(db, suffix);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path, source }),
        }
    }
    backup::Staged::adopt(new.to_path_buf()).publish(db)?;
    Ok(Installed::Renamed)
}

/// Whether the copy failed because of the damaged file itself: SQLite called it damaged, or
/// refused to write a file this user may write (its header's write version, damaged).
fn damage_in_the_way(e: &Error, db: &Path) -> bool {
    use crate::vocab::verdict::{Obstacle, Stop, classify};
    let Error::Sqlite { source, .. } = e else {
        return false;
    };
    match classify(source) {
        Stop::Damage => true,
        Stop::Obstacle(Obstacle::AccessDenied) => crate::database::db::check_target(db).is_ok(),
        Stop::Obstacle(_) => false,
    }
}

/// Copies every page of `new` into `db` through the backup API (the restore's own copy), then
/// compares the result with `new` page by page.
fn copy_pages(new: &Path, db: &Path, timeout: Duration) -> Result<(), Error> {
    let source = Connection::open_with_flags(new, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .context("opening the repaired database")?;
    let mut live = crate::database::db::open(db, timeout)?;
    // `new` has passed its check already: nothing to overlap with the copy.
    let copied = backup::copy_into(&source, &mut live, timeout, backup::Proof::Accepted, || {
        Ok(())
    })?;
    drop(live);
    match copied {
        backup::Copied::Done(written) => backup::check_copy(&source, db, &written),
        backup::Copied::Refused => Err(Error::Internal {
            reason: "a copy that needs no proof was refused; nothing was installed".to_owned(),
        }),
    }
}
