//! What a check can say: [`Verdict`] (ok, damaged, could not check) and, when SQLite gave no
//! answer, the [`Obstacle`] that stopped it; and SQLite's errors read into them by their
//! extended result codes ([`classify`]), never by their text.

use serde::Serialize;

/// What a check can say of the file: three answers, never two. Callers branch on this, never
/// on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// SQLite answered exactly `ok` to every check it ran.
    Ok,
    /// SQLite called the bytes damaged: its check listed problems, or it stopped with
    /// `SQLITE_CORRUPT` (or `SQLITE_NOTADB` on a file that starts as a database).
    Damaged,
    /// SQLite gave no verdict: the database was locked, needs a recovery this connection may
    /// not run, could not be read, or the check ran out of time. Not ok, and not damaged: see
    /// [`Report::obstacle`].
    CouldNotCheck,
}

/// Why a check (or a read) got no answer from SQLite. Read from SQLite's extended result code,
/// never from its message; a code not listed here is [`Obstacle::Unknown`], never "ok".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Obstacle {
    /// Another connection holds a lock the check needs (`SQLITE_BUSY`, `SQLITE_LOCKED`): a
    /// long write, or an application holding the file with `locking_mode=EXCLUSIVE`.
    Locked,
    /// A killed process left a journal to roll back, or a WAL whose index must be rebuilt,
    /// and this connection may not write (`SQLITE_READONLY_ROLLBACK`,
    /// `SQLITE_READONLY_RECOVERY`, `SQLITE_READONLY_CANTINIT`, `SQLITE_BUSY_RECOVERY`, and
    /// `SQLITE_PROTOCOL`: a WAL index a read-only connection cannot make consistent): the next
    /// connection that can write the database does it.
    RecoveryPending,
    /// The file, its journal or its shared-memory file cannot be opened or written for lack of
    /// permission (`SQLITE_CANTOPEN`, `SQLITE_PERM`, `SQLITE_READONLY_*`).
    AccessDenied,
    /// The file is not a SQLite database: it does not start with SQLite's header string.
    NotADatabase,
    /// The check ran past its time budget and was interrupted (`SQLITE_INTERRUPT`).
    TimedOut,
    /// The operating system failed a read (`SQLITE_IOERR`): a bad disk, a file removed
    /// under SQLite, a network file system gone.
    Io,
    /// An answer this version does not classify (out of memory, a misuse, a new code).
    Unknown,
}

impl Obstacle {
    /// What stands in the way, and what would clear it, in a sentence.
    pub fn explain(self) -> &'static str {
        match self {
            Obstacle::Locked => {
                "another connection holds the database locked (a long write, or an application using locking_mode=EXCLUSIVE); try again when it lets go"
            }
            Obstacle::RecoveryPending => {
                "a process that was killed left a journal (or WAL) that SQLite must roll back first, and this connection may not write the database or its directory; the next connection that can write rolls it back (the application, or migrate run by a user who can write the file and its directory)"
            }
            Obstacle::AccessDenied => {
                "the database, its journal or its -shm file cannot be opened or written by this user; check the permissions of the file and its directory"
            }
            Obstacle::NotADatabase => "the file does not start with SQLite's header string",
            Obstacle::TimedOut => "the check ran past its time budget and was stopped",
            Obstacle::Io => {
                "the operating system failed a read (a bad disk, or the file removed or unmounted)"
            }
            Obstacle::Unknown => "SQLite gave an answer this version does not classify",
        }
    }
}

impl std::fmt::Display for Obstacle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Obstacle::Locked => "locked",
            Obstacle::RecoveryPending => "recovery pending",
            Obstacle::AccessDenied => "access denied",
            Obstacle::NotADatabase => "not a database",
            Obstacle::TimedOut => "timed out",
            Obstacle::Io => "I/O error",
            Obstacle::Unknown => "no answer",
        })
    }
}

/// SQLite's own message for an error (without rusqlite's wrapping), with its extended result
/// code when that says more than the message (`attempt to write a readonly database` is the
/// text of every `SQLITE_READONLY_*`).
pub fn message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(err, Some(m)) if err.extended_code > 0xff => {
            format!("{m} (code {})", err.extended_code)
        }
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        other => other.to_string(),
    }
}

/// What an error that stopped a read says: damage (SQLite called the bytes damaged), or what
/// kept SQLite from answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `SQLITE_CORRUPT` or `SQLITE_NOTADB` (the check refuses a file without SQLite's header
    /// string before it asks SQLite anything, so `SQLITE_NOTADB` here is a damaged header).
    Damage,
    /// No answer, and why.
    Obstacle(Obstacle),
}

/// Reads an error by its extended result code, never by its text. Anything not listed is
/// [`Obstacle::Unknown`]: not ok, and not damage.
pub fn classify(e: &rusqlite::Error) -> Stop {
    use rusqlite::ffi;
    let rusqlite::Error::SqliteFailure(err, _) = e else {
        return Stop::Obstacle(Obstacle::Unknown);
    };
    let obstacle = match err.extended_code {
        ffi::SQLITE_READONLY_ROLLBACK
        | ffi::SQLITE_READONLY_RECOVERY
        | ffi::SQLITE_READONLY_CANTINIT
        | ffi::SQLITE_BUSY_RECOVERY => Obstacle::RecoveryPending,
        code => match code & 0xff {
            ffi::SQLITE_CORRUPT | ffi::SQLITE_NOTADB => return Stop::Damage,
            // A read-only connection that cannot get a consistent WAL index: the index a
            // killed writer left must be rebuilt, which takes a connection that can write.
            ffi::SQLITE_PROTOCOL => Obstacle::RecoveryPending,
            ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED => Obstacle::Locked,
            ffi::SQLITE_READONLY | ffi::SQLITE_CANTOPEN | ffi::SQLITE_PERM | ffi::SQLITE_AUTH => {
                Obstacle::AccessDenied
            }
            ffi::SQLITE_INTERRUPT => Obstacle::TimedOut,
            ffi::SQLITE_IOERR => Obstacle::Io,
            _ => Obstacle::Unknown,
        },
    };
    Stop::Obstacle(obstacle)
}
