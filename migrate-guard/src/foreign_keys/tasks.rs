//! Foreign-key checks, one task per constraint.
//!
//! `PRAGMA foreign_key_check` looks every child row's key up in the parent, one search per
//! row. Where a constraint allows it, the check here asks the same question once per distinct
//! key instead: the child's distinct non-NULL keys (read in order from an index on them when
//! there is one) that have no parent row. Only when such keys exist are the child rows holding
//! them listed. The answer equals the pragma's when the child and parent columns compare alike;
//! anything else (differing affinity or collation, a parent key without a unique index, a
//! WITHOUT ROWID child, a missing parent table) is left to `PRAGMA foreign_key_check(T)`.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::vocab::sql::quote_ident;

/// One foreign-key check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// The distinct keys of `child` (columns paired with the parent's) missing from `parent`.
    Grouped {
        /// The table holding the foreign key.
        child: String,
        /// The table it references.
        parent: String,
        /// (child column, parent column) pairs.
        columns: Vec<(String, String)>,
    },
    /// `PRAGMA foreign_key_check(child)`.
    Pragma {
        /// The table whose foreign keys SQLite checks.
        child: String,
    },
}

impl Task {
    /// The table whose foreign keys the task checks.
    pub fn child(&self) -> &str {
        match self {
            Task::Grouped { child, .. } | Task::Pragma { child } => child,
        }
    }
}

