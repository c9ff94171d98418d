//! Recording migrations as applied without running them, on a database whose schema already
//! holds them: `baseline V` (migrations up to V) and `adopt` (what another tool applied). Both
//! run under the migration lock, refuse a database that already records migrations, compare
//! the schema with what those migrations make on a scratch in-memory database (unless
//! waived), and record the versions, the attempt and the audit line in one transaction.

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::migrator::Migrator;
use crate::planning::plan::{self, Direction, Request};
use crate::read::migration::Version;
use crate::read::set::Migrations;
use crate::record::attempt::Attempt;
use crate::record::history::{self, DownScripts};
use crate::record::state::DbState;
use crate::run::procedure::Rotation;
use crate::run::safety::{self, Backups};
use crate::takeover::{self, Adoption, Peer, SchemaCheck};
use crate::vocab::command::Command;
use crate::vocab::error::Error;
use crate::vocab::error::SqliteContext;
use crate::vocab::report::{DatabaseState, RunReport, StepReport};
use crate::vocab::schema_diff;
use belay_guard::database::db;
use belay_guard::database::lock::MigrationLock;

impl Migrator {
    /// Takes over an existing database whose schema already matches migrations up to
    /// `version`: records them as applied without running them, once the schema is shown to
    /// be what they make ([`Migrator::baseline_with`] to waive that check).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] when the database already has applied migrations or
    /// `version` is not a known migration; [`Error::SchemaMismatch`] naming each object that
    /// differs; [`Error::LockTimeout`]; [`Error::Sqlite`].
    pub fn baseline(&self, db: impl AsRef<Path>, version: Version) -> Result<RunReport, Error> {
        self.baseline_with(db, version, SchemaCheck::Required)
    }

