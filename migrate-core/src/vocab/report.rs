//! What a run did, and what went wrong when it failed.

use std::fmt;

use serde::Serialize;

use crate::vocab::direction::Direction;
use crate::vocab::problem::Problem;
use crate::vocab::version::Version;

/// One migration that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// How long its script and its verify queries took.
    pub duration_ms: u64,
    /// When it finished, applied (up) or reverted (down) (RFC 3339, UTC).
    pub finished_at: String,
}

/// The state a run left the database in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DatabaseState {
    /// Exactly as before the run (nothing to do, or everything rolled back).
    Unchanged,
    /// Every step of the plan applied.
    Migrated,
    /// Some steps were committed before the failure, and the pre-run backup brought the
    /// database back to its state before the run.
    Restored {
        /// The backup it was restored from.
        backup: String,
    },
    /// Some steps were committed before the failure, and could not be undone: no backup was
    /// taken (`--no-backup`, or a new empty database).
    PartiallyApplied {
        /// The highest applied version now.
        version: Option<Version>,
    },
    /// A run was stopped (killed) inside a transaction: SQLite's journal undid what that
    /// transaction had done, and every migration committed before it is whole. The database is
    /// at a consistent version, from which the next run continues.
    Consistent {
        /// The highest applied version.
        version: Option<Version>,
    },
    /// A stopped run may have left the database part-way (a no-transaction migration half
    /// done, or a restore cut short), and its pre-run backup was not restored: nothing proved
    /// that nobody committed since the run stopped.
    PartWay {
        /// The highest applied version.
        version: Option<Version>,
        /// The pre-run backup that would undo it.
        backup: String,
    },
    /// Some steps were committed before the failure, and the pre-run backup was not restored
    /// because another connection committed since its snapshot: restoring it would discard that
    /// commit. Nothing was discarded.
    NotRestored {
        /// The highest applied version now.
        version: Option<Version>,
        /// The pre-run backup, to restore by hand only if losing the later commits is accepted.
        backup: String,
    },
    /// Some steps were committed before the failure; the database was empty (or absent) before
    /// the run, and was emptied again: its pre-run state, with nothing else discarded (nobody
    /// else had committed). Only the record of the failed attempt is in it.
    Emptied,
    /// Some steps were committed before the failure; the database was empty before the run,
    /// but another connection committed since the run began, so emptying it would discard that
    /// commit. Nothing was discarded.
    NotEmptied {
        /// The highest applied version now.
        version: Option<Version>,
    },
    /// Some tables' rows were replaced by a backup's (the rest of the database untouched).
    TablesRestored {
        /// The backup they came from.
        backup: String,
        /// The tables.
        tables: Vec<String>,
    },
    /// The repair ladder changed the database; the damaged file was kept.
    Repaired {
        /// Whether it passes its checks now.
        ok: bool,
        /// The copy of the damaged file.
        damaged_copy: String,
    },
    /// Some steps were committed before the failure, and restoring the pre-run backup failed
    /// too: restore it by hand.
    RestoreFailed {
        /// The highest applied version now.
        version: Option<Version>,
        /// The backup to restore by hand.
        backup: String,
        /// Why the automatic restore failed.
        reason: String,
    },
}

