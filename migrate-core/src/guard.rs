//! The tool's own tables, watched while a migration's script runs.
//!
//! A migration must not touch the bookkeeping (`_migrate_history`, `_migrate_attempts`, and
//! the definitions of every `_migrate*` object): a script that writes those rows, or creates,
//! drops or alters such an object, would make applied versions look pending or invent versions
//! that were never applied. The run takes a digest of them before each script and compares it
//! after; any difference fails the migration, naming what changed (inside a transaction, that
//! is a rollback). The rows of repair's quarantine tables (`_migrate_quarantine_*`) are not
//! digested (they can be large); their definitions are.

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};

use crate::sql::quote_ident;

/// The tables whose rows are digested.
const WATCHED_ROWS: [&str; 2] = ["_migrate_history", "_migrate_attempts"];

/// A digest of each bookkeeping object, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bookkeeping(Vec<(String, [u8; 32])>);

impl Bookkeeping {
    /// Digests the bookkeeping as it is now.
    pub fn take(conn: &Connection) -> rusqlite::Result<Self> {
        let mut out = Vec::new();
        let objects: Vec<(String, String, Option<String>)> = conn
            .prepare(
                "SELECT type, name, sql FROM main.sqlite_schema \
                 WHERE name LIKE '\\_migrate%' ESCAPE '\\' ORDER BY name",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (kind, name, sql) in objects {
            let mut hash = Sha256::new();
            hash.update(kind.as_bytes());
            hash.update([0]);
            hash.update(sql.unwrap_or_default().as_bytes());
            if kind == "table" && WATCHED_ROWS.iter().any(|t| t.eq_ignore_ascii_case(&name)) {
                rows_into(conn, &name, &mut hash)?;
            }
            out.push((name, hash.finalize().into()));
        }
        Ok(Bookkeeping(out))
    }

    /// The bookkeeping objects whose definition or watched rows differ from `self` now, and
    /// those created or dropped since.
    pub fn changed(&self, conn: &Connection) -> rusqlite::Result<Vec<String>> {
        let now = Self::take(conn)?;
        let mut names: Vec<String> = self
            .0
            .iter()
            .filter(|entry| !now.0.contains(entry))
            .chain(now.0.iter().filter(|entry| !self.0.contains(entry)))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

fn rows_into(conn: &Connection, table: &str, hash: &mut Sha256) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(&format!(
        "SELECT * FROM main.{} ORDER BY rowid",
        quote_ident(table)
    ))?;
    let columns = stmt.column_count();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        for i in 0..columns {
            match row.get_ref(i)? {
                ValueRef::Null => hash.update([0]),
                ValueRef::Integer(v) => {
                    hash.update([1]);
                    hash.update(v.to_le_bytes());
                }
                ValueRef::Real(v) => {
                    hash.update([2]);
                    hash.update(v.to_le_bytes());
                }
                ValueRef::Text(v) | ValueRef::Blob(v) => {
                    hash.update([3]);
                    hash.update((v.len() as u64).to_le_bytes());
                    hash.update(v);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_write_to_the_bookkeeping_is_seen_and_named() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::history::CREATE).unwrap();
        conn.execute_batch(
            "CREATE TABLE app (x); INSERT INTO app VALUES (1);
             INSERT INTO _migrate_history (version, name, checksum, applied_at, duration_ms)
               VALUES (1, 'a', 'c', 't', 0);",
        )
        .unwrap();
        let before = Bookkeeping::take(&conn).unwrap();
        conn.execute_batch("INSERT INTO app VALUES (2); CREATE TABLE more (y);")
            .unwrap();
        assert!(before.changed(&conn).unwrap().is_empty());
        for (sql, named) in [
            (
                "INSERT INTO _migrate_history (version, name, checksum, applied_at, duration_ms) VALUES (99, 'x', 'y', 'z', 0)",
                "_migrate_history",
            ),
            ("DELETE FROM _migrate_history", "_migrate_history"),
            (
                "UPDATE _migrate_history SET version = 2",
                "_migrate_history",
            ),
            ("CREATE TABLE _migrate_extra (z)", "_migrate_extra"),
            ("DROP TABLE _migrate_history", "_migrate_history"),
        ] {
            conn.execute_batch("SAVEPOINT s").unwrap();
            conn.execute_batch(sql).unwrap();
            assert_eq!(before.changed(&conn).unwrap(), [named], "{sql}");
            conn.execute_batch("ROLLBACK TO s; RELEASE s").unwrap();
        }
    }
}
