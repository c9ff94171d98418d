//! What happened to one database of a fleet, and the fleet's exit code from all of them (pure).

use std::path::PathBuf;

use belay_migrate::{RunReport, Version};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, code};

/// One database's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Migrations applied by this run.
    Migrated,
    /// Nothing was pending.
    UpToDate,
    /// Recorded as migrated or up to date in the journal by an earlier run; not opened again.
    DoneEarlier,
    /// Another run held its lock (or SQLite's write lock) past the lock timeout; nothing changed.
    Locked,
    /// Failed, and at its pre-run state (a refusal, a failed migration rolled back, damage
    /// found before anything was written, a file that is no database).
    Failed,
    /// Failed and not at its pre-run state: its error says where it is and what to do.
    NotRestored,
    /// Failed with an error the net does not classify (I/O, SQLite): its state is not known
    /// to be the pre-run one, so it is never counted as such.
    Unexpected,
    /// Never started: the error budget was spent, or the canary stage failed.
    NotStarted,
}

impl Outcome {
    /// Whether this counts against the error budget.
    pub fn failed(self) -> bool {
        matches!(
            self,
            Outcome::Locked | Outcome::Failed | Outcome::NotRestored | Outcome::Unexpected
        )
    }

    /// Whether the database is at the target, so that a resumed run leaves it alone.
    pub fn done(self) -> bool {
        matches!(
            self,
            Outcome::Migrated | Outcome::UpToDate | Outcome::DoneEarlier
        )
    }

    /// The word in text output.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Migrated => "migrated",
            Outcome::UpToDate => "up to date",
            Outcome::DoneEarlier => "done earlier",
            Outcome::Locked => "locked",
            Outcome::Failed => "failed",
            Outcome::NotRestored => "not restored",
            Outcome::Unexpected => "unexpected error",
            Outcome::NotStarted => "not started",
        }
    }
}

/// One database's row: in the journal, in `--json`, in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The database (its resolved path).
    pub db: PathBuf,
    /// What happened.
    pub outcome: Outcome,
    /// The highest applied version before the run (when the run got that far).
    pub from_version: Option<Version>,
    /// The highest applied version after it.
    pub to_version: Option<Version>,
    /// How many migrations this run applied.
    pub applied: usize,
    /// The pre-run backup, when one was taken.
    pub backup_id: Option<String>,
    /// The whole run for this database (lock, checks, backup, migrations, commit).
    pub duration_ms: u64,
    /// The exit code `migrate up` would have given for this database alone.
    pub exit_code: u8,
    /// The error, as `migrate up` would have printed it.
    pub error: Option<String>,
}

impl Row {
    /// A row for a database this run never opened.
    pub fn untouched(db: PathBuf, outcome: Outcome, why: Option<String>) -> Self {
        Self {
            db,
            outcome,
            from_version: None,
            to_version: None,
            applied: 0,
            backup_id: None,
            duration_ms: 0,
            exit_code: 0,
            error: why,
        }
    }

    /// The row of a finished run.
    pub fn of(db: PathBuf, result: Result<RunReport, CliError>, duration_ms: u64) -> Self {
        match result {
            Ok(report) => Self {
                db,
                outcome: if report.steps.is_empty() {
                    Outcome::UpToDate
                } else {
                    Outcome::Migrated
                },
                from_version: report.from_version,
                to_version: report.to_version,
                applied: report.steps.len(),
                backup_id: report.backup_id,
                duration_ms,
                exit_code: 0,
                error: None,
            },
            Err(error) => {
                let exit_code = error.exit_code();
                let report = match &error {
                    CliError::Core(belay_migrate::Error::RunFailed { report, .. }) => {
                        Some(report.as_ref())
                    }
                    _ => None,
                };
                Self {
                    db,
                    outcome: match exit_code {
                        code::LOCKED => Outcome::Locked,
                        code::NOT_RESTORED => Outcome::NotRestored,
                        code::UNEXPECTED => Outcome::Unexpected,
                        _ => Outcome::Failed,
                    },
                    from_version: report.and_then(|r| r.from_version),
                    to_version: report.and_then(|r| r.to_version),
                    applied: 0,
                    backup_id: report.and_then(|r| r.backup_id.clone()),
                    duration_ms,
                    exit_code,
                    error: Some(error.to_string()),
                }
            }
        }
    }
}

