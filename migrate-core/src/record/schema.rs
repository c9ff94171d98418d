//! The schema fingerprint: SHA-256 over the definitions of every table, index, view and
//! trigger except SQLite's own and this crate's bookkeeping tables. Recorded after each run, it
//! reveals schema changes made outside migrations (drift).
//!
//! SQLite's schema cookie (`PRAGMA schema_version`) changes with every schema change, so when
//! the cookie recorded with the fingerprint still matches, the fingerprint cannot have changed
//! and is not recomputed: the check costs one pragma on the common path.

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::vocab::error::Error;
use crate::vocab::error::SqliteContext;
use crate::vocab::peer::BOOKKEEPING;
use crate::vocab::schema_diff::Objects;
use belay_guard::vocab::hex::hex;

/// A fingerprint with the schema cookie it was taken at, and the objects it was taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// SHA-256 (hex) of the schema definitions.
    pub hash: String,
    /// `PRAGMA schema_version` when it was taken.
    pub cookie: i64,
    /// Each object's definition, so that drift can name what changed; `None` for a row
    /// written before they were recorded.
    pub objects: Option<Objects>,
}

/// The schema cookie.
///
/// # Errors
///
/// [`Error::Sqlite`] when the pragma fails (not a database, locked).
pub fn cookie(conn: &Connection) -> Result<i64, Error> {
    conn.query_row("PRAGMA schema_version", [], |r| r.get(0))
        .context("reading the schema version")
}

/// Fingerprints the schema now.
///
/// # Errors
///
/// [`Error::Sqlite`] when the schema cannot be read.
pub fn fingerprint(conn: &Connection) -> Result<Fingerprint, Error> {
    let cookie = cookie(conn)?;
    let mut hasher = Sha256::new();
    let mut objects = Objects::new();
    for row in rows(conn)? {
        for value in [&row.kind, &row.name, &row.table, &row.sql] {
            hasher.update(value.as_bytes());
            hasher.update([0u8]);
        }
        hasher.update(b"\n");
        objects.insert((row.kind, row.name), collapse(&row.sql));
    }
    Ok(Fingerprint {
        hash: hex(&hasher.finalize()),
        cookie,
        objects: Some(objects),
    })
}

/// One row of `sqlite_schema`.
struct Row {
    kind: String,
    name: String,
    table: String,
    sql: String,
}

/// Every object but SQLite's own and this crate's bookkeeping, by type and name.
fn rows(conn: &Connection) -> Result<Vec<Row>, Error> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM main.sqlite_schema \
             WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
               AND name NOT LIKE '\\_migrate\\_%' ESCAPE '\\' \
             ORDER BY type, name",
        )
        .context("reading the schema")?;
    stmt.query_map([], |r| {
        Ok(Row {
            kind: r.get(0)?,
            name: r.get(1)?,
            table: r.get(2)?,
            sql: r.get(3)?,
        })
    })
    .context("reading the schema")?
    .collect::<Result<_, _>>()
    .context("reading the schema")
}

/// A definition with each run of whitespace as one space.
fn collapse(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The objects a drift is named with: as [`fingerprint`] sees them.
///
/// # Errors
///
/// [`Error::Sqlite`] when the schema cannot be read.
pub(crate) fn all_objects(conn: &Connection) -> Result<Objects, Error> {
    Ok(rows(conn)?
        .into_iter()
        .map(|r| ((r.kind, r.name), collapse(&r.sql)))
        .collect())
}

/// The current fingerprint hash, reusing `recorded` when the cookie shows nothing changed.
///
/// # Errors
///
/// [`Error::Sqlite`] when the schema cannot be read.
pub fn current_hash(conn: &Connection, recorded: Option<&Fingerprint>) -> Result<String, Error> {
    if let Some(recorded) = recorded
        && cookie(conn)? == recorded.cookie
    {
        return Ok(recorded.hash.clone());
    }
    Ok(fingerprint(conn)?.hash)
}

/// The application's objects (every tool's bookkeeping left out too: a peer's table and its
/// indexes, such as golang-migrate's `version_unique`), for comparing with what migrations
/// make.
///
/// # Errors
///
/// [`Error::Sqlite`] when the schema cannot be read.
pub(crate) fn objects(conn: &Connection) -> Result<Objects, Error> {
    Ok(rows(conn)?
        .into_iter()
        .filter(|r| !BOOKKEEPING.contains(&r.table.as_str()))
        .map(|r| ((r.kind, r.name), collapse(&r.sql)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_bookkeeping_tables_and_sees_user_changes() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY);")
            .unwrap();
        let before = fingerprint(&conn).unwrap();
        conn.execute_batch("CREATE TABLE _migrate_history (version INTEGER);")
            .unwrap();
        let with_history = fingerprint(&conn).unwrap();
        assert_eq!(before.hash, with_history.hash);
        assert_ne!(before.cookie, with_history.cookie);
        conn.execute_batch("CREATE INDEX users_id ON users (id);")
            .unwrap();
        assert_ne!(fingerprint(&conn).unwrap().hash, before.hash);
    }

    #[test]
    fn cookie_shortcut_recomputes_after_a_change() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE a (x);").unwrap();
        let recorded = fingerprint(&conn).unwrap();
        assert_eq!(current_hash(&conn, Some(&recorded)).unwrap(), recorded.hash);
        conn.execute_batch("ALTER TABLE a ADD COLUMN y;").unwrap();
        assert_ne!(current_hash(&conn, Some(&recorded)).unwrap(), recorded.hash);
    }
}
