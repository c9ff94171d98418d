//! The bookkeeping tables in the migrated database.
//!
//! - `_migrate_history`: one row per applied migration, with its checksum and its down script,
//!   so a later build can revert a migration whose file it no longer has.
//! - `_migrate_attempts`: one row per run that had work to do, whatever its outcome, with the
//!   schema fingerprint taken after each successful run (for drift detection).
//!
//! Both are created on first use. Runs with nothing to do are not recorded, so that an app
//! start-up with nothing pending writes nothing.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::Error;
use crate::error::SqliteContext;
use crate::holder::Holder;
use crate::migration::Version;
use crate::plan::{AppliedMigration, Step};
use crate::schema::Fingerprint;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS _migrate_history (
    version     INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    checksum    TEXT    NOT NULL,
    applied_at  TEXT    NOT NULL,
    duration_ms INTEGER NOT NULL,
    down_sql    TEXT,
    attempt_id  INTEGER
);
CREATE TABLE IF NOT EXISTS _migrate_attempts (
    id             INTEGER PRIMARY KEY,
    command        TEXT    NOT NULL,
    started_at     TEXT    NOT NULL,
    finished_at    TEXT,
    outcome        TEXT    NOT NULL,
    from_version   INTEGER,
    to_version     INTEGER,
    versions       TEXT    NOT NULL DEFAULT '',
    error          TEXT,
    duration_ms    INTEGER,
    backup_id      TEXT,
    host           TEXT    NOT NULL,
    pid            INTEGER NOT NULL,
    schema_hash    TEXT,
    schema_version INTEGER
);";

/// Creates both tables if they do not exist.
///
/// # Errors
///
/// [`Error::Sqlite`] when they cannot be created.
pub fn ensure_tables(conn: &Connection) -> Result<(), Error> {
    conn.execute_batch(CREATE)
        .context("creating the _migrate_history and _migrate_attempts tables")
}

/// Whether the bookkeeping tables exist.
///
/// # Errors
///
/// [`Error::Sqlite`] when the schema cannot be read (e.g. the file is not a database).
pub fn exists(conn: &Connection) -> Result<bool, Error> {
    conn.prepare_cached(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '_migrate_attempts'",
    )
    .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
    .map(|n| n > 0)
    .context("reading the database schema")
}

/// Every applied migration, by version.
///
/// # Errors
///
/// [`Error::Sqlite`] when the history cannot be read.
pub fn applied(conn: &Connection) -> Result<Vec<AppliedMigration>, Error> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT version, name, checksum, applied_at, duration_ms, down_sql
             FROM _migrate_history ORDER BY version",
        )
        .context("reading _migrate_history")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(AppliedMigration {
                version: r.get(0)?,
                name: r.get(1)?,
                checksum: r.get(2)?,
                applied_at: r.get(3)?,
                duration_ms: r.get(4)?,
                down_sql: r.get(5)?,
            })
        })
        .context("reading _migrate_history")?;
    rows.collect::<Result<_, _>>()
        .context("reading _migrate_history")
}

/// Records an applied migration.
pub(crate) fn insert_applied(
    conn: &Connection,
    step: &Step,
    applied_at: &str,
    duration_ms: u64,
    attempt_id: Option<i64>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO _migrate_history (version, name, checksum, applied_at, duration_ms, down_sql, attempt_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        step.version,
        step.name,
        step.checksum,
        applied_at,
        duration_ms as i64,
        step.down.as_ref().map(|d| d.sql()),
        attempt_id
    ])?;
    Ok(())
}

/// Forgets a reverted migration.
pub(crate) fn delete_applied(conn: &Connection, version: Version) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM _migrate_history WHERE version = ?1")?
        .execute([version])?;
    Ok(())
}

/// Replaces the recorded checksum (and down script) of an applied migration.
///
/// # Errors
///
/// [`Error::Sqlite`] when the row cannot be updated.
pub fn update_checksum(
    conn: &Connection,
    version: Version,
    checksum: &str,
    down_sql: Option<&str>,
) -> Result<(), Error> {
    conn.execute(
        "UPDATE _migrate_history SET checksum = ?2, down_sql = coalesce(?3, down_sql) WHERE version = ?1",
        params![version, checksum, down_sql],
    )
    .context("updating _migrate_history")?;
    Ok(())
}

