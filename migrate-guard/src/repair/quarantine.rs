//! Quarantine: rows the repair must take out of a table (orphans whose parent is gone,
//! duplicates under a UNIQUE index, rows a constraint now rejects) are moved, never deleted,
//! into `_migrate_quarantine_<table>`: the table's columns, preceded by `_migrate_reason`,
//! `_migrate_at` and `_migrate_rowid`. The `_migrate_` prefix keeps them out of the schema
//! fingerprint, so a repair does not look like drift to the next migration run.

use std::collections::BTreeMap;

use rusqlite::{Connection, ToSql, types::Value};
use serde::Serialize;

use crate::Error;
use crate::vocab::error::SqliteContext;
use crate::vocab::sql::quote_ident;

/// Rows moved into quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// The table they came from.
    pub table: String,
    /// The quarantine table that holds them now.
    pub into: String,
    /// Why.
    pub reason: String,
    /// Their row ids (empty for a WITHOUT ROWID table).
    pub rowids: Vec<i64>,
    /// How many.
    pub rows: u64,
}

/// The quarantine table for `table`.
pub fn table_for(table: &str) -> String {
    format!("_migrate_quarantine_{table}")
}

/// A table's columns that hold stored values (generated and hidden columns aside).
pub(crate) fn columns(conn: &Connection, schema: &str, table: &str) -> Result<Vec<String>, Error> {
    crate::database::db::stored_columns(conn, schema, table).context("reading table columns")
}

/// Whether `table` in `schema` has row ids.
pub(crate) fn has_rowid(conn: &Connection, schema: &str, table: &str) -> Result<bool, Error> {
    let without: Option<bool> = conn
        .query_row(
            "SELECT wr FROM pragma_table_list WHERE schema = ?1 AND name = ?2",
            [schema, table],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .context("reading the table list")?;
    Ok(!without.unwrap_or(false))
}

/// Creates the quarantine table for `table` in `main`, shaped like `source.table`.
fn ensure_table(conn: &Connection, source: &str, table: &str) -> Result<String, Error> {
    let into = table_for(table);
    let cols = columns(conn, source, table)?
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS main.{q} AS SELECT \
         NULL AS _migrate_reason, NULL AS _migrate_at, NULL AS _migrate_rowid, {cols} \
         FROM {s}.{t} WHERE 0",
        q = quote_ident(&into),
        s = quote_ident(source),
        t = quote_ident(table),
    ))
    .context(&format!("creating the quarantine table {into}"))?;
    Ok(into)
}

/// Moves the rows of `main.table` with the given row ids into its quarantine table.
pub(crate) fn move_rows(
    conn: &Connection,
    table: &str,
    rowids: &[i64],
    reason: &str,
    at: &str,
) -> Result<Quarantined, Error> {
    let into = ensure_table(conn, "main", table)?;
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS _migrate_doomed (r INTEGER PRIMARY KEY);
         DELETE FROM temp._migrate_doomed;",
    )
    .context("preparing the quarantine")?;
    {
        let mut add = conn
            .prepare("INSERT OR IGNORE INTO temp._migrate_doomed (r) VALUES (?1)")
            .context("preparing the quarantine")?;
        for id in rowids {
            add.execute([id]).context("preparing the quarantine")?;
        }
    }
    let cols = columns(conn, "main", table)?
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let (q, t) = (quote_ident(&into), quote_ident(table));
    let moved = conn
        .execute(
            &format!(
                "INSERT INTO main.{q} (_migrate_reason, _migrate_at, _migrate_rowid, {cols}) \
                 SELECT ?1, ?2, rowid, {cols} FROM main.{t} \
                 WHERE rowid IN (SELECT r FROM temp._migrate_doomed) ORDER BY rowid"
            ),
            [reason, at],
        )
        .context(&format!("moving rows of {table} into {into}"))?;
    conn.execute(
        &format!("DELETE FROM main.{t} WHERE rowid IN (SELECT r FROM temp._migrate_doomed)"),
        [],
    )
    .context(&format!("removing quarantined rows from {table}"))?;
    conn.execute_batch("DELETE FROM temp._migrate_doomed")
        .context("cleaning up the quarantine")?;
    Ok(Quarantined {
        table: table.to_owned(),
        into,
        reason: reason.to_owned(),
        rowids: rowids.to_vec(),
        rows: moved as u64,
    })
}

