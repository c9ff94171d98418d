//! Whether any other connection committed to the database during a run: the proof a restore
//! needs before it may replace the database with the pre-run backup.
//!
//! Two facts make the proof.
//!
//! - [`Watch`]: `PRAGMA data_version` on a connection changes exactly when another connection
//!   (in this process or any other) commits; the connection's own commits leave it as it is.
//!   The run's connection reads it before the pre-run backup takes its snapshot. While it is
//!   unchanged, everything committed since the snapshot is the run's own.
//! - [`Token`]: a state of the database file that every commit, by anyone, changes. In the
//!   rollback-journal modes it is the header's file change counter (bytes 24..28 of page 1,
//!   incremented by every commit). In WAL mode it is the WAL's last commit frame: its salts
//!   (which change whenever the WAL restarts), its index and its cumulative checksum; a later
//!   commit appends a later commit frame or restarts the WAL.
//!
//! [`Watch::settled`] joins them: holding SQLite's write lock (so no other commit is under
//! way), it reads the token and then `data_version`; an unchanged `data_version` proves that the
//! token names a state only the run produced. A restore then compares that token with the one
//! it reads once it holds the write lock itself ([`LockedView`]), before copying a page: equal
//! tokens prove that nobody committed in between, and no commit can slip in after, because the
//! lock is held until the copy commits.
//!
//! A killed run carries the proof across processes the same way: after each statement of a
//! no-transaction migration it writes the settled token into its marker, and the next run
//! restores only if the token it reads under the restore's lock is the same.
//!
//! Limits, each of which makes the proof fail and the run refuse (exit 7), never restore:
//! the journal modes `memory` and `off` and in-memory databases have no token; in WAL mode, a
//! WAL that every connection closed (checkpointed and deleted) or truncated (`wal_checkpoint
//! (TRUNCATE)`) since the stop no longer holds the recorded frame, so the proof is gone even
//! if nobody committed.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ffi};
use serde::{Deserialize, Serialize};

/// The run connection's `data_version` when watching began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch(i64);

/// What the proof says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// Only the run's own connection committed since watching began.
    NoneCommitted,
    /// Another connection committed (or the value could not be read: no proof).
    Committed,
}

/// A state of the database file that any commit changes (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Token {
    /// Rollback-journal modes: the header's file change counter.
    Counter(u32),
    /// WAL mode: the WAL's last commit frame.
    Wal {
        /// The WAL header's salts (the WAL's generation).
        salt: [u32; 2],
        /// The commit frame's index, from 1.
        frame: u32,
        /// The commit frame's cumulative checksum.
        checksum: [u32; 2],
    },
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

    /// The token of the state the run's own commits left, while nobody else has committed
    /// since watching began; `None` otherwise, or without a token (see the module's limits).
    /// Takes SQLite's write lock for the moment it reads (waiting as the busy timeout says),
    /// so no other commit is half written; `conn` must be outside any transaction.
    pub fn settled(self, conn: &Connection) -> Option<Token> {
        if !conn.is_autocommit() {
            return None;
        }
        conn.execute_batch("BEGIN IMMEDIATE").ok()?;
        // The token first, `data_version` after: a commit by anyone before the token was read
        // shows in `data_version`.
        let token = current(conn);
        let others = self.others(conn);
        let _ = conn.execute_batch("ROLLBACK");
        token.filter(|_| others == Others::NoneCommitted)
    }
}

/// The token of the database as `conn` sees it now.
fn current(conn: &Connection) -> Option<Token> {
    match Mode::of(conn)? {
        Mode::Wal => wal_tip(&crate::database::db::sibling(
            Path::new(conn.path()?),
            "-wal",
        )),
        Mode::Rollback => {
            let bytes: Vec<u8> = conn
                .query_row(
                    "SELECT substr(data, 25, 4) FROM sqlite_dbpage('main') WHERE pgno = 1",
                    [],
                    |r| r.get(0),
                )
                .ok()?;
            Some(Token::Counter(u32::from_be_bytes(bytes.try_into().ok()?)))
        }
    }
}

/// The journal modes that have a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Wal,
    /// `delete`, `truncate`, `persist`: every commit bumps the change counter.
    Rollback,
}

