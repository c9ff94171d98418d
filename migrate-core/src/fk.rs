//! Foreign-key checks, and the connection-level enforcement switch.
//!
//! SQLite ignores `PRAGMA foreign_keys` inside a transaction, so enforcement is switched off
//! before `BEGIN` and restored by [`EnforcementOff`]'s `Drop`, even on an early return. While
//! it is off, `DROP TABLE` on a parent does not cascade to children (the table-rebuild procedure
//! in SQLite's ALTER TABLE documentation relies on this), and the run checks instead with
//! a foreign-key check before committing.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::integrity::foreign;
use crate::report::FkViolation;

/// Every row of the main database's tables that violates a foreign key (one constraint at a
/// time, each distinct key looked up once where the constraint allows: see
/// `integrity::foreign`).
///
/// # Errors
///
/// SQLite's error when the check cannot run.
pub fn violations(conn: &Connection) -> rusqlite::Result<Vec<FkViolation>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for task in foreign::tasks(conn, &tables) {
        out.extend(foreign::run(conn, &task)?);
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
}
