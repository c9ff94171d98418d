//! Restoring a whole database from a backup: verify first, then copy into the live database
//! under the migration lock, in one SQLite write transaction (never by renaming files under
//! open connections, which would leave them reading a deleted file): the pages that differ,
//! through `sqlite_dbpage` (the `pages` module), or every page through SQLite's backup API
//! where that cannot be done; then check the result.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use serde::Serialize;

use crate::Error;
use crate::backup::create::CreateOptions;
use crate::backup::manifest::Manifest;
use crate::backup::manifest::Reason;
use crate::backup::pages;
use crate::backup::store;
use crate::backup::verify;
use crate::database::lock::MigrationLock;
use crate::database::record::{Change, Recorder};
use crate::database::writers::{LockedView, Token, Watch};
use crate::integrity::Depth;
use crate::vocab::error::SqliteContext;

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
    /// The backup of the state the restore replaced (`pre-restore`), if one was taken.
    pub pre_restore: Option<String>,
    /// The restore's row in the restored database's `_migrate_attempts`.
    pub attempt_id: Option<i64>,
}

/// What a restore by hand does with the state it replaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Current {
    /// Backs it up first (reason `pre-restore`), so that the restore itself can be undone
    /// (the default).
    #[default]
    BackUp,
    /// Replaces it without a copy (`--no-backup`).
    Discard,
}

/// How many times a pre-restore backup is taken again when the application committed while it
/// was being taken.
const PRE_RESTORE_ATTEMPTS: usize = 3;

/// What a restore by hand is doing, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreStep {
    /// Backing up the state it is about to replace.
    BackingUpCurrent,
    /// Copying the backup into the database.
    Restoring {
        /// The backup's id.
        backup: String,
    },
}

/// How a restore by hand goes.
#[derive(Clone, Copy)]
pub struct RestoreOptions<'a> {
    /// How long to wait for the migration lock and for other connections.
    pub timeout: Duration,
    /// What becomes of the state it replaces.
    pub current: Current,
    /// Told what the restore is doing.
    pub progress: Option<&'a (dyn Fn(&RestoreStep) + Sync)>,
}

impl RestoreOptions<'_> {
    /// A restore that backs up what it replaces first, waiting up to `timeout`.
    pub fn new(timeout: Duration) -> Self {
        RestoreOptions {
            timeout,
            current: Current::BackUp,
            progress: None,
        }
    }

    fn report(&self, step: RestoreStep) {
        if let Some(progress) = self.progress {
            progress(&step);
        }
    }
}

/// Restores the backup `id` (or `latest`, resolved once the lock is held) from `dir` over the
/// database at `db`, under the migration lock. With [`Current::BackUp`], the state being
/// replaced is backed up first (`pre-restore`), and the restore goes ahead only while nobody
/// has committed since that backup's snapshot (the proof of the `writers` module, checked
/// under the restore's write lock), so nothing is lost that is not in a backup; an application
/// that commits meanwhile makes it take the pre-restore backup again (three tries). `recorder`
/// is told before and after, under the lock (the engine records the restore as an attempt).
///
/// # Errors
///
/// [`Error::BackupCorrupt`] when the backup fails verification (the database is untouched);
/// [`Error::LockTimeout`] (also when the application kept committing through every
/// pre-restore backup); [`Error::Sqlite`] when the copy fails; [`Error::BackupCorrupt`]
/// naming the database when the restored copy does not match the verified image.
#[tracing::instrument(name = "backup_restore", level = "info", skip_all, fields(db = %db.display(), id = %id), err(level = "warn"))]
pub fn restore(
    db: &Path,
    dir: &Path,
    id: &str,
    options: &RestoreOptions<'_>,
    recorder: &mut dyn Recorder,
) -> Result<RestoreReport, Error> {
    let started = Instant::now();
    let timeout = options.timeout;
    let _lock = MigrationLock::acquire(db, timeout)?;
    // `latest` means the newest backup when the restore holds the lock: a run that finished
    // while this one waited took a newer one.
    let manifest = store::find(dir, id)?;
    let conn = crate::database::db::open(db, timeout)?;
    // The first read on a connection that can write lets SQLite roll back whatever a killed
    // process left, before anything (the pre-restore backup) reads the file.
    let _ = conn.query_row("PRAGMA schema_version", [], |_| Ok(()));
    recorder.starting(&conn);
    // An empty database has nothing to back up or lose.
    let current = if crate::database::db::is_new(db) {
        Current::Discard
    } else {
        options.current
    };
    let (mut report, pre_restore) = match current {
        Current::Discard => {
            options.report(RestoreStep::Restoring {
                backup: manifest.id.clone(),
            });
            (
                restore_locked(db, dir, &manifest, timeout, Proof::Accepted)?
                    .ok_or_else(refused_without_proof)?,
                None,
            )
        }
        Current::BackUp => restore_after_pre_restore(&conn, (db, dir), &manifest, options)?,
    };
    report.pre_restore = pre_restore;
    report.duration_ms = started.elapsed().as_millis() as u64;
    // The restore is done; failing to record it does not undo it.
    report.attempt_id = recorder.done(
        db,
        &conn,
        &Change::Restored {
            backup: &manifest.id,
        },
    );
    tracing::warn!(
        id = %manifest.id,
        pre_restore = ?report.pre_restore,
        duration_ms = report.duration_ms,
        "database restored from a backup"
    );
    Ok(report)
}

