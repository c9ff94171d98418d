//! The hook through which the net tells whoever keeps an account of a database what it did to
//! it: the migration engine records a restore, a table restore or a repair as an attempt in
//! the database's own history and a line of its journal. Called while the net still holds the
//! migration lock, on a connection to the database, so the account is written before anyone
//! else can change it. An application without such an account passes `&mut ()`.

use std::path::Path;

use rusqlite::Connection;

/// What the net changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// The whole database was replaced by a backup.
    Restored {
        /// The backup's id.
        backup: &'a str,
    },
    /// Tables were replaced by their contents in a backup.
    TablesRestored {
        /// The backup's id.
        backup: &'a str,
        /// The tables.
        tables: &'a [String],
    },
    /// The repair ladder ran.
    Repaired {
        /// Whether the database passes its checks now.
        ok: bool,
        /// Where the damaged file was copied before anything changed.
        damaged_copy: Option<&'a Path>,
    },
}

/// Told about each change; every method does nothing by default.
pub trait Recorder {
    /// The net holds the lock and is about to change the database on `conn`.
    fn starting(&mut self, _conn: &Connection) {}

    /// The net changed the database at `db` (still under the lock); returns the id of the
    /// record made of it, if one was.
    fn done(&mut self, _db: &Path, _conn: &Connection, _change: &Change<'_>) -> Option<i64> {
        None
    }
}

/// No account kept.
impl Recorder for () {}
