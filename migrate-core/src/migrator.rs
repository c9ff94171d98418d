//! The entry point: a [`Migrator`] runs a set of migrations against a database file.
//!
//! ```no_run
//! use migrate_core::{Migrator, source};
//!
//! let migrator = Migrator::new(source::read_dir("migrations")?);
//! let report = migrator.up("app.db")?;
//! println!("now at version {:?}", report.to_version);
//! # Ok::<(), migrate_core::Error>(())
//! ```
//!
//! A run: read the state and plan without the lock (the common "nothing pending" case ends
//! here, writing nothing); otherwise take the lock, read and plan again (another process may
//! have migrated meanwhile), record the attempt, apply, and record the outcome with the new
//! schema fingerprint.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::apply::{self, TransactionScope};
use crate::error::SqliteContext;
use crate::history::{self, AttemptEnd, Outcome};
use crate::holder::Holder;
use crate::lock::{self, MigrationLock};
use crate::migration::Version;
use crate::plan::{self, Allow, AppliedMigration, Plan, Problem, Request, SchemaState};
use crate::report::{DatabaseState, RunReport};
use crate::schema::{self, Fingerprint};
use crate::set::Migrations;
use crate::{Error, db};

#[derive(Debug, Clone)]
struct Config {
    lock_timeout: Duration,
    scope: TransactionScope,
    allow: Allow,
}

/// Runs migrations against database files.
#[derive(Debug, Clone)]
pub struct Migrator {
    migrations: Migrations,
    config: Config,
}

/// The applied migrations and the schema fingerprints, read in one snapshot.
struct DbState {
    applied: Vec<AppliedMigration>,
    schema: SchemaState,
}

/// Where a database stands relative to the migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The highest applied version.
    pub current_version: Option<Version>,
    /// The highest available version.
    pub latest_version: Option<Version>,
    /// Applied migrations, by version.
    pub applied: Vec<AppliedMigration>,
    /// Migrations not applied yet, by version (out-of-order ones included).
    pub pending: Vec<Named>,
    /// Applied migrations whose file changed.
    pub changed: Vec<Named>,
    /// Applied migrations whose file is gone.
    pub missing: Vec<Named>,
    /// Pending migrations lower than the current version.
    pub out_of_order: Vec<Named>,
    /// Whether the schema changed outside migrations since the last run.
    pub schema_drift: bool,
    /// Every problem, with details.
    pub problems: Vec<Problem>,
}

/// A migration's version and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    /// The version.
    pub version: Version,
    /// The name.
    pub name: String,
}

impl Migrator {
    /// A migrator for `migrations`, with the default configuration.
    pub fn new(migrations: Migrations) -> Self {
        Self {
            migrations,
            config: Config {
                lock_timeout: lock::DEFAULT_TIMEOUT,
                scope: TransactionScope::Run,
                allow: Allow::default(),
            },
        }
    }

