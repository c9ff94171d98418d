//! Opening the database file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::Error;
use crate::vocab::error::SqliteContext;

/// Whether the database has no pages yet (a new or absent file): nothing to check, back up or
/// lose. A file that cannot be looked at is not new: it is backed up (or the backup says why
/// not) like any other.
pub fn is_new(db: &Path) -> bool {
    match std::fs::metadata(db) {
        Ok(meta) => meta.len() == 0,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// `path` with `suffix` appended to its file name: `app.db` + `-wal` is `app.db-wal`.
pub fn sibling(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    std::path::PathBuf::from(name)
}

/// A database's real path: symbolic links and `.`/`..` resolved, relative names made absolute,
/// so that however the file was named (`app.db`, `./app.db`, a link to it) it takes the same
/// lock and finds the same marker and backups as a run opened through SQLite (which resolves
/// links itself). A file that does not exist yet is named in its resolved directory.
pub fn resolved(db: &Path) -> std::path::PathBuf {
    if let Ok(real) = std::fs::canonicalize(db) {
        return real;
    }
    let (Some(parent), Some(name)) = (db.parent(), db.file_name()) else {
        return db.to_path_buf();
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    std::fs::canonicalize(parent).map_or_else(|_| db.to_path_buf(), |dir| dir.join(name))
}

/// The columns of `schema.table` that hold stored values (generated and hidden columns aside),
/// in order.
pub fn stored_columns(
    conn: &Connection,
    schema: &str,
    table: &str,
) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT name FROM pragma_table_xinfo(?1, ?2) WHERE hidden = 0 ORDER BY cid",
    )?
    .query_map([table, schema], |r| r.get(0))?
    .collect()
}

/// SQLite's busy timeout is a 32-bit count of milliseconds; a longer wait is clamped to it (24.8
/// days), never a panic.
pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// Sets `conn`'s busy timeout to `timeout`, clamped to [`MAX_BUSY_TIMEOUT`].
pub fn set_busy_timeout(conn: &Connection, timeout: Duration) {
    // Cannot fail once clamped: rusqlite only refuses values that do not fit.
    let _ = conn.busy_timeout(timeout.min(MAX_BUSY_TIMEOUT));
}

/// What is at `path` when it is not a regular file, in words (`None` for a regular file, or a
/// link to one).
fn not_regular(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory, not a database file")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe), not a database file")
    } else if kind.is_char_device() {
        Some("a character device, not a database file")
    } else if kind.is_block_device() {
        Some("a block device, not a database file")
    } else if kind.is_socket() {
        Some("a socket, not a database file")
    } else {
        Some("not a regular file")
    }
}

