//! What the watchman has done, kept beside the backups (`<backup dir>/watch-state.json`,
//! replaced atomically after every task): when each task last ran and how it went, where the
//! incremental check stands, the last check and drill, the counters the metrics export, and
//! which alerts are firing. `health` reads it; nothing in it is needed to keep the data safe.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::files::durable;

/// The state file's name in the backup directory.
pub const FILE: &str = "watch-state.json";

/// The state file of the backups in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// How one run of a task went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    /// When it began (RFC 3339 UTC).
    pub at: String,
    /// When it began, in seconds since the Unix epoch.
    pub at_unix: f64,
    /// Whether it did what it was for.
    pub ok: bool,
    /// What it did, or why it did not.
    pub detail: String,
    /// How long it took.
    pub duration_ms: u64,
}

/// The last tick of the incremental check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    /// When the tick ran (RFC 3339 UTC) and in seconds since the epoch.
    pub at: String,
    /// As `at`, in seconds since the Unix epoch.
    pub at_unix: f64,
    /// `ok`, `damaged` or `could_not_check`: the verdict of the objects this tick checked,
    /// or the damage an earlier tick of the same pass found (damage stays until a pass
    /// finds none).
    pub verdict: String,
    /// `full`: each table checked by `integrity_check(T)`, with its indexes.
    pub depth: String,
    /// The tables this tick checked.
    pub checked: Vec<String>,
    /// Damage found in the current pass: the first messages.
    pub findings: Vec<String>,
    /// Tables covered in the current pass over tables in the database.
    pub coverage: f64,
    /// The tick took longer than its budget (one table cannot be split).
    pub overran: bool,
}

/// Where the incremental check stands: the tables checked in the current pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Passes completed.
    pub passes: u64,
    /// Tables already checked in this pass.
    pub done: BTreeSet<String>,
    /// Damage found so far in this pass.
    pub findings: Vec<String>,
    /// Damage the last complete pass found: it stands until a pass finds none.
    #[serde(default)]
    pub carried: Vec<String>,
    /// A table could not be checked in this pass (locked, unreadable).
    pub unchecked: Vec<String>,
    /// When the last complete pass ended (seconds since the Unix epoch).
    pub last_pass_unix: Option<f64>,
    /// The table part-way through its check, and its next step.
    #[serde(default)]
    pub position: Option<Position>,
}

/// A table part-way through its check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The table.
    pub table: String,
    /// Its next step.
    pub stage: crate::integrity::Stage,
}

/// The last restore drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillState {
    /// When (RFC 3339 UTC).
    pub at: String,
    /// As `at`, in seconds since the Unix epoch.
    pub at_unix: f64,
    /// Whether the backup restored, matched its checksum and passed the full check.
    pub ok: bool,
    /// The backup drilled, if there was one.
    pub backup: Option<String>,
    /// What happened.
    pub detail: String,
}

/// Counters since the state was first written (Prometheus `_total`s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Backups taken.
    pub backups_total: u64,
    /// Backups that failed.
    pub backup_errors_total: u64,
    /// Checkpoints run.
    pub checkpoints_total: u64,
    /// Checkpoints that failed.
    pub checkpoint_errors_total: u64,
    /// Check ticks run.
    pub checks_total: u64,
    /// Drills run.
    pub drills_total: u64,
    /// Drills that failed.
    pub drill_errors_total: u64,
}

/// One alert that is firing: its message and since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    /// What it said when it began to fire.
    pub message: String,
    /// When (RFC 3339 UTC).
    pub since: String,
}

/// Everything the watchman keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The database this state is about (its canonical path): a backup directory shared by
    /// two databases must not lend one's verdicts to the other.
    #[serde(default)]
    pub database: Option<String>,
    /// The last run of each task, by name (`backup`, `check`, `checkpoint`, `drill`).
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskRun>,
    /// The last check tick.
    #[serde(default)]
    pub check: Option<CheckState>,
    /// The incremental check's position.
    #[serde(default)]
    pub sweep: Sweep,
    /// The last drill.
    #[serde(default)]
    pub drill: Option<DrillState>,
    /// The counters.
    #[serde(default)]
    pub counters: Counters,
    /// Since when (seconds since the epoch) checkpoints have left frames behind without a
    /// break; `None` once one copied everything.
    #[serde(default)]
    pub checkpoint_blocked_since: Option<f64>,
    /// The alerts firing, by kind.
    #[serde(default)]
    pub firing: BTreeMap<String, Firing>,
}

impl State {
    /// The state kept for the backups in `dir`; the empty state when there is none yet.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::Internal`] naming it when it is not
    /// a state file.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        let path = path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => return Err(Error::Io { path, source }),
        };
        serde_json::from_str(&text).map_err(|e| Error::Internal {
            reason: format!("{} is not a watch state file: {e}", path.display()),
        })
    }

    /// Replaces the state file atomically.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::UnsafePath`] when it cannot be written.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        durable::create_dir(dir)?;
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Internal {
            reason: format!("writing the watch state: {e}"),
        })?;
        durable::write_atomically(&path(dir), &text)
    }

    /// Whether this state is about `db` (a state that names no database is anyone's).
    pub fn is_about(&self, db: &Path) -> bool {
        self.database.as_deref().is_none_or(|d| d == canonical(db))
    }

    /// The last run of `task`, as a time.
    pub fn last_run(&self, task: &str) -> Option<std::time::SystemTime> {
        self.tasks
            .get(task)
            .map(|run| super::every::time_of(run.at_unix))
    }
}

/// `db` as the state names it: its canonical path when it has one.
pub fn canonical(db: &Path) -> String {
    std::fs::canonicalize(db)
        .unwrap_or_else(|_| db.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_a_state() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::read(dir.path()).unwrap(), State::default());
        let mut state = State::default();
        state.counters.backups_total = 3;
        state.tasks.insert(
            "backup".into(),
            TaskRun {
                at: "2026-12-06T00:00:00.000Z".into(),
                at_unix: 1.0,
                ok: true,
                detail: "taken".into(),
                duration_ms: 4,
            },
        );
        state.write(dir.path()).unwrap();
        let back = State::read(dir.path()).unwrap();
        assert_eq!(back, state);
        assert!(back.last_run("backup").is_some());
        assert!(back.last_run("drill").is_none());
        std::fs::write(path(dir.path()), "[1,2]").unwrap();
        let e = State::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is not a watch state file"), "{e}");
    }
}