impl Mode {
    fn of(conn: &Connection) -> Option<Mode> {
        let mode: String = conn
            .query_row("PRAGMA main.journal_mode", [], |r| r.get(0))
            .ok()?;
        match mode.to_ascii_lowercase().as_str() {
            "wal" => Some(Mode::Wal),
            "delete" | "truncate" | "persist" => Some(Mode::Rollback),
            _ => None,
        }
    }
}

/// The last commit frame of the WAL at `path`, reading frames in order while their salts are
/// the header's (SQLite's own recovery stops at the first frame that is not of this
/// generation). `None` when there is no WAL, or no commit frame in it.
fn wal_tip(path: &Path) -> Option<Token> {
    const MAGIC: [u32; 2] = [0x377f_0682, 0x377f_0683];
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut header = [0u8; 32];
    file.read_exact_at(&mut header, 0).ok()?;
    if !MAGIC.contains(&be32(&header, 0)) {
        return None;
    }
    let page_size = u64::from(be32(&header, 8));
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return None;
    }
    let salt = [be32(&header, 16), be32(&header, 20)];
    let frame_size = 24 + page_size;
    let mut tip = None;
    let mut frame_header = [0u8; 24];
    let mut index: u32 = 0;
    loop {
        let offset = 32 + u64::from(index) * frame_size;
        if offset + frame_size > len || file.read_exact_at(&mut frame_header, offset).is_err() {
            break;
        }
        if [be32(&frame_header, 8), be32(&frame_header, 12)] != salt {
            break;
        }
        index += 1;
        if be32(&frame_header, 4) != 0 {
            tip = Some(Token::Wal {
                salt,
                frame: index,
                checksum: [be32(&frame_header, 16), be32(&frame_header, 20)],
            });
        }
    }
    tip
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads the token of a database whose write lock a restore's connection holds, without using
/// that connection (the backup API forbids it while the copy is under way): the WAL file
/// directly (SQLite takes no lock on it), or, in the rollback modes, the header through the
/// connection's own open file (SQLite's VFS `xRead`; opening and closing a second descriptor
/// on the database would drop every POSIX lock this process holds on it, the restore's
/// included).
pub struct LockedView {
    source: Source,
}

enum Source {
    Wal(PathBuf),
    /// The connection's `sqlite3_file`, valid while the connection is open.
    Header(*mut ffi::sqlite3_file),
    None,
}

impl LockedView {
    /// Prepares to read the token of `live`'s database; call before the copy starts, and only
    /// read while `live` is open.
    pub fn prepare(live: &Connection) -> Self {
        let source = match (Mode::of(live), live.path()) {
            (Some(Mode::Wal), Some(path)) if !path.is_empty() => {
                Source::Wal(crate::database::db::sibling(Path::new(path), "-wal"))
            }
            (Some(Mode::Rollback), _) => file_pointer(live).map_or(Source::None, Source::Header),
            _ => Source::None,
        };
        LockedView { source }
    }

    /// The token as the file holds it now.
    pub fn token(&self) -> Option<Token> {
        match &self.source {
            Source::Wal(path) => wal_tip(path),
            Source::Header(file) => {
                let mut bytes = [0u8; 4];
                // SAFETY: the pointer came from SQLite for a connection the caller keeps open
                // (see `prepare`); `xRead` is the VFS's own read of that open file.
                let read = unsafe { read_at(*file, &mut bytes, 24) };
                read.then(|| Token::Counter(u32::from_be_bytes(bytes)))
            }
            Source::None => None,
        }
    }
}

/// The `sqlite3_file` behind `conn`'s main database.
fn file_pointer(conn: &Connection) -> Option<*mut ffi::sqlite3_file> {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: `SQLITE_FCNTL_FILE_POINTER` writes one pointer into the argument, which points
    // at `file`; the handle is the connection's own, used on this thread.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast(),
        )
    };
    (rc == ffi::SQLITE_OK && !file.is_null()).then_some(file)
}

