//! Holding SQLite's write lock for a whole run (`--exclusive`): application writers wait, within
//! their busy timeout, instead of committing between the backup's snapshot and the run's end.
//!
//! The run's connection switches foreign-key enforcement off (the pragma is a no-op inside a
//! transaction), then begins `BEGIN IMMEDIATE` before the run marker, the pre-flight check and
//! the backup; those read on connections of their own, which a held write lock does not stop.
//! The units run as savepoints inside it and everything commits once, at the end: the run is
//! one transaction, so it cannot commit migrations one by one (`--per-migration`) or run a
//! no-transaction file, and nothing another connection commits can fall between the backup and
//! the run. The cost: every writer of the application waits for the whole run (pre-flight,
//! backup and migrations), which on a large database is seconds (see docs/benchmarks.md).

use rusqlite::Connection;

use crate::foreign_keys::EnforcementOff;

/// Whether a run holds SQLite's write lock from before its backup to its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WriteLock {
    /// Each unit takes the write lock for its own transaction; application writers commit
    /// between them and during the pre-flight check and the backup (the default).
    #[default]
    PerUnit,
    /// The run takes it before its backup and keeps it to the end (`--exclusive`).
    WholeRun,
}

/// The write lock, held while this lives; rolled back when dropped uncommitted.
pub struct Fence<'c> {
    conn: &'c Connection,
    open: bool,
    // Declared last: dropped after the transaction ends, when the pragma takes effect again.
    _enforcement: EnforcementOff<'c>,
}

impl<'c> Fence<'c> {
    /// Takes the write lock on `conn`, waiting up to its busy timeout.
    pub fn take(conn: &'c Connection) -> rusqlite::Result<Self> {
        let enforcement = EnforcementOff::new(conn)?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Fence {
            conn,
            open: true,
            _enforcement: enforcement,
        })
    }

    /// Commits everything the run did.
    pub fn commit(mut self) -> rusqlite::Result<()> {
        self.open = false;
        self.conn.execute_batch("COMMIT").inspect_err(|_| {
            let _ = self.conn.execute_batch("ROLLBACK");
        })
    }
}

impl Drop for Fence<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
