//! Whether any other connection committed to the database during a run: the proof a restore
//! needs before it may replace the database with the pre-run backup.
//!
//! `PRAGMA data_version` on a connection changes exactly when another connection (in this
//! process or any other) commits to the database; the connection's own commits leave it as it
//! is. The run's connection reads it before the pre-run backup takes its snapshot, and again
//! when a restore is considered: equal values prove that nothing but the run itself committed
//! since the snapshot, so the backup plus the run's own (undone) changes is everything. A commit
//! by anyone else between the first read and the snapshot also changes the value: the proof
//! errs on the side of refusing.
//!
//! That proof lives in the run's process. For the one case a later process needs it (a run
//! killed inside a no-transaction migration, which only the backup can undo), the run carries
//! it across with [`change_counter`]: after each statement of such a file, while its own proof
//! still holds, it writes the database header's file change counter into its marker. SQLite
//! increments that counter on every commit in rollback-journal modes, so the next run finding
//! the same value knows that nobody committed since. In WAL mode the counter is not bumped per
//! commit: no proof there, and nothing is restored.

use rusqlite::Connection;

/// The run connection's `data_version` when watching began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Watch(i64);

/// What the proof says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Others {
    /// Only the run's own connection committed since watching began.
    NoneCommitted,
    /// Another connection committed (or the value could not be read: no proof).
    Committed,
}

impl Watch {
    /// Starts watching on the run's connection, before the backup's snapshot.
    pub fn start(conn: &Connection) -> rusqlite::Result<Self> {
        Ok(Watch(data_version(conn)?))
    }

    /// Whether another connection committed since [`Watch::start`].
    pub fn others(self, conn: &Connection) -> Others {
        match data_version(conn) {
            Ok(now) if now == self.0 => Others::NoneCommitted,
            _ => Others::Committed,
        }
    }
}

/// The file change counter of the database header (bytes 24..28 of page 1) as this connection
/// sees it, when it is a proof of "no commit since": a rollback-journal mode, and SQLite's
/// `sqlite_dbpage` compiled in (it reads page 1 through SQLite, never through a second file
/// descriptor, whose closing would drop the process's locks). `None` otherwise.
pub(crate) fn change_counter(conn: &Connection) -> Option<u32> {
    let mode: String = conn
        .query_row("PRAGMA main.journal_mode", [], |r| r.get(0))
        .ok()?;
    if mode.eq_ignore_ascii_case("wal") || mode.eq_ignore_ascii_case("memory") {
        return None;
    }
    let bytes: Vec<u8> = conn
        .query_row(
            "SELECT substr(data, 25, 4) FROM sqlite_dbpage('main') WHERE pgno = 1",
            [],
            |r| r.get(0),
        )
        .ok()?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA main.data_version", [], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_commits_leave_it_others_change_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let run = Connection::open(&db).unwrap();
        run.execute_batch("CREATE TABLE t (x)").unwrap();
        let watch = Watch::start(&run).unwrap();
        run.execute_batch("INSERT INTO t VALUES (1); BEGIN; INSERT INTO t VALUES (2); COMMIT;")
            .unwrap();
        assert_eq!(watch.others(&run), Others::NoneCommitted);
        let app = Connection::open(&db).unwrap();
        app.execute_batch("INSERT INTO t VALUES (3)").unwrap();
        assert_eq!(watch.others(&run), Others::Committed);
    }

    #[test]
    fn the_change_counter_moves_with_every_commit_in_rollback_mode_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let before = change_counter(&conn).expect("dbpage compiled in, rollback journal");
        Connection::open(&db)
            .unwrap()
            .execute_batch("INSERT INTO t VALUES (1)")
            .unwrap();
        let after = change_counter(&conn).unwrap();
        assert_ne!(before, after);
        assert_eq!(change_counter(&conn), Some(after));
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        assert_eq!(change_counter(&conn), None);
    }
}