/// The size of the regular file at `path`, `None` when nothing is there. The one check every
/// command that reads a database makes before SQLite opens it: a FIFO would block the open
/// forever, a device or a directory is never a database.
///
/// # Errors
///
/// [`Error::InvalidDatabase`] naming what is there instead; [`Error::Io`] when it cannot be
/// looked at.
pub fn regular_file(path: &Path) -> Result<Option<u64>, Error> {
    match std::fs::metadata(path) {
        Ok(meta) => match not_regular(&meta) {
            None => Ok(Some(meta.len())),
            Some(reason) => Err(Error::InvalidDatabase {
                path: path.to_path_buf(),
                reason: reason.to_owned(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Whether `path` holds what looks like a SQLite database, damaged or not: SQLite's header
/// string or the header's fixed payload fractions (64, 32, 32 at offset 21) at the start; or,
/// in a file whose size is a whole number of pages of some page size, the header string at
/// another page's start (page 1 swapped away) or a page shaped like a b-tree page after the
/// first (page 1 overwritten). A text file, an image, an empty file are not. Read only after
/// SQLite has refused the file: a second descriptor closed by this process would drop the
/// POSIX locks its SQLite connections hold on a file SQLite can read, but none are held on one
/// it cannot.
pub fn looks_like_database(path: &Path) -> bool {
    use std::io::Read;
    const MAGIC: &[u8; 16] = b"SQLite format 3\0";
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut head = Vec::new();
    if file.take(256 * 1024).read_to_end(&mut head).is_err() || head.len() < 24 {
        return false;
    }
    if &head[..16] == MAGIC || head[21..24] == [64, 32, 32] {
        return true;
    }
    (9..=16).map(|shift| 1usize << shift).any(|size| {
        len % size as u64 == 0
            && len >= 2 * size as u64
            && head
                .chunks_exact(size)
                .enumerate()
                .any(|(i, page)| page.starts_with(MAGIC) || (i > 0 && btree_shaped(page)))
    })
}

/// Whether `page` begins as a b-tree page of its size would: a page type SQLite writes, a
/// first freeblock and a cell content area inside the page, a cell count that fits.
fn btree_shaped(page: &[u8]) -> bool {
    let size = page.len();
    let u16_at = |i: usize| usize::from(u16::from_be_bytes([page[i], page[i + 1]]));
    let (freeblock, cells, content) = (u16_at(1), u16_at(3), u16_at(5));
    let content = if content == 0 { 65_536 } else { content };
    matches!(page[0], 2 | 5 | 10 | 13)
        && (freeblock == 0 || (8..size).contains(&freeblock))
        && cells <= size / 4
        && (8..=size).contains(&content)
        && page[7] <= 60
}

/// Checks that `path` can be a database a run writes, before anything is created or opened:
/// an existing regular file (a symbolic link to one is fine) that can be written, in a
/// directory that can be written (SQLite creates its journal there), or a new file in an
/// existing directory.
///
/// # Errors
///
/// [`Error::InvalidDatabase`] saying what is wrong.
pub fn check_target(path: &Path) -> Result<(), Error> {
    let invalid = |reason: &str| Error::InvalidDatabase {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let writable = |p: &Path| rustix::fs::access(p, rustix::fs::Access::WRITE_OK).is_ok();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(path) {
        Ok(meta) if not_regular(&meta).is_some() => {
            Err(invalid(not_regular(&meta).unwrap_or_default()))
        }
        Ok(_) if !writable(path) => Err(invalid("read-only: a run could not write it")),
        Ok(_) if !writable(dir) => Err(invalid(
            "its directory is read-only: SQLite could not create its journal there",
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => Ok(()),
            _ => Err(invalid("its directory does not exist")),
        },
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Opens (creating if needed) the database for a run, a restore or a repair, once
/// [`check_target`] has accepted its path. SQLite-level waits on other writers use the same
/// timeout as the migration lock.
///
/// # Errors
///
/// [`Error::InvalidDatabase`] as [`check_target`]; [`Error::Sqlite`] when the file cannot be
/// opened.
pub fn open(path: &Path, busy_timeout: Duration) -> Result<Connection, Error> {
    // Every connection that writes starts here: nothing is created for a path that cannot be
    // a database a run writes.
    check_target(path)?;
    let conn = Connection::open(path).context(&format!("opening {}", path.display()))?;
    set_busy_timeout(&conn, busy_timeout);
    Ok(conn)
}

/// Opens an existing database without the right to change it, or `None` when the file does not
/// exist (so that looking at a database never creates one).
///
/// # Errors
///
/// [`Error::InvalidDatabase`] when something other than a regular file is there;
/// [`Error::Sqlite`] when the file exists but cannot be opened.
pub fn open_read_only(path: &Path, busy_timeout: Duration) -> Result<Option<Connection>, Error> {
    if regular_file(path)?.is_none() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .context(&format!("opening {}", path.display()))?;
    set_busy_timeout(&conn, busy_timeout);
    Ok(Some(conn))
}

/// Opens an existing database for a check: for reading and writing when the operating system
/// lets this user write it, with `query_only` on so that nothing is written through it; read
/// only otherwise (SQLite falls back by itself). SQLite parses a table's CHECK constraints only
/// on a connection that may write, so `integrity_check` verifies them only there: a read-only
/// check would call a database "ok" that the application's own check calls damaged.
///
/// # Errors
///
/// SQLite's, when the file cannot be opened at all, or `query_only` cannot be set.
pub fn open_to_check(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    set_busy_timeout(&conn, busy_timeout);
    conn.pragma_update(None, "query_only", true)?;
    // Looking never checkpoints: the last connection to close a WAL database would otherwise
    // copy the WAL back and delete it (`health` and the watchman's checks read only).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    Ok(conn)
}

/// A `file:` URI opening `path` read-only, with every byte outside the unreserved set escaped.
pub fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    uri
}

#[cfg(test)]
mod tests {
    /// What SQLite refuses is damage when the file is shaped like a database (page 1
    /// overwritten or moved), and not a database when nothing in it is.
    #[test]
    fn what_looks_like_a_database_after_sqlite_refused_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t SELECT hex(randomblob(30)) FROM n;",
        )
        .unwrap();
        drop(conn);
        let pristine = std::fs::read(&db).unwrap();
        let write = |bytes: &[u8]| std::fs::write(&db, bytes).unwrap();
        assert!(super::looks_like_database(&db));
        let mut zeroed = pristine.clone();
        zeroed[..4096].fill(0);
        write(&zeroed);
        assert!(super::looks_like_database(&db), "page 1 zeroed");
        let mut swapped = pristine.clone();
        let (one, rest) = swapped.split_at_mut(4096);
        one.swap_with_slice(&mut rest[4096..8192]);
        write(&swapped);
        assert!(
            super::looks_like_database(&db),
            "page 1 swapped with page 3"
        );
        let mut magic = pristine.clone();
        magic[..16].copy_from_slice(b"SQLite format 2\0");
        write(&magic);
        assert!(super::looks_like_database(&db), "header string damaged");
        let text: String = (1..5000).map(|i| format!("line {i}\r\n")).collect();
        write(text.as_bytes());
        assert!(!super::looks_like_database(&db), "a text file");
        write(&vec![0u8; 8192]);
        assert!(!super::looks_like_database(&db), "zeros");
        write(b"");
        assert!(!super::looks_like_database(&db), "empty");
    }

    #[test]
    fn uris_escape_what_would_change_their_meaning() {
        assert_eq!(
            super::read_only_uri("/tmp/a b?#%.db".as_ref()),
            "file:/tmp/a%20b%3F%23%25.db?mode=ro"
        );
    }
}
