//! What a check found: the [`Report`] and how thorough the check was ([`Depth`]). Data only.

use serde::{Deserialize, Serialize};

use crate::integrity::finding::Finding;
use crate::vocab::verdict::{Obstacle, Verdict};

/// How thorough the b-tree check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    /// `PRAGMA quick_check`: every page and row, NOT NULL and CHECK, but not indexes against
    /// their tables. O(N).
    Quick,
    /// `PRAGMA integrity_check`: also every index entry against its table. O(N log N).
    Full,
}

impl Depth {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Depth::Quick => "quick_check",
            Depth::Full => "integrity_check",
        }
    }
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True when nothing was found: SQLite said exactly `ok` and no foreign key is violated.
    pub ok: bool,
    /// What the check says of the file: ok, damaged, or could not check.
    pub verdict: Verdict,
    /// What stopped the check, when the verdict is [`Verdict::CouldNotCheck`] (or when it
    /// stopped part-way after finding damage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obstacle: Option<Obstacle>,
    /// The database checked.
    pub database: String,
    /// How thoroughly.
    pub depth: Depth,
    /// How many connections checked at once.
    pub workers: usize,
    /// The tables checked, when the check was limited to some.
    pub tables: Option<Vec<String>>,
    /// How many problems were found.
    pub count: usize,
    /// How many of them are damage to the file (every kind but foreign-key violations and what
    /// stopped the check).
    pub damage: usize,
    /// The problems (the first 1,000).
    pub findings: Vec<Finding>,
    /// How long the check took.
    pub duration_ms: u64,
}
