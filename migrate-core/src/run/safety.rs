//! The safety net around a run that has work to do: a pre-flight integrity check (a corrupt
//! database is refused before anything is written), and a verified pre-migration backup, from
//! which a run that fails after committing part of its work is restored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::vocab::error::Error;
use belay_guard::backup::{self, Compression, CreateOptions, Manifest, Reason};
use belay_guard::integrity::{self, Depth, ForeignKeys, Verdict};

/// Whether a run takes a backup before it changes anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backups {
    /// Check the database and back it up first; restore from that backup on failure (the
    /// default).
    #[default]
    Take,
    /// Run without the pre-flight check and the backup (`--no-backup`): a failure after a
    /// commit then leaves the database part-way.
    Skip,
}

/// Refuses a damaged database, and one SQLite could not check (locked, a recovery pending, not
/// readable): a run goes ahead only on SQLite's exact `ok` for the file's structure.
/// Foreign-key violations that already exist are not damage, and are not counted here: the
/// run fails only on violations it introduces, and learns which stood before from its backup,
/// only if its check before COMMIT finds any (see `apply::baseline`).
pub(crate) fn preflight(db: &Path, timeout: Duration) -> Result<(), Error> {
    let report = integrity::check(
        db,
        &integrity::Options {
            busy_timeout: timeout,
            workers: integrity::available_workers(),
            foreign_keys: ForeignKeys::Skipped,
            ..integrity::Options::new(Depth::Quick)
        },
    )?;
    verdict(db, report)
}

/// A check's verdict as a run's answer: damage is [`Error::Corrupt`], no answer is
/// [`Error::Unavailable`].
pub(crate) fn verdict(db: &Path, report: integrity::Report) -> Result<(), Error> {
    match report.verdict {
        Verdict::Damaged => Err(Error::Corrupt {
            report: Box::new(report),
        }),
        Verdict::CouldNotCheck => Err(integrity::unavailable(db, &report).into()),
        Verdict::Ok => Ok(()),
    }
}

/// A database error while reading the database's own records, before anything was written, may
/// be damage showing through: `SQLITE_CORRUPT` or `SQLITE_NOTADB`, or rows of the wrong shape
/// where a damaged b-tree points into another table's pages; or it may be a lock, a recovery
/// this connection may not run, a file it may not read. The quick check decides: damage
/// ([`Error::Corrupt`]) or what stopped it ([`Error::Unavailable`]) replaces the error;
/// otherwise the error stays.
pub(crate) fn damage_behind(conn: &rusqlite::Connection, e: Error, timeout: Duration) -> Error {
    let Error::Sqlite { context, source } = e else {
        return e;
    };
    let Some(db) = conn.path().filter(|p| !p.is_empty()) else {
        return Error::Sqlite { context, source };
    };
    let db = Path::new(db);
    // What stopped the read is the answer: the check would wait on the same lock again.
    let e: Error = belay_guard::database::settle::unreadable(db, source, &context).into();
    if matches!(e, Error::Unavailable { .. }) {
        return e;
    }
    match preflight(db, timeout) {
        Err(found @ (Error::Corrupt { .. } | Error::Unavailable { .. })) => found,
        _ => e,
    }
}

/// Takes and verifies the pre-migration backup.
pub(crate) fn backup(
    db: &Path,
    dir: &Path,
    (timeout, min_ratio): (Duration, Option<f64>),
) -> Result<Manifest, Error> {
    let options = CreateOptions {
        compression: Compression::Zstd,
        min_ratio,
        reason: Reason::PreMigrate,
        busy_timeout: timeout,
        version_of: Some(crate::record::history::current_version),
    };
    let manifest = backup::create(db, dir, &options, &mut |_| {})?;
    backup::verify_written(dir, &manifest)?;
    Ok(manifest)
}

/// Where a run's backups go: the configured directory, else `<db file>.backups`.
pub(crate) fn dir(configured: Option<&PathBuf>, db: &Path) -> PathBuf {
    configured
        .cloned()
        .unwrap_or_else(|| backup::default_dir(db))
}

/// Refuses a run whose backup could not fit: the backup directory's file system must have room
/// for the database's size (the compressed backup is usually smaller; the room left covers the
/// run's own journal).
pub(crate) fn ensure_space(db: &Path, dir: &Path) -> Result<(), Error> {
    let needed = std::fs::metadata(db).map_or(0, |m| m.len());
    // The directory may not exist yet: ask about the nearest ancestor that does.
    let probe = dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("."));
    let available = belay_guard::files::space::available(probe)?;
    if available < needed {
        return Err(Error::NoSpace {
            dir: dir.to_path_buf(),
            needed,
            available,
        });
    }
    Ok(())
}
