//! Accepting drift: after review, the schema as it is now becomes the expected one, so that
//! validation stops refusing runs over a change made outside migrations (an index added by
//! hand and kept, a table dropped by hand).

use std::path::Path;

use rusqlite::{Transaction, TransactionBehavior};
use serde::Serialize;

use crate::migrator::Migrator;
use crate::planning::plan;
use crate::record::attempt::Attempt;
use crate::record::history::DownScripts;
use crate::run::safety;
use crate::vocab::command::Command;
use crate::vocab::error::Error;
use crate::vocab::error::SqliteContext;
use crate::vocab::report::DatabaseState;
use crate::vocab::schema_diff::Difference;

/// What `accept-drift` recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftAccepted {
    /// The objects added, removed or changed since the schema last recorded (empty when
    /// nothing had drifted, or the record predates recording the objects).
    pub differences: Vec<Difference>,
    /// Whether the schema had drifted at all (when not, nothing was recorded).
    pub drifted: bool,
    /// The attempt that recorded it (command `accept-drift`).
    pub attempt_id: Option<i64>,
}

impl Migrator {
    /// Records the current schema as the expected one, under the migration lock, as an attempt
    /// (command `accept-drift`) in `_migrate_attempts` and the audit journal. Nothing is
    /// recorded when the schema has not drifted.
    ///
    /// # Errors
    ///
    /// [`Error::NoDatabase`]; [`Error::InvalidRequest`] when no run has recorded a schema yet;
    /// [`Error::LockTimeout`]; [`Error::Sqlite`].
    pub fn accept_drift(&self, db: impl AsRef<Path>) -> Result<DriftAccepted, Error> {
        let db = db.as_ref();
        let (conn, _lock) = self.open_existing_locked(db)?;
        let state = self.read_state(&conn, DownScripts::Skip)?;
        let Some(recorded) = &state.schema.recorded else {
            return Err(Error::InvalidRequest {
                reason:
                    "no schema is recorded yet (no run has completed): there is no drift to accept"
                        .to_owned(),
            });
        };
        if *recorded == state.schema.current {
            return Ok(DriftAccepted {
                differences: Vec::new(),
                drifted: false,
                attempt_id: None,
            });
        }
        let version = plan::current_version(&state.applied);
        let mut attempt = Attempt::new(Command::AcceptDrift, version, Vec::new());
        attempt.target(version);
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .context("beginning accept-drift")?;
        let journal_error = |failure| Error::Bookkeeping {
            failure: Box::new(failure),
        };
        attempt.begin_in(&tx).map_err(journal_error)?;
        attempt.succeed_with(&tx, &[]).map_err(journal_error)?;
        tx.commit().context("committing accept-drift")?;
        let dir = safety::dir(self.config.backup_dir.as_ref(), db);
        let _ = attempt.audit(&dir, db, &DatabaseState::Unchanged);
        Ok(DriftAccepted {
            differences: state.schema.differences,
            drifted: true,
            attempt_id: attempt.id(),
        })
    }
}
