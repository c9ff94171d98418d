//! One lock timeout for a whole run: what is left of it after waiting for the migration lock
//! becomes the connection's busy timeout (SQLite's write lock), and the application's own
//! setting comes back when the run ends.

use std::time::Duration;

use rusqlite::Connection;

/// The connection's busy timeout for the rest of a run, restored when dropped (`run_on` leaves
/// the application's connection as it was).
pub(super) struct BusyBudget<'c> {
    conn: &'c Connection,
    before: Option<i64>,
}

impl<'c> BusyBudget<'c> {
    pub(super) fn set(conn: &'c Connection, left: Duration) -> Self {
        let before = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).ok();
        // At least a moment, so that a run that used its whole budget waiting for the
        // migration lock still takes a free write lock.
        belay_guard::database::db::set_busy_timeout(conn, left.max(Duration::from_millis(100)));
        BusyBudget { conn, before }
    }
}

impl Drop for BusyBudget<'_> {
    fn drop(&mut self) {
        if let Some(ms) = self.before {
            belay_guard::database::db::set_busy_timeout(
                self.conn,
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            );
        }
    }
}
