//! The CLI's errors and the exit code each maps to (the table in docs/cli.md).

use std::path::PathBuf;

use belay_migrate::integrity::Obstacle;
use belay_migrate::{DatabaseState, Error};
use serde_json::{Value, json};

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// From the library.
    Core(Error),
    /// A usage or configuration problem the library never sees.
    Usage(String),
    /// The command printed its result and exits with this code (e.g. `check` with findings).
    Exit(u8),
    /// A file the CLI itself writes (e.g. `new`).
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        CliError::Core(e)
    }
}

/// The safety crate's errors are the library's, variant for variant.
impl From<belay_migrate::guard::Error> for CliError {
    fn from(e: belay_migrate::guard::Error) -> Self {
        CliError::Core(e.into())
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // A refusal names, after each problem, the flag that would allow it.
            CliError::Core(Error::Refused { problems }) => {
                let with_flag =
                    |p: &belay_migrate::Problem| format!("{p} ({})", crate::hint::allow_flag(p));
                match problems.as_slice() {
                    [one] => write!(f, "refused: {}", with_flag(one)),
                    many => {
                        f.write_str("refused: ")?;
                        many.iter()
                            .try_for_each(|p| write!(f, "\n  - {}", with_flag(p)))
                    }
                }
            }
            CliError::Core(e) => {
                e.fmt(f)?;
                match crate::hint::after(e) {
                    Some(hint) => write!(f, "\n{hint}"),
                    None => Ok(()),
                }
            }
            CliError::Usage(m) => f.write_str(m),
            CliError::Exit(code) => write!(f, "exit {code}"),
            CliError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

/// Exit codes deploy scripts branch on.
pub mod code {
    pub const UNEXPECTED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const LOCKED: u8 = 3;
    pub const REFUSED: u8 = 4;
    pub const FAILED_RESTORED: u8 = 5;
    pub const CORRUPT: u8 = 6;
    pub const NOT_RESTORED: u8 = 7;
    pub const DEGRADED: u8 = 8;
    pub const FAILING: u8 = 9;
}

/// The exit code of a database SQLite could not be asked about: never 6, which only SQLite's
/// own verdict of damage gives.
pub fn unavailable(obstacle: Obstacle) -> u8 {
    match obstacle {
        Obstacle::Locked => code::LOCKED,
        Obstacle::RecoveryPending | Obstacle::AccessDenied | Obstacle::NotADatabase => code::USAGE,
        // Out of time, a failed read, an answer not understood: unexpected.
        _ => code::UNEXPECTED,
    }
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => code::USAGE,
            CliError::Exit(code) => *code,
            CliError::Io { .. } => code::UNEXPECTED,
            CliError::Core(e) => match e {
                Error::MigrationsDir { .. }
                | Error::InvalidFile { .. }
                | Error::NoMigrations { .. }
                | Error::ConnectionSetup { .. }
                | Error::DuplicateVersion { .. }
                | Error::UnknownDirective { .. }
                | Error::InvalidTarget { .. }
                | Error::Irreversible { .. }
                | Error::InvalidDatabase { .. }
                | Error::NoDatabase { .. }
                | Error::NoSuchBackup { .. }
                | Error::NoSuchTable { .. }
                | Error::TargetExists { .. }
                | Error::Incompatible { .. }
                | Error::InvalidRequest { .. }
                | Error::SettingNotApplied { .. } => code::USAGE,
                Error::RepairStep { .. } => code::CORRUPT,
                Error::LockTimeout { .. } | Error::Busy { .. } => code::LOCKED,
                Error::Degraded { .. } => code::FAILING,
                Error::Unavailable { obstacle, .. } => unavailable(*obstacle),
                Error::Refused { .. }
                | Error::TableRestoreRefused { .. }
                | Error::SchemaMismatch { .. }
                | Error::AdoptRefused { .. }
                | Error::PeerManaged { .. } => code::REFUSED,
                Error::BackupCorrupt { .. } | Error::Corrupt { .. } => code::CORRUPT,
                Error::RecoveryFailed { .. } | Error::RecoveryRefused { .. } => code::NOT_RESTORED,
                Error::RunFailed { report, .. } => match report.database {
                    DatabaseState::PartiallyApplied { .. }
                    | DatabaseState::Consistent { .. }
                    | DatabaseState::PartWay { .. }
                    | DatabaseState::NotRestored { .. }
                    | DatabaseState::NotEmptied { .. }
                    | DatabaseState::RestoreFailed { .. }
                    // Never a run's outcome; were one to say so, it is not the pre-run state.
                    | DatabaseState::TablesRestored { .. }
                    | DatabaseState::Repaired { .. } => code::NOT_RESTORED,
                    DatabaseState::Unchanged
                    | DatabaseState::Migrated
                    | DatabaseState::Restored { .. }
                    | DatabaseState::Emptied => code::FAILED_RESTORED,
                },
                _ => code::UNEXPECTED,
            },
        }
    }

    /// A short machine-readable kind.
    fn kind(&self) -> &'static str {
        match self.exit_code() {
            code::USAGE => "usage",
            code::LOCKED => "lock_timeout",
            code::REFUSED => "refused",
            code::FAILED_RESTORED => "migration_failed",
            code::CORRUPT => "corrupt",
            code::NOT_RESTORED => "not_restored",
            _ => "unexpected",
        }
    }

    /// The error as the JSON document printed with `--json`.
    pub fn to_json(&self) -> Value {
        let mut error = json!({
            "kind": self.kind(),
            "exit_code": self.exit_code(),
            "message": self.to_string(),
        });
        match self {
            CliError::Core(Error::Refused { problems }) => {
                error["problems"] = json!(problems);
            }
            CliError::Core(Error::SchemaMismatch { differences, .. }) => {
                error["differences"] = json!(differences);
            }
            CliError::Core(Error::AdoptRefused { problems, .. }) => {
                error["problems"] = json!(problems);
            }
            CliError::Core(Error::RunFailed { failure, report }) => {
                error["failure"] = json!(failure);
                error["report"] = json!(report);
            }
            _ => {}
        }
        json!({ "ok": false, "error": error })
    }
}