/// Takes the pre-restore backup and restores over exactly the state it holds; again when
/// another connection committed in between.
fn restore_after_pre_restore(
    conn: &rusqlite::Connection,
    (db, dir): (&Path, &Path),
    manifest: &Manifest,
    options: &RestoreOptions<'_>,
) -> Result<(RestoreReport, Option<String>), Error> {
    let timeout = options.timeout;
    let create = CreateOptions {
        reason: Reason::PreRestore,
        busy_timeout: timeout,
        ..CreateOptions::default()
    };
    for _ in 0..PRE_RESTORE_ATTEMPTS {
        let watch = Watch::start(conn).context("reading the database's data version")?;
        options.report(RestoreStep::BackingUpCurrent);
        let saved = crate::backup::create(db, dir, &create, &mut |_| {})?;
        let proof = match watch.settled(conn) {
            Some(token) => Proof::Unchanged(token),
            // No token in this journal mode: the copy follows the backup at once.
            None => Proof::Accepted,
        };
        options.report(RestoreStep::Restoring {
            backup: manifest.id.clone(),
        });
        if let Some(restored) = restore_locked(db, dir, manifest, timeout, proof)? {
            return Ok((restored, Some(saved.id)));
        }
        // Someone committed after the pre-restore backup's snapshot: it no longer holds
        // everything the restore would replace. Take it again.
        crate::backup::remove(dir, &saved)?;
    }
    Err(Error::LockTimeout {
        path: db.to_path_buf(),
        waited: timeout,
        holder: format!(
            "the application, which committed during each of {PRE_RESTORE_ATTEMPTS} pre-restore backups (stop its writes, or restore without backing up the current state, accepting the loss)"
        ),
    })
}

fn refused_without_proof() -> Error {
    Error::Internal {
        reason: "the restore was refused although no proof was asked for".to_owned(),
    }
}

/// [`restore`] for a caller that already holds the migration lock (a migration run restoring
/// its own pre-run backup), under `proof`: `None` when the proof failed under the write lock
/// and nothing was copied.
#[tracing::instrument(name = "backup_restore", level = "info", skip_all, fields(db = %db.display(), id = %manifest.id), err(level = "warn"))]
pub fn restore_locked(
    db: &Path,
    dir: &Path,
    manifest: &Manifest,
    timeout: Duration,
    proof: Proof,
) -> Result<Option<RestoreReport>, Error> {
    let started = Instant::now();
    let image = verify::stage_unchecked(
        dir,
        manifest,
        &dir.join(format!(".{}.restore.tmp", manifest.id)),
    )?;
    let source = verify::open_image(&image)?;
    let mut live = crate::database::db::open(db, timeout)?;
    // A 64 MiB cache spills (and syncs the journal) far less often than the default 2 MiB while
    // every page is rewritten.
    live.execute_batch("PRAGMA cache_size = -65536")
        .context("preparing the restore")?;
    // The image's integrity check runs on the other core while the pages are copied; the copy
    // commits only once the check has passed.
    let check = || verify::check(dir, manifest, image.path(), (Depth::Quick, 1));
    let Copied::Done(written) = copy_into(&source, &mut live, timeout, proof, check)? else {
        tracing::warn!(
            id = %manifest.id,
            "not restored: another connection committed since the proof was taken"
        );
        return Ok(None);
    };
    drop(live);
    check_copy(&source, db, &written)?;
    tracing::warn!(id = %manifest.id, "database restored from a backup");
    Ok(Some(RestoreReport {
        id: manifest.id.clone(),
        target: db.to_path_buf(),
        bytes: manifest.byte_size,
        duration_ms: started.elapsed().as_millis() as u64,
        pre_restore: None,
        attempt_id: None,
    }))
}

