//! One file per command.

mod accept_drift;
mod adopt;
mod archive;
mod backup;
mod baseline;
mod check;
mod config;
mod fleet;
mod health;
mod history;
mod new;
mod plan;
mod repair;
mod restore;
mod restore_at;
mod run;
mod status;
mod verify;
mod wal;
mod watch;

use belay_migrate::{DownTarget, Request};

use crate::cli::Command;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, command: &Command, out: &Output) -> Result<(), CliError> {
    match command {
        Command::New { name } => new::run(g, out, name),
        Command::Status => status::run(g, out),
        Command::Plan { to } => plan::run(g, out, *to),
        Command::Up { to, run } => run::run(g, out, Request::Up { to: *to }, run),
        Command::Down { to, steps, run } => {
            let target = match (to, steps) {
                (Some(to), _) => DownTarget::To(*to),
                (None, Some(steps)) => DownTarget::Steps(*steps),
                // As sqlx, goose and dbmate do: the latest migration.
                (None, None) => DownTarget::Steps(1),
            };
            run::run(g, out, Request::Down(target), run)
        }
        Command::History { limit } => history::run(g, out, *limit),
        Command::Baseline { version, force } => {
            baseline::run(g, out, *version, schema_check(*force))
        }
        Command::AcceptDrift => accept_drift::run(g, out),
        Command::Config => config::run(g, out),
        Command::Completions { shell } => {
            let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "migrate", &mut script);
            crate::output::stdout(&String::from_utf8_lossy(&script));
            Ok(())
        }
        Command::Man => {
            let command = <crate::cli::Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|source| CliError::Io {
                    path: "stdout".into(),
                    source,
                })?;
            crate::output::stdout(&String::from_utf8_lossy(&page));
            Ok(())
        }
        Command::Adopt { from, force } => adopt::run(g, out, from.as_deref(), schema_check(*force)),
        Command::Verify => verify::run(g, out),
        Command::FixChecksums { version } => verify::fix_checksums(g, out, *version),
        Command::Check { full, tables, jobs } => check::run(g, out, *full, tables, *jobs),
        Command::Repair { dry_run } => repair::run(g, out, *dry_run),
        Command::Backup(command) => backup::run(g, out, command),
        Command::Wal(command) => wal::run(g, out, command),
        Command::Archive(command) => archive::run(g, out, command),
        Command::Fleet(command) => fleet::run(g, out, command),
        Command::Health { format } => health::run(g, out, *format),
        Command::Watch { once, listen } => {
            let mode = if *once {
                watch::Mode::Once
            } else {
                watch::Mode::Guard
            };
            watch::run(g, out, mode, listen.as_deref())
        }
        Command::Restore {
            id,
            at,
            at_commit,
            at_version,
            tables,
            to,
            yes,
            no_backup,
        } => restore_chosen(
            g,
            out,
            restore::Asked {
                id,
                moment: match (at, at_commit, at_version) {
                    (Some(time), ..) => Some(restore::Moment::Time(time)),
                    (None, Some(id), _) => Some(restore::Moment::Commit(*id)),
                    (None, None, Some(v)) => Some(restore::Moment::Version(*v)),
                    (None, None, None) => None,
                },
                tables,
                to: to.as_deref(),
                confirmed: if *yes {
                    restore::Confirmed::ByFlag
                } else {
                    restore::Confirmed::NotYet
                },
                current: if *no_backup {
                    belay_migrate::backup::Current::Discard
                } else {
                    belay_migrate::backup::Current::BackUp
                },
            },
        ),
    }
}

/// A version for people: `none` before the first migration (the library's wording).
pub use belay_migrate::version_text;

/// `--force` on `baseline` and `adopt`: the schema check waived.
fn schema_check(force: bool) -> belay_migrate::SchemaCheck {
    if force {
        belay_migrate::SchemaCheck::Waived
    } else {
        belay_migrate::SchemaCheck::Required
    }
}

/// A restore to a moment of the archive (`restore_at`), or from a backup (`restore`).
fn restore_chosen(g: &Settings, out: &Output, asked: restore::Asked<'_>) -> Result<(), CliError> {
    match asked.moment {
        Some(moment) => {
            let db = crate::context::db_path(g)?;
            restore_at::run(g, out, &db, moment, &asked)
        }
        None => restore::run(g, out, asked),
    }
}
