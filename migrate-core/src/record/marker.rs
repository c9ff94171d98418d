//! The run marker: `<db file>.migrate-run`, written (atomically) when a run with work to do
//! starts, updated as it moves from phase to phase, and removed once the run has finished and
//! been recorded, whatever its outcome.
//!
//! A process killed part-way, or a machine that lost power, leaves the marker behind (except
//! the marker of a run on a database that was empty, whose name a power loss may undo: see
//! `docs/safety.md`). The next
//! run (or app start), holding the migration lock and so knowing its owner is gone, reads it:
//! what the run was doing, and which backup it took before changing anything. It is never
//! removed on unwind: a panic part-way leaves the database in a state only the next run can
//! judge.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::read::migration::Version;
use crate::vocab::error::Error;
pub use crate::vocab::phase::Phase;
use belay_guard::database::writers::Token;
use belay_guard::files::durable::{self, Durability};
use belay_guard::vocab::holder::Holder;

/// What a run under way leaves on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMarker {
    /// Who ran it, and since when.
    pub holder: Holder,
    /// `up` or `down`.
    pub command: crate::vocab::command::Command,
    /// The version before the run.
    pub from_version: Option<Version>,
    /// The versions it was to apply or revert.
    pub versions: Vec<Version>,
    /// Its backup directory.
    pub backup_dir: PathBuf,
    /// The backup taken before it changed anything, once taken and verified.
    pub backup_id: Option<String>,
    /// Where it was.
    pub phase: Phase,
    /// The no-transaction migration running when the marker was last written, if any: a run
    /// stopped then may have left that file's statements half done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside: Option<Version>,
    /// While `outside` runs: the state of the database file after the file's last statement
    /// (its change counter, or its WAL's last commit frame), written only while no other
    /// connection had committed since the backup's snapshot (see the `writers` module). The
    /// next run finding the same state under the restore's write lock may restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Token>,
    /// Whether a later run already recorded this interruption (and refused to restore).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recorded: bool,
}

/// The marker's path for the database at `db`.
pub fn path(db: &Path) -> PathBuf {
    belay_guard::database::db::sibling(db, ".migrate-run")
}

/// Whether a marker is present (one `stat`; the no-pending path can afford it).
pub fn exists(db: &Path) -> bool {
    path(db).exists()
}

/// The marker left for `db`, if any.
///
/// # Errors
///
/// [`Error::Io`] when it cannot be read; [`Error::InvalidRequest`] when it is not a marker.
pub fn read(db: &Path) -> Result<Option<RunMarker>, Error> {
    let path = path(db);
    // Never read through a link (see `owned`).
    let read = || -> std::io::Result<String> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let mut text = String::new();
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)?
            .read_to_string(&mut text)?;
        Ok(text)
    };
    let text = match read() {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Internal {
            reason: format!(
                "{} is not a run marker ({e}); move it away after checking the database",
                path.display()
            ),
        })
}

impl RunMarker {
    /// Writes the marker for `db` (atomically: a new file renamed over the old), as durably as
    /// `durability` says.
    pub(crate) fn write(&self, db: &Path, durability: Durability) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Io {
            path: path(db),
            source: std::io::Error::other(e),
        })?;
        Ok(durable::write_as(&path(db), &text, durability)?)
    }

    /// Moves to `phase` and writes the marker.
    pub(crate) fn enter(
        &mut self,
        db: &Path,
        phase: Phase,
        durability: Durability,
    ) -> Result<(), Error> {
        self.phase = phase;
        self.write(db, durability)
    }

    /// Records that the no-transaction migration `version` starts (or, with `None`, that it
    /// finished). Always synced: what a no-transaction file left half done is known from the
    /// marker alone.
    pub(crate) fn outside(
        &mut self,
        db: &Path,
        version: Option<Version>,
        token: Option<Token>,
    ) -> Result<(), Error> {
        self.outside = version;
        self.token = token;
        self.write(db, Durability::Synced)
    }
}

/// Removes the marker of `db` (the run has finished and been recorded), as durably as
/// `durability` says (its caller removes it as durably as it wrote it).
pub(crate) fn clear(db: &Path, durability: Durability) -> Result<(), Error> {
    durable::remove(&path(db), durability)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_round_trips_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        assert!(!exists(&db));
        assert_eq!(read(&db).unwrap(), None);
        let mut marker = RunMarker {
            outside: None,
            token: None,
            recorded: false,
            holder: Holder::current(),
            command: crate::vocab::command::Command::Up,
            from_version: Some(2),
            versions: vec![3, 4],
            backup_dir: dir.path().join("app.db.backups"),
            backup_id: None,
            phase: Phase::Checking,
        };
        marker.write(&db, Durability::Synced).unwrap();
        marker.backup_id = Some("b".to_owned());
        marker
            .enter(&db, Phase::Applying, Durability::Synced)
            .unwrap();
        assert!(exists(&db));
        assert_eq!(read(&db).unwrap(), Some(marker));
        clear(&db, Durability::Synced).unwrap();
        assert!(!exists(&db));
        clear(&db, Durability::Synced).unwrap();
    }

    #[test]
    fn phases_say_when_the_database_may_have_changed() {
        assert!(!Phase::BackingUp.may_have_changed());
        assert!(Phase::Applying.may_have_changed());
        assert!(Phase::Restoring.may_have_changed());
    }

    #[test]
    fn a_damaged_marker_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        std::fs::write(path(&db), "{").unwrap();
        let e = read(&db).unwrap_err().to_string();
        assert!(e.contains("app.db.migrate-run"), "{e}");
    }
}