/// Puts an empty database back in place of the database at `db`: what a database that was empty
/// (or absent) before a run holds, once the run's own commits are undone. Through the backup
/// API from an empty database of the same page size, in one transaction under `proof` (checked
/// under the copy's write lock): `false`, and nothing changed, when the proof failed. The file
/// stays (an open connection keeps reading the same file) and holds an empty database.
///
/// # Errors
///
/// [`Error::Sqlite`] when the copy fails (the database is then as it was).
#[tracing::instrument(name = "restore_empty", level = "info", skip_all, fields(db = %db.display()), err(level = "warn"))]
pub fn restore_empty(db: &Path, timeout: Duration, proof: Proof) -> Result<bool, Error> {
    let mut live = crate::database::db::open(db, timeout)?;
    let page_size: i64 = live
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .context("reading the page size")?;
    let empty = rusqlite::Connection::open_in_memory().context("opening an empty database")?;
    // Before anything is written, the empty database can take the live one's page size (a WAL
    // database cannot change its own). Then one page, its header and an empty schema: a source
    // of no pages would let the copy's first step commit before the proof is read.
    empty
        .execute_batch(&format!(
            "PRAGMA page_size = {page_size}; CREATE TABLE t (x); DROP TABLE t; VACUUM;"
        ))
        .context("preparing an empty database")?;
    Ok(matches!(
        copy_into(&empty, &mut live, timeout, proof, || Ok(()))?,
        Copied::Done(_)
    ))
}

/// Restores the backup `id` into a new file at `to`, leaving every existing database alone. A
/// restored database is a database: it gets the mode of `like` (the database the backups are
/// of) when that exists, else 0644; backups themselves stay 0600.
///
/// # Errors
///
/// [`Error::InvalidRequest`] when `to` exists; as [`restore`] otherwise.
#[tracing::instrument(name = "backup_restore_to", level = "info", skip_all, fields(to = %to.display(), id = %id), err(level = "warn"))]
pub fn restore_to(
    to: &Path,
    dir: &Path,
    id: &str,
    like: Option<&Path>,
) -> Result<RestoreReport, Error> {
    let started = Instant::now();
    if to.exists() {
        return Err(Error::TargetExists {
            path: to.to_path_buf(),
            reason: "a restore into another file writes a new file only".to_owned(),
        });
    }
    let manifest = store::find(dir, id)?;
    let image = verify::stage(dir, &manifest, &store::temp_path(to), Depth::Quick)?;
    let mode = like
        .and_then(|db| std::fs::metadata(db).ok())
        .map_or(0o644, |m| {
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777
        });
    std::fs::set_permissions(
        image.path(),
        std::os::unix::fs::PermissionsExt::from_mode(mode),
    )
    .map_err(|source| Error::Io {
        path: image.path().to_path_buf(),
        source,
    })?;
    image.publish(to)?;
    Ok(RestoreReport {
        id: manifest.id,
        target: to.to_path_buf(),
        bytes: manifest.byte_size,
        duration_ms: started.elapsed().as_millis() as u64,
        pre_restore: None,
        attempt_id: None,
    })
}

/// Which pages a copy wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Written {
    /// Every page (the backup API).
    Every,
    /// These, in order; every other page was compared with the image under the copy's write
    /// lock and found equal, and the file has the image's page count.
    Pages(Vec<i64>),
}

