//! The audit journal: one JSON line per attempt appended to `<backup dir>/audit.jsonl`.
//!
//! It lives beside the backups, outside the database, so a restore (which brings back the
//! database's own `_migrate_attempts` as it was before the run) does not erase the record of
//! the run that restored it. The file is the safety crate's journal
//! (`belay_guard::files::journal`: appended with `O_APPEND`, synced, mode 0600); what a line
//! of an attempt holds is this module's [`Entry`].

use std::path::Path;

use serde::Serialize;

use belay_guard::files::journal;

use crate::read::migration::Version;
use crate::record::history::AttemptRecord;
use crate::vocab::error::Error;
use crate::vocab::report::DatabaseState;

pub use belay_guard::files::journal::{FILE, path};

/// One line of the journal.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry<'a> {
    pub database: String,
    pub attempt_id: Option<i64>,
    pub command: &'a str,
    pub outcome: &'a str,
    pub started_at: &'a str,
    pub finished_at: Option<&'a str>,
    pub duration_ms: Option<u64>,
    pub from_version: Option<Version>,
    pub to_version: Option<Version>,
    pub versions: &'a [Version],
    pub backup_id: Option<&'a str>,
    pub error: Option<&'a str>,
    pub state: &'a DatabaseState,
    pub host: &'a str,
    pub pid: u32,
}

impl<'a> Entry<'a> {
    pub fn new(db: &Path, record: &'a AttemptRecord, state: &'a DatabaseState) -> Self {
        Entry {
            database: db.display().to_string(),
            attempt_id: record.id,
            command: record.command.as_str(),
            outcome: record.outcome.as_str(),
            started_at: &record.holder.started_at,
            finished_at: record.finished_at.as_deref(),
            duration_ms: record.duration_ms,
            from_version: record.from_version,
            to_version: record.to_version,
            versions: &record.versions,
            backup_id: record.backup_id.as_deref(),
            error: record.error.as_deref(),
            state,
            host: &record.holder.host,
            pid: record.holder.pid,
        }
    }
}

/// Whether the journal can be appended to safely (see `belay_guard::files::journal::ready`).
pub(crate) fn ready(dir: &Path) -> Result<(), Error> {
    Ok(journal::ready(dir)?)
}

/// Appends `entry` to the journal in `dir`, synced; when the journal cannot be written (a full
/// or read-only backup directory), the entry waits in the spool beside the database `db` and
/// is replayed, in order, by the next append the journal takes (see
/// `belay_guard::files::journal::append_or_spool`).
pub(crate) fn append(dir: &Path, db: &Path, entry: &Entry<'_>) -> Result<(), Error> {
    journal::append_or_spool(dir, &belay_guard::files::spool::path(db), entry)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::history::Outcome;
    use belay_guard::vocab::holder::Holder;

    #[test]
    fn entries_are_appended_one_json_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("app.db.backups");
        let record = AttemptRecord {
            id: Some(3),
            command: crate::vocab::command::Command::Up,
            holder: Holder::current(),
            finished_at: Some("2026-11-22T08:00:00Z".to_owned()),
            outcome: Outcome::Failed,
            from_version: Some(1),
            to_version: Some(1),
            versions: vec![2, 3],
            error: Some("boom".to_owned()),
            duration_ms: Some(12),
            backup_id: Some("b1".to_owned()),
            fingerprint: None,
        };
        let state = DatabaseState::Restored {
            backup: "b1".to_owned(),
        };
        for _ in 0..2 {
            append(
                &backups,
                &dir.path().join("app.db"),
                &Entry::new(Path::new("app.db"), &record, &state),
            )
            .unwrap();
        }
        let text = std::fs::read_to_string(path(&backups)).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["outcome"], "failed");
        assert_eq!(lines[0]["backup_id"], "b1");
        assert_eq!(lines[0]["versions"], serde_json::json!([2, 3]));
        assert_eq!(lines[0]["pid"], std::process::id());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(&backups))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
