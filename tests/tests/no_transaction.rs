//! `-- migrate:no-transaction` files run on their own, outside a transaction: VACUUM works, the
//! transactional migrations around it still commit as groups, and the plan says so.

use migrate_tests::{Scratch, count, fixture};

#[test]
fn vacuum_runs_outside_the_transaction() {
    let s = Scratch::with_migrations(&fixture("migrations_no_tx"));
    let plan = s.migrate(&["plan"]).expect(0);
    assert!(
        plan.stdout
            .contains("-- 2 vacuum (0002_vacuum.up.sql, outside a transaction)"),
        "{}",
        plan.stdout
    );
    let report = s.migrate(&["--json", "up"]).expect(0).json();
    assert_eq!(report["to_version"], 3);
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_history"), 3);
    assert_eq!(count(&conn, "SELECT count(*) FROM notes"), 2);
}

#[test]
fn without_the_directive_vacuum_fails_and_nothing_is_applied() {
    let s = Scratch::with_migrations(&fixture("migrations_no_tx"));
    std::fs::write(s.migrations().join("0002_vacuum.up.sql"), "VACUUM;\n").unwrap();
    let run = s.migrate(&["up"]).expect(5);
    assert!(
        run.stderr
            .contains("cannot VACUUM from within a transaction"),
        "{}",
        run.stderr
    );
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_history"), 0);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"
        ),
        0
    );
}

#[test]
fn a_failure_after_a_no_transaction_step_reports_the_partial_state() {
    // Without the net (with it, a database that was empty is emptied again:
    // empty_database.rs).
    let s = Scratch::with_migrations(&fixture("migrations_no_tx"));
    std::fs::write(s.migrations().join("0003_tags.verify.sql"), "SELECT 0;\n").unwrap();
    let run = s.migrate(&["up", "--no-backup"]).expect(7);
    s.assert_left_at(&run, 2);
}

#[test]
fn an_unknown_directive_is_a_usage_error() {
    let s = Scratch::with_migrations(&fixture("migrations_no_tx"));
    std::fs::write(
        s.migrations().join("0002_vacuum.up.sql"),
        "-- migrate:no-transactoin\nVACUUM;\n",
    )
    .unwrap();
    let run = s.migrate(&["status"]).expect(2);
    assert!(
        run.stderr
            .contains("0002_vacuum.up.sql:1: unknown directive `migrate:no-transactoin`"),
        "{}",
        run.stderr
    );
}

/// golang-migrate and goose files rebuild tables inside their own `BEGIN … COMMIT` (foreign keys
/// off around it): found without a directive and run outside the run's transaction.
#[test]
fn a_file_that_opens_its_own_transaction_runs_without_a_directive() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_t.up.sql"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
    )
    .unwrap();
    std::fs::write(
        s.migrations().join("0002_rebuild.up.sql"),
        "PRAGMA foreign_keys = OFF;\nBEGIN;\nCREATE TABLE t2 (id INTEGER PRIMARY KEY, v TEXT NOT NULL DEFAULT '');\n\
         INSERT INTO t2 SELECT id, coalesce(v, '') FROM t;\nDROP TABLE t;\nALTER TABLE t2 RENAME TO t;\nCOMMIT;\n\
         PRAGMA foreign_keys = ON;\n",
    )
    .unwrap();
    let plan = s.migrate(&["plan"]).expect(0);
    assert!(
        plan.stdout
            .contains("outside ours (the file opens its own transaction)"),
        "{}",
        plan.stdout
    );
    s.migrate(&["up"]).expect(0);
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_history"), 2);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM pragma_table_info('t') WHERE \"notnull\" = 1"
        ),
        1
    );
}

/// A file that opens its own transaction and fails inside it, or never ends it: the run ends
/// that transaction before anything else, so it neither waits on itself for the lock timeout
/// nor leaves its attempt `running`; the database is as before the run (exit 5).
#[test]
fn a_file_failing_inside_its_own_transaction_leaves_no_transaction_open() {
    for (file, said) in [
        (
            "-- migrate:no-transaction\nBEGIN;\nCREATE TABLE x (a);\nINSERT INTO missing VALUES (1);\nCOMMIT;\n",
            "no such table: missing",
        ),
        (
            "BEGIN;\nCREATE TABLE x (a);\nINSERT INTO missing VALUES (1);\nCOMMIT;\n",
            "no such table: missing",
        ),
        (
            "BEGIN;\nCREATE TABLE x (a);\n",
            "opened a transaction and did not end it",
        ),
    ] {
        let s = Scratch::new();
        std::fs::create_dir_all(s.migrations()).unwrap();
        std::fs::write(s.migrations().join("0001_t.up.sql"), "CREATE TABLE t (a);").unwrap();
        s.migrate(&["up"]).expect(0);
        s.conn()
            .execute("INSERT INTO t VALUES ('app')", [])
            .unwrap();
        std::fs::write(s.migrations().join("0002_own.up.sql"), file).unwrap();
        let started = std::time::Instant::now();
        let run = s.migrate(&["--lock-timeout", "30", "up"]).expect(5);
        assert!(run.stderr.contains(said), "{file}: {}", run.stderr);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{file}: the run waited on its own transaction"
        );
        let conn = s.conn();
        assert_eq!(count(&conn, "SELECT count(*) FROM t"), 1, "{file}");
        assert_eq!(
            count(&conn, "SELECT count(*) FROM sqlite_schema WHERE name = 'x'"),
            0,
            "{file}"
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM _migrate_attempts WHERE outcome = 'running'"
            ),
            0,
            "{file}"
        );
        assert_eq!(count(&conn, "SELECT max(version) FROM _migrate_history"), 1);
    }
}