    /// How long to wait for the migration lock (and for SQLite's own locks). By default, 60 s.
    pub fn lock_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.lock_timeout = timeout;
        self
    }

    /// Whether the run is one transaction or one per migration. By default, one for the run.
    pub fn transaction_scope(&mut self, scope: TransactionScope) -> &mut Self {
        self.config.scope = scope;
        self
    }

    /// Which validation problems to accept. By default, none.
    pub fn allow(&mut self, allow: Allow) -> &mut Self {
        self.config.allow = allow;
        self
    }

    /// The migrations this migrator runs.
    pub fn migrations(&self) -> &Migrations {
        &self.migrations
    }

    /// Applies every pending migration.
    ///
    /// # Errors
    ///
    /// As [`Migrator::run`].
    pub fn up(&self, db: impl AsRef<Path>) -> Result<RunReport, Error> {
        self.run(db, &Request::up())
    }

    /// Carries out `request` on the database at `db`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTarget`]/[`Error::Irreversible`] for a request that does not fit,
    /// [`Error::Refused`] when validation fails (nothing changed), [`Error::LockTimeout`],
    /// [`Error::RunFailed`] when a migration or its verification failed (its report says
    /// whether the database is unchanged), [`Error::Sqlite`] for anything else.
    pub fn run(&self, db: impl AsRef<Path>, request: &Request) -> Result<RunReport, Error> {
        let started = Instant::now();
        let db = db.as_ref();
        let conn = db::open(db, self.config.lock_timeout)?;
        let plan = self.plan_on(&conn, request)?;
        if plan.steps.is_empty() {
            return Ok(unchanged(plan, started));
        }
        let _lock = MigrationLock::acquire(db, self.config.lock_timeout)?;
        // Another process may have migrated while we waited for the lock.
        let plan = self.plan_on(&conn, request)?;
        if plan.steps.is_empty() {
            return Ok(unchanged(plan, started));
        }
        self.apply(&conn, plan, started)
    }

    fn apply(&self, conn: &Connection, plan: Plan, started: Instant) -> Result<RunReport, Error> {
        history::ensure_tables(conn)?;
        let versions: Vec<Version> = plan.steps.iter().map(|s| s.version).collect();
        let attempt_id = history::begin_attempt(
            conn,
            &plan.direction.to_string(),
            &Holder::current(),
            plan.from,
            &versions,
        )
        .context("recording the attempt in _migrate_attempts")?;
        let result = apply::execute(conn, &plan, self.config.scope, Some(attempt_id));
        let elapsed = || started.elapsed().as_millis() as u64;
        let mut report = RunReport {
            direction: plan.direction,
            from_version: plan.from,
            to_version: plan.to,
            steps: Vec::new(),
            allowed: plan.allowed.clone(),
            attempt_id: Some(attempt_id),
            duration_ms: 0,
            database: DatabaseState::Migrated,
        };
        match result {
            Ok(steps) => {
                let fingerprint = schema::fingerprint(conn)?;
                report.steps = steps;
                report.duration_ms = elapsed();
                let end = AttemptEnd {
                    outcome: Outcome::Success,
                    to_version: plan.to,
                    versions: &versions,
                    error: None,
                    duration_ms: report.duration_ms,
                    fingerprint: Some(&fingerprint),
                };
                history::finish_attempt(conn, attempt_id, &end, &crate::clock::now_rfc3339())
                    .context("recording the outcome in _migrate_attempts")?;
                Ok(report)
            }
            Err(failed) => {
                let ran: Vec<Version> = failed.committed.iter().map(|s| s.version).collect();
                report.to_version = match failed.state {
                    DatabaseState::PartiallyApplied { version } => version,
                    _ => plan.from,
                };
                report.steps = failed.committed;
                report.database = failed.state;
                report.duration_ms = elapsed();
                let message = format!("{}\n{}", failed.failure, failed.state);
                let end = AttemptEnd {
                    outcome: Outcome::Failed,
                    to_version: report.to_version,
                    versions: &ran,
                    error: Some(&message),
                    duration_ms: report.duration_ms,
                    fingerprint: None,
                };
                // The run's own error matters more than a failure to record it.
                let _ = history::finish_attempt(conn, attempt_id, &end, &crate::clock::now_rfc3339());
                Err(Error::RunFailed {
                    failure: Box::new(failed.failure),
                    report: Box::new(report),
                })
            }
        }
    }

    /// What `request` would do now, without changing anything.
    ///
    /// # Errors
    ///
    /// As [`Migrator::run`], except that nothing is locked or applied.
    pub fn plan(&self, db: impl AsRef<Path>, request: &Request) -> Result<Plan, Error> {
        match db::open_read_only(db.as_ref(), self.config.lock_timeout)? {
            Some(conn) => self.plan_on(&conn, request),
            None => self.plan_state(&DbState::empty(), request),
        }
    }

    fn plan_on(&self, conn: &Connection, request: &Request) -> Result<Plan, Error> {
        self.plan_state(&DbState::read(conn)?, request)
    }

    fn plan_state(&self, state: &DbState, request: &Request) -> Result<Plan, Error> {
        plan::plan(
            &self.migrations,
            &state.applied,
            &state.schema,
            request,
            &self.config.allow,
        )
        .map_err(Error::from)
    }

    /// Where the database stands: applied, pending, changed, missing, drift. Changes nothing
    /// (a database that does not exist yet has everything pending).
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] when the database cannot be read.
    pub fn status(&self, db: impl AsRef<Path>) -> Result<Status, Error> {
        let state = match db::open_read_only(db.as_ref(), self.config.lock_timeout)? {
            Some(conn) => DbState::read(&conn)?,
            None => DbState::empty(),
        };
        let problems = plan::inspect(&self.migrations, &state.applied, &state.schema);
        let named = |version: Version, name: &str| Named {
            version,
            name: name.to_owned(),
        };
        let pick = |want: fn(&Problem) -> Option<(Version, &str)>| {
            problems
                .iter()
                .filter_map(want)
                .map(|(v, n)| named(v, n))
                .collect::<Vec<_>>()
        };
        let pending = self
            .migrations
            .iter()
            .filter(|m| state.applied.binary_search_by_key(&m.version(), |a| a.version).is_err())
            .map(|m| named(m.version(), m.name()))
            .collect();
        Ok(Status {
            current_version: plan::current_version(&state.applied),
            latest_version: self.migrations.latest(),
            pending,
            changed: pick(|p| match p {
                Problem::Changed { version, name, .. } => Some((*version, name)),
                _ => None,
            }),
            missing: pick(|p| match p {
                Problem::Missing { version, name } => Some((*version, name)),
                _ => None,
            }),
            out_of_order: pick(|p| match p {
                Problem::OutOfOrder { version, name, .. } => Some((*version, name)),
                _ => None,
            }),
            schema_drift: problems
                .iter()
                .any(|p| matches!(p, Problem::SchemaDrift { .. })),
            applied: state.applied,
            problems,
        })
    }

    /// Takes over an existing database whose schema already matches migrations up to
    /// `version`: records them as applied without running them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] when the database already has applied migrations or
    /// `version` is not a known migration; [`Error::LockTimeout`]; [`Error::Sqlite`].
    pub fn baseline(&self, db: impl AsRef<Path>, version: Version) -> Result<RunReport, Error> {
        let started = Instant::now();
        let db = db.as_ref();
        if self.migrations.get(version).is_none() {
            return Err(Error::InvalidRequest {
                reason: format!("cannot baseline at {version}: there is no migration with that version"),
            });
        }
        let conn = db::open(db, self.config.lock_timeout)?;
        let _lock = MigrationLock::acquire(db, self.config.lock_timeout)?;
        let state = DbState::read(&conn)?;
        if let Some(current) = plan::current_version(&state.applied) {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "cannot baseline: migrations are already recorded (current version {current})"
                ),
            });
        }
        history::ensure_tables(&conn)?;
        let plan = self.plan_state(&DbState::empty(), &Request::Up { to: Some(version) })?;
        let versions: Vec<Version> = plan.steps.iter().map(|s| s.version).collect();
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .context("beginning the baseline")?;
        let holder = Holder::current();
        let attempt_id = history::begin_attempt(&tx, "baseline", &holder, None, &versions)
            .context("recording the baseline")?;
        let mut steps = Vec::with_capacity(plan.steps.len());
        for step in &plan.steps {
            history::insert_applied(&tx, step, &holder.started_at, 0, Some(attempt_id))
                .context("recording the baseline")?;
            steps.push(crate::report::StepReport {
                version: step.version,
                name: step.name.clone(),
                duration_ms: 0,
            });
        }
        let fingerprint = schema::fingerprint(&tx)?;
        let duration_ms = started.elapsed().as_millis() as u64;
        let end = AttemptEnd {
            outcome: Outcome::Success,
            to_version: Some(version),
            versions: &versions,
            error: None,
            duration_ms,
            fingerprint: Some(&fingerprint),
        };
        history::finish_attempt(&tx, attempt_id, &end, &crate::clock::now_rfc3339())
            .context("recording the baseline")?;
        tx.commit().context("committing the baseline")?;
        Ok(RunReport {
            direction: plan.direction,
            from_version: None,
            to_version: Some(version),
            steps,
            allowed: Vec::new(),
            attempt_id: Some(attempt_id),
            duration_ms,
            database: DatabaseState::Migrated,
        })
    }
}

fn unchanged(plan: Plan, started: Instant) -> RunReport {
    RunReport {
        direction: plan.direction,
        from_version: plan.from,
        to_version: plan.from,
        steps: Vec::new(),
        allowed: plan.allowed,
        attempt_id: None,
        duration_ms: started.elapsed().as_millis() as u64,
        database: DatabaseState::Unchanged,
    }
}

impl DbState {
    fn empty() -> Self {
        Self {
            applied: Vec::new(),
            schema: SchemaState::unrecorded(),
        }
    }

    /// Reads history and fingerprints inside one read transaction, so a concurrent commit
    /// cannot show us half of one state and half of another.
    fn read(conn: &Connection) -> Result<Self, Error> {
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)
            .context("reading the migration state")?;
        if !history::exists(&tx)? {
            return Ok(Self::empty());
        }
        let applied = history::applied(&tx)?;
        let recorded: Option<Fingerprint> = history::recorded_fingerprint(&tx)?;
        let current = schema::current_hash(&tx, recorded.as_ref())?;
        Ok(Self {
            applied,
            schema: SchemaState {
                recorded: recorded.map(|f| f.hash),
                current,
            },
        })
    }
}
