//! `--rehearse`: the run applied first to a scratch copy of the database, beside the backups,
//! with the same validation and checks; the copy is always removed.

use std::path::{Path, PathBuf};

use crate::migrator::Migrator;
use crate::planning::plan::Request;
use crate::run::safety::{self, Backups};
use crate::vocab::error::Error;
use crate::vocab::error::SqliteContext;
use crate::vocab::report::{DatabaseState, RunReport};
use belay_guard::backup;
use belay_guard::database::db;

impl Migrator {
    /// Rehearses `request` on a scratch copy of `db` (taken through SQLite's backup API, a
    /// consistent snapshot even while the application writes), with the same validation,
    /// verification and restore-on-failure, and without a backup of the copy. The copy, its
    /// marker and its journal are removed afterwards; the database itself is not touched.
    ///
    /// # Errors
    ///
    /// As [`Migrator::run`] would fail on the copy. A failed rehearsal's report says the
    /// database is unchanged.
    pub fn rehearse(&self, db: impl AsRef<Path>, request: &Request) -> Result<RunReport, Error> {
        let db = db.as_ref();
        let dir = safety::dir(self.config.backup_dir.as_ref(), db);
        belay_guard::files::durable::create_dir(&dir)?;
        let copy_path = dir.join(format!(".rehearsal-{}.db", std::process::id()));
        let scratch = Scratch::new(copy_path);
        // Created 0600 first: SQLite keeps the mode of the file it opens (and gives its
        // journal the same), and the copy holds all the data.
        drop(backup::create_private(scratch.path())?);
        if let Some(source) = db::open_read_only(db, self.config.lock_timeout)? {
            source
                .backup(
                    rusqlite::MAIN_DB,
                    scratch.path(),
                    None::<fn(rusqlite::backup::Progress)>,
                )
                .context("copying the database for the rehearsal")?;
        }
        let mut copy = self.clone();
        copy.config.backups = Backups::Skip;
        copy.config.backup_dir = Some(scratch.sibling(".backups"));
        // The copy's WAL is not the database's: it records no restore point.
        copy.config.archive_dir = None;
        match copy.run(scratch.path(), request) {
            Ok(report) => Ok(report),
            Err(Error::RunFailed {
                failure,
                mut report,
            }) => {
                report.database = DatabaseState::Unchanged;
                report.steps.clear();
                report.to_version = report.from_version;
                Err(Error::RunFailed { failure, report })
            }
            Err(other) => Err(other),
        }
    }
}

/// A rehearsal's copy of the database: removed on drop with everything a run leaves beside it
/// (journal, WAL, lock, marker, the copy's backup directory and audit journal).
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(path: PathBuf) -> Self {
        let scratch = Scratch { path };
        scratch.remove();
        scratch
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        db::sibling(&self.path, suffix)
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(self.sibling(".backups"));
        for suffix in [
            "",
            "-journal",
            "-wal",
            "-shm",
            ".migrate-lock",
            ".migrate-run",
        ] {
            let _ = std::fs::remove_file(self.sibling(suffix));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
    }
}