/// The fleet's exit code (../shared/SPEC.md): 7 when any database is not at its pre-run state,
/// else 1 when any failed unexpectedly (its state unknown, so 5 would claim too much), else 5
/// when any failed, else 3 when only locks were not acquired, else 0.
pub fn exit_code(rows: &[Row]) -> u8 {
    let any = |o: Outcome| rows.iter().any(|r| r.outcome == o);
    if any(Outcome::NotRestored) {
        code::NOT_RESTORED
    } else if any(Outcome::Unexpected) {
        code::UNEXPECTED
    } else if any(Outcome::Failed) {
        code::FAILED_RESTORED
    } else if any(Outcome::Locked) {
        code::LOCKED
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(outcome: Outcome) -> Row {
        Row::untouched(PathBuf::from("t.db"), outcome, None)
    }

    #[test]
    fn the_worst_outcome_decides_the_exit_code() {
        assert_eq!(exit_code(&[]), 0);
        assert_eq!(
            exit_code(&[row(Outcome::Migrated), row(Outcome::DoneEarlier)]),
            0
        );
        assert_eq!(
            exit_code(&[row(Outcome::Locked), row(Outcome::UpToDate)]),
            3
        );
        assert_eq!(exit_code(&[row(Outcome::Locked), row(Outcome::Failed)]), 5);
        assert_eq!(
            exit_code(&[row(Outcome::NotRestored), row(Outcome::Failed)]),
            7
        );
        assert_eq!(
            exit_code(&[row(Outcome::Unexpected), row(Outcome::Failed)]),
            1
        );
        assert_eq!(
            exit_code(&[row(Outcome::Unexpected), row(Outcome::NotRestored)]),
            7
        );
    }

    #[test]
    fn an_error_is_classified_by_the_exit_code_up_would_give() {
        let db = PathBuf::from("t.db");
        let io = Row::of(
            db.clone(),
            Err(CliError::Io {
                path: db.clone(),
                source: std::io::Error::other("disk gone"),
            }),
            3,
        );
        assert_eq!((io.outcome, io.exit_code), (Outcome::Unexpected, 1));
        assert_eq!(io.error.as_deref(), Some("t.db: disk gone"));
        let locked = Row::of(
            db.clone(),
            Err(CliError::Core(belay_migrate::Error::LockTimeout {
                path: db.clone(),
                waited: std::time::Duration::from_secs(1),
                holder: "pid 1".into(),
            })),
            1000,
        );
        assert_eq!((locked.outcome, locked.exit_code), (Outcome::Locked, 3));
        let usage = Row::of(db, Err(CliError::Usage("not a database".into())), 0);
        assert_eq!((usage.outcome, usage.exit_code), (Outcome::Failed, 2));
    }

    #[test]
    fn budgets_count_failures_and_resumes_skip_the_done() {
        assert!(Outcome::Locked.failed() && Outcome::NotRestored.failed());
        assert!(!Outcome::NotStarted.failed() && !Outcome::UpToDate.failed());
        assert!(Outcome::DoneEarlier.done() && !Outcome::Failed.done());
        let words: Vec<_> = [
            Outcome::Migrated,
            Outcome::UpToDate,
            Outcome::DoneEarlier,
            Outcome::Locked,
            Outcome::Failed,
            Outcome::NotRestored,
            Outcome::Unexpected,
            Outcome::NotStarted,
        ]
        .map(Outcome::word)
        .into();
        assert_eq!(words.len(), 8);
        assert!(Outcome::Unexpected.failed());
    }
}
