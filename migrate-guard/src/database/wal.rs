//! The write-ahead log seen from outside the application: its state read from the files alone
//! ([`status`]: no SQLite connection, so nothing is checkpointed by looking), and a checkpoint
//! run on request ([`checkpoint`]), recorded beside the backups so the next status can say when
//! the last one ran and what it did.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use super::db::{set_busy_timeout, sibling};
use super::holders::{self, Holders};
use crate::Error;
use crate::files::durable;
use crate::vocab::clock;

/// How hard a checkpoint tries (SQLite's `wal_checkpoint` modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointMode {
    /// Copies what it can without waiting for anyone.
    Passive,
    /// Waits for writers, then copies every frame (readers may keep the WAL from restarting).
    Full,
    /// As `Full`, then waits for readers so the next writer starts the WAL from its beginning.
    Restart,
    /// As `Restart`, and truncates the WAL file to nothing.
    Truncate,
}

impl CheckpointMode {
    /// The mode as SQLite's pragma spells it.
    pub fn as_sql(self) -> &'static str {
        match self {
            CheckpointMode::Passive => "PASSIVE",
            CheckpointMode::Full => "FULL",
            CheckpointMode::Restart => "RESTART",
            CheckpointMode::Truncate => "TRUNCATE",
        }
    }

    /// Whether SQLite's busy handler makes this mode wait (all but `Passive`).
    pub fn waits(self) -> bool {
        self != CheckpointMode::Passive
    }
}

/// What one checkpoint did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The mode asked for.
    pub mode: CheckpointMode,
    /// When it ran (RFC 3339).
    pub at: String,
    /// SQLite could not finish what the mode asks (a blocking mode's wait ran out, or another
    /// connection held what it needed).
    pub busy: bool,
    /// Valid frames in the WAL just before, from its index (`None` when it could not be read).
    #[serde(default)]
    pub frames_before: Option<u32>,
    /// Frames in the WAL afterwards, as SQLite reports them (0 after a truncate or a restart
    /// that emptied it; -1 when SQLite could not run the checkpoint at all).
    pub log_frames: i64,
    /// Frames copied back into the database (this time or before).
    pub checkpointed_frames: i64,
    /// How long SQLite took, waiting included.
    pub duration_ms: u64,
    /// The WAL file's size afterwards.
    pub wal_bytes_after: u64,
}

impl Checkpoint {
    /// Frames still to be copied into the database.
    pub fn frames_left(&self) -> i64 {
        (self.log_frames - self.checkpointed_frames).max(0)
    }
}

/// What a checkpoint request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpointed {
    /// It ran (and may have left frames: see [`Checkpoint::busy`]).
    Done(Checkpoint),
    /// The database is not in WAL mode: there is no WAL to checkpoint.
    NotWal {
        /// The journal mode SQLite reported.
        journal_mode: String,
    },
}

/// The database's journal, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Journal {
    /// Write-ahead log.
    Wal,
    /// A rollback journal (delete, truncate, persist, memory, off).
    Rollback,
    /// A file with no pages yet.
    Empty,
}

/// The WAL's state as the shared-memory index records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WalIndex {
    /// Valid frames in the WAL (`mxFrame`).
    pub frames: u32,
    /// Of those, the frames already copied into the database (`nBackfill`).
    pub checkpointed: u32,
}

/// The WAL as its files show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalStatus {
    /// The journal family the header records.
    pub journal: Journal,
    /// The page size the header records (0 for an empty file).
    pub page_size: u32,
    /// The WAL file's size (0 when there is none).
    pub wal_bytes: u64,
    /// Frames the WAL file has room for (its size less the header, in frames).
    pub wal_file_frames: u64,
    /// From the shared-memory index, when it is there and consistent; `None` otherwise.
    pub index: Option<WalIndex>,
    /// Who holds the database open.
    pub holders: Holders,
}

/// Reads the WAL's state from the database's header, the WAL file and its shared-memory index,
/// without opening the database through SQLite (a connection closing last would checkpoint).
///
/// # Errors
///
/// [`Error::NoDatabase`] when there is no file; [`Error::InvalidDatabase`] when it is not a
/// database; [`Error::Io`] when it cannot be read.
pub fn status(db: &Path) -> Result<WalStatus, Error> {
    let size = super::db::regular_file(db)?.ok_or_else(|| Error::NoDatabase {
        path: db.to_path_buf(),
    })?;
    let (journal, page_size) = if size == 0 {
        (Journal::Empty, 0)
    } else {
        header(db)?
    };
    let wal_bytes = std::fs::metadata(sibling(db, "-wal")).map_or(0, |m| m.len());
    let frame = u64::from(page_size) + 24;
    Ok(WalStatus {
        journal,
        page_size,
        wal_bytes,
        wal_file_frames: match (wal_bytes, page_size) {
            (0..32, _) | (_, 0) => 0,
            (bytes, _) => (bytes - 32) / frame,
        },
        index: index(&sibling(db, "-shm")),
        holders: holders::open_by(db),
    })
}

