//! `migrate`: the command-line front end of belay-migrate. Each command lives in its own file
//! under `commands/`; this file parses arguments and maps the outcome to an exit code.

mod cli;
mod commands;
mod config;
mod context;
mod error;
mod fleet;
mod hint;
mod logging;
mod offsite;
mod output;
mod progress;
mod settings;
mod watching;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let parsed = cli::Cli::command()
        .try_get_matches()
        .and_then(|m| cli::Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return usage_error(&e),
    };
    let out = output::Output::new(&cli.global);
    if let Err(error) = logging::install(&cli.global) {
        out.error(&error);
        return ExitCode::from(error.exit_code());
    }
    let result = config::load(cli.global.config.as_deref()).and_then(|(file, file_path)| {
        let settings = settings::Settings {
            args: cli.global,
            file,
            file_path,
            origins: settings::origins(&matches),
        };
        commands::run(&settings, &cli.command, &out)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            out.error(&error);
            ExitCode::from(error.exit_code())
        }
    }
}

/// A command line clap refused: its message on stderr as always, and with `--json` anywhere on
/// the line (or `MIGRATE_JSON` set), the error document on stdout too (exit 2). `--help` and `--version` print as
/// usual and succeed.
fn usage_error(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let json_env = std::env::var("MIGRATE_JSON").is_ok_and(|v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no" | "off" | "n" | "f"
        )
    });
    if json_env || std::env::args_os().any(|a| a == "--json") {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let message = first.trim_start_matches("error: ").to_owned();
        let doc = error::CliError::Usage(message).to_json();
        output::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).expect("errors serialize")
        ));
    }
    let _ = e.print();
    ExitCode::from(error::code::USAGE)
}