impl fmt::Display for DatabaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseState::Unchanged => f.write_str("the database is unchanged"),
            DatabaseState::Migrated => f.write_str("the database is migrated"),
            DatabaseState::Restored { backup } => write!(
                f,
                "the database was restored from the pre-run backup {backup}: it is as it was before the run"
            ),
            DatabaseState::PartiallyApplied { version } => write!(
                f,
                "the database was left partly migrated, at version {}; no backup was taken to restore it",
                crate::vocab::version::version_text(*version)
            ),
            DatabaseState::Consistent { version } => write!(
                f,
                "the database is at version {}, a consistent version (SQLite undid the transaction the stopped run had open); nothing was restored, nothing discarded",
                crate::vocab::version::version_text(*version)
            ),
            DatabaseState::PartWay { version, backup } => write!(
                f,
                "the database may be part-way at version {}; its pre-run backup {backup} was not restored, as nothing proves that nobody committed since the run stopped",
                crate::vocab::version::version_text(*version)
            ),
            DatabaseState::NotRestored { version, backup } => write!(
                f,
                "the database was left partly migrated, at version {}: another connection committed after the pre-run backup {backup} was taken, so restoring it would discard that commit; nothing was discarded. Either fix the failing migration and run again (the run continues from this version), or, accepting the loss of every commit made since the backup, restore it by hand",
                crate::vocab::version::version_text(*version)
            ),
            DatabaseState::Emptied => f.write_str(
                "the database was empty before the run and is empty again (the migrations it committed were undone; nobody else had committed)",
            ),
            DatabaseState::NotEmptied { version } => write!(
                f,
                "the database was left partly migrated, at version {}: it was empty before the run, but another connection committed since, so emptying it would discard that commit; nothing was discarded. Fix the failing migration and run again (the run continues from this version)",
                crate::vocab::version::version_text(*version)
            ),
            DatabaseState::TablesRestored { backup, tables } => write!(
                f,
                "the rows of {} were replaced by backup {backup}'s",
                tables.join(", ")
            ),
            DatabaseState::Repaired { ok, damaged_copy } => write!(
                f,
                "the database was repaired ({}); the damaged file was kept as {damaged_copy}",
                if *ok {
                    "it passes its checks"
                } else {
                    "damage remains"
                }
            ),
            DatabaseState::RestoreFailed {
                version,
                backup,
                reason,
            } => write!(
                f,
                "the database was left partly migrated, at version {}, and restoring backup {backup} failed: {reason}. Restore it by hand",
                crate::vocab::version::version_text(*version)
            ),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Up or down.
    pub direction: Direction,
    /// The highest applied version before the run.
    pub from_version: Option<Version>,
    /// The highest applied version after the run.
    pub to_version: Option<Version>,
    /// The migrations that ran and stayed applied (up) or reverted (down), in order.
    pub steps: Vec<StepReport>,
    /// Problems found but allowed by the caller.
    pub allowed: Vec<Problem>,
    /// The row id in `_migrate_attempts`, when the run was recorded.
    pub attempt_id: Option<i64>,
    /// The pre-run backup, when one was taken.
    pub backup_id: Option<String>,
    /// The whole run, from its start (before the lock) to its end: lock, checks, backup,
    /// migrations, COMMIT, rotation and the audit line. (`_migrate_attempts.duration_ms` ends at
    /// the record, written before the COMMIT; each step's own time is in `steps`.)
    pub duration_ms: u64,
    /// The state the run left the database in.
    pub database: DatabaseState,
    /// An earlier run found interrupted (its marker left behind) and dealt with before this
    /// one.
    pub interrupted: Option<Interrupted>,
    /// Older pre-migrate backups deleted by the rotation policy after this run succeeded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rotated: Vec<String>,
}

/// An earlier run that stopped part-way, as the next run found and handled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interrupted {
    /// Its process, host and start time.
    pub holder: belay_guard::vocab::holder::Holder,
    /// `up` or `down`.
    pub command: crate::vocab::command::Command,
    /// Where it stopped.
    pub phase: crate::vocab::phase::Phase,
    /// Its pre-run backup, if it had taken one.
    pub backup_id: Option<String>,
    /// What was done about it: `unchanged` (it had not changed anything), `restored` (from its
    /// backup), or `partially_applied` (it had no backup to restore).
    pub database: DatabaseState,
    /// Its row in `_migrate_attempts` (outcome `interrupted`).
    pub attempt_id: Option<i64>,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an earlier `{}` run ({}) was interrupted while {}; {}",
            self.command,
            self.holder,
            self.phase.describe(),
            self.database
        )
    }
}

pub use belay_guard::foreign_keys::FkViolation;

