//! Letting SQLite finish what a killed process left, before anything reads the database.
//!
//! A process killed inside a write transaction in rollback-journal mode leaves a *hot journal*
//! beside the database: the file holds some pages of a transaction that never committed, the
//! journal holds their old contents. SQLite rolls the journal back the next time a connection
//! that can write reads the database; a read-only connection cannot, and answers
//! `SQLITE_READONLY_ROLLBACK`. Reading the file as it lies would read the torn pages: a check
//! would call a healthy database damaged, and a repair would rebuild it from a transaction that
//! never happened. In WAL mode, the next connection that can write the `-shm` file rebuilds the
//! WAL's index (`SQLITE_READONLY_RECOVERY` for one that cannot).
//!
//! [`settle`] looks first (two `stat`s when nothing was left), asks SQLite read-only whether a
//! recovery is due, and if so lets a connection that can write do it under the migration lock,
//! as the next writer would. Where this process may not write the file or its directory, it
//! says the recovery is pending and who will run it, and changes nothing.
//!
//! ```no_run
//! use std::time::Duration;
//! use belay_guard::database::settle::{self, Locking, Settled};
//!
//! match settle::settle("app.db".as_ref(), Duration::from_secs(5), Locking::TakeLock)? {
//!     Settled::Clean | Settled::Recovered { .. } => { /* read it */ }
//!     Settled::Pending { reason, .. } => eprintln!("not yet readable: {reason}"),
//! }
//! # Ok::<(), belay_guard::Error>(())
//! ```

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::Error;
use crate::database::db::{self, sibling};
use crate::database::lock::MigrationLock;
use crate::vocab::verdict::Obstacle;

pub use crate::database::db::regular_file;

/// What a killed process left for SQLite to finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leftover {
    /// A hot rollback journal (`<db>-journal`).
    Journal,
    /// A WAL whose index must be rebuilt (`<db>-wal`, `<db>-shm`).
    Wal,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Leftover::Journal => "the rollback journal a killed process left",
            Leftover::Wal => "the WAL index a killed process left",
        })
    }
}

/// Whether the caller already holds the migration lock of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// Take the lock (waiting up to the timeout) if a recovery must run.
    TakeLock,
    /// The caller holds it (taking it again from this process would wait on itself).
    AlreadyHeld,
}

/// What [`settle`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Settled {
    /// Nothing to finish (or no database yet): read it as it is.
    Clean,
    /// SQLite finished it: the journal rolled back (or the WAL recovered) by a connection of
    /// this process that can write, under the migration lock.
    Recovered {
        /// What was finished.
        leftover: Leftover,
    },
    /// A recovery is due, and this process may not run it; nothing was changed.
    Pending {
        /// What is left.
        leftover: Leftover,
        /// Why this process cannot, and who will.
        reason: String,
    },
}

/// Lets SQLite finish what a killed process left at `db` (see the module docs).
///
/// # Errors
///
/// [`Error::InvalidDatabase`] when `db` is not a regular file; [`Error::LockTimeout`] when the
/// migration lock is not free within `timeout`; [`Error::Unavailable`] when the recovery
/// itself fails (locked by another connection for longer than `timeout`, or refused).
#[tracing::instrument(name = "settle", level = "debug", skip_all, fields(db = %db.display()), err(level = "warn"))]
pub fn settle(db: &Path, timeout: Duration, locking: Locking) -> Result<Settled, Error> {
    if db::regular_file(db)?.is_none() || !leftovers(db) {
        return Ok(Settled::Clean);
    }
    let Some(leftover) = due(db)? else {
        return Ok(Settled::Clean);
    };
    if let Some(reason) = cannot_write(db) {
        tracing::warn!(%leftover, %reason, "a recovery is pending that this user cannot run");
        return Ok(Settled::Pending {
            leftover,
            reason: format!(
                "{leftover} must be rolled back before the database can be read, and {reason}; the next connection that can write rolls it back (the application, or migrate run by a user who can write the file and its directory); nothing was changed"
            ),
        });
    }
    let _lock = match locking {
        Locking::TakeLock => Some(MigrationLock::acquire(db, timeout)?),
        Locking::AlreadyHeld => None,
    };
    // Reading on a connection that can write is what makes SQLite recover.
    let conn = db::open(db, timeout)?;
    if let Err(e) = probe(&conn)
        && crate::vocab::verdict::classify(&e) != crate::vocab::verdict::Stop::Damage
    {
        return Err(unavailable(db, &e, "recovering the database"));
    }
    drop(conn);
    match due(db)? {
        None => {
            tracing::info!(%leftover, "recovered what a killed process left");
            Ok(Settled::Recovered { leftover })
        }
        Some(_) => Err(Error::Unavailable {
            path: db.to_path_buf(),
            obstacle: Obstacle::RecoveryPending,
            reason: format!(
                "{leftover} is still there after SQLite was given the chance to roll it back"
            ),
        }),
    }
}

