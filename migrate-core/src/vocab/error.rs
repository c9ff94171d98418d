//! The one error type of this crate.

use std::path::PathBuf;
use std::time::Duration;

use crate::vocab::problem::{PlanError, Problem};
use crate::vocab::report::{DatabaseState, Failure, RunReport};
use crate::vocab::version::Version;

/// Everything that can go wrong, with the file, line or version it concerns.
///
/// `Debug` prints the same human message as `Display` (each message already carries its
/// cause), so that `fn main() -> Result<(), belay_migrate::Error>` and `unwrap()` show what
/// happened and where, not the enum's fields; match on the variants for the details.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The migrations directory could not be read.
    #[error("cannot read migrations directory {}: {source}", path.display())]
    MigrationsDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// An extension could not be loaded, or the application's connection hook failed.
    #[error("preparing the connection: {what}: {reason}")]
    ConnectionSetup {
        /// The extension or hook.
        what: String,
        /// SQLite's or the hook's message.
        reason: String,
    },

    /// The schema differs from what the migrations being recorded make.
    #[error("the schema does not match {against}:\n{}\nnothing was recorded; make the schema match, or accept it as it is after review (force)", differences.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    SchemaMismatch {
        /// Which migrations, e.g. `migrations up to 3`.
        against: String,
        /// Each object that differs.
        differences: Vec<crate::vocab::schema_diff::Difference>,
    },

    /// Another tool's account of what it applied disagrees with the migration files.
    #[error("cannot adopt the database {peer} migrated:\n{}\nnothing was recorded", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    AdoptRefused {
        /// The tool.
        peer: crate::vocab::peer::Peer,
        /// Every disagreement.
        problems: Vec<String>,
    },

    /// The database was migrated by another tool and records nothing of ours yet.
    #[error(
        "this database was migrated by {peer} (its table {table} is here) and has no history of ours: adopt it first, which records what {peer} applied"
    )]
    PeerManaged {
        /// The tool.
        peer: crate::vocab::peer::Peer,
        /// Its bookkeeping table.
        table: &'static str,
    },

    /// The migrations directory holds no migration.
    #[error("no migrations in {}: expected files such as 0001_create_users.up.sql (see docs/migrations.md)", path.display())]
    NoMigrations {
        /// The directory.
        path: PathBuf,
    },

    /// A file that looks like a migration is malformed.
    #[error("invalid migration file {file}: {reason}")]
    InvalidFile {
        /// The file name.
        file: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Two files claim the same version.
    #[error("version {version} is defined twice: by {first} and by {second}")]
    DuplicateVersion {
        /// The version.
        version: Version,
        /// The first file.
        first: String,
        /// The second file.
        second: String,
    },

    /// A `-- migrate:` directive this version does not know.
    #[error("{origin}:{line}: unknown directive `migrate:{directive}` (known: no-transaction)")]
    UnknownDirective {
        /// The file.
        origin: String,
        /// The 1-based line.
        line: usize,
        /// The directive as written.
        directive: String,
    },

    /// The requested target does not fit the database.
    #[error("invalid target: {reason}")]
    InvalidTarget {
        /// Why.
        reason: String,
    },

    /// A migration to revert has no down script, neither on disk nor recorded when applied.
    #[error("migration {version} ({name}) cannot be reverted: it has no down script")]
    Irreversible {
        /// Its version.
        version: Version,
        /// Its name.
        name: String,
    },

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

    /// SQLite could not be asked: the database is locked by another connection, needs a
    /// recovery this process may not run, cannot be read by this user, is not a database, or
    /// the read failed. Not damage (see [`belay_guard::integrity::Obstacle`]); nothing was changed.
    #[error("cannot read {}: {obstacle}: {reason}", path.display())]
    Unavailable {
        /// The database.
        path: PathBuf,
        /// What stood in the way.
        obstacle: belay_guard::integrity::Obstacle,
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

    /// Options asked for together that cannot go together.
    #[error("{reason}")]
    Incompatible {
        /// Which, and why.
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

    /// Validation refused the run; nothing was changed.
    #[error("refused: {}", list(problems))]
    Refused {
        /// Every problem that was not allowed.
        problems: Vec<Problem>,
    },

    /// A write through the connection layer kept finding the database locked by other writers
    /// until its deadline: nothing of it was committed.
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

    /// The connection layer is read-only for now (disk full or low, I/O errors): reads are
    /// served, writes refused until a probe write succeeds. Nothing was written.
    #[error("{} is read-only for now ({reason}); nothing was written", path.display())]
    Degraded {
        /// The database.
        path: PathBuf,
        /// Why writes are refused.
        reason: belay_guard::vocab::degraded::Reason,
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

    /// A migration or its verification failed. The report says what was applied before the
    /// failure and what state the database was left in.
    #[error("{failure}\n{}", report.database)]
    RunFailed {
        /// What failed.
        failure: Box<Failure>,
        /// What the run had done, and the database's state now.
        report: Box<RunReport>,
    },

    /// A run was interrupted part-way (process killed, power lost) after it began changing the
    /// database, and restoring its pre-run backup failed: restore it by hand.
    #[error("an interrupted run ({run}) left the database part-way, and restoring its pre-run backup {backup} from {} failed: {reason}. Restore it by hand", dir.display())]
    RecoveryFailed {
        /// The interrupted run's process, host and start time.
        run: Box<belay_guard::vocab::holder::Holder>,
        /// The backup to restore by hand.
        backup: String,
        /// Where it is.
        dir: PathBuf,
        /// Why the automatic restore failed.
        reason: String,
    },

    /// An interrupted run may have left the database part-way (a no-transaction migration
    /// stopped half done, or a restore cut short), and only its pre-run backup could undo that;
    /// but nothing proves that nobody committed since the run stopped, so nothing is restored.
    #[error("an interrupted run ({run}) stopped while {during}; the database may be part-way at version {}. Its pre-run backup {backup} (in {}) would undo that, but restoring it would also discard anything committed since the run stopped, and nothing proves nobody did: nothing was restored or discarded. Check the database; then either accept losing the later commits and restore the backup by hand, or finish the migration's work by hand and remove {} to let runs continue", crate::vocab::version::version_text(*version), dir.display(), marker.display())]
    RecoveryRefused {
        /// Who ran it.
        run: Box<belay_guard::vocab::holder::Holder>,
        /// What it was doing.
        during: String,
        /// The highest applied version now.
        version: Option<Version>,
        /// The pre-run backup.
        backup: String,
        /// Where the backup is.
        dir: PathBuf,
        /// The run marker left behind.
        marker: PathBuf,
    },

    /// Not enough free disk space for the pre-run backup; nothing was changed.
    #[error("not enough free space in {} for the pre-run backup: {needed} bytes needed (the database's size), {available} available; nothing was changed", dir.display())]
    NoSpace {
        /// The backup directory.
        dir: PathBuf,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },

    /// The pre-flight check found the database damaged; nothing was changed.
    #[error("the database is damaged ({} problem(s) found by quick_check); nothing was changed. First: {}", report.damage, report.findings.first().map(ToString::to_string).unwrap_or_default())]
    Corrupt {
        /// The integrity report.
        report: Box<belay_guard::integrity::Report>,
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

    /// Writing the bookkeeping tables failed (the run itself did not start or was not recorded).
    #[error("{failure}")]
    Bookkeeping {
        /// What failed.
        failure: Box<Failure>,
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

    /// An object disagrees with what names it; never acted on.
    #[error(
        "remote store {url}: {key} holds {found}, not {expected}; it is left as it is and not used"
    )]
    RemoteMismatch {
        /// The store, as addressed.
        url: String,
        /// The key.
        key: String,
        /// What was expected there.
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

impl Error {
    /// The state the database was left in: [`DatabaseState::Unchanged`] for every error except
    /// a run that failed after part of it was committed. An application starting up can tell
    /// from this alone whether it still runs against its old schema version.
    pub fn database_state(&self) -> DatabaseState {
        match self {
            Error::RunFailed { report, .. } => report.database.clone(),
            _ => DatabaseState::Unchanged,
        }
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The safety crate's errors are this crate's, variant for variant: a caller matches one enum
/// whichever layer failed.
impl From<belay_guard::Error> for Error {
    fn from(e: belay_guard::Error) -> Self {
        use belay_guard::Error as G;
        match e {
            G::UnsafePath { path, reason } => Error::UnsafePath { path, reason },
            G::InvalidDatabase { path, reason } => Error::InvalidDatabase { path, reason },
            G::NoDatabase { path } => Error::NoDatabase { path },
            G::NoSuchBackup { dir, id, reason } => Error::NoSuchBackup { dir, id, reason },
            G::NoSuchTable { path, table } => Error::NoSuchTable { path, table },
            G::TargetExists { path, reason } => Error::TargetExists { path, reason },
            G::RepairStep { reason } => Error::RepairStep { reason },
            G::Internal { reason } => Error::Internal { reason },
            G::InvalidRequest { reason } => Error::InvalidRequest { reason },
            G::SettingNotApplied {
                setting,
                asked,
                got,
            } => Error::SettingNotApplied {
                setting,
                asked,
                got,
            },
            G::LockTimeout {
                path,
                waited,
                holder,
            } => Error::LockTimeout {
                path,
                waited,
                holder,
            },
            G::Unavailable {
                path,
                obstacle,
                reason,
            } => Error::Unavailable {
                path,
                obstacle,
                reason,
            },
            G::Busy {
                path,
                waited,
                attempts,
            } => Error::Busy {
                path,
                waited,
                attempts,
            },
            G::Degraded { path, reason } => Error::Degraded { path, reason },
            G::BackupCorrupt { path, reason } => Error::BackupCorrupt { path, reason },
            G::TableRestoreRefused { table, reason } => {
                Error::TableRestoreRefused { table, reason }
            }
            G::Sqlite { context, source } => Error::Sqlite { context, source },
            G::Io { path, source } => Error::Io { path, source },
            G::Remote { url, key, reason } => Error::Remote { url, key, reason },
            G::RemoteMismatch {
                url,
                key,
                expected,
                found,
            } => Error::RemoteMismatch {
                url,
                key,
                expected,
                found,
            },
            // The safety crate's error is non-exhaustive: a variant of a later version is said
            // as it is.
            other => Error::Internal {
                reason: other.to_string(),
            },
        }
    }
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Refused(problems) => Error::Refused { problems },
            PlanError::InvalidTarget(reason) => Error::InvalidTarget { reason },
            PlanError::Irreversible { version, name } => Error::Irreversible { version, name },
        }
    }
}

/// Names the likely cause of a write that failed for lack of room.
fn storage_hint(e: &std::io::Error) -> &'static str {
    // 27 is EFBIG (a file-size limit), 28 ENOSPC, on Linux and the BSDs.
    if e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(27 | 28)) {
        " (the disk is full, or a file-size limit was reached)"
    } else {
        ""
    }
}

fn list(problems: &[Problem]) -> String {
    match problems {
        [one] => one.to_string(),
        many => many
            .iter()
            .map(|p| format!("\n  - {p}"))
            .collect::<String>(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_the_human_message() {
        let e = Error::InvalidTarget {
            reason: "there is no migration with version 99".to_owned(),
        };
        assert_eq!(format!("{e:?}"), e.to_string());
        assert_eq!(
            format!("{e:?}"),
            "invalid target: there is no migration with version 99"
        );
    }

    #[test]
    fn the_connection_layers_errors_come_over_field_for_field() {
        let busy = belay_guard::Error::Busy {
            path: PathBuf::from("app.db"),
            waited: Duration::from_millis(1500),
            attempts: 7,
        };
        let text = busy.to_string();
        let e = Error::from(busy);
        assert!(matches!(e, Error::Busy { attempts: 7, .. }));
        assert_eq!(e.to_string(), text);
        let reason = belay_guard::vocab::degraded::Reason::DiskLow {
            free: 1,
            threshold: 2,
        };
        let degraded = belay_guard::Error::Degraded {
            path: PathBuf::from("app.db"),
            reason: reason.clone(),
        };
        let text = degraded.to_string();
        let e = Error::from(degraded);
        assert!(matches!(e, Error::Degraded { reason: ref r, .. } if *r == reason));
        assert_eq!(e.to_string(), text);
    }
}
