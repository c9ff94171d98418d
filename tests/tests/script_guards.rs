//! The run against its own scripts: a statement that would end the run's transaction is refused
//! before it runs (nothing before it stays committed), a verify query that writes is refused,
//! and a migration that writes the tool's own tables fails (rolled back), each naming the file.

use migrate_tests::{Scratch, count, dump};

fn with(files: &[(&str, &str)]) -> Scratch {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    for (name, sql) in files {
        std::fs::write(s.migrations().join(name), sql).unwrap();
    }
    s
}

fn tables(s: &Scratch) -> i64 {
    count(
        &s.conn(),
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_migrate%' ESCAPE '\\'",
    )
}

#[test]
fn commit_end_or_rollback_inside_a_migration_is_refused_and_nothing_stays_committed() {
    for keyword in ["COMMIT", "END TRANSACTION", "ROLLBACK"] {
        let s = with(&[
            (
                "0001_base.up.sql",
                "CREATE TABLE base (id INTEGER PRIMARY KEY);",
            ),
            (
                "0002_bad.up.sql",
                &format!(
                    "CREATE TABLE early (x);\nINSERT INTO base VALUES (1);\n{keyword};\nCREATE TABLE late (y);"
                ),
            ),
        ]);
        let run = s.migrate(&["up"]).expect(5);
        assert!(run.stderr.contains("0002_bad.up.sql:3"), "{}", run.stderr);
        assert!(
            run.stderr.contains("would end the run's transaction"),
            "{}",
            run.stderr
        );
        // One transaction: not even 0001 is applied, and nothing of 0002 stayed.
        assert_eq!(tables(&s), 0, "{keyword}");
        let doc = s.migrate(&["--json", "status"]).expect(0).json();
        assert_eq!(doc["current_version"], serde_json::Value::Null, "{keyword}");
        // Per migration: 0001 commits on its own; 0002 left no trace (today the run then
        // restores its pre-run backup; either way nothing of 0002 remains).
        let run = s.migrate(&["up", "--per-migration"]).expect(5);
        assert!(run.stderr.contains("0002_bad.up.sql:3"), "{}", run.stderr);
        assert_eq!(
            count(
                &s.conn(),
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('early', 'late')"
            ),
            0,
            "{keyword}"
        );
        if count(
            &s.conn(),
            "SELECT count(*) FROM sqlite_schema WHERE name = 'base'",
        ) == 1
        {
            assert_eq!(
                count(&s.conn(), "SELECT count(*) FROM base"),
                0,
                "{keyword}"
            );
        }
    }
}

#[test]
fn a_no_transaction_file_may_manage_its_own_transaction() {
    let s = with(&[(
        "0001_own.up.sql",
        "-- migrate:no-transaction\nBEGIN;\nCREATE TABLE own (x);\nCOMMIT;",
    )]);
    s.migrate(&["up"]).expect(0);
    assert_eq!(tables(&s), 1);
}

#[test]
fn a_verify_query_that_writes_is_refused_and_its_write_rolled_back() {
    let s = with(&[
        (
            "0001_t.up.sql",
            "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);",
        ),
        ("0001_t.verify.sql", "UPDATE t SET x = 42 RETURNING 1;"),
    ]);
    let run = s.migrate(&["up"]).expect(5);
    assert!(run.stderr.contains("must only read"), "{}", run.stderr);
    assert!(run.stderr.contains("0001_t.verify.sql:1"), "{}", run.stderr);
    assert_eq!(tables(&s), 0);
}

#[test]
fn a_migration_that_writes_the_tools_tables_fails_and_is_rolled_back() {
    for sql in [
        "UPDATE _migrate_history SET version = 99;",
        "DELETE FROM _migrate_history;",
        "INSERT INTO _migrate_history (version, name, checksum, applied_at, duration_ms) VALUES (77, 'x', 'y', 'z', 0);",
        "DROP TABLE _migrate_attempts;",
    ] {
        let s = with(&[(
            "0001_base.up.sql",
            "CREATE TABLE base (id INTEGER PRIMARY KEY);",
        )]);
        s.migrate(&["-q", "up"]).expect(0);
        std::fs::write(
            s.migrations().join("0002_meddle.up.sql"),
            format!("CREATE TABLE extra (x);\n{sql}"),
        )
        .unwrap();
        let before = dump(&s.db());
        let run = s.migrate(&["up"]).expect(5);
        assert!(
            run.stderr.contains("0002_meddle.up.sql") && run.stderr.contains("_migrate_"),
            "{sql}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("must not write"), "{}", run.stderr);
        // The history is as it was: version 1 applied, 2 pending, no 77 or 99.
        let doc = s.migrate(&["--json", "status"]).expect(0).json();
        assert_eq!(doc["current_version"], 1, "{sql}");
        assert_eq!(doc["pending"][0]["version"], 2, "{sql}");
        let after = dump(&s.db());
        assert_eq!(
            before
                .lines()
                .filter(|l| !l.contains("_migrate_attempts"))
                .count(),
            after
                .lines()
                .filter(|l| !l.contains("_migrate_attempts"))
                .count(),
            "{sql}"
        );
        assert_eq!(tables(&s), 1, "{sql}");
    }
}

#[test]
fn a_migration_writing_a_damaged_table_is_rolled_back_by_the_check_before_commit() {
    let s = with(&[(
        "0001_base.up.sql",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT);",
    )]);
    s.migrate(&["-q", "up"]).expect(0);
    s.conn()
        .execute_batch(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
               INSERT INTO t SELECT x, hex(randomblob(20)) FROM c;",
        )
        .unwrap();
    // Damage on one of t's leaf pages: its cell pointers point past the page's end.
    let leaf: i64 = s
        .conn()
        .query_row(
            "SELECT pageno FROM dbstat WHERE name = 't' AND pagetype = 'leaf' LIMIT 1 OFFSET 4",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut bytes = std::fs::read(s.db()).unwrap();
    let at = (leaf as usize - 1) * 4096 + 8;
    bytes[at..at + 16].fill(0xff);
    std::fs::write(s.db(), bytes).unwrap();
    // --no-backup skips the pre-flight, so only the check before COMMIT stands in the way.
    std::fs::write(
        s.migrations().join("0002_touch_t.up.sql"),
        "INSERT INTO t (v) VALUES ('new');",
    )
    .unwrap();
    let run = s.migrate(&["up", "--no-backup"]).expect(5);
    assert!(
        run.stderr
            .contains("the integrity check of what the migrations wrote found"),
        "{}",
        run.stderr
    );
    // Rolled back: still at version 1 (only the failed attempt was recorded).
    let doc = s.migrate(&["--json", "status"]).expect(0).json();
    assert_eq!(doc["current_version"], 1);
    assert!(
        run.stderr.contains("the database is unchanged"),
        "{}",
        run.stderr
    );
    // A migration that writes only the healthy table is not held up by t's damage.
    std::fs::remove_file(s.migrations().join("0002_touch_t.up.sql")).unwrap();
    std::fs::write(
        s.migrations().join("0002_touch_u.up.sql"),
        "INSERT INTO u (v) VALUES ('new');",
    )
    .unwrap();
    s.migrate(&["up", "--no-backup"]).expect(0);
}
