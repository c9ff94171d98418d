//! Foreign-key checks, and the connection-level enforcement switch.
//!
//! SQLite ignores `PRAGMA foreign_keys` inside a transaction, so enforcement is switched off
//! before `BEGIN` and restored by [`EnforcementOff`]'s `Drop`, even on an early return. While
//! it is off, `DROP TABLE` on a parent does not cascade to children (the table-rebuild procedure
//! in SQLite's ALTER TABLE documentation relies on this), and the run checks instead with
//! a foreign-key check before committing.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;

pub mod shape;
pub mod tasks;

use serde::Serialize;

use self::shape::KeyShape;
use self::tasks as foreign;

/// A row whose foreign key has no parent row (as `PRAGMA foreign_key_check` reports it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FkViolation {
    /// The child table.
    pub table: String,
    /// The child row (`None` for WITHOUT ROWID tables).
    pub rowid: Option<i64>,
    /// The parent table it references.
    pub parent: String,
}

/// Every row of the main database's tables that violates a foreign key (one constraint at a
/// time, each distinct key looked up once where the constraint allows: see
/// `integrity::foreign`).
///
/// # Errors
///
/// SQLite's error when the check cannot run.
pub fn violations(conn: &Connection) -> rusqlite::Result<Vec<FkViolation>> {
    let tables = table_names(conn)?;
    let mut out = Vec::new();
    for task in foreign::tasks(conn, &tables) {
        out.extend(foreign::run(conn, &task)?);
    }
    Ok(out)
}

/// Which foreign-key constraints the steps of a unit may have broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Rows were written: any constraint.
    All,
    /// Only the schema changed: the constraints whose child or parent is one of these tables
    /// (lower-case names): tables that appeared or went, and tables whose part in a foreign
    /// key (see [`KeyShape`]) changed.
    Tables(BTreeSet<String>),
}

impl Scope {
    /// Whether `violation`'s constraint is in the scope: every constraint for [`Scope::All`],
    /// else one whose child or parent is a named table (names fold ASCII-only, as SQLite's).
    /// A check of the scope may report more (a table checked with SQLite's own pragma reports
    /// all its constraints), never fewer.
    pub fn covers(&self, violation: &FkViolation) -> bool {
        match self {
            Scope::All => true,
            Scope::Tables(tables) => [&violation.table, &violation.parent]
                .iter()
                .any(|name| tables.contains(&name.to_ascii_lowercase())),
        }
    }
}

/// The state a unit's foreign-key check after its steps compares with, taken before the
/// steps: the connection's count of rows changed, the tables' definitions, and the key shape
/// of every table a foreign key involves (as child or parent).
pub struct Footprint {
    changes: u64,
    tables: BTreeMap<String, String>,
    shapes: BTreeMap<String, KeyShape>,
}

impl Footprint {
    /// What `conn` has changed so far, the tables' definitions now, and the key shapes of the
    /// tables a foreign key involves, before a unit runs.
    ///
    /// # Errors
    ///
    /// SQLite's error when the schema cannot be read.
    pub fn take(conn: &Connection) -> rusqlite::Result<Self> {
        let tables = tables(conn)?;
        let mut shapes = BTreeMap::new();
        let mut parents = BTreeSet::new();
        for child in table_names(conn)? {
            let shape = KeyShape::read(conn, &child)?;
            parents.extend(shape.parents());
            shapes.insert(child.to_ascii_lowercase(), shape);
        }
        for parent in parents {
            if tables.contains_key(&parent) && !shapes.contains_key(&parent) {
                let shape = KeyShape::read(conn, &parent)?;
                shapes.insert(parent, shape);
            }
        }
        Ok(Footprint {
            changes: conn.total_changes(),
            tables,
            shapes,
        })
    }

    /// What the steps since [`Footprint::take`] may have broken. `total_changes` counts every
    /// row an INSERT, UPDATE or DELETE wrote (triggers included): then any constraint. DDL
    /// moves rows without counting them (`DROP TABLE`, `CREATE TABLE … AS`), so `replaced`
    /// names the tables the steps created or dropped (lower-case; an authorizer sees them):
    /// they are checked even when a table of the same name and definition stands there now
    /// (a rebuild that forgot to copy the rows). Tables that appeared or went are checked.
    /// Otherwise a table's constraints are checked again only when its key shape changed, as
    /// SQLite parsed it: a plain `ADD COLUMN` or a non-unique index cannot make a row violate a
    /// foreign key. The caller decides first whether `conn`'s parse is current (after `PRAGMA
    /// writable_schema` edits it is not: check [`Scope::All`] then).
    ///
    /// # Errors
    ///
    /// SQLite's error when the schema cannot be read.
    pub fn scope(&self, conn: &Connection, replaced: &BTreeSet<String>) -> rusqlite::Result<Scope> {
        if conn.total_changes() != self.changes {
            return Ok(Scope::All);
        }
        let now = tables(conn)?;
        let mut changed: BTreeSet<String> = now
            .keys()
            .filter(|n| !self.tables.contains_key(*n))
            .chain(replaced)
            .cloned()
            .collect();
        for (name, sql) in &self.tables {
            let Some(now_sql) = now.get(name) else {
                changed.insert(name.clone());
                continue;
            };
            // An index changes a parent's keys without changing the table's text: the tables
            // a foreign key involves are compared whatever their text; the others only when
            // their text changed, and only for a constraint they now declare.
            let differs = match self.shapes.get(name) {
                Some(before) => *before != KeyShape::read(conn, name)?,
                None if now_sql != sql => KeyShape::read(conn, name)?.declares_references(),
                None => false,
            };
            if differs {
                changed.insert(name.clone());
            }
        }
        Ok(Scope::Tables(changed))
    }
}

