//! Printing results: text for people on stdout, or one JSON document with `--json`.
//!
//! Every byte the CLI writes goes through [`stdout`] and [`stderr`]: a reader that closed its
//! end (`migrate --json backup list | head -1`) ends the output quietly. The command still
//! finishes its work (a migration is never cut short because nobody reads its report) and exits
//! with its own code; there is no panic and no death by SIGPIPE.

use std::io::Write;

use serde::Serialize;

use crate::cli::Global;
use crate::error::CliError;

/// How progress appears on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressKind {
    Bar,
    Lines,
    None,
}

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
        self.progress() == ProgressKind::Bar
    }

    /// How progress is shown: a bar on a terminal, timestamped lines elsewhere, none with
    /// `--json` or `-q`.
    pub fn progress(&self) -> ProgressKind {
        if self.json || self.quiet {
            ProgressKind::None
        } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressKind::Bar
        } else {
            ProgressKind::Lines
        }
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// `--json`: results as JSON on stdout.
    pub fn json(&self) -> bool {
        self.json
    }

    /// `-q`: no results on stdout but errors.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Prints a result: `value` as one JSON document, or the text `text` builds. The document
    /// is an object whose first field is `ok` (`true`, unless the result carries its own verdict,
    /// as `check` and `repair` do); see [`document`].
    pub fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&document(value)).expect("results serialize")
            ));
        } else if !self.quiet {
            stdout(&text());
        }
    }

    /// One result of a long-running command: a compact JSON document on a line of its own
    /// with `--json`, else the text (unless `-q`).
    pub fn line<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            stdout(&format!(
                "{}\n",
                serde_json::to_string(&document(value)).expect("results serialize")
            ));
        } else if !self.quiet {
            stdout(&text());
        }
    }

    /// A line of log on stderr (stdout stays the result), unless `-q`.
    pub fn note(&self, message: &str) {
        if !self.quiet {
            stderr(&format!("{message}\n"));
        }
    }

    /// Prints an error: the JSON document on stdout with `--json`, the message on stderr always.
    pub fn error(&self, error: &CliError) {
        if matches!(error, CliError::Exit(_)) {
            // The command has printed its own result.
            return;
        }
        if self.json {
            stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&error.to_json()).expect("errors serialize")
            ));
        }
        stderr(&format!("error: {error}\n"));
    }
}

/// The one JSON contract: every result is an object whose first field is `ok`. A result that
/// carries its own `ok` (a check's verdict) keeps it. Each command prints a struct, lists
/// inside one named for what they hold; anything else would land under `result` (which
/// `tests/tests/json_contract.rs` finds no command doing).
pub fn document<T: Serialize>(value: &T) -> serde_json::Value {
    let fields = match serde_json::to_value(value).expect("results serialize") {
        serde_json::Value::Object(fields) => fields,
        other => serde_json::Map::from_iter([("result".to_owned(), other)]),
    };
    let mut out = serde_json::Map::new();
    out.insert(
        "ok".to_owned(),
        fields
            .get("ok")
            .cloned()
            .unwrap_or(serde_json::Value::Bool(true)),
    );
    out.extend(fields.into_iter().filter(|(k, _)| k != "ok"));
    serde_json::Value::Object(out)
}

/// Writes `text` to standard output; a closed pipe (or any failed write) is ignored.
pub fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes `text` to standard error; a closed pipe (or any failed write) is ignored.
pub fn stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}
