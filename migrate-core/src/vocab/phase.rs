//! Where a run was when its marker was last written: what the next run needs to know about a
//! run that was killed.

use serde::{Deserialize, Serialize};

/// Where a run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Pre-flight checks: nothing written yet.
    Checking,
    /// Taking the pre-run backup: the database not yet changed.
    BackingUp,
    /// Applying migrations: the database may be partly changed.
    Applying,
    /// Verifying the committed result.
    Verifying,
    /// Restoring the pre-run backup after a failure.
    Restoring,
}

impl Phase {
    /// Whether the database may have been changed by the time the run reached this phase.
    pub fn may_have_changed(self) -> bool {
        self >= Phase::Applying
    }

    /// How the phase reads in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Checking => "checking the database",
            Phase::BackingUp => "taking the pre-run backup",
            Phase::Applying => "applying migrations",
            Phase::Verifying => "verifying the result",
            Phase::Restoring => "restoring the pre-run backup",
        }
    }
}
