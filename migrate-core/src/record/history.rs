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

use crate::planning::plan::{AppliedMigration, Step};
use crate::read::migration::Version;
use crate::record::schema::Fingerprint;
use crate::vocab::error::Error;
use crate::vocab::error::SqliteContext;
use crate::vocab::schema_diff::Objects;
use belay_guard::vocab::holder::Holder;

/// Creates both tables if they do not exist.
pub(crate) const CREATE: &str = "
CREATE TABLE IF NOT EXISTS _migrate_history (
    version     INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    checksum    TEXT    NOT NULL,
    applied_at  TEXT    NOT NULL,
    duration_ms INTEGER NOT NULL,
    down_sql    TEXT
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
    schema_version INTEGER,
    schema_objects TEXT
);";

/// Creates both tables if they do not exist, and adds to `_migrate_attempts` a column an
/// earlier version did not write (`schema_objects`).
pub(crate) fn prepare_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CREATE)?;
    if !has_objects_column(conn) {
        conn.execute_batch("ALTER TABLE _migrate_attempts ADD COLUMN schema_objects TEXT")?;
    }
    Ok(())
}

/// Whether the bookkeeping tables exist.
///
/// Preparing a statement against the table answers from SQLite's in-memory schema; scanning
/// `sqlite_schema` would cost a read of every schema row on each start-up.
///
/// # Errors
///
/// [`Error::Sqlite`] when the schema cannot be read (e.g. the file is not a database).
pub fn exists(conn: &Connection) -> Result<bool, Error> {
    match conn.prepare_cached("SELECT 1 FROM _migrate_attempts LIMIT 0") {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(_, Some(message)))
            if message.starts_with("no such table") =>
        {
            Ok(false)
        }
        Err(source) => Err(Error::Sqlite {
            context: "reading the database schema".to_owned(),
            source,
        }),
    }
}

