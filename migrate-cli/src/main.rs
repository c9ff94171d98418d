//! `migrate`: the command-line front end of migrate-core. Each command lives in its own file
//! under `commands/`; this file parses arguments and maps the outcome to an exit code.

mod cli;
mod commands;
mod config;
mod context;
mod error;
mod hint;
mod output;
mod settings;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let out = output::Output::new(&cli.global);
    let result = config::load(cli.global.config.as_deref()).and_then(|file| {
        let settings = settings::Settings {
            args: cli.global,
            file,
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
