//! A unit's transaction, rolled back when dropped uncommitted.

use rusqlite::Connection;

use belay_guard::database::fence::WriteLock;

/// A unit's transaction: its own `BEGIN IMMEDIATE … COMMIT`, or, inside a run that holds the
/// write lock throughout (`WriteLock::WholeRun`), a savepoint of the run's transaction. Rolled
/// back when dropped uncommitted.
pub(super) struct UnitTx<'c> {
    conn: &'c Connection,
    nested: bool,
    open: bool,
}

impl<'c> UnitTx<'c> {
    pub(super) fn begin(conn: &'c Connection, lock: WriteLock) -> rusqlite::Result<Self> {
        let nested = lock == WriteLock::WholeRun;
        conn.execute_batch(if nested {
            "SAVEPOINT migrate_unit"
        } else {
            "BEGIN IMMEDIATE"
        })?;
        Ok(UnitTx {
            conn,
            nested,
            open: true,
        })
    }

    pub(super) fn commit(mut self) -> rusqlite::Result<()> {
        self.open = false;
        let done = self.conn.execute_batch(if self.nested {
            "RELEASE migrate_unit"
        } else {
            "COMMIT"
        });
        if done.is_err() {
            self.rollback();
        }
        done
    }

    fn rollback(&self) {
        let _ = self.conn.execute_batch(if self.nested {
            "ROLLBACK TO migrate_unit; RELEASE migrate_unit"
        } else {
            "ROLLBACK"
        });
    }
}

impl std::ops::Deref for UnitTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for UnitTx<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            self.rollback();
        }
    }
}