/// The highest applied version, read on `conn` (a backup's snapshot records it in its
/// manifest); `None` before the first migration, or where no history exists.
///
/// # Errors
///
/// SQLite's error when the history cannot be read.
pub fn current_version(conn: &Connection) -> rusqlite::Result<Option<Version>> {
    match conn.prepare_cached("SELECT max(version) FROM _migrate_history") {
        Ok(mut stmt) => stmt.query_row([], |r| r.get(0)),
        Err(rusqlite::Error::SqliteFailure(_, Some(message)))
            if message.starts_with("no such table") =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Whether to read the recorded down scripts with the history (only reverting needs them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownScripts {
    /// Leave them out.
    Skip,
    /// Read them.
    Load,
}

/// Every applied migration, by version.
///
/// # Errors
///
/// [`Error::Sqlite`] when the history cannot be read.
pub fn applied(conn: &Connection, down: DownScripts) -> Result<Vec<AppliedMigration>, Error> {
    let sql = match down {
        DownScripts::Load => {
            "SELECT version, name, checksum, applied_at, duration_ms, down_sql
             FROM _migrate_history ORDER BY version"
        }
        DownScripts::Skip => {
            "SELECT version, name, checksum, applied_at, duration_ms, NULL
             FROM _migrate_history ORDER BY version"
        }
    };
    let mut stmt = conn
        .prepare_cached(sql)
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
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO _migrate_history (version, name, checksum, applied_at, duration_ms, down_sql)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        step.version,
        step.name,
        step.checksum,
        applied_at,
        duration_ms as i64,
        step.down.as_ref().map(|d| d.sql())
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
pub(crate) fn update_checksum(
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
pub(crate) fn recorded_fingerprint(conn: &Connection) -> Result<Option<Fingerprint>, Error> {
    // Only the hash and the cookie: start-up reads this every time, and parsing the recorded
    // objects would cost as much as the schema is large. `recorded_objects` reads them, when
    // drift needs naming.
    conn.prepare_cached(
        "SELECT schema_hash, schema_version FROM _migrate_attempts
         WHERE schema_hash IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row([], |r| {
            Ok(Fingerprint {
                hash: r.get(0)?,
                cookie: r.get(1)?,
                objects: None,
            })
        })
        .optional()
    })
    .context("reading _migrate_attempts")
}

/// Whether `_migrate_attempts` has the `schema_objects` column (tables an earlier version
/// created do not, until `prepare_tables` adds it).
fn has_objects_column(conn: &Connection) -> bool {
    conn.prepare_cached("SELECT schema_objects FROM _migrate_attempts LIMIT 0")
        .is_ok()
}

/// The objects recorded with the last fingerprint; `None` when that row predates recording
/// them (or its value cannot be read).
pub(crate) fn recorded_objects(conn: &Connection) -> Result<Option<Objects>, Error> {
    if !has_objects_column(conn) {
        return Ok(None);
    }
    let json: Option<Option<String>> = conn
        .prepare_cached(
            "SELECT schema_objects FROM _migrate_attempts
             WHERE schema_hash IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .context("reading _migrate_attempts")?;
    Ok(json.flatten().and_then(|j| objects_from_json(&j)))
}

/// The objects as `schema_objects` holds them: a JSON array of `[type, name, definition]`.
fn objects_json(objects: &Objects) -> String {
    let rows: Vec<(&str, &str, &str)> = objects
        .iter()
        .map(|((kind, name), sql)| (kind.as_str(), name.as_str(), sql.as_str()))
        .collect();
    serde_json::to_string(&rows).expect("strings serialize")
}

/// [`objects_json`] read back; `None` for anything else (a damaged value names nothing).
fn objects_from_json(json: &str) -> Option<Objects> {
    let rows: Vec<(String, String, String)> = serde_json::from_str(json).ok()?;
    Some(
        rows.into_iter()
            .map(|(kind, name, sql)| ((kind, name), sql))
            .collect(),
    )
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
    /// The process stopped part-way (killed, power lost); recorded by the next run.
    Interrupted,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Success => "success",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// A row of `_migrate_attempts` as read back (for `history`): command and outcome as text,
/// so that rows written by newer versions still read. (`AttemptRecord` is the row as written;
/// `attempt::Attempt` the recorder that writes it.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRow {
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
    /// From the attempt's start (before the lock) to its record: for a success, the row is
    /// written inside the run's last transaction, so this ends just before that COMMIT (the
    /// run's report, [`crate::vocab::report::RunReport::duration_ms`], also counts the COMMIT, rotation and
    /// the audit line).
    pub duration_ms: Option<i64>,
    /// The backup taken before it, if any.
    pub backup_id: Option<String>,
    /// The host it ran on.
    pub host: String,
    /// Its process id.
    pub pid: i64,
}

/// An attempt as written to `_migrate_attempts`.
#[derive(Debug, Clone)]
pub(crate) struct AttemptRecord {
    /// The row id, once written.
    pub id: Option<i64>,
    pub command: crate::vocab::command::Command,
    pub holder: Holder,
    pub finished_at: Option<String>,
    pub outcome: Outcome,
    pub from_version: Option<Version>,
    pub to_version: Option<Version>,
    pub versions: Vec<Version>,
    pub error: Option<String>,
    pub duration_ms: Option<u64>,
    pub backup_id: Option<String>,
    pub fingerprint: Option<Fingerprint>,
}

/// Writes an attempt, inserting it or replacing the row with its id (a row written inside a
/// transaction that rolled back is simply written again). Returns its id.
pub(crate) fn record_attempt(conn: &Connection, a: &AttemptRecord) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO _migrate_attempts (id, command, started_at, finished_at, outcome, from_version,
             to_version, versions, error, duration_ms, host, pid, schema_hash, schema_version,
             backup_id, schema_objects)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at,
             outcome = excluded.outcome, to_version = excluded.to_version,
             versions = excluded.versions, error = excluded.error,
             duration_ms = excluded.duration_ms, schema_hash = excluded.schema_hash,
             schema_version = excluded.schema_version, backup_id = excluded.backup_id,
             schema_objects = excluded.schema_objects",
    )?
    .execute(params![
        a.id,
        a.command.as_str(),
        a.holder.started_at,
        a.finished_at,
        a.outcome.as_str(),
        a.from_version,
        a.to_version,
        join(&a.versions),
        a.error,
        a.duration_ms.map(|d| d as i64),
        a.holder.host,
        a.holder.pid,
        a.fingerprint.as_ref().map(|f| &f.hash),
        a.fingerprint.as_ref().map(|f| f.cookie),
        a.backup_id,
        a.fingerprint
            .as_ref()
            .and_then(|f| f.objects.as_ref())
            .map(objects_json)
    ])?;
    Ok(a.id.unwrap_or_else(|| conn.last_insert_rowid()))
}

/// The most recent attempts, newest first.
///
/// # Errors
///
/// [`Error::Sqlite`] when the attempts cannot be read.
pub fn attempts(conn: &Connection, limit: Option<u32>) -> Result<Vec<AttemptRow>, Error> {
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
            Ok(AttemptRow {
                id: r.get(0)?,
                command: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
                outcome: r.get(4)?,
                from_version: r.get(5)?,
                to_version: r.get(6)?,
                versions: versions.split(',').filter_map(|v| v.parse().ok()).collect(),
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
) -> Result<Vec<AttemptRow>, Error> {
    let Some(conn) = belay_guard::database::db::open_read_only(db, busy_timeout)? else {
        return Ok(Vec::new());
    };
    let read = || match exists(&conn)? {
        true => attempts(&conn, limit),
        false => Ok(Vec::new()),
    };
    read().map_err(|e| match e {
        // A lock or a pending recovery is said as such, never as a failed read.
        Error::Sqlite { context, source } => {
            belay_guard::database::settle::unreadable(db, source, &context).into()
        }
        other => other,
    })
}

fn join(versions: &[Version]) -> String {
    versions
        .iter()
        .map(Version::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `_migrate_attempts` an earlier version created has no `schema_objects`: its last
    /// fingerprint reads without objects (drift then is "not known which"), and the next
    /// recording adds the column.
    #[test]
    fn tables_of_an_earlier_version_read_and_gain_the_objects_column() {
        let conn = Connection::open_in_memory().unwrap();
        let old = CREATE.replace(",\n    schema_objects TEXT", "");
        conn.execute_batch(&old).unwrap();
        conn.execute(
            "INSERT INTO _migrate_attempts (command, started_at, outcome, host, pid, schema_hash, schema_version)
             VALUES ('up', 'now', 'success', 'h', 1, 'abc', 7)",
            [],
        )
        .unwrap();
        let recorded = recorded_fingerprint(&conn).unwrap().unwrap();
        assert_eq!((recorded.hash.as_str(), recorded.cookie), ("abc", 7));
        assert_eq!(recorded_objects(&conn).unwrap(), None);
        prepare_tables(&conn).unwrap();
        prepare_tables(&conn).unwrap();
        let objects = Objects::from([(
            ("table".to_owned(), "t".to_owned()),
            "CREATE TABLE t (x)".to_owned(),
        )]);
        assert_eq!(objects_from_json(&objects_json(&objects)), Some(objects));
        assert!(
            conn.prepare("SELECT schema_objects FROM _migrate_attempts")
                .is_ok()
        );
    }
}