/// The schema fingerprint recorded after the last successful run.
///
/// # Errors
///
/// [`Error::Sqlite`] when the attempts cannot be read.
pub fn recorded_fingerprint(conn: &Connection) -> Result<Option<Fingerprint>, Error> {
    conn.prepare_cached(
        "SELECT schema_hash, schema_version FROM _migrate_attempts
         WHERE schema_hash IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row([], |r| {
            Ok(Fingerprint {
                hash: r.get(0)?,
                cookie: r.get(1)?,
            })
        })
        .optional()
    })
    .context("reading _migrate_attempts")
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Under way (or interrupted, if no process holds the lock).
    Running,
    /// Completed.
    Success,
    /// Failed; see its error.
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Success => "success",
            Outcome::Failed => "failed",
        }
    }
}

/// A row of `_migrate_attempts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// Row id.
    pub id: i64,
    /// `up`, `down`, `baseline`, `fix-checksums`.
    pub command: String,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// `running`, `success`, `failed` (or a later state written by newer versions).
    pub outcome: String,
    /// Highest applied version before.
    pub from_version: Option<Version>,
    /// Highest applied version after.
    pub to_version: Option<Version>,
    /// The versions it ran.
    pub versions: Vec<Version>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: Option<i64>,
    /// The backup taken before it, if any.
    pub backup_id: Option<String>,
    /// The host it ran on.
    pub host: String,
    /// Its process id.
    pub pid: i64,
}

/// Records the start of an attempt, committed on its own so that an interrupted run leaves a
/// trace. Returns its id.
pub(crate) fn begin_attempt(
    conn: &Connection,
    command: &str,
    holder: &Holder,
    from_version: Option<Version>,
    versions: &[Version],
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO _migrate_attempts (command, started_at, outcome, from_version, versions, host, pid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        command,
        holder.started_at,
        Outcome::Running.as_str(),
        from_version,
        join(versions),
        holder.host,
        holder.pid
    ])?;
    Ok(conn.last_insert_rowid())
}

/// How an attempt ended, for [`finish_attempt`].
pub(crate) struct AttemptEnd<'a> {
    pub outcome: Outcome,
    pub to_version: Option<Version>,
    pub versions: &'a [Version],
    pub error: Option<&'a str>,
    pub duration_ms: u64,
    pub fingerprint: Option<&'a Fingerprint>,
}

/// Records how an attempt ended.
pub(crate) fn finish_attempt(
    conn: &Connection,
    id: i64,
    end: &AttemptEnd<'_>,
    finished_at: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE _migrate_attempts SET finished_at = ?2, outcome = ?3, to_version = ?4, versions = ?5,
         error = ?6, duration_ms = ?7, schema_hash = ?8, schema_version = ?9 WHERE id = ?1",
    )?
    .execute(params![
        id,
        finished_at,
        end.outcome.as_str(),
        end.to_version,
        join(end.versions),
        end.error,
        end.duration_ms as i64,
        end.fingerprint.map(|f| &f.hash),
        end.fingerprint.map(|f| f.cookie)
    ])?;
    Ok(())
}

/// The most recent attempts, newest first.
///
/// # Errors
///
/// [`Error::Sqlite`] when the attempts cannot be read.
pub fn attempts(conn: &Connection, limit: Option<u32>) -> Result<Vec<Attempt>, Error> {
    let mut stmt = conn
        .prepare(
            "SELECT id, command, started_at, finished_at, outcome, from_version, to_version, versions,
                    error, duration_ms, backup_id, host, pid
             FROM _migrate_attempts ORDER BY id DESC LIMIT ?1",
        )
        .context("reading _migrate_attempts")?;
    let limit = limit.map_or(-1, i64::from);
    let rows = stmt
        .query_map([limit], |r| {
            let versions: String = r.get(7)?;
            Ok(Attempt {
                id: r.get(0)?,
                command: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
                outcome: r.get(4)?,
                from_version: r.get(5)?,
                to_version: r.get(6)?,
                versions: versions
                    .split(',')
                    .filter_map(|v| v.parse().ok())
                    .collect(),
                error: r.get(8)?,
                duration_ms: r.get(9)?,
                backup_id: r.get(10)?,
                host: r.get(11)?,
                pid: r.get(12)?,
            })
        })
        .context("reading _migrate_attempts")?;
    rows.collect::<Result<_, _>>()
        .context("reading _migrate_attempts")
}

/// The most recent attempts recorded in the database file at `db`, newest first; none when the
/// file or the table does not exist. Opens the file read-only.
///
/// # Errors
///
/// [`Error::Sqlite`] when the database cannot be read.
pub fn read_attempts(
    db: &Path,
    limit: Option<u32>,
    busy_timeout: Duration,
) -> Result<Vec<Attempt>, Error> {
    match crate::db::open_read_only(db, busy_timeout)? {
        Some(conn) if exists(&conn)? => attempts(&conn, limit),
        _ => Ok(Vec::new()),
    }
}

fn join(versions: &[Version]) -> String {
    versions
        .iter()
        .map(Version::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
