//! The settings a command runs with: the parsed arguments ([`crate::cli::Global`], what was
//! typed) beside the configuration file ([`crate::config::FileConfig`], what was written down).
//! Parsing and reading the file know nothing of each other; `context` resolves a setting from
//! both (flag, then environment, then file, then default).

use std::ops::Deref;

use crate::cli::Global;
use crate::config::FileConfig;

/// The arguments and the configuration file, side by side.
#[derive(Debug)]
pub struct Settings {
    /// What the command line said.
    pub args: Global,
    /// What migrate.toml said.
    pub file: FileConfig,
}

impl Deref for Settings {
    type Target = Global;

    fn deref(&self) -> &Global {
        &self.args
    }
}