/// Writes one row (read from `source.table`, not inserted there) into the quarantine table.
pub(crate) fn put_row(
    conn: &Connection,
    source: &str,
    table: &str,
    rowid: Option<i64>,
    values: &[Value],
    reason: &str,
    at: &str,
) -> Result<(), Error> {
    let into = ensure_table(conn, source, table)?;
    let marks = (0..values.len() + 3)
        .map(|i| format!("?{}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut params: Vec<&dyn ToSql> = vec![&reason, &at, &rowid];
    params.extend(values.iter().map(|v| v as &dyn ToSql));
    conn.prepare_cached(&format!(
        "INSERT INTO main.{} VALUES ({marks})",
        quote_ident(&into)
    ))
    .and_then(|mut s| s.execute(params.as_slice()))
    .context(&format!("quarantining a row of {table}"))?;
    Ok(())
}

/// Rows of `main` whose foreign-key parent is missing, by table: row ids, and how many rows of
/// WITHOUT ROWID tables (which cannot be addressed by row id) there are besides.
pub(crate) fn orphans(conn: &Connection) -> Result<BTreeMap<String, (Vec<i64>, u64)>, Error> {
    let mut stmt = conn
        .prepare("PRAGMA main.foreign_key_check")
        .context("checking foreign keys")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })
        .context("checking foreign keys")?;
    let mut out: BTreeMap<String, (Vec<i64>, u64)> = BTreeMap::new();
    for row in rows {
        let (table, rowid) = row.context("checking foreign keys")?;
        let entry = out.entry(table).or_default();
        match rowid {
            Some(id) => entry.0.push(id),
            None => entry.1 += 1,
        }
    }
    for (ids, _) in out.values_mut() {
        ids.sort_unstable();
        ids.dedup();
    }
    Ok(out)
}

/// Quarantines every orphan in `main` that has a row id; returns what moved and how many rows
/// could not be moved.
pub(crate) fn quarantine_orphans(
    conn: &Connection,
    at: &str,
) -> Result<(Vec<Quarantined>, u64), Error> {
    let mut moved = Vec::new();
    let mut stuck = 0;
    for (table, (rowids, without_rowid)) in orphans(conn)? {
        stuck += without_rowid;
        if !rowids.is_empty() {
            moved.push(move_rows(
                conn,
                &table,
                &rowids,
                "orphan: its foreign-key parent row is missing",
                at,
            )?);
        }
    }
    Ok((moved, stuck))
}

/// A UNIQUE index's table and key columns (with their collations and its WHERE clause).
pub(crate) struct UniqueKey {
    pub table: String,
    key: Vec<(String, String)>,
    partial: Option<String>,
}

