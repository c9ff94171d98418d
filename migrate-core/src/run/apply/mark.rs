//! The restore point a unit records while archiving is on (`belay_guard::archive::marks`):
//! where the WAL stood when its transaction took SQLite's write lock, written once it has
//! committed. A point that cannot be recorded is logged and the run goes on: it indexes the
//! archive, and `restore --at-version` then says that no run recorded it.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::planning::plan::{Direction, Step};
use belay_guard::archive::marks::{self, Mark};

/// A point read at BEGIN, to be recorded after COMMIT.
pub(super) struct Pending {
    db: PathBuf,
    dir: PathBuf,
    mark: Mark,
}

/// Reads where the WAL ends, on `conn` which holds the write lock; `None` without an archive
/// or for an in-memory database.
pub(super) fn before(
    conn: &Connection,
    archive: Option<&Path>,
    direction: Direction,
    steps: &[Step],
) -> Option<Pending> {
    let dir = archive?;
    let db = PathBuf::from(conn.path().filter(|p| !p.is_empty())?);
    let first = steps.first()?;
    let before = marks::wal_end(&db)
        .inspect_err(
            |e| tracing::warn!(error = %e, "restore point not recorded: the WAL could not be read"),
        )
        .ok()?;
    Some(Pending {
        db,
        dir: dir.to_path_buf(),
        mark: Mark {
            version: first.version,
            direction: match direction {
                Direction::Up => "up",
                Direction::Down => "down",
            }
            .to_owned(),
            within: steps[1..].iter().map(|s| s.version).collect(),
            at: belay_guard::vocab::clock::now_rfc3339(),
            before,
            next_salt: None,
            version_after: None,
        },
    })
}

/// Records the point once the unit committed on `conn`, with the version it left.
pub(super) fn after(pending: Option<Pending>, conn: &Connection) {
    let Some(mut p) = pending else { return };
    p.mark.next_salt = marks::wal_salt(&p.db).ok().flatten();
    p.mark.version_after = crate::record::history::current_version(conn)
        .inspect_err(|e| tracing::warn!(error = %e, "the version after the unit was not read"))
        .ok()
        .flatten();
    if let Err(e) = marks::record(&p.dir, &p.mark) {
        tracing::warn!(version = p.mark.version, error = %e, "restore point not recorded");
    }
}
