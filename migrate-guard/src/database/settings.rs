//! The connection settings an application's database runs with (`[database]` in migrate.toml):
//! applied to a connection, then read back, because SQLite ignores some values without a word
//! (a `foreign_keys` inside a transaction, an `mmap_size` above its compile-time limit, a
//! journal mode another connection's locks prevent). A value that did not take is an error
//! naming it. Values are in SQLite's own units, as its pragmas take them.
//!
//! `journal_mode` is the database's, not the connection's: it persists in the file, so it is
//! changed only by [`apply_journal_mode`], which takes the migration lock's guard as proof that
//! no run is under way.

use std::fmt;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::lock::MigrationLock;
use crate::Error;

/// `[database]`: every setting optional; what is not set is left as SQLite has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The database's journal mode (persistent; changed under the migration lock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_mode: Option<JournalMode>,
    /// How often SQLite waits for the disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synchronous: Option<Synchronous>,
    /// Milliseconds a connection waits for a lock before `SQLITE_BUSY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_timeout: Option<u32>,
    /// WAL pages after which a commit checkpoints (0: never by itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_autocheckpoint: Option<u32>,
    /// Bytes a WAL or journal is truncated to after a checkpoint or transaction (-1: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_size_limit: Option<i64>,
    /// Whether foreign keys are enforced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign_keys: Option<Switch>,
    /// The page cache: pages when positive, KiB when negative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_size: Option<i64>,
    /// Bytes of the file read through a memory map (0: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mmap_size: Option<u64>,
}

/// SQLite's journal modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalMode {
    /// A rollback journal deleted at each commit (SQLite's default).
    Delete,
    /// A rollback journal truncated at each commit.
    Truncate,
    /// A rollback journal whose header is zeroed at each commit.
    Persist,
    /// A rollback journal in memory (a crash mid-transaction can corrupt the file).
    Memory,
    /// Write-ahead log.
    Wal,
    /// No journal (a crash mid-transaction can corrupt the file).
    Off,
}

impl JournalMode {
    /// As SQLite names it (and answers `PRAGMA journal_mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            JournalMode::Delete => "delete",
            JournalMode::Truncate => "truncate",
            JournalMode::Persist => "persist",
            JournalMode::Memory => "memory",
            JournalMode::Wal => "wal",
            JournalMode::Off => "off",
        }
    }
}

/// `PRAGMA synchronous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Never waits for the disk.
    Off,
    /// Waits at checkpoints (in WAL mode, durable against a crash of the process, not of power).
    Normal,
    /// Waits at every commit (SQLite's default).
    Full,
    /// As `Full`, and for the directory of a deleted journal too.
    Extra,
}

impl Synchronous {
    /// The number SQLite answers for it.
    fn level(self) -> i64 {
        match self {
            Synchronous::Off => 0,
            Synchronous::Normal => 1,
            Synchronous::Full => 2,
            Synchronous::Extra => 3,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Synchronous::Off => "off",
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
            Synchronous::Extra => "extra",
        }
    }
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// The settings a connection has, read back from SQLite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InForce {
    /// The database's journal mode.
    pub journal_mode: String,
    /// `PRAGMA synchronous` (0 off, 1 normal, 2 full, 3 extra).
    pub synchronous: i64,
    /// Milliseconds.
    pub busy_timeout: i64,
    /// Pages.
    pub wal_autocheckpoint: i64,
    /// Bytes (-1: no limit).
    pub journal_size_limit: i64,
    /// 1 when enforced.
    pub foreign_keys: i64,
    /// Pages, or KiB when negative.
    pub cache_size: i64,
    /// Bytes.
    pub mmap_size: i64,
}

/// Reads every setting of `conn` as SQLite reports it.
///
/// # Errors
///
/// [`Error::Sqlite`] when a pragma cannot be read.
pub fn in_force(conn: &Connection) -> Result<InForce, Error> {
    // An in-memory database answers no row for `mmap_size`: it maps nothing.
    let read = |pragma: &str| -> Result<i64, Error> {
        use rusqlite::OptionalExtension;
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
            .optional()
            .map(|value| value.unwrap_or(0))
            .map_err(|source| Error::Sqlite {
                context: format!("reading PRAGMA {pragma}"),
                source,
            })
    };
    Ok(InForce {
        journal_mode: conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|source| Error::Sqlite {
                context: "reading PRAGMA journal_mode".to_owned(),
                source,
            })?,
        synchronous: read("synchronous")?,
        busy_timeout: read("busy_timeout")?,
        wal_autocheckpoint: read("wal_autocheckpoint")?,
        journal_size_limit: read("journal_size_limit")?,
        foreign_keys: read("foreign_keys")?,
        cache_size: read("cache_size")?,
        mmap_size: read("mmap_size")?,
    })
}

