//! The narrowed foreign-key check against the whole one: random sequences of schema changes
//! (columns plain and referencing, unique and plain indexes, tables created, copied, renamed
//! and dropped, columns renamed and dropped) on a database whose rows already hold orphans and
//! values that a new key would leave without a parent. After each sequence, the violations the
//! check of [`Footprint::scope`] finds (told, as the engine tells it, which tables a
//! statement created or dropped) that were not there before must be exactly those the
//! check of every constraint finds (and an error in one is an error in the other): narrowing
//! may skip work, never a violation.
//!
//! 400 sequences by default; `FK_SCOPE_CASES=N` for more.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use belay_guard::foreign_keys::{self as fk, FkViolation, Footprint, Scope};
use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

const BASE: &str = "
    PRAGMA foreign_keys = OFF;
    CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT, name TEXT, note TEXT);
    CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p (id), pcode TEXT, note TEXT);
    CREATE TABLE g (id INTEGER PRIMARY KEY, cid INTEGER REFERENCES c (id));
    CREATE TABLE lone (id INTEGER PRIMARY KEY, v TEXT);
    CREATE UNIQUE INDEX p_name0 ON p (name);
    CREATE TABLE h (id INTEGER PRIMARY KEY, pname TEXT REFERENCES p (name));
    INSERT INTO h VALUES (1, 'one'), (2, 'ONE'), (3, 'nobody');
    INSERT INTO p VALUES (1, 'a', 'one', NULL), (2, 'b', 'two', NULL), (3, 'b', 'dup', NULL);
    INSERT INTO c VALUES (10, 1, 'a', NULL), (11, 2, 'zz', NULL), (12, 99, 'b', NULL);
    INSERT INTO g VALUES (100, 10), (101, 77);
    INSERT INTO lone VALUES (1, 'x');
";

/// The schema changes a sequence is drawn from. Some fail on some states (a column that is
/// gone, a table renamed away): a failed statement is skipped, as a migration would not be.
const CHANGES: &[&str] = &[
    "ALTER TABLE p ADD COLUMN extra TEXT",
    "ALTER TABLE p ADD COLUMN checked INTEGER CHECK (checked IS NULL)",
    "ALTER TABLE c ADD COLUMN ref2 INTEGER REFERENCES p (id) DEFAULT 7",
    "ALTER TABLE c ADD COLUMN ref3 TEXT REFERENCES p (code) DEFAULT 'a'",
    "ALTER TABLE c ADD COLUMN qref TEXT REFERENCES q (k) DEFAULT 'k1'",
    "ALTER TABLE lone ADD COLUMN pref INTEGER REFERENCES p (id) DEFAULT 2",
    "CREATE UNIQUE INDEX IF NOT EXISTS p_name ON p (name)",
    "CREATE UNIQUE INDEX IF NOT EXISTS p_code_nocase ON p (code COLLATE NOCASE)",
    "CREATE INDEX IF NOT EXISTS p_note ON p (note)",
    "CREATE INDEX IF NOT EXISTS c_pid ON c (pid)",
    "DROP INDEX IF EXISTS p_name",
    "DROP INDEX IF EXISTS p_name0",
    "CREATE UNIQUE INDEX IF NOT EXISTS p_name_nocase ON p (name COLLATE NOCASE)",
    "ALTER TABLE h RENAME COLUMN pname TO parent_name",
    "CREATE TABLE IF NOT EXISTS q (k TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS q2 (k TEXT PRIMARY KEY, pid INTEGER REFERENCES p (id))",
    "CREATE TABLE IF NOT EXISTS copy AS SELECT * FROM c",
    "CREATE TABLE IF NOT EXISTS d (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p (id))",
    "DROP TABLE IF EXISTS p",
    "DROP TABLE IF EXISTS lone",
    "ALTER TABLE p RENAME TO p_renamed",
    "ALTER TABLE p RENAME COLUMN id TO pid",
    "ALTER TABLE c RENAME COLUMN pid TO parent",
    "ALTER TABLE c DROP COLUMN note",
    "ALTER TABLE p DROP COLUMN note",
    "CREATE VIEW IF NOT EXISTS v AS SELECT * FROM c",
    // A rebuild that forgets the rows: the same name and definition, the rows gone.
    "DROP TABLE IF EXISTS p; CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT, name TEXT, note TEXT); CREATE UNIQUE INDEX IF NOT EXISTS p_name0 ON p (name)",
    "CREATE TABLE new_c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p (id), pcode TEXT, note TEXT); DROP TABLE IF EXISTS c; ALTER TABLE new_c RENAME TO c",
    "CREATE TABLE new_p AS SELECT * FROM p WHERE id = 1; DROP TABLE IF EXISTS p; ALTER TABLE new_p RENAME TO p",
];

/// A small deterministic generator (xorshift), so a failing case names its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// What a check found, sorted, or that it could not run (a foreign key that names no key).
fn found(
    result: rusqlite::Result<Vec<FkViolation>>,
    before: &[FkViolation],
) -> Result<Vec<FkViolation>, ()> {
    let mut new = fk::introduced(before, result.map_err(|_| ())?);
    new.sort();
    Ok(new)
}

#[test]
fn the_narrowed_check_finds_every_violation_the_whole_check_finds() {
    let cases: u64 = std::env::var("FK_SCOPE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let (mut narrowed_cases, mut skipped_work) = (0, 0);
    for seed in 1..=cases {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(BASE).unwrap();
        // The tables a statement creates or drops, as the engine's authorizer records them.
        let replaced = Arc::new(Mutex::new(BTreeSet::new()));
        let sink = Arc::clone(&replaced);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if let AuthAction::CreateTable { table_name } | AuthAction::DropTable { table_name } =
                ctx.action
            {
                sink.lock().unwrap().insert(table_name.to_ascii_lowercase());
            }
            Authorization::Allow
        }))
        .unwrap();
        let before = fk::violations(&conn).unwrap();
        let footprint = Footprint::take(&conn).unwrap();
        let mut applied = Vec::new();
        for _ in 0..=rng.below(3) {
            let change = CHANGES[rng.below(CHANGES.len())];
            if conn.execute_batch(change).is_ok() {
                applied.push(change);
            }
        }
        let replaced = replaced.lock().unwrap().clone();
        let scope = footprint.scope(&conn, &replaced).unwrap();
        let narrowed = found(fk::violations_in(&conn, &scope), &before);
        let whole = found(fk::violations(&conn), &before);
        assert_eq!(
            narrowed, whole,
            "seed {seed}: {applied:#?}\nscope {scope:?}"
        );
        if let Scope::Tables(tables) = &scope {
            narrowed_cases += 1;
            if tables.is_empty() {
                skipped_work += 1;
            }
        }
    }
    // The campaign exercises narrowing, not only the whole check.
    assert!(narrowed_cases > cases / 2, "{narrowed_cases} of {cases}");
    assert!(skipped_work > 0, "no sequence left nothing to check");
}