impl UniqueKey {
    /// Reads the key of index `index` as `schema` defines it.
    pub(crate) fn read(
        conn: &Connection,
        schema: &str,
        index: &str,
    ) -> Result<Option<Self>, Error> {
        let (table, sql): (String, Option<String>) = conn
            .query_row(
                &format!(
                    "SELECT tbl_name, sql FROM {}.sqlite_schema WHERE type = 'index' AND name = ?1",
                    quote_ident(schema)
                ),
                [index],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .context("reading the index definition")?;
        let mut stmt = conn
            .prepare("SELECT name, coll FROM pragma_index_xinfo(?1, ?2) WHERE key ORDER BY seqno")
            .context("reading the index columns")?;
        let key = stmt
            .query_map([index, schema], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?))
            })
            .context("reading the index columns")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading the index columns")?;
        if key.iter().any(|(name, _)| name.is_none()) {
            return Ok(None);
        }
        let partial = sql.as_deref().and_then(partial_clause);
        Ok(Some(Self {
            table,
            key: key
                .into_iter()
                .map(|(n, c)| (n.expect("checked"), c))
                .collect(),
            partial,
        }))
    }

    /// Row ids of rows that repeat an earlier row's key (the lowest row id of each key stays).
    pub(crate) fn duplicates(&self, conn: &Connection) -> Result<Vec<i64>, Error> {
        let key = self
            .key
            .iter()
            .map(|(n, c)| format!("{} COLLATE {}", quote_ident(n), quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut filter = self
            .key
            .iter()
            .map(|(n, _)| format!("{} IS NOT NULL", quote_ident(n)))
            .collect::<Vec<_>>();
        if let Some(p) = &self.partial {
            filter.push(format!("({p})"));
        }
        let filter = filter.join(" AND ");
        let t = quote_ident(&self.table);
        let sql = format!(
            "SELECT rowid FROM main.{t} NOT INDEXED WHERE {filter} AND rowid NOT IN \
             (SELECT min(rowid) FROM main.{t} NOT INDEXED WHERE {filter} GROUP BY {key}) \
             ORDER BY rowid"
        );
        let mut stmt = conn.prepare(&sql).context("finding duplicate keys")?;
        let ids = stmt
            .query_map([], |r| r.get(0))
            .context("finding duplicate keys")?
            .collect::<Result<Vec<i64>, _>>()
            .context("finding duplicate keys")?;
        Ok(ids)
    }
}

/// The WHERE clause of a partial index's definition: what follows the column list's closing
/// parenthesis (quoted names and strings skipped while matching).
fn partial_clause(sql: &str) -> Option<String> {
    let open = sql.find('(')?;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in sql[open..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q || (q == '[' && c == ']') => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`' | '[') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    let rest = sql[open + i + 1..].trim();
                    let head = rest.get(..5)?;
                    return head
                        .eq_ignore_ascii_case("where")
                        .then(|| rest[5..].trim().to_owned());
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_index_clauses_are_found_after_the_column_list() {
        assert_eq!(partial_clause("CREATE UNIQUE INDEX i ON t (a, b)"), None);
        assert_eq!(
            partial_clause("CREATE UNIQUE INDEX i ON t (\"a)\", b) WHERE b > (1) AND c = ')'"),
            Some("b > (1) AND c = ')'".to_owned())
        );
        // A parenthesised column is still a column; the clause follows the list's own ')'.
        assert_eq!(
            partial_clause("CREATE UNIQUE INDEX i ON t ((a), b) WHERE a > 0"),
            Some("a > 0".to_owned())
        );
        assert_eq!(partial_clause("CREATE UNIQUE INDEX i ON t (a"), None);
    }

    #[test]
    fn duplicates_and_orphans_move_into_quarantine_with_their_values() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id), w TEXT, b BLOB);
             INSERT INTO p VALUES (1);
             INSERT INTO c VALUES (1, 1, 'x', x'00ff'), (2, 9, 'y', NULL), (3, 1, 'x', NULL), (4, NULL, 'X', NULL);",
        )
        .unwrap();
        conn.execute_batch("CREATE INDEX c_w ON c (w COLLATE NOCASE)")
            .unwrap();
        let key = UniqueKey::read(&conn, "main", "c_w").unwrap().unwrap();
        assert_eq!(key.table, "c");
        assert_eq!(key.duplicates(&conn).unwrap(), [3, 4]);
        let (moved, stuck) = quarantine_orphans(&conn, "now").unwrap();
        assert_eq!(stuck, 0);
        assert_eq!(moved[0].rowids, [2]);
        let kept: (String, Option<i64>, String) = conn
            .query_row(
                "SELECT _migrate_reason, _migrate_rowid, w FROM _migrate_quarantine_c",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert!(kept.0.starts_with("orphan"));
        assert_eq!((kept.1, kept.2.as_str()), (Some(2), "y"));
        let n: i64 = conn
            .query_row("SELECT count(*) FROM c", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
        put_row(
            &conn,
            "main",
            "c",
            Some(7),
            &[
                Value::Integer(7),
                Value::Null,
                Value::Text("z".into()),
                Value::Blob(vec![1]),
            ],
            "why",
            "now",
        )
        .unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM _migrate_quarantine_c WHERE b = x'01'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}
