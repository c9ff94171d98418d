//! Restoring a whole database from a backup: verify first, then copy into the live database
//! through SQLite's backup API under the migration lock (never by renaming files under open
//! connections, which would leave them reading a deleted file), then check the result.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use serde::Serialize;

use crate::Error;
use crate::backup::manifest::Manifest;
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
/// naming the database when the restored copy does not match the verified image.
pub fn restore(db: &Path, dir: &Path, id: &str, timeout: Duration) -> Result<RestoreReport, Error> {
    let manifest = store::find(dir, id)?;
    let _lock = MigrationLock::acquire(db, timeout)?;
    let report = restore_locked(db, dir, &manifest, timeout)?;
    // The whole database is now the backup's: whatever an interrupted run left part-way is
    // gone with it, and its marker has nothing left to tell.
    crate::marker::clear(db)?;
    Ok(report)
}

/// [`restore`] for a caller that already holds the migration lock (a migration run restoring
/// its own pre-run backup).
pub(crate) fn restore_locked(
    db: &Path,
    dir: &Path,
    manifest: &Manifest,
    timeout: Duration,
) -> Result<RestoreReport, Error> {
    let started = Instant::now();
    let image = verify::stage_unchecked(
        dir,
        manifest,
        &dir.join(format!(".{}.restore.tmp", manifest.id)),
    )?;
    let source = verify::open_image(&image)?;
    let mut live = crate::db::open(db, timeout)?;
    // A 64 MiB cache spills (and syncs the journal) far less often than the default 2 MiB while
    // every page is rewritten.
    live.execute_batch("PRAGMA cache_size = -65536")
        .context("preparing the restore")?;
    // The image's integrity check runs on the other core while the pages are copied; the copy
    // commits only once the check has passed.
    let check = || verify::check(dir, manifest, image.path(), (Depth::Quick, 1));
    copy_into(&source, &mut live, timeout, check)?;
    check_copy(&source, &live, db)?;
    Ok(RestoreReport {
        id: manifest.id.clone(),
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

/// Checks the restored database: every page equal to the verified image's, page 1 aside (SQLite
/// updates its change counter and schema cookie on the copy). Where `sqlite_dbpage` is not
/// compiled in, `quick_check` is run instead.
pub(crate) fn check_copy(
    image: &rusqlite::Connection,
    live: &rusqlite::Connection,
    db: &Path,
) -> Result<(), Error> {
    let failed = |reason: String| Error::BackupCorrupt {
        path: db.to_path_buf(),
        reason: format!("the restored database does not match the backup: {reason}"),
    };
    const PAGES: &str = "SELECT pgno, data FROM sqlite_dbpage('main') ORDER BY pgno";
    let (Ok(mut ours), Ok(mut theirs)) = (live.prepare(PAGES), image.prepare(PAGES)) else {
        // Only SQLite's exact answer `ok` passes; any other answer, or none, fails.
        let answer: Vec<String> = live
            .prepare("PRAGMA quick_check")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .context("checking the restored database")?;
        return if answer == ["ok"] {
            Ok(())
        } else {
            Err(failed(answer.join("; ")))
        };
    };
    let mut ours = ours.query([]).context("reading the restored database")?;
    let mut theirs = theirs.query([]).context("reading the backup image")?;
    loop {
        let (a, b) = (
            ours.next().context("reading the restored database")?,
            theirs.next().context("reading the backup image")?,
        );
        match (a, b) {
            (None, None) => return Ok(()),
            (Some(_), None) | (None, Some(_)) => {
                return Err(failed("the page counts differ".to_owned()));
            }
            (Some(a), Some(b)) => {
                let pgno: i64 = a.get(0).context("reading the restored database")?;
                if pgno == 1 {
                    continue;
                }
                let equal = a
                    .get_ref(1)
                    .and_then(|x| Ok(x.as_blob()? == b.get_ref(1)?.as_blob()?))
                    .context("comparing pages")?;
                if !equal {
                    return Err(failed(format!("page {pgno} differs")));
                }
            }
        }
    }
}

/// Copies every page of `source` into `live` while `check` runs on another thread, and commits
/// only if it passes.
///
/// The backup API keeps the destination's write transaction open until its last step, and
/// abandoning a backup before then rolls that transaction back. So every page but the last
/// is copied, the check is awaited, and only then the last step commits; a failed check drops
/// the backup and the live database is untouched.
pub(crate) fn copy_into(
    source: &rusqlite::Connection,
    live: &mut rusqlite::Connection,
    timeout: Duration,
    check: impl FnOnce() -> Result<(), Error> + Send,
) -> Result<(), Error> {
    std::thread::scope(|scope| {
        let checker = scope.spawn(check);
        let backup = Backup::new(source, live).context("starting the restore")?;
        let deadline = Instant::now() + timeout;
        let step = |pages: i32| -> Result<StepResult, Error> {
            loop {
                match backup
                    .step(pages)
                    .context("copying the backup into the database")?
                {
                    StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    StepResult::Busy | StepResult::Locked => {
                        return Err(Error::InvalidRequest {
                            reason: "the database stayed locked by another connection; nothing was restored"
                                .to_owned(),
                        });
                    }
                    done_or_more => return Ok(done_or_more),
                }
            }
        };
        // The first page opens the transaction and tells how many remain.
        let mut result = step(1)?;
        let remaining = backup.progress().remaining;
        if result != StepResult::Done && remaining > 1 {
            result = step(remaining - 1)?;
        }
        checker.join().map_err(|_| Error::InvalidRequest {
            reason: "the integrity check of the backup image panicked; nothing was restored"
                .to_owned(),
        })??;
        while result != StepResult::Done {
            result = step(-1)?;
        }
        Ok(())
    })
}