/// The main database's tables that can hold a foreign key, by name: those whose definition
/// says `REFERENCES` (a foreign key, as a column or a table constraint, cannot be declared
/// without it; a mention in a comment or a string only costs a check). Every constraint has its
/// child among them, so a database of many tables without foreign keys is not asked for each
/// table's list.
fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare(
        "SELECT name FROM sqlite_schema
          WHERE type = 'table' AND instr(upper(sql), 'REFERENCES') > 0 ORDER BY name",
    )?
    .query_map([], |r| r.get(0))?
    .collect()
}

fn tables(conn: &Connection) -> rusqlite::Result<BTreeMap<String, String>> {
    conn.prepare("SELECT lower(name), coalesce(sql, '') FROM sqlite_schema WHERE type = 'table'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// The violations of the constraints in `scope`.
///
/// # Errors
///
/// SQLite's error when the check cannot run.
pub fn violations_in(conn: &Connection, scope: &Scope) -> rusqlite::Result<Vec<FkViolation>> {
    let Scope::Tables(touched) = scope else {
        return violations(conn);
    };
    let tables = table_names(conn)?;
    let mut out = Vec::new();
    for task in foreign::tasks(conn, &tables) {
        if task.touches(conn, touched)? {
            out.extend(foreign::run(conn, &task)?);
        }
    }
    Ok(out)
}

/// The violations in `after` that were not in `before` (as a multiset, so a rebuilt table whose
/// rows keep their ids does not count twice).
pub fn introduced(before: &[FkViolation], after: Vec<FkViolation>) -> Vec<FkViolation> {
    let mut remaining: BTreeMap<&FkViolation, usize> = BTreeMap::new();
    for v in before {
        *remaining.entry(v).or_default() += 1;
    }
    after
        .into_iter()
        .filter(|v| match remaining.get_mut(v) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .collect()
}

/// Switches foreign-key enforcement off for as long as it lives, and back to what it was when
/// dropped.
pub struct EnforcementOff<'c> {
    conn: &'c Connection,
    was_on: bool,
}

impl<'c> EnforcementOff<'c> {
    /// Switches enforcement off on `conn` (which must not be inside a transaction).
    ///
    /// # Errors
    ///
    /// SQLite's error when the pragma fails.
    pub fn new(conn: &'c Connection) -> rusqlite::Result<Self> {
        let was_on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        if was_on {
            conn.execute_batch("PRAGMA foreign_keys = OFF")?;
        }
        Ok(Self { conn, was_on })
    }
}

impl Drop for EnforcementOff<'_> {
    fn drop(&mut self) {
        if self.was_on {
            // Best effort: the connection is ours and about to be closed in the common case.
            let _ = self.conn.execute_batch("PRAGMA foreign_keys = ON");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_new_violations() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id));
             INSERT INTO c VALUES (1, 99);",
        )
        .unwrap();
        let before = violations(&conn).unwrap();
        assert_eq!(before.len(), 1);
        conn.execute_batch("INSERT INTO c VALUES (2, 98);").unwrap();
        let new = introduced(&before, violations(&conn).unwrap());
        assert_eq!(
            new,
            [FkViolation {
                table: "c".into(),
                rowid: Some(2),
                parent: "p".into()
            }]
        );
    }

    #[test]
    fn enforcement_is_restored_on_drop() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        {
            let _off = EnforcementOff::new(&conn).unwrap();
            let on: bool = conn
                .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
                .unwrap();
            assert!(!on);
        }
        let on: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(on);
    }

    #[test]
    fn schema_only_changes_narrow_the_check_to_the_tables_they_touch() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id));
             CREATE TABLE other (id INTEGER PRIMARY KEY, c INTEGER REFERENCES c (id));
             INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1); INSERT INTO other VALUES (5, 9);",
        )
        .unwrap();
        let set = |names: &[&str]| Scope::Tables(names.iter().map(|n| (*n).to_owned()).collect());
        let none = BTreeSet::new();
        let f = Footprint::take(&conn).unwrap();
        conn.execute_batch("ALTER TABLE p ADD COLUMN label TEXT; CREATE INDEX c_p ON c (p);")
            .unwrap();
        // A plain column and a non-unique index cannot break a foreign key: nothing to check.
        assert_eq!(f.scope(&conn, &none).unwrap(), set(&[]));
        let f = Footprint::take(&conn).unwrap();
        conn.execute_batch("CREATE UNIQUE INDEX p_label ON p (label);")
            .unwrap();
        // A unique index is a key a child may resolve to: p's constraints are checked again.
        assert_eq!(f.scope(&conn, &none).unwrap(), set(&["p"]));
        // `other` has an old orphan; a change to `p` does not look at it.
        assert!(violations_in(&conn, &set(&["p"])).unwrap().is_empty());
        assert_eq!(violations_in(&conn, &Scope::All).unwrap().len(), 1);

        let f = Footprint::take(&conn).unwrap();
        conn.execute_batch("CREATE TABLE copy AS SELECT * FROM c; DROP TABLE p;")
            .unwrap();
        assert_eq!(f.scope(&conn, &none).unwrap(), set(&["copy", "p"]));
        let found = violations_in(&conn, &f.scope(&conn, &none).unwrap()).unwrap();
        assert_eq!(found.len(), 1, "c's row lost its parent: {found:?}");
        assert_eq!(found[0].table, "c");

        let f = Footprint::take(&conn).unwrap();
        conn.execute_batch("UPDATE c SET p = 2").unwrap();
        assert_eq!(f.scope(&conn, &none).unwrap(), Scope::All);
    }
}
