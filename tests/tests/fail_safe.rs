//! A check is "ok" only when SQLite said exactly `ok`: the reproductions that once passed as
//! healthy (a table's root page overwritten, SQLite's multi-line answer), a damaged index page
//! named at full depth, `verify` on foreign-key orphans, `backup verify` on a damaged image,
//! and a repair that brings rows back from a backup saying at which value.

use migrate_tests::{Scratch, count};

const PAGE: u64 = 4096;

/// The reproduction: `a` on page 2, `t` with 5,000 rows rooted on page 3, and a
/// migrations directory with one migration pending for `up`.
fn root_page_overwritten() -> Scratch {
    let s = Scratch::new();
    s.conn()
        .execute_batch(
            "CREATE TABLE a (x); CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
               INSERT INTO t SELECT x, hex(randomblob(20)) FROM c;",
        )
        .unwrap();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_b.up.sql"),
        "CREATE TABLE b (id INTEGER PRIMARY KEY);",
    )
    .unwrap();
    write_at(&s, 2 * PAGE + 8, &[0xff; 200]);
    s
}

fn write_at(s: &Scratch, offset: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(s.db())
        .unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

/// The database file and its journals, byte for byte, and whether any backup was left.
fn files(s: &Scratch) -> (Vec<Option<Vec<u8>>>, bool) {
    let db = s.db();
    let bytes = ["", "-wal", "-journal"]
        .iter()
        .map(|suffix| std::fs::read(migrate_tests::sibling(&db, suffix)).ok())
        .collect();
    let backups = std::fs::read_dir(migrate_tests::sibling(&db, ".backups"))
        .map(|d| d.count() > 0)
        .unwrap_or(false);
    (bytes, backups)
}

#[test]
fn a_root_page_of_0xff_is_damage_to_every_check_and_up_refuses_it() {
    let s = root_page_overwritten();
    for args in [
        &["check"][..],
        &["check", "--jobs", "2"],
        &["check", "--full"],
        &["check", "--full", "--jobs", "2"],
        &["check", "--table", "t"],
    ] {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let doc = s.migrate(&all).expect(6).json();
        let findings = doc["findings"].as_array().unwrap();
        assert!(
            findings
                .iter()
                .any(|f| f["table"] == "t" && f["kind"] == "page"),
            "{args:?}: {findings:#?}"
        );
        // Every line of SQLite's multi-line answer is its own finding; the banner is none.
        assert!(doc["count"].as_u64().unwrap() > 1, "{args:?}");
        assert!(
            findings
                .iter()
                .all(|f| !f["message"].as_str().unwrap().contains("***")),
            "{findings:#?}"
        );
    }
    let before = files(&s);
    let run = s.migrate(&["up"]).expect(6);
    assert!(run.stderr.contains("damaged"), "{}", run.stderr);
    assert!(files(&s) == before, "up wrote something");
    s.migrate(&["verify"]).expect(6);
}

#[test]
fn a_damaged_index_page_is_named_by_the_full_check() {
    let s = Scratch::new();
    s.conn()
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
             CREATE INDEX t_v ON t (v);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000)
               INSERT INTO t SELECT x, hex(randomblob(16)) FROM c;",
        )
        .unwrap();
    let leaf: u64 = s
        .conn()
        .query_row(
            "SELECT pageno FROM dbstat WHERE name = 't_v' AND pagetype = 'leaf' LIMIT 1 OFFSET 2",
            [],
            |r| r.get::<_, i64>(0).map(|p| p as u64),
        )
        .unwrap();
    write_at(&s, (leaf - 1) * PAGE + 12, &[0xff; 64]);
    for jobs in ["1", "2"] {
        let doc = s
            .migrate(&["--json", "check", "--full", "--jobs", jobs])
            .expect(6)
            .json();
        let findings = doc["findings"].as_array().unwrap();
        assert!(
            findings
                .iter()
                .any(|f| f["object"] == "t_v" && f["table"] == "t"),
            "--jobs {jobs}: {findings:#?}"
        );
        assert!(
            findings
                .iter()
                .all(|f| f["table"] != serde_json::Value::Null),
            "--jobs {jobs}: an unlocated finding: {findings:#?}"
        );
    }
}

#[test]
fn verify_exits_6_on_foreign_key_orphans_as_check_does() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_a.up.sql"),
        "CREATE TABLE p (id INTEGER PRIMARY KEY);
         CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p (id));",
    )
    .unwrap();
    s.migrate(&["-q", "up"]).expect(0);
    s.conn()
        .execute_batch("PRAGMA foreign_keys = OFF; INSERT INTO c VALUES (1, 99);")
        .unwrap();
    s.migrate(&["check"]).expect(6);
    let run = s.migrate(&["verify"]).expect(6);
    assert!(run.stdout.contains("ForeignKey"), "{}", run.stdout);
}

#[test]
fn backup_verify_fails_on_a_damaged_image_on_any_number_of_connections() {
    let s = root_page_overwritten();
    // A backup copies pages as they are: the damage goes with them.
    s.migrate(&["-q", "backup", "create"]).expect(0);
    for jobs in ["1", "2"] {
        let run = s.migrate(&["backup", "verify", "--jobs", jobs]).expect(6);
        assert!(
            run.stderr.contains("fails its integrity check"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn rows_brought_back_from_a_backup_are_reported_at_the_backups_value() {
    let s = Scratch::new();
    s.conn()
        .execute_batch(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL, label TEXT);
             CREATE INDEX items_qty ON items (qty);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
               INSERT INTO items SELECT x, x, 'item ' || x FROM c;",
        )
        .unwrap();
    s.migrate(&["-q", "backup", "create"]).expect(0);
    // After the backup: 41 rows updated on one leaf page, then that page overwritten.
    let leaf: u64 = s
        .conn()
        .query_row(
            "SELECT pageno FROM dbstat WHERE name = 'items' AND pagetype = 'leaf' LIMIT 1 OFFSET 5",
            [],
            |r| r.get::<_, i64>(0).map(|p| p as u64),
        )
        .unwrap();
    let updated = s
        .conn()
        .execute("UPDATE items SET qty = qty + 1000000 WHERE id % 73 = 0", [])
        .unwrap();
    assert_eq!(updated, 41);
    write_at(&s, (leaf - 1) * PAGE, &[0xee; PAGE as usize]);
    let run = s.migrate(&["repair"]);
    let out = &run.stdout;
    assert!(!out.contains(": none"), "{out}");
    let saved_line = out
        .lines()
        .find(|l| l.starts_with("rows that could not be saved: "))
        .unwrap_or_else(|| panic!("{out}"));
    let number = saved_line["rows that could not be saved: ".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap();
    assert!(number.parse::<u64>().is_ok(), "{saved_line}");
    assert_eq!(
        count(&s.conn(), "SELECT count(*) FROM items"),
        3000,
        "{out}"
    );
    // The page's rows came back from the backup (their ids are in the index) at their value of
    // then, which the report says, naming the backup's time.
    assert!(out.contains("restored at their value of 20"), "{out}");
    assert!(out.contains("came back only at an older value"), "{out}");
}