/// Whether a journal or WAL lies beside `db` at all (a `stat` each; nothing else is looked at
/// when none does).
fn leftovers(db: &Path) -> bool {
    ["-journal", "-wal"]
        .iter()
        .any(|suffix| std::fs::metadata(sibling(db, suffix)).is_ok_and(|m| m.len() > 0))
}

/// Asks SQLite on a read-only connection whether a recovery is due: `None` when it reads the
/// database (a journal that is not hot, a WAL it can use), else what must be finished.
fn due(db: &Path) -> Result<Option<Leftover>, Error> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| unavailable(db, &e, "opening the database"))?;
    // No wait: a connection that holds a lock now has found and rolled back any hot journal
    // already (SQLite's first reader must), so a lock means nothing is left to finish, and the
    // reader that comes next waits for it (and says so) once, not twice.
    db::set_busy_timeout(&conn, Duration::ZERO);
    let Err(e) = probe(&conn) else {
        return Ok(None);
    };
    let rusqlite::Error::SqliteFailure(err, _) = &e else {
        return Ok(None);
    };
    use rusqlite::ffi;
    Ok(match err.extended_code {
        ffi::SQLITE_READONLY_ROLLBACK => Some(Leftover::Journal),
        ffi::SQLITE_READONLY_RECOVERY | ffi::SQLITE_READONLY_CANTINIT | ffi::SQLITE_PROTOCOL => {
            Some(Leftover::Wal)
        }
        // A lock, damage, a permission: the reader's to report; nothing to finish here.
        _ => None,
    })
}

/// A read that makes SQLite take a read lock on the database, which is when it looks for a
/// hot journal or a WAL to recover.
fn probe(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA schema_version", [], |_| Ok(()))
}

/// Why this process cannot roll back, if it cannot: the file or its directory is not writable.
fn cannot_write(db: &Path) -> Option<String> {
    let writable = |p: &Path| rustix::fs::access(p, rustix::fs::Access::WRITE_OK).is_ok();
    let dir = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !writable(db) {
        Some(format!("this user cannot write {}", db.display()))
    } else if !writable(dir) {
        Some(format!(
            "this user cannot write its directory {} (where the journal is removed)",
            dir.display()
        ))
    } else {
        None
    }
}

/// An error reading the database at `db` while `doing` something: what stopped SQLite
/// ([`Error::Unavailable`]: locked, a recovery pending, access) or, for damage and anything
/// else, SQLite's error as it is.
pub fn unreadable(db: &Path, e: rusqlite::Error, doing: &str) -> Error {
    match crate::vocab::verdict::classify(&e) {
        crate::vocab::verdict::Stop::Obstacle(
            Obstacle::Locked | Obstacle::RecoveryPending | Obstacle::AccessDenied,
        ) => unavailable(db, &e, doing),
        _ => Error::Sqlite {
            context: doing.to_owned(),
            source: e,
        },
    }
}

fn unavailable(db: &Path, e: &rusqlite::Error, doing: &str) -> Error {
    let obstacle = match crate::vocab::verdict::classify(e) {
        crate::vocab::verdict::Stop::Obstacle(o) => o,
        crate::vocab::verdict::Stop::Damage => Obstacle::Unknown,
    };
    Error::Unavailable {
        path: db.to_path_buf(),
        obstacle,
        reason: format!(
            "{doing}: {}; {}",
            crate::vocab::verdict::message(e),
            obstacle.explain()
        ),
    }
}

/// [`settle`], then ready to read: a recovery this process may not run is an error.
///
/// # Errors
///
/// As [`settle`], and [`Error::Unavailable`] ([`Obstacle::RecoveryPending`]) when the recovery
/// is pending.
pub fn readable(db: &Path, timeout: Duration, locking: Locking) -> Result<Settled, Error> {
    match settle(db, timeout, locking)? {
        Settled::Pending { reason, .. } => Err(Error::Unavailable {
            path: db.to_path_buf(),
            obstacle: Obstacle::RecoveryPending,
            reason,
        }),
        settled => Ok(settled),
    }
}
