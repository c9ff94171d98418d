//! The settings a command runs with: the parsed arguments ([`crate::cli::Global`], what was
//! typed) beside the configuration file ([`crate::config::FileConfig`], what was written down).
//! Parsing and reading the file know nothing of each other; `context` resolves a setting from
//! both (flag, then environment, then file, then default).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::PathBuf;

use clap::parser::ValueSource;
use serde::Serialize;

use crate::cli::Global;
use crate::config::FileConfig;

/// Where a setting came from, in the order they win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A command-line option.
    Flag,
    /// A `MIGRATE_*` environment variable (or `DATABASE_URL`).
    Environment,
    /// migrate.toml.
    File,
    /// Not given: the built-in default.
    Default,
}

/// The global options' ids, as clap names them.
pub const GLOBAL_IDS: [&str; 9] = [
    "db",
    "migrations",
    "backup_dir",
    "backup_url",
    "config",
    "json",
    "lock_timeout",
    "quiet",
    "verbose",
];

/// Where each global option's value came from (flag, environment, or absent).
pub fn origins(matches: &clap::ArgMatches) -> BTreeMap<&'static str, Origin> {
    GLOBAL_IDS
        .into_iter()
        .map(|id| {
            let origin = match matches.value_source(id) {
                Some(ValueSource::CommandLine) => Origin::Flag,
                Some(ValueSource::EnvVariable) => Origin::Environment,
                _ => Origin::Default,
            };
            (id, origin)
        })
        .collect()
}

/// The arguments and the configuration file, side by side.
#[derive(Debug)]
pub struct Settings {
    /// What the command line said.
    pub args: Global,
    /// What migrate.toml said.
    pub file: FileConfig,
    /// The configuration file read, if any.
    pub file_path: Option<PathBuf>,
    /// Where each global option came from.
    pub origins: BTreeMap<&'static str, Origin>,
}

impl Settings {
    /// Where the global option `id` came from.
    pub fn origin(&self, id: &str) -> Origin {
        self.origins.get(id).copied().unwrap_or(Origin::Default)
    }
}

impl Deref for Settings {
    type Target = Global;

    fn deref(&self) -> &Global {
        &self.args
    }
}
