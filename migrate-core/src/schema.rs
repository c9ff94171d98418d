//! The schema fingerprint: SHA-256 over the definitions of every table, index, view and
//! trigger except SQLite's own and this crate's bookkeeping tables. Recorded after each run, it
//! reveals schema changes made outside migrations (drift).
//!
//! SQLite's schema cookie (`PRAGMA schema_version`) changes with every schema change, so when
//! the cookie recorded with the fingerprint still matches, the fingerprint cannot have changed
//! and is not recomputed: the check costs one pragma on the common path.

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::checksum::hex;
use crate::error::SqliteContext;
use crate::peer::BOOKKEEPING;

/// A fingerprint with the schema cookie it was taken at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// SHA-256 (hex) of the schema definitions.
    pub hash: String,
    /// `PRAGMA schema_version` when it was taken.
    pub cookie: i64,
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
    let mut stmt = conn
        .prepare_cached(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema \
             WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
               AND name NOT LIKE '\\_migrate\\_%' ESCAPE '\\' \
             ORDER BY type, name",
        )
        .context("reading the schema")?;
    let mut rows = stmt.query([]).context("reading the schema")?;
    let mut hasher = Sha256::new();
    while let Some(row) = rows.next().context("reading the schema")? {
        for i in 0..4 {
            let value = row.get_ref(i).context("reading the schema")?;
            hasher.update(value.as_bytes().unwrap_or_default());
            hasher.update([0u8]);
        }
        hasher.update(b"\n");
    }
    Ok(Fingerprint {
        hash: hex(&hasher.finalize()),
        cookie,
    })
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

/// The objects of `conn`'s main schema, bookkeeping left out.
///
/// # Errors
///
/// [`Error::Sqlite`] when the schema cannot be read.
pub(crate) fn objects(conn: &Connection) -> Result<crate::schema_diff::Objects, Error> {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, coalesce(sql, ''), tbl_name FROM main.sqlite_schema \
             WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_migrate\\_%' ESCAPE '\\'",
        )
        .context("reading the schema")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .context("reading the schema")?;
    let mut out = crate::schema_diff::Objects::new();
    for row in rows {
        let (kind, name, sql, table) = row.context("reading the schema")?;
        // A peer's table and its indexes (golang-migrate's `version_unique`).
        if BOOKKEEPING.contains(&table.as_str()) {
            continue;
        }
        out.insert(
            (kind, name),
            sql.split_whitespace().collect::<Vec<_>>().join(" "),
        );
    }
    Ok(out)
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