/// Reads `buf.len()` bytes at `offset` through the file's VFS methods.
///
/// # Safety
///
/// `file` must be an open `sqlite3_file` (its connection still open).
unsafe fn read_at(file: *mut ffi::sqlite3_file, buf: &mut [u8], offset: i64) -> bool {
    // SAFETY: per the function's contract, `file` and its methods are live.
    unsafe {
        let methods = (*file).pMethods;
        let Some(x_read) = methods.as_ref().and_then(|m| m.xRead) else {
            return false;
        };
        let Ok(len) = std::os::raw::c_int::try_from(buf.len()) else {
            return false;
        };
        x_read(file, buf.as_mut_ptr().cast(), len, offset) == ffi::SQLITE_OK
    }
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA main.data_version", [], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir, wal: bool) -> (PathBuf, Connection) {
        let db = dir.path().join("w.db");
        let conn = Connection::open(&db).unwrap();
        if wal {
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .unwrap();
        }
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        (db, conn)
    }

    #[test]
    fn own_commits_leave_it_others_change_it() {
        let dir = tempfile::tempdir().unwrap();
        let (db, run) = open(&dir, false);
        let watch = Watch::start(&run).unwrap();
        run.execute_batch("INSERT INTO t VALUES (1); BEGIN; INSERT INTO t VALUES (2); COMMIT;")
            .unwrap();
        assert_eq!(watch.others(&run), Others::NoneCommitted);
        let app = Connection::open(&db).unwrap();
        app.execute_batch("INSERT INTO t VALUES (3)").unwrap();
        assert_eq!(watch.others(&run), Others::Committed);
    }

    /// In both journal families: the settled token is the one a restore's locked view reads;
    /// a commit by anyone changes it; a checkpoint (WAL) or a read does not; once another
    /// connection committed, nothing is settled.
    #[test]
    fn the_settled_token_matches_the_locked_view_until_anyone_commits() {
        for wal in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (db, run) = open(&dir, wal);
            let watch = Watch::start(&run).unwrap();
            run.execute_batch("INSERT INTO t VALUES (1)").unwrap();
            let settled = watch
                .settled(&run)
                .expect("a token in delete and WAL modes");
            let live = Connection::open(&db).unwrap();
            let view = LockedView::prepare(&live);
            assert_eq!(view.token(), Some(settled), "wal: {wal}");
            live.query_row("SELECT count(*) FROM t", [], |_| Ok(()))
                .unwrap();
            if wal {
                live.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    .unwrap();
            }
            assert_eq!(view.token(), Some(settled), "wal: {wal}");
            live.execute_batch("INSERT INTO t VALUES (2)").unwrap();
            assert_ne!(view.token(), Some(settled), "wal: {wal}");
            assert_eq!(watch.settled(&run), None, "wal: {wal}");
        }
    }

    #[test]
    fn a_restarted_or_truncated_wal_is_no_longer_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let (db, run) = open(&dir, true);
        let watch = Watch::start(&run).unwrap();
        run.execute_batch("INSERT INTO t VALUES (1)").unwrap();
        let settled = watch.settled(&run).unwrap();
        let app = Connection::open(&db).unwrap();
        // A full checkpoint, then a write: the WAL restarts from its first frame.
        app.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
            .unwrap();
        app.execute_batch("INSERT INTO t VALUES (2)").unwrap();
        let view = LockedView::prepare(&app);
        let restarted = view.token().unwrap();
        assert_ne!(restarted, settled);
        app.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        assert_eq!(view.token(), None);
    }

    #[test]
    fn no_token_without_a_journal_that_records_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (_, conn) = open(&dir, false);
        let watch = Watch::start(&conn).unwrap();
        conn.query_row("PRAGMA journal_mode = MEMORY", [], |_| Ok(()))
            .unwrap();
        assert_eq!(watch.settled(&conn), None);
        let memory = Connection::open_in_memory().unwrap();
        assert_eq!(Watch::start(&memory).unwrap().settled(&memory), None);
        assert!(matches!(LockedView::prepare(&memory).source, Source::None));
    }

    #[test]
    fn tokens_keep_their_shape_in_a_marker() {
        let counter: Token = serde_json::from_str("7").unwrap();
        assert_eq!(counter, Token::Counter(7));
        let wal = Token::Wal {
            salt: [1, 2],
            frame: 3,
            checksum: [4, 5],
        };
        let text = serde_json::to_string(&wal).unwrap();
        assert_eq!(serde_json::from_str::<Token>(&text).unwrap(), wal);
    }
}