/// The journal family (byte 18: 2 is WAL) and page size (bytes 16-17; 1 means 65536).
fn header(db: &Path) -> Result<(Journal, u32), Error> {
    use std::io::Read;
    let mut head = [0u8; 100];
    std::fs::File::open(db)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::InvalidDatabase {
                path: db.to_path_buf(),
                reason: "shorter than a database header (100 bytes)".to_owned(),
            },
            _ => Error::Io {
                path: db.to_path_buf(),
                source,
            },
        })?;
    if &head[..16] != b"SQLite format 3\0" {
        return Err(Error::InvalidDatabase {
            path: db.to_path_buf(),
            reason: "no SQLite header: not a database".to_owned(),
        });
    }
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65_536,
        n => u32::from(n),
    };
    let journal = match head[18] {
        2 => Journal::Wal,
        _ => Journal::Rollback,
    };
    Ok((journal, page_size))
}

/// The frame counts of the WAL index at `shm`: both copies of its header must agree and say it
/// is initialised (as SQLite itself requires before trusting it), else `None`.
fn index(shm: &Path) -> Option<WalIndex> {
    use std::io::Read;
    let mut head = [0u8; 136];
    std::fs::File::open(shm)
        .and_then(|mut f| f.read_exact(&mut head))
        .ok()?;
    let word = |at: usize| u32::from_ne_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let consistent = head[..48] == head[48..96] && head[12] == 1 && word(0) == 3_007_000;
    consistent.then(|| WalIndex {
        frames: word(16),
        checkpointed: word(96),
    })
}

/// Runs a checkpoint in `mode` on the database at `db`; a blocking mode waits at most
/// `timeout` for the connections in its way, then reports `busy`. Nothing is lost either way:
/// frames not copied stay in the WAL.
///
/// # Errors
///
/// [`Error::NoDatabase`] when there is no file; [`Error::Sqlite`] when SQLite refuses (not a
/// database, not writable).
pub fn checkpoint(
    db: &Path,
    mode: CheckpointMode,
    timeout: Duration,
) -> Result<Checkpointed, Error> {
    if super::db::regular_file(db)?.is_none() {
        return Err(Error::NoDatabase {
            path: db.to_path_buf(),
        });
    }
    let sqlite = |context: &str| {
        let context = format!("{context} {}", db.display());
        move |source| Error::Sqlite { context, source }
    };
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite("opening"))?;
    set_busy_timeout(&conn, timeout);
    let journal_mode: String = conn
        .query_row("PRAGMA main.journal_mode", [], |r| r.get(0))
        .map_err(sqlite("reading the journal mode of"))?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Ok(Checkpointed::NotWal { journal_mode });
    }
    let frames_before = index(&sibling(db, "-shm")).map(|i| i.frames);
    let at = clock::now_rfc3339();
    let started = Instant::now();
    let (busy, log_frames, checkpointed_frames) = match conn.query_row(
        &format!("PRAGMA main.wal_checkpoint({})", mode.as_sql()),
        [],
        |r| Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?)),
    ) {
        Ok(row) => row,
        // Another connection's checkpoint, or a lock held past the timeout: nothing copied.
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            (true, -1, -1)
        }
        Err(e) => return Err(sqlite("checkpointing")(e)),
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    // Closed before the WAL is measured: a connection that closes last checkpoints too.
    drop(conn);
    Ok(Checkpointed::Done(Checkpoint {
        mode,
        at,
        busy,
        frames_before,
        log_frames,
        checkpointed_frames,
        duration_ms,
        wal_bytes_after: std::fs::metadata(sibling(db, "-wal")).map_or(0, |m| m.len()),
    }))
}

/// Where the last checkpoint run through this module is recorded: beside the backups.
pub fn record_path(backup_dir: &Path) -> PathBuf {
    backup_dir.join("last-checkpoint.json")
}

/// Records `done` as the last checkpoint (atomically, in the backup directory).
///
/// # Errors
///
/// [`Error::Io`] or [`Error::UnsafePath`] when the directory cannot be made or written.
pub fn record(backup_dir: &Path, done: &Checkpoint) -> Result<(), Error> {
    durable::create_dir(backup_dir)?;
    let text = serde_json::to_string_pretty(done).map_err(|e| Error::Internal {
        reason: format!("writing the checkpoint record: {e}"),
    })?;
    durable::write_atomically(&record_path(backup_dir), &text)
}

/// The last checkpoint recorded, if any.
///
/// # Errors
///
/// [`Error::Io`] when the record cannot be read; [`Error::Internal`] naming it when it is not
/// a checkpoint record.
pub fn last(backup_dir: &Path) -> Result<Option<Checkpoint>, Error> {
    let path = record_path(backup_dir);
    let Some(text) = durable::read_record(&path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Internal {
            reason: format!("{} is not a checkpoint record: {e}", path.display()),
        })
}
