//! What of a table's definition its foreign-key constraints depend on, read from SQLite's own
//! parse of the schema (its `foreign_key_list`, `table_xinfo`, `index_list` and `index_xinfo`
//! pragmas), never from the SQL text: the constraints it declares as a child, and the keys a
//! child's constraint can resolve to when it is a parent (its primary key, its UNIQUE indexes
//! with their collations). A definition change that leaves this the same (a plain `ADD
//! COLUMN`, a non-unique index, a `CHECK`) cannot make a row violate a foreign key, so the
//! checks before COMMIT need not look at that table's constraints again.

use rusqlite::Connection;

/// One column of a foreign key as SQLite parsed it: the constraint's id and the column's
/// place in it, the parent table, the child column and the parent column (`None`: the parent's
/// primary key).
type Reference = (i64, i64, String, String, Option<String>);

/// One key column of a UNIQUE index: the column (`None` for an expression) and its collation.
type KeyColumn = (Option<String>, String);

/// The parts of one table's definition a foreign-key check depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyShape {
    /// As a child: every column of every constraint it declares.
    references: Vec<Reference>,
    /// As a parent: the primary key's columns, with their declared types, in key order.
    primary_key: Vec<(String, String)>,
    /// As a parent: its UNIQUE indexes (whether partial, and the key columns), sorted.
    unique: Vec<(bool, Vec<KeyColumn>)>,
}

impl KeyShape {
    /// The shape of `table` as `conn` parsed it.
    ///
    /// # Errors
    ///
    /// SQLite's error when a pragma cannot be read.
    pub fn read(conn: &Connection, table: &str) -> rusqlite::Result<Self> {
        let references = conn
            .prepare_cached(
                "SELECT id, seq, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1)
                  ORDER BY id, seq",
            )?
            .query_map([table], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let primary_key = conn
            .prepare_cached(
                "SELECT name, type FROM pragma_table_xinfo(?1) WHERE pk > 0 ORDER BY pk",
            )?
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let indexes: Vec<(String, bool)> = conn
            .prepare_cached("SELECT name, partial FROM pragma_index_list(?1) WHERE \"unique\" = 1")?
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut unique = Vec::with_capacity(indexes.len());
        for (index, partial) in indexes {
            let columns = conn
                .prepare_cached(
                    "SELECT name, coll FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno",
                )?
                .query_map([&index], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            unique.push((partial, columns));
        }
        unique.sort();
        Ok(KeyShape {
            references,
            primary_key,
            unique,
        })
    }

    /// The tables this one's constraints name as parents (lower-case).
    pub fn parents(&self) -> impl Iterator<Item = String> + '_ {
        self.references.iter().map(|r| r.2.to_ascii_lowercase())
    }

    /// Whether the table declares any foreign key.
    pub fn declares_references(&self) -> bool {
        !self.references.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parent `p` and a child `c` that references it.
    fn parent_and_child() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT);
             CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id));",
        )
        .unwrap();
        conn
    }

    fn shape(conn: &Connection, table: &str) -> KeyShape {
        KeyShape::read(conn, table).unwrap()
    }

    #[test]
    fn what_cannot_affect_a_foreign_key_leaves_the_shape_alone() {
        let conn = parent_and_child();
        let (p, c) = (shape(&conn, "p"), shape(&conn, "c"));
        conn.execute_batch(
            "ALTER TABLE p ADD COLUMN note TEXT;
             ALTER TABLE c ADD COLUMN qty INTEGER NOT NULL DEFAULT 0 CHECK (qty >= 0);
             CREATE INDEX p_code ON p (code);
             CREATE INDEX c_p ON c (p);",
        )
        .unwrap();
        assert_eq!(shape(&conn, "p"), p);
        assert_eq!(shape(&conn, "c"), c);
    }

    #[test]
    fn what_can_affect_a_foreign_key_changes_the_shape() {
        let conn = parent_and_child();
        let cases = [
            ("p", "CREATE UNIQUE INDEX p_code ON p (code)"),
            (
                "p",
                "CREATE UNIQUE INDEX p_code_nocase ON p (code COLLATE NOCASE)",
            ),
            (
                "c",
                "ALTER TABLE c ADD COLUMN code TEXT REFERENCES p (code)",
            ),
            ("c", "ALTER TABLE c RENAME COLUMN p TO parent"),
            ("p", "ALTER TABLE p RENAME COLUMN id TO pid"),
        ];
        for (table, ddl) in cases {
            let before = shape(&conn, table);
            conn.execute_batch(ddl).unwrap();
            assert_ne!(shape(&conn, table), before, "{ddl}");
        }
        assert_eq!(shape(&conn, "c").parents().collect::<Vec<_>>(), ["p", "p"]);
        assert!(shape(&conn, "c").declares_references());
        assert!(!shape(&conn, "p").declares_references());
    }
}
