//! What an attempt was asked to do: the `command` of `_migrate_attempts`, the audit journal and
//! the run marker.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What an attempt was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Apply pending migrations.
    Up,
    /// Revert applied migrations.
    Down,
    /// Record migrations as applied without running them.
    Baseline,
    /// Accept edited migration files.
    FixChecksums,
    /// Restore a backup by hand over the database.
    Restore,
    /// Record the migrations another tool applied.
    Adopt,
    /// Replace some tables' rows with a backup's.
    RestoreTables,
    /// The repair ladder, when it changed the database.
    Repair,
    /// Record the current schema as the expected one, after review.
    AcceptDrift,
}

impl Command {
    /// As written in `_migrate_attempts` and the audit journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Up => "up",
            Command::Down => "down",
            Command::Baseline => "baseline",
            Command::FixChecksums => "fix-checksums",
            Command::Restore => "restore",
            Command::Adopt => "adopt",
            Command::RestoreTables => "restore-tables",
            Command::Repair => "repair",
            Command::AcceptDrift => "accept-drift",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
