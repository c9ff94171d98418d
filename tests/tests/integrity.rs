//! `migrate check`: damage of each kind is found, classified and mapped to its table; a
//! healthy database passes; exit 6 on findings.

use migrate_tests::{Scratch, example_migrations};

const PAGE: usize = 4096;

/// A database with a parent `p`, a child `t` (two indexes), and the root pages of each.
fn sample() -> Scratch {
    let s = Scratch::new();
    s.conn()
        .execute_batch(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT);
             CREATE TABLE t (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p (id), v TEXT, w TEXT);
             CREATE INDEX t_v ON t (v);
             CREATE UNIQUE INDEX t_w ON t (w);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50)
               INSERT INTO p SELECT x, 'p' || x FROM n;
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000)
               INSERT INTO t SELECT x, 1 + x % 50, hex(randomblob(20)), 'w' || x FROM n;",
        )
        .unwrap();
    s
}

fn root(s: &Scratch, name: &str) -> usize {
    s.conn()
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
}

/// A page of table `t` other than its root: its b-tree leaves.
fn leaf_of_t(s: &Scratch) -> usize {
    s.conn()
        .query_row(
            "SELECT pageno FROM dbstat WHERE name = 't' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 3",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
}

fn patch(s: &Scratch, offset: usize, bytes: &[u8]) {
    let mut data = std::fs::read(s.db()).unwrap();
    data[offset..offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(s.db(), data).unwrap();
}

fn findings(s: &Scratch, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["--json", "check"];
    all.extend_from_slice(args);
    let run = s.migrate(&all).expect(6);
    let doc = run.json();
    assert_eq!(doc["ok"], false);
    doc["findings"].as_array().unwrap().clone()
}

#[test]
fn a_healthy_database_passes() {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["-q", "up"]).expect(0);
    let run = s.migrate(&["check", "--full"]).expect(0);
    assert!(
        run.stdout.starts_with("ok: integrity_check"),
        "{}",
        run.stdout
    );
}

#[test]
fn bytes_flipped_in_a_table_leaf_are_found_on_that_table() {
    let s = sample();
    let leaf = leaf_of_t(&s);
    // The leaf's page type (0x0d, a table leaf) and its first cell pointers, flipped.
    patch(&s, (leaf - 1) * PAGE, &[0xff]);
    patch(&s, (leaf - 1) * PAGE + 8, &[0xff; 4]);
    // Whether SQLite names the page or only says "malformed" (then each table is checked on
    // its own), the damage lands on t; the full check also sees t's indexes disagree with it.
    for depth in [&["--full"][..], &[]] {
        let found = findings(&s, depth);
        assert!(found.iter().any(|f| f["kind"] == "page"), "{found:#?}");
        assert!(found.iter().all(|f| f["table"] == "t"), "{found:#?}");
    }
}

#[test]
fn a_zeroed_index_page_is_found_on_the_index_and_its_table() {
    let s = sample();
    let index_root = root(&s, "t_v");
    patch(&s, (index_root - 1) * PAGE, &[0u8; PAGE]);
    let found = findings(&s, &[]);
    assert!(
        found
            .iter()
            .any(|f| f["table"] == "t" && f["object"] == "t_v"),
        "{found:#?}"
    );
}

#[test]
fn index_entries_missing_are_found_by_the_full_check() {
    let s = sample();
    // The index's definition no longer matches its entries: as if entries were lost.
    s.conn()
        .execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = replace(sql, 't (v)', 't (w)') WHERE name = 't_v';",
        )
        .unwrap();
    s.migrate(&["check"]).expect(0);
    let found = findings(&s, &["--full"]);
    assert!(
        found
            .iter()
            .all(|f| f["kind"] == "index" && f["object"] == "t_v" && f["table"] == "t")
    );
    assert!(found.len() >= 100);
}

#[test]
fn a_not_null_violation_is_a_constraint_finding() {
    let s = sample();
    s.conn()
        .execute_batch(
            "UPDATE t SET v = NULL WHERE id = 7;
             PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = replace(sql, 'v TEXT', 'v TEXT NOT NULL') WHERE name = 't';",
        )
        .unwrap();
    let found = findings(&s, &[]);
    assert_eq!(found[0]["kind"], "constraint");
    assert_eq!(found[0]["table"], "t");
    assert_eq!(found[0]["message"], "NULL value in t.v");
}

/// Cut in half, the file is what SQLite calls damaged (it reads the missing pages as zeros):
/// the check says so in SQLite's words, and no longer adds a size finding of its own, which
/// SQLite does not make (a file longer than its header says, or missing only free pages, is one
/// SQLite reads as sound).
#[test]
fn a_truncated_file_is_damage_in_sqlites_words() {
    let s = sample();
    let data = std::fs::read(s.db()).unwrap();
    std::fs::write(s.db(), &data[..data.len() / 2]).unwrap();
    let found = findings(&s, &[]);
    assert!(
        found
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("malformed")),
        "{found:#?}"
    );
    assert!(found.iter().all(|f| f["kind"] != "unchecked"), "{found:#?}");
}

#[test]
fn orphaned_rows_are_foreign_key_findings() {
    let s = sample();
    s.conn()
        .execute_batch("PRAGMA foreign_keys = OFF; DELETE FROM p WHERE id = 3;")
        .unwrap();
    let found = findings(&s, &["--table", "t"]);
    assert_eq!(found.len(), 60, "rows of t whose parent 3 is gone");
    assert!(
        found
            .iter()
            .all(|f| f["kind"] == "foreign_key" && f["table"] == "t")
    );
    // Checking only p does not report t's rows.
    s.migrate(&["check", "--table", "p"]).expect(0);
}

#[test]
fn an_unknown_table_is_a_usage_error() {
    let s = sample();
    let run = s
        .migrate(&["check", "--table", "nope\"; DROP TABLE t; --"])
        .expect(2);
    assert!(run.stderr.contains("there is no table"), "{}", run.stderr);
}

/// A row that breaks its CHECK constraint (written with `ignore_check_constraints`): `check`
/// reports it as SQLite's own connection does and exits 6, and `up` refuses to migrate the
/// database (exit 6) without changing it.
#[test]
fn a_row_that_breaks_its_check_constraint_is_found_and_refused() {
    let s = Scratch::with_migrations(&example_migrations());
    s.conn()
        .execute_batch(
            "CREATE TABLE prices (id INTEGER PRIMARY KEY, cents INTEGER CHECK (cents >= 0));
             PRAGMA ignore_check_constraints = ON;
             INSERT INTO prices VALUES (1, -100);",
        )
        .unwrap();
    let check = s.migrate(&["--json", "check"]).expect(6);
    let doc = check.json();
    assert_eq!(doc["verdict"], "damaged", "{doc}");
    assert!(
        doc.to_string()
            .contains("CHECK constraint failed in prices"),
        "{doc}"
    );
    let before = migrate_tests::user_dump(&s.db());
    s.migrate(&["up"]).expect(6);
    assert_eq!(migrate_tests::user_dump(&s.db()), before);
}
