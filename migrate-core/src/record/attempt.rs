//! The one recorder of attempts: every run, baseline, fix-checksums and recovery of an
//! interrupted run is a row of `_migrate_attempts` and a line of the audit journal, written
//! here and nowhere else.
//!
//! A run's row is opened inside its first transaction and closed, with the new schema
//! fingerprint, inside its last (see `record::journal::Journal`), so that a run in one transaction commits
//! exactly once. A failed run is recorded after its rollback, an interrupted one when the next
//! run finds it, each in a transaction of its own ([`Attempt::finish_alone`]).

use std::time::Instant;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::planning::plan::{Direction, Plan};
use crate::read::migration::Version;
use crate::record::history::{self, AttemptRecord, Outcome};
use crate::record::marker::RunMarker;
use crate::record::schema;
use crate::vocab::command::Command;
use crate::vocab::report::{DatabaseState, Failure, StepReport};
use belay_guard::vocab::clock;
use belay_guard::vocab::holder::Holder;

impl From<Direction> for Command {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Up => Command::Up,
            Direction::Down => Command::Down,
        }
    }
}

/// One attempt's row, from its start to its line in the audit journal.
pub(crate) struct Attempt {
    record: AttemptRecord,
    /// When this process started it; `None` for an interrupted run found later, whose
    /// duration nobody measured.
    started: Option<Instant>,
}

impl Attempt {
    /// An attempt by this process, from version `from`, over `versions`.
    pub fn new(command: Command, from: Option<Version>, versions: Vec<Version>) -> Self {
        Self {
            record: AttemptRecord {
                id: None,
                command,
                holder: Holder::current(),
                finished_at: None,
                outcome: Outcome::Running,
                from_version: from,
                to_version: None,
                versions,
                error: None,
                duration_ms: None,
                backup_id: None,
                fingerprint: None,
            },
            started: Some(Instant::now()),
        }
    }

    /// The attempt carrying out `plan`, timed from `started`.
    pub fn of_plan(plan: &Plan, started: Instant) -> Self {
        let mut attempt = Self::new(
            plan.direction.into(),
            plan.from,
            plan.steps.iter().map(|s| s.version).collect(),
        );
        attempt.started = Some(started);
        attempt
    }

    /// The attempt of the run that left `found` behind, recorded by the run that found it.
    pub fn interrupted(found: &RunMarker) -> Self {
        let mut attempt = Self::new(found.command, found.from_version, found.versions.clone());
        attempt.record.holder = found.holder.clone();
        attempt.record.backup_id.clone_from(&found.backup_id);
        attempt.started = None;
        attempt
    }

    pub fn id(&self) -> Option<i64> {
        self.record.id
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.started
            .map_or(0, |started| started.elapsed().as_millis() as u64)
    }

    /// Records the backup taken before the run.
    pub fn backup(&mut self, id: Option<String>) {
        self.record.backup_id = id;
    }

    /// Sets the version the attempt ends at on success.
    pub fn target(&mut self, to_version: Option<Version>) {
        self.record.to_version = to_version;
    }

    /// Drops the fingerprint an earlier unit recorded: the database is back where the run
    /// started (rolled back, or restored), whose fingerprint the previous run recorded.
    pub fn forget_fingerprint(&mut self) {
        self.record.fingerprint = None;
    }

    /// Marks the attempt failed for want of SQLite's write lock, without writing the database
    /// (that would wait for the same lock): only the audit journal records it.
    pub fn locked_out(&mut self, waited: std::time::Duration) {
        self.record.outcome = Outcome::Failed;
        self.record.error = Some(format!(
            "another connection held SQLite's write lock for {} ms; nothing was changed",
            waited.as_millis()
        ));
        self.record.to_version = self.record.from_version;
        self.record.versions.clear();
        self.record.id = None;
        self.close();
    }

    /// Records a failed run, after its rollback, in a transaction of its own.
    pub fn fail(
        &mut self,
        conn: &Connection,
        message: String,
        to_version: Option<Version>,
        committed: &[StepReport],
    ) -> rusqlite::Result<()> {
        self.record.versions = committed.iter().map(|s| s.version).collect();
        self.finish_alone(conn, Outcome::Failed, Some(message), to_version)
    }

