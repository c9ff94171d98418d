//! What to type next: the `migrate` command lines the library's messages cannot know (they
//! speak of backups to restore and problems to allow, the CLI names the flags and commands).

use belay_migrate::{DatabaseState, Error, Failure, Problem};

/// The flag that lets a run go ahead despite `problem`.
pub fn allow_flag(problem: &Problem) -> &'static str {
    match problem {
        Problem::Changed { .. } => "--allow-changed",
        Problem::Missing { .. } => "--allow-missing",
        Problem::OutOfOrder { .. } => "--allow-out-of-order",
        Problem::SchemaDrift { .. } => "--allow-drift",
    }
}

/// The settings a failed statement points at: `extensions` for a function or module the
/// connection lacks; Flyway's placeholders for a `${name}` SQLite could not parse.
fn statement_hint(statement: &str, message: &str) -> Option<String> {
    if message.starts_with("no such function: ") || message.starts_with("no such module: ") {
        return Some(
            "  in the CLI: `extensions = [\"path/to/extension\"]` in migrate.toml (relative to the file) loads it".to_owned(),
        );
    }
    let placeholder = statement.contains("${") && statement.contains('}');
    (placeholder && (message.contains("unrecognized token") || message.contains("syntax error")))
        .then(|| {
            "  `${...}` looks like a Flyway placeholder: read the set with `format = \"flyway\"` in migrate.toml (placeholders always on), or define it under `[placeholders]`".to_owned()
        })
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
        Error::RunFailed { report, failure } => {
            let mut lines: Vec<String> = Vec::new();
            if let Failure::Statement {
                statement, message, ..
            } = failure.as_ref()
            {
                lines.extend(statement_hint(statement, message));
            }
            match &report.database {
                DatabaseState::NotRestored { backup, .. }
                | DatabaseState::RestoreFailed { backup, .. }
                | DatabaseState::PartWay { backup, .. } => lines.push(restore(backup)),
                _ => {}
            }
            (!lines.is_empty()).then(|| lines.join("\n"))
        }
        Error::NoSuchBackup { .. } => Some("  `migrate backup list` shows the backups".to_owned()),
        _ => None,
    }
}
