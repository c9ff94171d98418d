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
//! Its limit: it lives in the run's process. A run that was killed leaves no such proof for the
//! next one (see docs/safety.md).

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
}