    /// Records the attempt as finished with `outcome`, in a transaction of its own.
    pub fn finish_alone(
        &mut self,
        conn: &Connection,
        outcome: Outcome,
        error: Option<String>,
        to_version: Option<Version>,
    ) -> rusqlite::Result<()> {
        self.record.outcome = outcome;
        self.record.error = error;
        self.record.to_version = to_version;
        self.close();
        let recorded = (|| {
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            history::prepare_tables(&tx)?;
            let id = history::record_attempt(&tx, &self.record)?;
            tx.commit()?;
            Ok(id)
        })();
        // An id from a transaction that did not commit names no row: the next run may be
        // given the same one, so the journal must not carry it.
        self.record.id = recorded.as_ref().ok().copied();
        recorded.map(|_| ())
    }

    /// Records the attempt as a success inside the caller's transaction, which commits it with
    /// the work it records.
    pub fn succeed_in(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.record.outcome = Outcome::Success;
        self.record.to_version = self.record.to_version.or(self.record.from_version);
        self.close();
        history::prepare_tables(conn)?;
        self.record.id = Some(history::record_attempt(conn, &self.record)?);
        Ok(())
    }

    /// Records a command that changed the database outside any run (a table restore, a
    /// repair) once it is done: its own row in the database's `_migrate_attempts`, then the
    /// audit line in `dir`. The command is done; failing to record it does not undo it, so
    /// recording is best effort and returns the row's id when there is one.
    pub fn done_alone(
        &mut self,
        db: &std::path::Path,
        dir: &std::path::Path,
        state: &DatabaseState,
        timeout: std::time::Duration,
    ) -> Option<i64> {
        if let Ok(conn) = belay_guard::database::db::open(db, timeout) {
            let at = crate::record::state::DbState::read(&conn, history::DownScripts::Skip)
                .ok()
                .and_then(|s| crate::planning::plan::current_version(&s.applied));
            self.record.from_version = at;
            let _ = self.finish_alone(&conn, Outcome::Success, None, at);
        }
        let _ = self.audit(dir, db, state);
        self.id()
    }

    /// Appends the attempt, as recorded, to the audit journal in `dir`.
    pub fn audit(
        &self,
        dir: &std::path::Path,
        db: &std::path::Path,
        state: &DatabaseState,
    ) -> Result<(), crate::vocab::error::Error> {
        crate::record::audit::append(
            dir,
            db,
            &crate::record::audit::Entry::new(db, &self.record, state),
        )
    }

    fn close(&mut self) {
        self.record.finished_at = Some(clock::now_rfc3339());
        self.record.duration_ms = self.started.map(|_| self.elapsed_ms());
    }
}

/// The attempt's row inside a run's own transactions (what `RunJournal` does for it).
impl Attempt {
    /// Opens the attempt's row inside the run's first transaction.
    pub fn begin_in(&mut self, conn: &Connection) -> Result<(), Failure> {
        let context = "recording the attempt in _migrate_attempts";
        history::prepare_tables(conn).map_err(|e| Failure::database(context, &e))?;
        self.record.id = Some(
            history::record_attempt(conn, &self.record)
                .map_err(|e| Failure::database(context, &e))?,
        );
        Ok(())
    }

    /// Inside a transaction that commits part of the run: records the schema it leaves.
    pub fn committed_in(&mut self, conn: &Connection) -> Result<(), Failure> {
        let context = "recording the schema in _migrate_attempts";
        let fingerprint = schema::fingerprint(conn).map_err(|e| Failure::Database {
            context: context.to_owned(),
            message: e.to_string(),
        })?;
        self.record.fingerprint = Some(fingerprint);
        history::record_attempt(conn, &self.record).map_err(|e| Failure::database(context, &e))?;
        Ok(())
    }

    /// Closes the row as a success, with the steps, inside the run's last transaction.
    pub fn succeed_with(&mut self, conn: &Connection, steps: &[StepReport]) -> Result<(), Failure> {
        let context = "recording the outcome in _migrate_attempts";
        let fingerprint = schema::fingerprint(conn).map_err(|e| Failure::Database {
            context: context.to_owned(),
            message: e.to_string(),
        })?;
        self.record.outcome = Outcome::Success;
        self.record.versions = steps.iter().map(|s| s.version).collect();
        self.record.fingerprint = Some(fingerprint);
        self.close();
        history::record_attempt(conn, &self.record).map_err(|e| Failure::database(context, &e))?;
        Ok(())
    }
}
