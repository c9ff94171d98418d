//! `migrate`: the command-line front end of migrate-core. Each command lives in its own file
//! under `commands/`; this file parses arguments and maps the outcome to an exit code.

mod cli;
mod commands;
mod context;
mod error;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let out = output::Output::new(&cli.global);
    match commands::run(&cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            out.error(&error);
            ExitCode::from(error.exit_code())
        }
    }
}
