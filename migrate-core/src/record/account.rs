//! The engine's account of what the safety net did by hand: a restore, a table restore or a
//! repair becomes an attempt (a row of `_migrate_attempts` and a line of the audit journal),
//! written through the net's recorder hook while the net still holds the migration lock. A
//! whole restore also clears the run marker: the database is now the backup's, and whatever an
//! interrupted run left part-way is gone with it.

use belay_guard::files::durable::Durability;
use std::path::{Path, PathBuf};
use std::time::Duration;

use belay_guard::database::record::{Change, Recorder};
use rusqlite::Connection;

use crate::read::migration::Version;
use crate::record::attempt::Attempt;
use crate::record::history::{DownScripts, Outcome};
use crate::vocab::command::Command;
use crate::vocab::report::DatabaseState;

/// Records one command's change (see the module docs).
pub(crate) struct Account {
    command: Command,
    dir: PathBuf,
    timeout: Duration,
    attempt: Option<Attempt>,
}

impl Account {
    /// The account of `command`, whose journal is in the backup directory `dir`.
    pub fn new(command: Command, dir: &Path, timeout: Duration) -> Self {
        Account {
            command,
            dir: dir.to_path_buf(),
            timeout,
            attempt: None,
        }
    }
}

/// The highest applied version the database records, if any.
pub(crate) fn version_of(conn: &Connection) -> Option<Version> {
    crate::record::state::DbState::read(conn, DownScripts::Skip)
        .ok()
        .and_then(|state| crate::planning::plan::current_version(&state.applied))
}

impl Recorder for Account {
    fn starting(&mut self, conn: &Connection) {
        self.attempt = Some(Attempt::new(self.command, version_of(conn), Vec::new()));
    }

    fn done(&mut self, db: &Path, conn: &Connection, change: &Change<'_>) -> Option<i64> {
        let attempt = self
            .attempt
            .get_or_insert_with(|| Attempt::new(self.command, None, Vec::new()));
        match *change {
            Change::Restored { backup } => {
                attempt.backup(Some(backup.to_owned()));
                // The marker of an interrupted run has nothing left to tell.
                let _ = crate::record::marker::clear(db, Durability::Synced);
                let _ = attempt.finish_alone(conn, Outcome::Success, None, version_of(conn));
                let state = DatabaseState::Restored {
                    backup: backup.to_owned(),
                };
                let _ = attempt.audit(&self.dir, db, &state);
                attempt.id()
            }
            Change::TablesRestored { backup, tables } => {
                attempt.backup(Some(backup.to_owned()));
                let state = DatabaseState::TablesRestored {
                    backup: backup.to_owned(),
                    tables: tables.to_vec(),
                };
                attempt.done_alone(db, &self.dir, &state, self.timeout)
            }
            Change::Repaired { ok, damaged_copy } => {
                let state = DatabaseState::Repaired {
                    ok,
                    damaged_copy: damaged_copy
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                };
                attempt.done_alone(db, &self.dir, &state, self.timeout)
            }
        }
    }
}