/// Checks the restored database: every page the copy wrote equal to the verified image's
/// (every page after the backup API; the pages written and the page count after a copy by
/// pages, whose other pages were found equal under its write lock), page 1 but for the header
/// fields a copy changes (journal mode, change counter, schema cookie, SQLite version). Where
/// `sqlite_dbpage` is not compiled in, `quick_check` is run instead.
pub(crate) fn check_copy(
    image: &rusqlite::Connection,
    db: &Path,
    written: &Written,
) -> Result<(), Error> {
    let failed = |reason: String| Error::BackupCorrupt {
        path: db.to_path_buf(),
        reason: format!("the restored database does not match the backup: {reason}"),
    };
    // A connection of its own: the one that copied may hold what it read of the file before
    // (a damaged header's text encoding, say), which the copy replaced.
    let live =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .context("opening the restored database")?;
    let live = &live;
    if let Written::Pages(pages) = written {
        return check_pages(image, live, pages).map_err(|e| match e {
            Mismatch::Differs(reason) => failed(reason),
            Mismatch::Unreadable(e) => e,
        });
    }
    const PAGES: &str = "SELECT pgno, data FROM sqlite_dbpage('main') ORDER BY pgno";
    let (Ok(mut ours), Ok(mut theirs)) = (live.prepare(PAGES), image.prepare(PAGES)) else {
        // Only SQLite's exact answer `ok` passes (the one b-tree check runner says so by
        // returning no finding); any other answer, or none, fails.
        let lines =
            crate::integrity::btree_check(live, crate::integrity::Depth::Quick, None).into_lines();
        return if lines.is_empty() {
            Ok(())
        } else {
            Err(failed(lines.join("; ")))
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
                let equal = a
                    .get_ref(1)
                    .and_then(|x| {
                        let (x, y) = (x.as_blob()?, b.get_ref(1)?.as_blob()?);
                        Ok(if pgno == 1 {
                            pages::same_header_aside(x, y)
                        } else {
                            x == y
                        })
                    })
                    .context("comparing pages")?;
                if !equal {
                    return Err(failed(format!("page {pgno} differs")));
                }
            }
        }
    }
}

/// Why a check by pages failed.
enum Mismatch {
    /// The copy differs from the image: this.
    Differs(String),
    /// A page could not be read.
    Unreadable(Error),
}

impl From<Error> for Mismatch {
    fn from(e: Error) -> Self {
        Mismatch::Unreadable(e)
    }
}

/// The page count of both, then each of `pages` in both, page 1 but for its copied fields.
fn check_pages(
    image: &rusqlite::Connection,
    live: &rusqlite::Connection,
    pages: &[i64],
) -> Result<(), Mismatch> {
    let count = |c: &rusqlite::Connection, what: &str| -> Result<i64, Error> {
        c.query_row("PRAGMA page_count", [], |r| r.get(0))
            .context(what)
    };
    if count(live, "reading the restored database")? != count(image, "reading the backup image")? {
        return Err(Mismatch::Differs("the page counts differ".to_owned()));
    }
    const PAGE: &str = "SELECT data FROM sqlite_dbpage('main') WHERE pgno = ?1";
    let mut ours = live
        .prepare(PAGE)
        .context("reading the restored database")?;
    let mut theirs = image.prepare(PAGE).context("reading the backup image")?;
    for &pgno in pages {
        let a: Vec<u8> = ours
            .query_row([pgno], |r| r.get(0))
            .context("reading the restored database")?;
        let b: Vec<u8> = theirs
            .query_row([pgno], |r| r.get(0))
            .context("reading the backup image")?;
        let equal = if pgno == 1 {
            pages::same_header_aside(&a, &b)
        } else {
            a == b
        };
        if !equal {
            return Err(Mismatch::Differs(format!("page {pgno} differs")));
        }
    }
    Ok(())
}

/// What a restore needs before it may replace the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Asked for by hand (an operator's restore, a repair's install): whatever the database
    /// holds now is meant to be replaced.
    Accepted,
    /// A run undoing itself: only while the database is still in the state this token names
    /// (see the `writers` module), read once the copy holds the write lock.
    Unchanged(Token),
}

/// Whether the copy went ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Copied {
    /// Committed, having written these pages.
    Done(Written),
    /// The proof failed under the write lock: nothing was copied.
    Refused,
}

