//! What to type next: the `migrate` command lines the library's messages cannot know (they
//! speak of backups to restore and problems to allow, the CLI names the flags and commands).

use migrate_core::{DatabaseState, Error, Problem};

/// The flag that lets a run go ahead despite `problem`.
pub fn allow_flag(problem: &Problem) -> &'static str {
    match problem {
        Problem::Changed { .. } => "--allow-changed",
        Problem::Missing { .. } => "--allow-missing",
        Problem::OutOfOrder { .. } => "--allow-out-of-order",
        Problem::SchemaDrift { .. } => "--allow-drift",
    }
}

/// The command lines that follow `error`'s message, each on its own line, if any.
pub fn after(error: &Error) -> Option<String> {
    let restore = |backup: &str| {
        format!(
            "  to restore it (discarding every commit since it was taken): migrate restore {backup} --yes"
        )
    };
    match error {
        Error::PeerManaged { peer, .. } => Some(format!(
            "  run `migrate adopt` (or `migrate adopt --from {peer}`) to take it over"
        )),
        Error::SchemaMismatch { .. } => {
            Some("  to record the migrations anyway, run the command again with --force".to_owned())
        }
        Error::RecoveryFailed { backup, .. } | Error::RecoveryRefused { backup, .. } => {
            Some(restore(backup))
        }
        Error::RunFailed { report, .. } => match &report.database {
            DatabaseState::NotRestored { backup, .. }
            | DatabaseState::RestoreFailed { backup, .. }
            | DatabaseState::PartWay { backup, .. } => Some(restore(backup)),
            _ => None,
        },
        Error::NoSuchBackup { .. } => Some("  `migrate backup list` shows the backups".to_owned()),
        _ => None,
    }
}
