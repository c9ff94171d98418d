//! The attempt journal of one run: the `_migrate_attempts` row opened inside the run's first
//! transaction and closed, with the new schema fingerprint, inside its last, so that a run in
//! one transaction commits exactly once. A failed run is recorded after its rollback.

use std::time::Instant;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::apply::{self, Journal};
use crate::clock;
use crate::history::{self, AttemptRecord, Outcome};
use crate::holder::Holder;
use crate::plan::Plan;
use crate::report::{Failure, StepReport};
use crate::schema;

/// One run's attempt row.
pub(crate) struct Attempt {
    record: AttemptRecord,
    started: Instant,
}

impl Attempt {
    pub fn new(plan: &Plan, started: Instant) -> Self {
        Self {
            record: AttemptRecord {
                id: None,
                command: plan.direction.to_string(),
                holder: Holder::current(),
                finished_at: None,
                outcome: Outcome::Running,
                from_version: plan.from,
                to_version: None,
                versions: plan.steps.iter().map(|s| s.version).collect(),
                error: None,
                duration_ms: None,
                backup_id: None,
                fingerprint: None,
            },
            started,
        }
    }

    pub fn id(&self) -> Option<i64> {
        self.record.id
    }

    /// Names the command recorded (a run records `up` or `down`; others say what they are).
    pub fn command(&mut self, command: &str) {
        command.clone_into(&mut self.record.command);
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Records a failed run, after its rollback, in a transaction of its own.
    pub fn fail(
        &mut self,
        conn: &Connection,
        message: String,
        to_version: Option<crate::Version>,
        committed: &[StepReport],
    ) -> rusqlite::Result<()> {
        self.record.outcome = Outcome::Failed;
        self.record.error = Some(message);
        self.record.to_version = to_version;
        self.record.versions = committed.iter().map(|s| s.version).collect();
        self.close();
        let recorded = (|| {
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            tx.execute_batch(history::CREATE)?;
            let id = history::record_attempt(&tx, &self.record)?;
            tx.commit()?;
            Ok(id)
        })();
        // An id from a transaction that did not commit names no row: the next run may be
        // given the same one, so the journal must not carry it.
        self.record.id = recorded.as_ref().ok().copied();
        recorded.map(|_| ())
    }

    /// Drops the fingerprint an earlier unit recorded: the database is back where the run
    /// started (rolled back, or restored), whose fingerprint the previous run recorded.
    pub fn forget_fingerprint(&mut self) {
        self.record.fingerprint = None;
    }

    fn close(&mut self) {
        self.record.finished_at = Some(clock::now_rfc3339());
        self.record.duration_ms = Some(self.elapsed_ms());
    }
}

impl Journal for Attempt {
    fn begin(&mut self, conn: &Connection) -> Result<(), Failure> {
        let context = "recording the attempt in _migrate_attempts";
        conn.execute_batch(history::CREATE)
            .map_err(|e| apply::database(context, e))?;
        self.record.id = Some(
            history::record_attempt(conn, &self.record).map_err(|e| apply::database(context, e))?,
        );
        Ok(())
    }

    fn committed(&mut self, conn: &Connection) -> Result<(), Failure> {
        let context = "recording the schema in _migrate_attempts";
        let fingerprint = schema::fingerprint(conn).map_err(|e| Failure::Database {
            context: context.to_owned(),
            message: e.to_string(),
        })?;
        self.record.fingerprint = Some(fingerprint);
        history::record_attempt(conn, &self.record).map_err(|e| apply::database(context, e))?;
        Ok(())
    }

    fn succeed(&mut self, conn: &Connection, steps: &[StepReport]) -> Result<(), Failure> {
        let context = "recording the outcome in _migrate_attempts";
        let fingerprint = schema::fingerprint(conn).map_err(|e| Failure::Database {
            context: context.to_owned(),
            message: e.to_string(),
        })?;
        self.record.outcome = Outcome::Success;
        self.record.versions = steps.iter().map(|s| s.version).collect();
        self.record.fingerprint = Some(fingerprint);
        self.close();
        history::record_attempt(conn, &self.record).map_err(|e| apply::database(context, e))?;
        Ok(())
    }
}

impl Attempt {
    /// Records the backup taken before the run.
    pub fn backup(&mut self, id: Option<String>) {
        self.record.backup_id = id;
    }

    /// Appends the attempt, as recorded, to the audit journal in `dir`.
    pub fn audit(
        &self,
        dir: &std::path::Path,
        db: &std::path::Path,
        state: &crate::report::DatabaseState,
    ) -> Result<(), crate::Error> {
        crate::audit::append(dir, &crate::audit::Entry::new(db, &self.record, state))
    }

    /// Sets the version the run ends at on success.
    pub fn target(&mut self, to_version: Option<crate::Version>) {
        self.record.to_version = to_version;
    }
}