/// Copies every page of `source` into `live` while `check` runs on another thread, and commits
/// only if it passes.
///
/// The backup API keeps the destination's write transaction open until its last step, and
/// abandoning a backup before then rolls that transaction back. The first step copies nothing
/// and only takes the write lock; the `proof` is checked then, so no commit can come between
/// it and the copy. Every page but the last is then copied, the check is awaited, and only
/// then the last step commits; a failed proof or check drops the backup and the live database
/// is untouched.
pub(crate) fn copy_into(
    source: &rusqlite::Connection,
    live: &mut rusqlite::Connection,
    timeout: Duration,
    proof: Proof,
    check: impl FnOnce() -> Result<(), Error> + Send,
) -> Result<Copied, Error> {
    // The first step takes the write lock and copies nothing, so the proof is read before a
    // page moves; a source of no pages would be done, and committed, at that first step.
    let pages: i64 = source
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .context("reading the source's size")?;
    if pages == 0 {
        return Err(Error::Internal {
            reason: "the restore's source has no page; nothing was copied".to_owned(),
        });
    }
    if pages::possible(source, live) {
        return copy_changed_pages(source, live, (timeout, proof), check);
    }
    let view = LockedView::prepare(live);
    let live_path = PathBuf::from(live.path().unwrap_or_default());
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
                        return Err(Error::LockTimeout {
                            path: live_path.clone(),
                            waited: timeout,
                            holder: "another connection holding SQLite's lock on the database; nothing was restored"
                                .to_owned(),
                        });
                    }
                    done_or_more => return Ok(done_or_more),
                }
            }
        };
        // Copies nothing: opens the write transaction and tells how many pages there are.
        let mut result = step(0)?;
        if let Proof::Unchanged(token) = proof
            && view.token() != Some(token)
        {
            return Ok(Copied::Refused);
        }
        let remaining = backup.progress().remaining;
        if result != StepResult::Done && remaining > 1 {
            result = step(remaining - 1)?;
        }
        checker.join().map_err(|_| Error::Internal {
            reason: "the integrity check of the backup image panicked; nothing was restored"
                .to_owned(),
        })??;
        while result != StepResult::Done {
            result = step(-1)?;
        }
        Ok(Copied::Done(Written::Every))
    })
}

