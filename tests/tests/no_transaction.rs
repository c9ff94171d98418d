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
    let s = Scratch::with_migrations(&fixture("migrations_no_tx"));
    std::fs::write(s.migrations().join("0003_tags.verify.sql"), "SELECT 0;\n").unwrap();
    let run = s.migrate(&["up"]).expect(7);
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