/// What made a run fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// A statement of a migration script failed.
    Statement {
        /// The migration's version.
        version: Version,
        /// The script's file.
        origin: String,
        /// The 1-based line where the statement starts.
        line: usize,
        /// The statement.
        statement: String,
        /// SQLite's message.
        message: String,
    },
    /// A verification query did not return exactly one row holding 1.
    Verify {
        /// The migration's version.
        version: Version,
        /// The verify file.
        origin: String,
        /// The 1-based line of the query.
        line: usize,
        /// The query.
        query: String,
        /// What it returned instead.
        returned: String,
    },
    /// A statement of a migration's script would have written the tool's own tables; it was
    /// refused before it ran.
    OwnTables {
        /// The migration's version.
        version: Version,
        /// The script's file.
        origin: String,
        /// The 1-based line where the statement starts.
        line: usize,
        /// The statement.
        statement: String,
        /// The `_migrate*` tables it would have written.
        tables: Vec<String>,
    },
    /// The run introduced foreign-key violations.
    ForeignKeys {
        /// How many rows violate a foreign key now that did not before.
        count: usize,
        /// The first few.
        sample: Vec<FkViolation>,
    },
    /// The integrity check of what a unit wrote found damage (before its COMMIT: rolled back).
    Integrity {
        /// How many problems.
        count: usize,
        /// The first one.
        first: String,
    },
    /// A migration, its verify queries or the checks before COMMIT ran past their time budget
    /// and were interrupted (rolled back like any failure).
    TimedOut {
        /// What ran too long.
        what: String,
        /// The budget, in milliseconds.
        limit_ms: u64,
    },
    /// SQLite failed around the migrations (BEGIN, COMMIT, recording history).
    Database {
        /// What we were doing.
        context: String,
        /// SQLite's message.
        message: String,
    },
}

impl Failure {
    /// A database error around the migrations (BEGIN, COMMIT, recording history), as a failure.
    pub(crate) fn database(context: &str, err: &rusqlite::Error) -> Self {
        Failure::Database {
            context: context.to_owned(),
            message: err.to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Statement {
                version,
                origin,
                line,
                statement,
                message,
            } => {
                write!(
                    f,
                    "migration {version} failed at {origin}:{line}: {message}\n  statement: {}",
                    one_line(statement)
                )?;
                if let Some(hint) = missing_from_connection(message) {
                    write!(f, "\n  {hint}")?;
                }
                Ok(())
            }
            Failure::Verify {
                version,
                origin,
                line,
                query,
                returned,
            } => write!(
                f,
                "verification of migration {version} failed at {origin}:{line}: expected one row holding 1, got {returned}\n  query: {}",
                one_line(query)
            ),
            Failure::ForeignKeys { count, sample } => {
                write!(f, "the run introduced {count} foreign-key violation(s):")?;
                for v in sample {
                    let row = v.rowid.map_or_else(|| "?".to_owned(), |r| r.to_string());
                    write!(f, " {}[rowid {row}] -> {};", v.table, v.parent)?;
                }
                Ok(())
            }
            Failure::OwnTables {
                version,
                origin,
                line,
                statement,
                tables,
            } => write!(
                f,
                "migration {version} failed at {origin}:{line}: it would write the migration tool's own table(s) {}; migrations must not write _migrate_* tables (refused before it ran)\n  statement: {}",
                tables.join(", "),
                one_line(statement)
            ),
            Failure::Database { context, message } => write!(f, "{context}: {message}"),
            Failure::TimedOut { what, limit_ms } => write!(
                f,
                "{what} ran past its time budget of {:.1} s and was interrupted (check_timeout, or migration_timeout for the migrations themselves)",
                *limit_ms as f64 / 1000.0
            ),
            Failure::Integrity { count, first } => write!(
                f,
                "the integrity check of what the migrations wrote found {count} problem(s); first: {first}"
            ),
        }
    }
}

/// What a migration that calls a function (or uses a virtual-table module) the connection does
/// not have needs: an extension loaded, or the application's function registered.
pub(crate) fn missing_from_connection(message: &str) -> Option<String> {
    if let Some(name) = message.strip_prefix("no such function: ") {
        Some(format!(
            "`{name}` is not a function of this connection: the migrations need it from a SQLite extension or from the application; load the extension (Migrator::extension) or register the function (Migrator::on_connection) before migrating"
        ))
    } else {
        message.strip_prefix("no such module: ").map(|name| {
            format!(
                "`{name}` is not a virtual-table module of this connection: the migrations need a SQLite extension that provides it; load it (Migrator::extension) before migrating"
            )
        })
    }
}

fn one_line(sql: &str) -> String {
    let joined = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 200 {
        format!("{}…", joined.chars().take(200).collect::<String>())
    } else {
        joined
    }
}