/// [`copy_into`] by pages (see the `pages` module): the write transaction is taken first and
/// the proof read under it, so no commit can come between them; the pages that differ are
/// written while `check` runs on another thread, and the transaction commits only once it has
/// passed. A failed proof or check rolls it back: the live database is untouched.
fn copy_changed_pages(
    source: &rusqlite::Connection,
    live: &mut rusqlite::Connection,
    (timeout, proof): (Duration, Proof),
    check: impl FnOnce() -> Result<(), Error> + Send,
) -> Result<Copied, Error> {
    let view = LockedView::prepare(live);
    let live_path = PathBuf::from(live.path().unwrap_or_default());
    live.busy_timeout(timeout)
        .context("setting the restore's lock timeout")?;
    std::thread::scope(|scope| {
        let checker = scope.spawn(check);
        let tx = live
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    Error::LockTimeout {
                        path: live_path.clone(),
                        waited: timeout,
                        holder: "another connection holding SQLite's lock on the database; nothing was restored"
                            .to_owned(),
                    }
                }
                _ => Error::Sqlite {
                    context: "beginning the restore's write transaction".to_owned(),
                    source: e,
                },
            })?;
        if let Proof::Unchanged(token) = proof
            && view.token() != Some(token)
        {
            return Ok(Copied::Refused);
        }
        let written = pages::write_changed(source, &tx)?;
        checker.join().map_err(|_| Error::Internal {
            reason: "the integrity check of the backup image panicked; nothing was restored"
                .to_owned(),
        })??;
        tx.commit().context("committing the restore")?;
        tracing::debug!(
            pages = written.len(),
            "restored in place: the pages that differed"
        );
        Ok(Copied::Done(Written::Pages(written)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::{CreateOptions, create};
    use crate::database::writers::Watch;
    use rusqlite::Connection;

    /// A run's restore goes ahead only while the database is in the state its token names; a
    /// commit by another connection in between makes it copy nothing, in both journal families.
    #[test]
    fn a_restore_under_proof_copies_nothing_after_anyone_elses_commit() {
        for wal in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("r.db");
            let backups = dir.path().join("b");
            let run = Connection::open(&db).unwrap();
            if wal {
                run.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                    .unwrap();
            }
            run.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                .unwrap();
            let watch = Watch::start(&run).unwrap();
            let manifest = create(&db, &backups, &CreateOptions::default(), &mut |_| {}).unwrap();
            run.execute_batch("INSERT INTO t VALUES (2)").unwrap();
            let token = watch.settled(&run).unwrap();
            let app = Connection::open(&db).unwrap();
            app.execute_batch("INSERT INTO t VALUES (3)").unwrap();
            let timeout = Duration::from_secs(5);
            let refused =
                restore_locked(&db, &backups, &manifest, timeout, Proof::Unchanged(token)).unwrap();
            assert_eq!(refused, None, "wal: {wal}");
            let rows: i64 = app
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(rows, 3, "wal: {wal}: the application's row is kept");
            // With the token of the state as it is now, the restore goes ahead.
            let now = Watch::start(&run).unwrap().settled(&run).unwrap();
            let done =
                restore_locked(&db, &backups, &manifest, timeout, Proof::Unchanged(now)).unwrap();
            assert!(done.is_some(), "wal: {wal}");
            let rows: i64 = app
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(rows, 1, "wal: {wal}");
        }
    }

    fn database(dir: &Path, name: &str, sql: &str) -> PathBuf {
        let path = dir.join(name);
        Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        path
    }

    fn rows(db: &Path) -> Vec<i64> {
        Connection::open(db)
            .unwrap()
            .prepare("SELECT x FROM t ORDER BY x")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn read_only(path: &Path) -> Connection {
        Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
    }

    const ONE_ROW: &str = "CREATE TABLE t (x); INSERT INTO t VALUES (1);";

    /// A copy of `image` (4 KiB pages) with an empty page appended: its header's page count is
    /// the image's but no longer valid (the change counter it was valid for moved), so SQLite
    /// counts the pages from the file's size, one more than the image's.
    fn grown(dir: &Path, image: &Path) -> PathBuf {
        let path = dir.join("grown.db");
        let mut bytes = std::fs::read(image).unwrap();
        bytes[95] = bytes[95].wrapping_add(1);
        bytes.extend(vec![0u8; 4096]);
        std::fs::write(&path, &bytes).unwrap();
        path
    }

    /// The check of a restored copy names the database when its pages differ from the image's,
    /// and when it holds another number of pages.
    #[test]
    fn a_copy_that_differs_from_the_image_is_called_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let image = database(dir.path(), "image.db", ONE_ROW);
        let same = database(dir.path(), "same.db", ONE_ROW);
        check_copy(&read_only(&image), &same, &Written::Every).unwrap();

        let other = database(
            dir.path(),
            "other.db",
            "CREATE TABLE t (x); INSERT INTO t VALUES (2);",
        );
        let e = check_copy(&read_only(&image), &other, &Written::Every).unwrap_err();
        assert!(
            matches!(&e, Error::BackupCorrupt { path, reason } if path == &other && reason.contains("page 2 differs")),
            "{e}"
        );

        let longer = database(
            dir.path(),
            "longer.db",
            "CREATE TABLE t (x); INSERT INTO t VALUES (1); CREATE TABLE u (y);",
        );
        // Page 1 holds the page count (and here the schema): it is compared first.
        let e = check_copy(&read_only(&image), &longer, &Written::Every).unwrap_err();
        assert!(
            matches!(&e, Error::BackupCorrupt { path, reason } if path == &longer && reason.contains("page 1 differs")),
            "{e}"
        );
        // Past page 1, a file with pages the image lacks.
        let e = check_copy(
            &read_only(&image),
            &grown(dir.path(), &image),
            &Written::Every,
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::BackupCorrupt { reason, .. } if reason.contains("the page counts differ")),
            "{e}"
        );
    }

    /// After a copy by pages, the pages it wrote and the page count are compared: a written
    /// page that differs, or another count, is named; pages it did not write are not read
    /// again.
    #[test]
    fn a_copy_by_pages_is_checked_on_the_pages_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let image = database(dir.path(), "image.db", ONE_ROW);
        let other = database(
            dir.path(),
            "other.db",
            "CREATE TABLE t (x); INSERT INTO t VALUES (2);",
        );
        let e = check_copy(&read_only(&image), &other, &Written::Pages(vec![1, 2])).unwrap_err();
        assert!(
            matches!(&e, Error::BackupCorrupt { reason, .. } if reason.contains("page 2 differs")),
            "{e}"
        );
        check_copy(&read_only(&image), &other, &Written::Pages(vec![1])).unwrap();
        let grown = grown(dir.path(), &image);
        let e = check_copy(&read_only(&image), &grown, &Written::Pages(vec![])).unwrap_err();
        assert!(
            matches!(&e, Error::BackupCorrupt { reason, .. } if reason.contains("the page counts differ")),
            "{e}"
        );
        // A page past the image's end cannot be compared: an error, never a pass.
        assert!(check_copy(&read_only(&image), &grown, &Written::Pages(vec![9])).is_err());
    }

    /// Where the pages cannot be read through `sqlite_dbpage`, the restored database passes
    /// only on `quick_check`'s exact `ok`, and a file SQLite refuses fails it.
    #[test]
    fn without_page_access_the_copy_is_judged_by_quick_check() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
        let sound = database(dir.path(), "sound.db", ONE_ROW);
        // An image SQLite cannot read: its pages cannot be listed, so the live one is checked.
        check_copy(&read_only(&garbage), &sound, &Written::Every).unwrap();
        let e = check_copy(&read_only(&sound), &garbage, &Written::Every).unwrap_err();
        match &e {
            Error::BackupCorrupt { path, reason } => {
                assert_eq!(path, &garbage);
                assert!(reason.contains("does not match the backup"), "{e}");
            }
            other => panic!("expected a corrupt copy, got {other}"),
        }
    }

    /// A source of no pages is refused before the live database is touched.
    #[test]
    fn a_source_without_pages_is_refused_and_nothing_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let live_path = database(dir.path(), "live.db", ONE_ROW);
        let mut live = Connection::open(&live_path).unwrap();
        let empty = Connection::open_in_memory().unwrap();
        let e = copy_into(
            &empty,
            &mut live,
            Duration::from_secs(1),
            Proof::Accepted,
            || Ok(()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Internal { reason } if reason.contains("no page")),
            "{e}"
        );
        assert_eq!(rows(&live_path), vec![1]);
    }

    /// A failed check of the image (here, one that panics) stops the copy before it commits.
    #[test]
    fn a_check_that_panics_leaves_the_live_database_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let image = database(
            dir.path(),
            "image.db",
            "CREATE TABLE t (x); INSERT INTO t VALUES (7); INSERT INTO t VALUES (8);",
        );
        let live_path = database(dir.path(), "live.db", ONE_ROW);
        let mut live = Connection::open(&live_path).unwrap();
        let e = copy_into(
            &read_only(&image),
            &mut live,
            Duration::from_secs(1),
            Proof::Accepted,
            || panic!("the check broke"),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Internal { reason } if reason.contains("panicked; nothing was restored")),
            "{e}"
        );
        assert_eq!(rows(&live_path), vec![1]);
    }

    /// A live database another connection keeps write-locked past the timeout is not restored:
    /// `LockTimeout` naming it, and the other connection's transaction goes on.
    #[test]
    fn a_restore_gives_up_on_a_database_locked_past_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let backups = dir.path().join("b");
        let app = Connection::open(&db).unwrap();
        app.execute_batch(ONE_ROW).unwrap();
        let manifest = create(&db, &backups, &CreateOptions::default(), &mut |_| {}).unwrap();
        app.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2);")
            .unwrap();
        let timeout = Duration::from_millis(300);
        let started = Instant::now();
        let e = restore_locked(&db, &backups, &manifest, timeout, Proof::Accepted).unwrap_err();
        assert!(started.elapsed() >= timeout);
        match &e {
            Error::LockTimeout {
                path,
                waited,
                holder,
            } => {
                assert_eq!(path.canonicalize().unwrap(), db.canonicalize().unwrap());
                assert_eq!(*waited, timeout);
                assert!(holder.contains("nothing was restored"), "{e}");
            }
            other => panic!("expected a lock timeout, got {other}"),
        }
        app.execute_batch("COMMIT").unwrap();
        assert_eq!(rows(&db), vec![1, 2]);
    }
}
