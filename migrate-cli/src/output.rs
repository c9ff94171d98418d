//! Printing results: text for people on stdout, or one JSON document with `--json`.

use serde::Serialize;

use crate::cli::Global;
use crate::error::CliError;

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
    quiet: bool,
    verbose: bool,
}

impl Output {
    pub fn new(global: &Global) -> Self {
        Self {
            json: global.json,
            quiet: global.quiet,
            verbose: global.verbose,
        }
    }

    /// Whether progress may be drawn on stderr: a terminal, and neither --json nor -q.
    pub fn progress_visible(&self) -> bool {
        !self.json && !self.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Prints a result: `value` as JSON, or the text `text` builds.
    pub fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("results serialize")
            );
        } else if !self.quiet {
            print!("{}", text());
        }
    }

    /// A line of log on stderr (stdout stays the result), unless `-q`.
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// Prints an error: the JSON document on stdout with `--json`, the message on stderr always.
    pub fn error(&self, error: &CliError) {
        if matches!(error, CliError::Exit(_)) {
            // The command has printed its own result.
            return;
        }
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&error.to_json()).expect("errors serialize")
            );
        }
        eprintln!("error: {error}");
    }
}