/// Which settings [`apply`] leaves alone, for a connection that manages them itself (a
/// migration run: its busy timeout is the lock timeout, and it turns foreign-key enforcement
/// off around its transaction and checks the keys before COMMIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every per-connection setting.
    Every,
    /// All but `busy_timeout` and `foreign_keys`.
    LeavingLocksAndKeys,
}

/// Applies the per-connection settings of `settings` (all but `journal_mode`) to `conn` and
/// reads each back.
///
/// # Errors
///
/// [`Error::SettingNotApplied`] naming the first setting SQLite did not take, with what was
/// asked and what it has; [`Error::Sqlite`] when a pragma fails.
pub fn apply(conn: &Connection, settings: &Settings, scope: Scope) -> Result<(), Error> {
    let every = scope == Scope::Every;
    let mut asked: Vec<(&'static str, String, i64)> = Vec::new();
    // The busy timeout first: the first statement on a new connection reads the schema, which
    // waits for a checkpoint or a WAL recovery in another process like any read.
    if let (Some(ms), true) = (settings.busy_timeout, every) {
        asked.push(("busy_timeout", ms.to_string(), i64::from(ms)));
    }
    if let Some(s) = settings.synchronous {
        asked.push(("synchronous", s.as_str().to_owned(), s.level()));
    }
    if let Some(pages) = settings.wal_autocheckpoint {
        asked.push(("wal_autocheckpoint", pages.to_string(), i64::from(pages)));
    }
    if let Some(bytes) = settings.journal_size_limit {
        asked.push(("journal_size_limit", bytes.to_string(), bytes));
    }
    if let (Some(switch), true) = (settings.foreign_keys, every) {
        let on = i64::from(switch == Switch::On);
        asked.push(("foreign_keys", on.to_string(), on));
    }
    if let Some(size) = settings.cache_size {
        asked.push(("cache_size", size.to_string(), size));
    }
    if let Some(bytes) = settings.mmap_size {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        asked.push(("mmap_size", bytes.to_string(), bytes));
    }
    if asked.is_empty() {
        return Ok(());
    }
    for (name, text, value) in &asked {
        // `PRAGMA x = v` may answer a row (mmap_size, busy_timeout do): read it and move on.
        let sql = format!("PRAGMA {name} = {value}");
        let mut statement = conn.prepare(&sql).map_err(|source| Error::Sqlite {
            context: format!("setting {name} = {text}"),
            source,
        })?;
        let mut rows = statement.query([]).map_err(|source| Error::Sqlite {
            context: format!("setting {name} = {text}"),
            source,
        })?;
        while rows
            .next()
            .map_err(|source| Error::Sqlite {
                context: format!("setting {name} = {text}"),
                source,
            })?
            .is_some()
        {}
    }
    let have = in_force(conn)?;
    for (name, text, value) in asked {
        let got = match name {
            "synchronous" => have.synchronous,
            "busy_timeout" => have.busy_timeout,
            "wal_autocheckpoint" => have.wal_autocheckpoint,
            "journal_size_limit" => have.journal_size_limit,
            "foreign_keys" => have.foreign_keys,
            "cache_size" => have.cache_size,
            _ => have.mmap_size,
        };
        if got != value {
            return Err(Error::SettingNotApplied {
                setting: name.to_owned(),
                asked: text,
                got: got.to_string(),
            });
        }
    }
    Ok(())
}

/// Sets the database's journal mode, under the migration lock (`_held` proves it is held: a
/// run cannot be under way). Leaving WAL needs every other connection closed; entering it, no
/// other connection in a transaction: SQLite answers the mode it kept, and that is the error.
///
/// # Errors
///
/// [`Error::SettingNotApplied`] when the mode did not change; [`Error::Sqlite`] when SQLite
/// refused the statement.
pub fn apply_journal_mode(
    conn: &Connection,
    mode: JournalMode,
    _held: &MigrationLock,
) -> Result<(), Error> {
    let got: String = conn
        .query_row(
            &format!("PRAGMA journal_mode = {}", mode.as_str()),
            [],
            |r| r.get(0),
        )
        .map_err(|source| Error::Sqlite {
            context: format!("setting journal_mode = {}", mode.as_str()),
            source,
        })?;
    if got.eq_ignore_ascii_case(mode.as_str()) {
        Ok(())
    } else {
        Err(Error::SettingNotApplied {
            setting: "journal_mode".to_owned(),
            asked: mode.as_str().to_owned(),
            got,
        })
    }
}

impl fmt::Display for JournalMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
