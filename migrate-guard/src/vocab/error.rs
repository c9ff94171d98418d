//! The one error type of this crate.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong, with the file, table or backup it concerns.
///
/// `Debug` prints the same human message as `Display` (each message already carries its
/// cause); match on the variants for the details. The migration engine's own error takes
/// every variant over as one of its own, field for field.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory the tool writes beside the database is not one it can trust: a
    /// symbolic link, not a regular file or directory, owned by another user, or (a backup
    /// directory) writable by others. Nothing was written through it.
    #[error("{}: {reason}; nothing was written there (see docs/security.md)", path.display())]
    UnsafePath {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The database named is not one a run can migrate: a directory, a device or FIFO, a file
    /// (or connection) that cannot be written, a file whose directory does not exist. Nothing
    /// was created or changed.
    #[error("{}: {reason}; nothing was created or changed", path.display())]
    InvalidDatabase {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A write through the connection layer (`crate::connect`) kept finding the database
    /// locked by other writers until its deadline: nothing of it was committed.
    #[error(
        "{} stayed locked by other writers: gave up after {attempts} attempt(s) in {:.1}s; nothing was written",
        path.display(),
        waited.as_secs_f64()
    )]
    Busy {
        /// The database.
        path: PathBuf,
        /// How long the write tried.
        waited: Duration,
        /// How many times it began a transaction.
        attempts: u32,
    },

    /// The connection layer (`crate::connect`) is read-only for now: reads are served,
    /// writes are refused at once until a probe write succeeds. Nothing was written.
    #[error("{} is read-only for now ({reason}); nothing was written", path.display())]
    Degraded {
        /// The database.
        path: PathBuf,
        /// Why writes are refused.
        reason: crate::vocab::degraded::Reason,
    },

    /// SQLite could not be asked: the database is locked by another connection, needs a
    /// recovery this process may not run, cannot be read by this user, is not a database, or
    /// the read failed. Not damage (see [`crate::vocab::verdict::Obstacle`]); nothing was changed.
    #[error("cannot read {}: {obstacle}: {reason}", path.display())]
    Unavailable {
        /// The database.
        path: PathBuf,
        /// What stood in the way.
        obstacle: crate::vocab::verdict::Obstacle,
        /// What was being done, and SQLite's answer or what will clear it.
        reason: String,
    },

    /// There is no database file where a command that reads or copies one was pointed.
    #[error("there is no database at {}", path.display())]
    NoDatabase {
        /// The path given.
        path: PathBuf,
    },

    /// No backup answers to the id given (or, for `latest`, there is none at all), or the id is
    /// not one.
    #[error("{reason}")]
    NoSuchBackup {
        /// The backup directory.
        dir: PathBuf,
        /// The id asked for.
        id: String,
        /// What is wrong, in a sentence.
        reason: String,
    },

    /// No table of that name.
    #[error("there is no table `{table}` in {}", path.display())]
    NoSuchTable {
        /// The database or backup looked in.
        path: PathBuf,
        /// The name asked for.
        table: String,
    },

    /// A file that must not exist yet does (a restore `--to` writes a new file only).
    #[error("{} exists; {reason}", path.display())]
    TargetExists {
        /// The file.
        path: PathBuf,
        /// Why it must not.
        reason: String,
    },

    /// A step of the repair ladder could not do its work (the ladder goes on to the next).
    #[error("{reason}")]
    RepairStep {
        /// What stopped it.
        reason: String,
    },

    /// Something the tool's own invariants rule out (a bug, or a file of the tool's damaged
    /// by hand); nothing further was done.
    #[error("{reason}")]
    Internal {
        /// What happened.
        reason: String,
    },

    /// A `[database]` setting SQLite did not take (it ignores some values without an error);
    /// the connection is not used.
    #[error("database setting {setting} = {asked} did not take: SQLite has {got}")]
    SettingNotApplied {
        /// The setting, as `[database]` names it.
        setting: String,
        /// The value asked for.
        asked: String,
        /// What SQLite reports instead.
        got: String,
    },

    /// The request does not fit the database as it is (a baseline over recorded migrations,
    /// fix-checksums for a file that did not change); nothing was changed.
    #[error("{reason}")]
    InvalidRequest {
        /// Why.
        reason: String,
    },

    /// Another process holds the migration lock.
    #[error("could not lock {} within {:.1}s: held by {holder}", path.display(), waited.as_secs_f64())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
        /// Who holds it, as the holder wrote it (pid, host, start time).
        holder: String,
    },

    /// A backup is missing, unreadable, or does not match its manifest.
    #[error("backup {} is not usable: {reason}", path.display())]
    BackupCorrupt {
        /// The backup file (or manifest).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A table cannot be restored from the backup; nothing was changed.
    #[error("cannot restore table {table}: {reason}")]
    TableRestoreRefused {
        /// The table.
        table: String,
        /// Why.
        reason: String,
    },

    /// SQLite failed outside a migration's own statements.
    #[error("{context}: {source}")]
    Sqlite {
        /// What we were doing.
        context: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// A remote store did not do what was asked, past its client's retries.
    #[error("remote store {url}: {key}: {reason}")]
    Remote {
        /// The store, as addressed (it holds no secret).
        url: String,
        /// The key, relative to the store's prefix (empty when none was involved).
        key: String,
        /// Why.
        reason: String,
    },

    /// An object disagrees with what names it: other bytes at a key this tool was creating
    /// (someone else's object), or bytes that do not hash as expected. Never acted on.
    #[error(
        "remote store {url}: {key} holds {found}, not {expected}; it is left as it is and not used"
    )]
    RemoteMismatch {
        /// The store, as addressed.
        url: String,
        /// The key.
        key: String,
        /// What this tool expected there.
        expected: String,
        /// What is there.
        found: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}{}", path.display(), storage_hint(source))]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Names the likely cause of a write that failed for lack of room.
pub fn storage_hint(e: &std::io::Error) -> &'static str {
    // 27 is EFBIG (a file-size limit), 28 ENOSPC, on Linux and the BSDs.
    if e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(27 | 28)) {
        " (the disk is full, or a file-size limit was reached)"
    } else {
        ""
    }
}

/// Adds context to SQLite errors.
pub(crate) trait SqliteContext<T> {
    fn context(self, context: &str) -> Result<T, Error>;
}

impl<T> SqliteContext<T> for Result<T, rusqlite::Error> {
    fn context(self, context: &str) -> Result<T, Error> {
        self.map_err(|source| Error::Sqlite {
            context: context.to_owned(),
            source,
        })
    }
}
