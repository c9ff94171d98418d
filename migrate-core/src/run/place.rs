//! Where a run's database lives: a file, with the lock, the marker, the backups and the audit
//! journal beside it, or memory, with none of them. One type, so the run procedure asks it
//! instead of carrying parallel `Option`s.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use crate::planning::plan::Plan;
use crate::read::migration::Version;
use crate::record::attempt::Attempt;
use crate::record::marker::{self, Phase, RunMarker};
use crate::run::recover;
use crate::run::safety::{self, Backups};
use crate::vocab::error::Error;
use crate::vocab::report::{DatabaseState, Interrupted};
use belay_guard::database::lock::MigrationLock;
use belay_guard::database::writers::Token;
use belay_guard::files::durable::Durability;
use belay_guard::vocab::holder::Holder;

/// Where the database lives.
pub(crate) enum Place<'a> {
    /// A file: the migration lock and the run marker sit beside it, the backups and the audit
    /// journal in its backup directory.
    File { db: &'a Path, backups: PathBuf },
    /// In memory: no other process can reach it; there is nothing to lock, mark, back up or
    /// journal.
    Memory,
}

impl<'a> Place<'a> {
    /// Where `conn`'s main database lives; `configured` is the backup directory asked for.
    pub fn of(conn: &'a Connection, configured: Option<&PathBuf>) -> Self {
        match conn.path().filter(|p| !p.is_empty()) {
            Some(path) => {
                let db = Path::new(path);
                Place::File {
                    db,
                    backups: safety::dir(configured, db),
                }
            }
            None => Place::Memory,
        }
    }

    /// Whether a run left its marker here (one `stat`).
    pub fn marked(&self) -> bool {
        matches!(self, Place::File { db, .. } if marker::exists(db))
    }

    /// Step 1: the migration lock.
    pub fn lock(
        &self,
        timeout: Duration,
        progress: Option<&crate::vocab::progress::Observer>,
    ) -> Result<Option<MigrationLock>, Error> {
        match self {
            Place::File { db, .. } => {
                MigrationLock::acquire_reporting(db, timeout, &mut |holder, waited| {
                    crate::vocab::progress::report(progress, || {
                        crate::vocab::progress::Progress::WaitingForLock {
                            holder,
                            waited,
                            timeout,
                        }
                    });
                })
                .map(Some)
                .map_err(Error::from)
            }
            Place::Memory => Ok(None),
        }
    }

    /// Whether the backup directory and the audit journal can be written safely (see
    /// `owned`); an in-memory database has neither.
    pub fn ready(&self) -> Result<(), Error> {
        match self {
            Place::File { backups, .. } => {
                crate::record::audit::ready(backups)?;
                // What stopped processes left in the backup directory goes (see `store::sweep`);
                // a failure to clean up does not stop the run.
                let _ = belay_guard::backup::sweep(backups);
                Ok(())
            }
            Place::Memory => Ok(()),
        }
    }

    /// Step 2: the run a marker says was interrupted (holding the lock, its owner is gone).
    pub fn recover(
        &self,
        conn: &Connection,
        timeout: Duration,
    ) -> Result<Option<Interrupted>, Error> {
        let Place::File { db, .. } = self else {
            return Ok(None);
        };
        match marker::read(db)? {
            Some(found) => recover::recover(conn, db, found, timeout).map(Some),
            None => Ok(None),
        }
    }

    /// The file and backup directory when the safety net applies: backups asked for, and a
    /// database with something in it (a new, empty file has nothing to check or back up).
    pub fn net(&self, backups: Backups) -> Option<Net<'_>> {
        match self {
            Place::File { db, backups: dir }
                if backups == Backups::Take && !belay_guard::database::db::is_new(db) =>
            {
                Some(Net { db, dir })
            }
            _ => None,
        }
    }

    /// The database file, when the safety net applies and the database has nothing in it yet
    /// (new, or absent): its pre-run state is known without a backup.
    pub fn empty(&self, backups: Backups) -> Option<&'a Path> {
        match self {
            Place::File { db, .. }
                if backups == Backups::Take && belay_guard::database::db::is_new(db) =>
            {
                Some(db)
            }
            _ => None,
        }
    }

    /// The marker of a run carrying out `plan`; written at once when the safety net applies
    /// (otherwise `checking` has nothing to tell a later run: it is first written at
    /// `applying`, one fsync pair less). On a database that was empty before the run it is
    /// written and removed without syncing its directory (see [`Durability::ContentOnly`]):
    /// after a power loss the database is empty or at a committed version either way, and the
    /// next run continues from there with or without it. What a no-transaction file leaves half done is still
    /// synced ([`Marker::outside`]).
    pub fn marker(
        &self,
        plan: &Plan,
        net: Option<Net<'_>>,
        was_empty: Option<&Path>,
    ) -> Result<Option<Marker<'a>>, Error> {
        let Place::File { db, backups } = self else {
            return Ok(None);
        };
        let marker = RunMarker {
            holder: Holder::current(),
            command: plan.direction.into(),
            from_version: plan.from,
            versions: plan.steps.iter().map(|s| s.version).collect(),
            backup_dir: backups.clone(),
            backup_id: None,
            phase: Phase::Checking,
            outside: None,
            token: None,
            recorded: false,
        };
        let durability = match was_empty {
            Some(_) => Durability::ContentOnly,
            None => Durability::Synced,
        };
        if net.is_some() {
            marker.write(db, durability)?;
        }
        Ok(Some(Marker {
            db,
            marker,
            durability,
        }))
    }

    /// Step 8's journal line, beside the backups (it outlives a restore).
    pub fn audit(&self, attempt: &Attempt, state: &DatabaseState) {
        if let Place::File { db, backups } = self {
            // Failing to append to it does not undo the run.
            let _ = attempt.audit(backups, db, state);
        }
    }
}

/// The database file and its backup directory, when the safety net applies.
#[derive(Clone, Copy)]
pub(crate) struct Net<'a> {
    pub db: &'a Path,
    pub dir: &'a Path,
}

/// The run marker, the file it describes, and how durably it is written.
pub(crate) struct Marker<'a> {
    pub db: &'a Path,
    pub marker: RunMarker,
    durability: Durability,
}

impl Marker<'_> {
    pub fn enter(&mut self, phase: Phase) -> Result<(), Error> {
        self.marker.enter(self.db, phase, self.durability)
    }

    /// Records the no-transaction migration under way (synced, whatever the marker was: only
    /// the marker tells that a file was left half done, so its removal is synced too).
    pub fn outside(&mut self, outside: Option<Version>, token: Option<Token>) -> Result<(), Error> {
        self.durability = Durability::Synced;
        self.marker.outside(self.db, outside, token)
    }

    /// Removes the marker (the run has finished and been recorded).
    pub fn clear(&self) -> Result<(), Error> {
        marker::clear(self.db, self.durability)
    }
}
