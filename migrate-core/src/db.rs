//! Opening the database file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::Error;
use crate::error::SqliteContext;

/// Opens (creating if needed) the database for a run. SQLite-level waits on other writers use
/// the same timeout as the migration lock.
///
/// # Errors
///
/// [`Error::Sqlite`] when the file cannot be opened.
pub fn open(path: &Path, busy_timeout: Duration) -> Result<Connection, Error> {
    let conn = Connection::open(path).context(&format!("opening {}", path.display()))?;
    conn.busy_timeout(busy_timeout)
        .context("setting the busy timeout")?;
    Ok(conn)
}

/// Opens an existing database without the right to change it, or `None` when the file does not
/// exist (so that looking at a database never creates one).
///
/// # Errors
///
/// [`Error::Sqlite`] when the file exists but cannot be opened.
pub fn open_read_only(path: &Path, busy_timeout: Duration) -> Result<Option<Connection>, Error> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .context(&format!("opening {}", path.display()))?;
    conn.busy_timeout(busy_timeout)
        .context("setting the busy timeout")?;
    Ok(Some(conn))
}
