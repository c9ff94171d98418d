//! A run is all or nothing: when the third of five migrations fails, the database is exactly as
//! before, the exit code is 5, and the failed attempt is recorded with the file and line.

use migrate_tests::{Scratch, count, fixture, user_dump};

#[test]
fn third_of_five_failing_leaves_the_database_as_before() {
    // Data that existed before migrations were adopted must come through untouched.
    let s = Scratch::with_migrations(&fixture("migrations_broken")).with_legacy_data();
    let before = user_dump(&s.db());

    let run = s.migrate(&["up"]).expect(5);
    assert!(
        run.stderr
            .contains("migration 3 failed at 0003_break.up.sql:5: no such table: no_such_table"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the database is unchanged"),
        "{}",
        run.stderr
    );

    assert_eq!(user_dump(&s.db()), before);
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_history"), 0);
    let (outcome, error): (String, String) = conn
        .query_row(
            "SELECT outcome, error FROM _migrate_attempts ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(outcome, "failed");
    assert!(error.contains("0003_break.up.sql:5"), "{error}");
}

#[test]
fn json_error_carries_the_failure_and_the_report() {
    let s = Scratch::with_migrations(&fixture("migrations_broken"));
    let run = s.migrate(&["--json", "up"]).expect(5);
    let doc = run.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["exit_code"], 5);
    assert_eq!(doc["error"]["failure"]["kind"], "statement");
    assert_eq!(doc["error"]["failure"]["version"], 3);
    assert_eq!(doc["error"]["failure"]["line"], 5);
    assert_eq!(doc["error"]["report"]["database"]["state"], "unchanged");
}

#[test]
fn per_migration_failure_after_commits_is_partial_without_a_backup() {
    // Without the net a failure after commits leaves the database part-way (with it, a
    // database that was empty is emptied again: empty_database.rs).
    let s = Scratch::with_migrations(&fixture("migrations_broken"));
    let run = s
        .migrate(&["up", "--per-migration", "--no-backup"])
        .expect(7);
    assert!(
        run.stderr.contains("left partly migrated, at version 2"),
        "{}",
        run.stderr
    );
    let conn = s.conn();
    // Migrations 1 and 2 committed on their own; 3 rolled back as a whole.
    assert_eq!(count(&conn, "SELECT max(version) FROM _migrate_history"), 2);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM accounts WHERE owner = 'ann'"),
        1
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM pragma_table_info('ledger') WHERE name = 'memo'"
        ),
        0
    );
}

#[test]
fn a_failing_verify_query_rolls_the_run_back_and_shows_the_query() {
    let s = Scratch::with_migrations(&fixture("migrations_broken"));
    std::fs::remove_file(s.migrations().join("0003_break.up.sql")).unwrap();
    std::fs::write(
        s.migrations().join("0003_break.up.sql"),
        "UPDATE accounts SET owner = 'x';",
    )
    .unwrap();
    std::fs::write(
        s.migrations().join("0003_break.verify.sql"),
        "SELECT count(*) = 2 FROM accounts;\nSELECT count(*) = 0 FROM accounts WHERE owner = 'x';\n",
    )
    .unwrap();
    let run = s.migrate(&["up"]).expect(5);
    assert!(
        run.stderr.contains("verification of migration 3 failed at 0003_break.verify.sql:2: expected one row holding 1, got 0"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("query: SELECT count(*) = 0 FROM accounts WHERE owner = 'x';")
    );
    let conn = s.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'accounts'"
        ),
        0
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_history"), 0);
}
