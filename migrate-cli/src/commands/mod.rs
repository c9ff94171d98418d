//! One file per command.

mod baseline;
mod history;
mod new;
mod plan;
mod run;
mod status;

use migrate_core::{DownTarget, Request, TransactionScope};

use crate::cli::{Cli, Command};
use crate::error::CliError;
use crate::output::Output;

pub fn run(cli: &Cli, out: &Output) -> Result<(), CliError> {
    let g = &cli.global;
    let scope = |per_migration: bool| {
        if per_migration {
            TransactionScope::PerMigration
        } else {
            TransactionScope::Run
        }
    };
    match &cli.command {
        Command::New { name } => new::run(g, out, name),
        Command::Status => status::run(g, out),
        Command::Plan { to } => plan::run(g, out, *to),
        Command::Up {
            to,
            dry_run,
            per_migration,
            allow,
        } => {
            let options = run::Options {
                request: Request::Up { to: *to },
                dry_run: *dry_run,
                scope: scope(*per_migration),
                allow: (*allow).into(),
            };
            run::run(g, out, &options)
        }
        Command::Down {
            to,
            steps,
            dry_run,
            per_migration,
            allow,
        } => {
            let target = match (to, steps) {
                (Some(to), _) => DownTarget::To(*to),
                (None, Some(steps)) => DownTarget::Steps(*steps),
                (None, None) => unreachable!("clap requires --to or --steps"),
            };
            let options = run::Options {
                request: Request::Down(target),
                dry_run: *dry_run,
                scope: scope(*per_migration),
                allow: (*allow).into(),
            };
            run::run(g, out, &options)
        }
        Command::History { limit } => history::run(g, out, *limit),
        Command::Baseline { version } => baseline::run(g, out, *version),
    }
}

/// A version for people: `none` before the first migration.
pub fn version_text(version: Option<migrate_core::Version>) -> String {
    version.map_or_else(|| "none".to_owned(), |v| v.to_string())
}