impl Task {
    /// Whether the constraint(s) checked involve one of `tables` (lower-case) as child or
    /// parent.
    pub fn touches(
        &self,
        conn: &Connection,
        tables: &std::collections::BTreeSet<String>,
    ) -> rusqlite::Result<bool> {
        // ASCII only, as SQLite folds the case of names (and as `lower()` gave the set).
        let has = |name: &str| tables.contains(&name.to_ascii_lowercase());
        match self {
            Task::Grouped { child, parent, .. } => Ok(has(child) || has(parent)),
            Task::Pragma { child } => {
                if has(child) {
                    return Ok(true);
                }
                let parents: Vec<String> = conn
                    .prepare("SELECT \"table\" FROM pragma_foreign_key_list(?1)")?
                    .query_map([child], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(parents.iter().any(|p| has(p)))
            }
        }
    }
}

/// A child row whose key has no parent row.
pub use super::FkViolation as Violation;

/// The checks for the foreign keys of `tables`.
pub fn tasks(conn: &Connection, tables: &[String]) -> Vec<Task> {
    let mut out = Vec::new();
    for table in tables {
        match grouped(conn, table) {
            Ok(tasks) => out.extend(tasks),
            Err(()) => out.push(Task::Pragma {
                child: table.clone(),
            }),
        }
    }
    out
}

/// A constraint's child columns, each with the parent column it names (if it names one).
type Pairs = Vec<(String, Option<String>)>;

/// A column's declared affinity and collation, as compared.
#[derive(Debug, PartialEq, Eq)]
struct Compared {
    affinity: char,
    collation: String,
}

fn grouped(conn: &Connection, child: &str) -> Result<Vec<Task>, ()> {
    let keys: Vec<(i64, String, String, Option<String>)> = conn
        .prepare("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq")
        .and_then(|mut s| {
            s.query_map([child], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect()
        })
        .map_err(|_| ())?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if without_rowid(conn, child)? {
        return Err(());
    }
    let mut tasks: Vec<Task> = Vec::new();
    // Constraint id -> parent table and (child column, parent column if named) pairs.
    let mut constraints: BTreeMap<i64, (String, Pairs)> = BTreeMap::new();
    for (id, parent, from, to) in keys {
        constraints
            .entry(id)
            .or_insert_with(|| (parent, Vec::new()))
            .1
            .push((from, to));
    }
    for (parent, pairs) in constraints.into_values() {
        let parent_key = parent_columns(conn, &parent, &pairs)?;
        let columns: Vec<(String, String)> =
            pairs.into_iter().map(|(c, _)| c).zip(parent_key).collect();
        for (c, p) in &columns {
            if compared(conn, child, c)? != compared(conn, &parent, p)? {
                return Err(());
            }
        }
        if !unique_key(conn, &parent, &columns)? {
            return Err(());
        }
        tasks.push(Task::Grouped {
            child: child.to_owned(),
            parent,
            columns,
        });
    }
    Ok(tasks)
}

fn without_rowid(conn: &Connection, table: &str) -> Result<bool, ()> {
    conn.query_row(
        "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
        [table],
        |r| r.get(0),
    )
    .map_err(|_| ())
}

/// The parent columns a constraint names, or the parent's primary key when it names none.
fn parent_columns(
    conn: &Connection,
    parent: &str,
    pairs: &[(String, Option<String>)],
) -> Result<Vec<String>, ()> {
    if pairs.iter().all(|(_, to)| to.is_some()) {
        return Ok(pairs.iter().filter_map(|(_, to)| to.clone()).collect());
    }
    let key: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")
        .and_then(|mut s| s.query_map([parent], |r| r.get(0))?.collect())
        .map_err(|_| ())?;
    if key.len() == pairs.len() {
        Ok(key)
    } else {
        Err(())
    }
}

/// Affinity (by SQLite's rules on the declared type) and collation of a column.
fn compared(conn: &Connection, table: &str, column: &str) -> Result<Compared, ()> {
    let (declared, collation) = conn
        .column_metadata(Some("main"), table, column)
        .map(|(t, c, ..)| {
            let text =
                |s: Option<&std::ffi::CStr>| s.map(|s| s.to_string_lossy().to_ascii_uppercase());
            (
                text(t).unwrap_or_default(),
                text(c).unwrap_or_else(|| "BINARY".to_owned()),
            )
        })
        .map_err(|_| ())?;
    let t = declared.as_str();
    let affinity = if t.contains("INT") {
        'i'
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        't'
    } else if t.contains("BLOB") || t.is_empty() {
        'b'
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        'r'
    } else {
        'n'
    };
    Ok(Compared {
        affinity,
        collation,
    })
}

/// The parent key is the rowid alias, or has a UNIQUE index on exactly its columns.
fn unique_key(conn: &Connection, parent: &str, columns: &[(String, String)]) -> Result<bool, ()> {
    let wanted: Vec<String> = columns
        .iter()
        .map(|(_, p)| p.to_ascii_lowercase())
        .collect();
    let rowid_alias: Option<String> = conn
        .query_row(
            "SELECT name FROM pragma_table_info(?1) WHERE pk = 1 AND upper(type) = 'INTEGER'
              AND (SELECT count(*) FROM pragma_table_info(?1) WHERE pk > 0) = 1",
            [parent],
            |r| r.get(0),
        )
        .ok();
    if wanted.len() == 1 && rowid_alias.map(|a| a.to_ascii_lowercase()) == Some(wanted[0].clone()) {
        return Ok(true);
    }
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM pragma_index_list(?1) WHERE \"unique\" AND NOT partial")
        .and_then(|mut s| s.query_map([parent], |r| r.get(0))?.collect())
        .map_err(|_| ())?;
    for index in indexes {
        let mut cols: Vec<String> = conn
            .prepare("SELECT lower(name) FROM pragma_index_info(?1)")
            .and_then(|mut s| s.query_map([&index], |r| r.get(0))?.collect())
            .map_err(|_| ())?;
        let mut w = wanted.clone();
        cols.sort();
        w.sort();
        if cols == w {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Runs one check.
pub fn run(conn: &Connection, task: &Task) -> rusqlite::Result<Vec<Violation>> {
    match task {
        Task::Pragma { child } => {
            let sql = format!("PRAGMA foreign_key_check({})", quote_ident(child));
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map([], |r| {
                Ok(Violation {
                    table: r.get(0)?,
                    rowid: r.get(1)?,
                    parent: r.get(2)?,
                })
            })?;
            rows.collect()
        }
        Task::Grouped {
            child,
            parent,
            columns,
        } => grouped_violations(conn, child, parent, columns),
    }
}

fn grouped_violations(
    conn: &Connection,
    child: &str,
    parent: &str,
    columns: &[(String, String)],
) -> rusqlite::Result<Vec<Violation>> {
    let keys = (0..columns.len())
        .map(|i| format!("k{i}"))
        .collect::<Vec<_>>();
    let select = columns
        .iter()
        .zip(&keys)
        .map(|((c, _), k)| format!("{} AS {k}", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let not_null = columns
        .iter()
        .map(|(c, _)| format!("{} IS NOT NULL", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let matches = columns
        .iter()
        .zip(&keys)
        .map(|((_, p), k)| format!("p.{} = {k}", quote_ident(p)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!(
        "SELECT {} FROM (SELECT DISTINCT {select} FROM {} WHERE {not_null}) \
         WHERE NOT EXISTS (SELECT 1 FROM {} AS p WHERE {matches})",
        keys.join(", "),
        quote_ident(child),
        quote_ident(parent)
    );
    let mut stmt = conn.prepare(&sql)?;
    let missing: Vec<Vec<rusqlite::types::Value>> = stmt
        .query_map([], |r| (0..columns.len()).map(|i| r.get(i)).collect())?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    if missing.is_empty() {
        return Ok(out);
    }
    let holders = columns
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{} = ?{}", quote_ident(c), i + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!(
        "SELECT rowid FROM {} WHERE {holders} ORDER BY rowid",
        quote_ident(child)
    );
    let mut stmt = conn.prepare(&sql)?;
    for key in missing {
        let rowids = stmt
            .query_map(rusqlite::params_from_iter(key.iter()), |r| {
                r.get::<_, i64>(0)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.extend(rowids.into_iter().map(|rowid| Violation {
            table: child.to_owned(),
            rowid: Some(rowid),
            parent: parent.to_owned(),
        }));
    }
    out.sort_by_key(|v| v.rowid);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pragma and grouped check agree on every row, across constraint shapes.
    #[test]
    fn grouped_checks_find_exactly_what_the_pragma_finds() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT UNIQUE, a INT, b INT, UNIQUE (a, b));
             CREATE TABLE c (x INT REFERENCES p, y TEXT REFERENCES p (code), a INT, b INT,
                             FOREIGN KEY (a, b) REFERENCES p (a, b));
             CREATE INDEX c_x ON c (x);
             CREATE TABLE loose (v TEXT REFERENCES p (id));
             CREATE TABLE nocase (v TEXT COLLATE NOCASE REFERENCES p (code));
             INSERT INTO p VALUES (1, 'one', 1, 1), (2, 'two', 2, 2);
             INSERT INTO c VALUES (1, 'one', 1, 1), (3, 'two', 2, 2), (NULL, 'three', 2, 9),
                                  (2, NULL, NULL, 5), (3, 'ONE', 1, 1), (1, 'one', 7, 7);
             INSERT INTO loose VALUES ('1'), ('01'), ('x');
             INSERT INTO nocase VALUES ('ONE'), ('one');",
        )
        .unwrap();
        let tables: Vec<String> = ["c", "loose", "nocase"].map(str::to_owned).to_vec();
        let planned = tasks(&conn, &tables);
        assert_eq!(
            planned
                .iter()
                .filter(|t| matches!(t, Task::Grouped { .. }))
                .count(),
            3,
            "{planned:?}"
        );
        assert!(planned.contains(&Task::Pragma {
            child: "loose".to_owned()
        }));
        assert!(planned.contains(&Task::Pragma {
            child: "nocase".to_owned()
        }));
        let mut ours: Vec<(String, Option<i64>, String)> = planned
            .iter()
            .flat_map(|t| run(&conn, t).unwrap())
            .map(|v| (v.table, v.rowid, v.parent))
            .collect();
        let mut theirs: Vec<(String, Option<i64>, String)> = tables
            .iter()
            .flat_map(|t| {
                run(&conn, &Task::Pragma { child: t.clone() })
                    .unwrap()
                    .into_iter()
                    .map(|v| (v.table, v.rowid, v.parent))
            })
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
        assert_eq!(ours.iter().filter(|v| v.0 == "c").count(), 6);
    }
}
