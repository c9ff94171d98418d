//! What a repair is asked (`Mode`, `Options`) and what it reports: the actions taken, every
//! row it could not save or brought back older, and the check after.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::{Absent, Ladder, Lost, Quarantined, Recovered, Rung};
use crate::integrity::Report;

/// Whether to repair or only say what would be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Check, plan and repair.
    Repair,
    /// Check and plan; change nothing.
    DryRun,
}

/// How to repair.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where backups are (for the copy of the damaged file and the last resort); default
    /// `<db>.backups`.
    pub backup_dir: Option<PathBuf>,
    /// How long to wait for the migration lock and for other connections.
    pub busy_timeout: Duration,
    /// Repair, or only plan.
    pub mode: Mode,
}

/// One step taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// Which step.
    pub rung: Rung,
    /// Whether it did what it set out to do.
    pub succeeded: bool,
    /// What it did, or why it failed.
    pub detail: String,
}

/// A table whose rows a rebuild read back from b-trees the check found damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unverified {
    /// The table.
    pub table: String,
    /// The damaged pages the check named in it (empty when it could not say).
    pub pages: Vec<u64>,
}

impl RepairReport {
    /// How many rows are known to be lost (row ids listed), and whether some lost rows are known
    /// only as a range of row ids or as "everything after the backup".
    pub fn lost_rows(&self) -> (usize, bool) {
        let listed = self.lost.iter().map(|l| l.rowids.len()).sum();
        let unknown = self
            .lost
            .iter()
            .any(|l| l.between.is_some() || l.table == "*");
        (listed, unknown)
    }

    /// How many rows were brought back from a backup, at that backup's values.
    pub fn restored_rows(&self) -> usize {
        self.recovered.iter().map(|r| r.rowids.len()).sum()
    }
}

/// What a repair found, did, and could not save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// The database passes its checks now (for a dry run: it passed them already).
    pub ok: bool,
    /// Repair or dry run.
    pub mode: Mode,
    /// The database.
    pub database: String,
    /// What the full check found first.
    pub found: Report,
    /// The steps planned for it.
    pub planned: Ladder,
    /// Where the damaged file was copied before anything changed.
    pub damaged_copy: Option<PathBuf>,
    /// The steps taken, in order.
    pub actions: Vec<Action>,
    /// Rows moved into quarantine tables.
    pub quarantined: Vec<Quarantined>,
    /// Rows fetched from a backup.
    pub recovered: Vec<Recovered>,
    /// Rows that could not be saved.
    pub lost: Vec<Lost>,
    /// Rows a backup has that the repaired database lacks: deleted since, or lost unseen.
    pub absent: Vec<Absent>,
    /// Tables whose rows were read back from damaged b-trees: kept as the damaged pages gave
    /// them, their values cannot be verified.
    pub unverified: Vec<Unverified>,
    /// The check after the repair.
    pub after: Option<Report>,
    /// How long it all took.
    pub duration_ms: u64,
}
