//! Restoring a whole database from a backup: verify first, then copy into the live database
//! through SQLite's backup API under the migration lock (never by renaming files under open
//! connections, which would leave them reading a deleted file), then check the result.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use serde::Serialize;

use crate::Error;
use crate::backup::store;
use crate::backup::verify::{self, Depth};
use crate::error::SqliteContext;
use crate::lock::MigrationLock;

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The backup restored.
    pub id: String,
    /// The database written.
    pub target: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// How long it took, verification included.
    pub duration_ms: u64,
}

/// Restores the backup `id` (or `latest`) from `dir` over the database at `db`.
///
/// # Errors
///
/// [`Error::BackupCorrupt`] when the backup fails verification (the database is untouched);
/// [`Error::LockTimeout`]; [`Error::Sqlite`] when the copy fails; [`Error::BackupCorrupt`]
/// naming the database when the restored copy fails its check.
pub fn restore(db: &Path, dir: &Path, id: &str, timeout: Duration) -> Result<RestoreReport, Error> {
    let started = Instant::now();
    let manifest = store::find(dir, id)?;
    let image = verify::stage(
        dir,
        &manifest,
        &dir.join(format!(".{}.restore.tmp", manifest.id)),
        Depth::Quick,
    )?;
    let _lock = MigrationLock::acquire(db, timeout)?;
    let source = verify::open_image(&image)?;
    let mut live = crate::db::open(db, timeout)?;
    copy_into(&source, &mut live, timeout)?;
    let check: String = live
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .context("checking the restored database")?;
    if check != "ok" {
        return Err(Error::BackupCorrupt {
            path: db.to_path_buf(),
            reason: format!("the restored database fails quick_check: {check}"),
        });
    }
    Ok(RestoreReport {
        id: manifest.id,
        target: db.to_path_buf(),
        bytes: manifest.byte_size,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Restores the backup `id` into a new file at `to`, leaving every existing database alone.
///
/// # Errors
///
/// [`Error::InvalidRequest`] when `to` exists; as [`restore`] otherwise.
pub fn restore_to(to: &Path, dir: &Path, id: &str) -> Result<RestoreReport, Error> {
    let started = Instant::now();
    if to.exists() {
        return Err(Error::InvalidRequest {
            reason: format!(
                "{} exists; --to restores into a new file only",
                to.display()
            ),
        });
    }
    let manifest = store::find(dir, id)?;
    let image = verify::stage(dir, &manifest, &store::temp_path(to), Depth::Quick)?;
    image.publish(to)?;
    Ok(RestoreReport {
        id: manifest.id,
        target: to.to_path_buf(),
        bytes: manifest.byte_size,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Copies every page of `source` into `live` in one step, retrying while other connections
/// hold locks, up to `timeout`.
fn copy_into(
    source: &rusqlite::Connection,
    live: &mut rusqlite::Connection,
    timeout: Duration,
) -> Result<(), Error> {
    let backup = Backup::new(source, live).context("starting the restore")?;
    let deadline = Instant::now() + timeout;
    loop {
        match backup
            .step(-1)
            .context("copying the backup into the database")?
        {
            StepResult::Done => return Ok(()),
            StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            StepResult::More => {}
            _ => {
                return Err(Error::InvalidRequest {
                    reason:
                        "the database stayed locked by another connection; nothing was restored"
                            .to_owned(),
                });
            }
        }
    }
}
