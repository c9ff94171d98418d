//! The library API without the CLI: up, status, plan, down (with the down script recorded in
//! history when the file is gone), baseline, and the typed errors.

use belay_migrate::{
    DatabaseState, DownTarget, Error, Failure, Migrator, Request, TransactionScope, source,
};
use migrate_tests::{Scratch, count, example_migrations, fixture};

fn migrator(s: &Scratch) -> Migrator {
    Migrator::new(source::read_dir(s.migrations()).unwrap())
}

#[test]
fn up_status_and_nothing_pending() {
    let s = Scratch::with_migrations(&example_migrations());
    let m = migrator(&s);
    let status = m.status(s.db()).unwrap();
    assert_eq!(status.current_version, None);
    assert_eq!(status.pending.len(), 6);
    assert!(!s.db().exists(), "status must not create the database");

    let report = m.up(s.db()).unwrap();
    assert_eq!(report.database, DatabaseState::Migrated);
    assert_eq!((report.from_version, report.to_version), (None, Some(6)));
    assert_eq!(report.steps.len(), 6);

    let again = m.up(s.db()).unwrap();
    assert_eq!(again.database, DatabaseState::Unchanged);
    assert!(again.steps.is_empty());
    assert_eq!(
        again.attempt_id, None,
        "a run with nothing to do writes nothing"
    );

    let status = m.status(s.db()).unwrap();
    assert_eq!(status.current_version, Some(6));
    assert!(status.pending.is_empty() && status.problems.is_empty());
    assert_eq!(
        count(&s.conn(), "SELECT count(*) FROM _migrate_attempts"),
        1
    );
}

#[test]
fn down_uses_the_recorded_script_when_the_file_is_gone() {
    let s = Scratch::with_migrations(&example_migrations());
    migrator(&s).up(s.db()).unwrap();
    // A later build that no longer ships migration 6 can still revert it.
    for suffix in ["up", "down", "verify"] {
        std::fs::remove_file(
            s.migrations()
                .join(format!("0006_task_due_dates.{suffix}.sql")),
        )
        .unwrap();
    }
    let report = migrator(&s)
        .run(s.db(), &Request::Down(DownTarget::Steps(1)))
        .unwrap();
    assert_eq!(report.to_version, Some(5));
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM pragma_table_info('tasks') WHERE name = 'due_on'"
        ),
        0
    );
}

#[test]
fn down_to_zero_reverts_everything() {
    let s = Scratch::with_migrations(&example_migrations());
    let m = migrator(&s);
    m.up(s.db()).unwrap();
    let report = m.run(s.db(), &Request::Down(DownTarget::To(0))).unwrap();
    assert_eq!(
        report.steps.iter().map(|s| s.version).collect::<Vec<_>>(),
        [6, 5, 4, 3, 2, 1]
    );
    assert_eq!(report.to_version, None);
    let conn = s.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE '\\_migrate\\_%' ESCAPE '\\'"
        ),
        0
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_history"), 0);
}

#[test]
fn a_failed_run_is_a_typed_error_with_its_report() {
    let s = Scratch::with_migrations(&fixture("migrations_broken"));
    let mut m = migrator(&s);
    m.transaction_scope(TransactionScope::Run);
    let Err(Error::RunFailed { failure, report }) = m.up(s.db()) else {
        panic!("expected a failed run")
    };
    assert!(matches!(
        *failure,
        Failure::Statement {
            version: 3,
            line: 5,
            ..
        }
    ));
    assert_eq!(report.database, DatabaseState::Unchanged);
    assert!(report.steps.is_empty());
    assert!(report.attempt_id.is_some());
}

#[test]
fn baseline_adopts_an_existing_schema() {
    let s = Scratch::with_migrations(&example_migrations());
    // An existing database built by hand with the schema of migrations 1 and 2.
    let conn = s.conn();
    for v in ["0001_create_users", "0002_create_projects"] {
        conn.execute_batch(
            &std::fs::read_to_string(s.migrations().join(format!("{v}.up.sql"))).unwrap(),
        )
        .unwrap();
    }
    conn.execute("INSERT INTO users (email, name) VALUES ('a@x', 'a')", [])
        .unwrap();
    drop(conn);
    let m = migrator(&s);
    let report = m.baseline(s.db(), 2).unwrap();
    assert_eq!(report.steps.len(), 2);
    // Recorded as what it was, in the table and the audit journal.
    let command: String = s
        .conn()
        .query_row(
            "SELECT command FROM _migrate_attempts WHERE id = ?1",
            [report.attempt_id.unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(command, "baseline");
    let journal = std::fs::read_to_string(belay_migrate::audit::path(
        &belay_migrate::backup::default_dir(&s.db()),
    ))
    .unwrap();
    assert!(journal.contains("\"command\":\"baseline\""), "{journal}");
    assert!(matches!(
        m.baseline(s.db(), 2),
        Err(Error::InvalidRequest { .. })
    ));
    let up = m.up(s.db()).unwrap();
    assert_eq!(
        up.steps.iter().map(|s| s.version).collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    assert_eq!(count(&s.conn(), "SELECT count(*) FROM users"), 1);
}

#[test]
fn plan_changes_nothing() {
    let s = Scratch::with_migrations(&example_migrations());
    let plan = migrator(&s).plan(s.db(), &Request::up()).unwrap();
    assert_eq!(plan.steps.len(), 6);
    assert!(!s.db().exists());
    assert!(matches!(
        migrator(&s).plan(s.db(), &Request::Up { to: Some(42) }),
        Err(Error::InvalidTarget { .. })
    ));
}