    /// [`Migrator::baseline`], with the schema check required or waived.
    ///
    /// # Errors
    ///
    /// As [`Migrator::baseline`].
    pub fn baseline_with(
        &self,
        db: impl AsRef<Path>,
        version: Version,
        check: SchemaCheck,
    ) -> Result<RunReport, Error> {
        let db = db.as_ref();
        if self.migrations.get(version).is_none() {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "cannot baseline at {version}: there is no migration with that version"
                ),
            });
        }
        let versions: Vec<Version> = self
            .migrations
            .iter()
            .map(|m| m.version())
            .filter(|v| *v <= version)
            .collect();
        let conn = db::open(db, self.config.lock_timeout)?;
        let _lock = MigrationLock::acquire(db, self.config.lock_timeout)?;
        self.refuse_recorded(&conn, "baseline")?;
        if check == SchemaCheck::Required {
            self.check_schema(&conn, &versions, &format!("migrations up to {version}"))?;
        }
        self.record_applied(db, &conn, &versions, Command::Baseline)
    }

    /// Takes over a database another tool migrated: reads its bookkeeping (`from`, or the one
    /// found), matches the versions it applied against the migration files (and sqlx's
    /// checksums), compares the schema with what those migrations make (unless waived), and
    /// records them as applied. The peer's table is left in place.
    ///
    /// # Errors
    ///
    /// [`Error::NoDatabase`]; [`Error::InvalidRequest`] when no peer's bookkeeping is found or
    /// the database already records migrations; [`Error::AdoptRefused`] with every
    /// disagreement (missing, extra, failed, dirty, edited); [`Error::SchemaMismatch`];
    /// [`Error::LockTimeout`]; [`Error::Sqlite`].
    pub fn adopt(
        &self,
        db: impl AsRef<Path>,
        from: Option<Peer>,
        check: SchemaCheck,
    ) -> Result<Adoption, Error> {
        let db = db.as_ref();
        let (conn, _lock) = self.open_existing_locked(db)?;
        self.refuse_recorded(&conn, "adopt")?;
        let peer = match from {
            Some(peer) if takeover::present(&conn, peer)? => peer,
            Some(peer) => {
                return Err(Error::InvalidRequest {
                    reason: format!(
                        "no {peer} bookkeeping in this database ({} not found)",
                        peer.table()
                    ),
                });
            }
            None => takeover::detect(&conn)?.ok_or_else(|| Error::InvalidRequest {
                reason: "no other tool's bookkeeping found (looked for _sqlx_migrations, refinery_schema_history, __diesel_schema_migrations, goose_db_version, flyway_schema_history, gorp_migrations, schema_migrations); for rusqlite_migration's user_version, name it".to_owned(),
            })?,
        };
        let ledger = takeover::read(&conn, peer)?;
        let versions = takeover::reconcile(&ledger, &self.migrations)
            .map_err(|problems| Error::AdoptRefused { peer, problems })?;
        if check == SchemaCheck::Required {
            let against = format!("the {} migrations {peer} applied", versions.len());
            self.check_schema(&conn, &versions, &against)?;
        }
        let report = self.record_applied(db, &conn, &versions, Command::Adopt)?;
        Ok(Adoption {
            peer,
            table: peer.table(),
            versions,
            report,
        })
    }

    /// An existing database (never created here), opened and locked for a command that
    /// records without running migrations.
    pub(crate) fn open_existing_locked(
        &self,
        db: &Path,
    ) -> Result<(Connection, MigrationLock), Error> {
        if !db.exists() {
            return Err(Error::NoDatabase {
                path: db.to_path_buf(),
            });
        }
        let conn = db::open(db, self.config.lock_timeout)?;
        let lock = MigrationLock::acquire(db, self.config.lock_timeout)?;
        Ok((conn, lock))
    }

    fn refuse_recorded(&self, conn: &Connection, what: &str) -> Result<(), Error> {
        if let Some(current) =
            plan::current_version(&self.read_state(conn, DownScripts::Skip)?.applied)
        {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "cannot {what}: migrations are already recorded (current version {current})"
                ),
            });
        }
        Ok(())
    }

    /// Refuses unless `conn`'s schema is what `versions` make on an empty database.
    fn check_schema(
        &self,
        conn: &Connection,
        versions: &[Version],
        against: &str,
    ) -> Result<(), Error> {
        let expected = self.scratch_schema(versions)?;
        let differences =
            schema_diff::differences(&crate::record::schema::objects(conn)?, &expected);
        if differences.is_empty() {
            return Ok(());
        }
        Err(Error::SchemaMismatch {
            against: against.to_owned(),
            differences,
        })
    }

    /// The schema `versions` make on a scratch in-memory database, through a run with this
    /// migrator's extensions and hooks.
    fn scratch_schema(&self, versions: &[Version]) -> Result<schema_diff::Objects, Error> {
        let subset = Migrations::new(
            self.migrations
                .iter()
                .filter(|m| versions.contains(&m.version()))
                .cloned()
                .collect(),
        )?;
        let mut config = self.config.clone();
        config.backups = Backups::Skip;
        config.rotation = Rotation::Off;
        config.backup_dir = None;
        let scratch = Migrator {
            migrations: subset,
            config,
        };
        let conn = Connection::open_in_memory().context("opening a scratch database")?;
        scratch
            .run_on(&conn, &Request::up())
            .map_err(|e| Error::InvalidRequest {
                reason: format!(
                    "the schema cannot be compared: the migrations do not apply to an empty database: {}",
                    match e {
                        Error::RunFailed { failure, .. } => failure.to_string(),
                        other => other.to_string(),
                    }
                ),
            })?;
        crate::record::schema::objects(&conn)
    }

    /// Records `versions` as applied without running them, with the attempt and its audit
    /// line, in one transaction.
    fn record_applied(
        &self,
        db: &Path,
        conn: &Connection,
        versions: &[Version],
        command: Command,
    ) -> Result<RunReport, Error> {
        let target = versions.last().copied();
        let plan = self.plan_state(&DbState::empty(), &Request::Up { to: target })?;
        let steps_to_record: Vec<_> = plan
            .steps
            .iter()
            .filter(|s| versions.contains(&s.version))
            .collect();
        let mut attempt = Attempt::new(
            command,
            None,
            steps_to_record.iter().map(|s| s.version).collect(),
        );
        attempt.target(target);
        let mut steps = Vec::with_capacity(steps_to_record.len());
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .context(&format!("beginning the {command}"))?;
        let journal_error = |failure| Error::Bookkeeping {
            failure: Box::new(failure),
        };
        attempt.begin_in(&tx).map_err(journal_error)?;
        for step in steps_to_record {
            let applied_at = belay_guard::vocab::clock::now_rfc3339();
            history::insert_applied(&tx, step, &applied_at, 0)
                .context(&format!("recording the {command}"))?;
            steps.push(StepReport {
                version: step.version,
                name: step.name.clone(),
                duration_ms: 0,
                finished_at: applied_at,
            });
        }
        attempt.succeed_with(&tx, &steps).map_err(journal_error)?;
        tx.commit().context(&format!("committing the {command}"))?;
        // The journal is a record; the recording itself is committed.
        let dir = safety::dir(self.config.backup_dir.as_ref(), db);
        let _ = attempt.audit(&dir, db, &DatabaseState::Migrated);
        Ok(RunReport {
            direction: Direction::Up,
            from_version: None,
            to_version: target,
            steps,
            allowed: Vec::new(),
            attempt_id: attempt.id(),
            backup_id: None,
            duration_ms: attempt.elapsed_ms(),
            database: DatabaseState::Migrated,
            interrupted: None,
            rotated: Vec::new(),
        })
    }
}
