//! Validation refuses a run (exit 4) and changes nothing when an applied migration was edited
//! or removed, a pending one is older than the current version, or the schema drifted.

use migrate_tests::{Scratch, dump, example_migrations};

fn migrated() -> Scratch {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up", "--to", "4"]).expect(0);
    s
}

#[test]
fn an_edited_applied_migration_refuses_the_run() {
    let s = migrated();
    let before = dump(&s.db());
    let file = s.migrations().join("0002_create_projects.up.sql");
    let mut sql = std::fs::read_to_string(&file).unwrap();
    sql.push_str("-- an innocent-looking edit\n");
    std::fs::write(&file, sql).unwrap();

    let run = s.migrate(&["up"]).expect(4);
    assert!(
        run.stderr
            .contains("migration 2 (create_projects) was changed after it was applied"),
        "{}",
        run.stderr
    );
    assert_eq!(dump(&s.db()), before);
    // Allowed explicitly, it runs.
    s.migrate(&["up", "--allow-changed"]).expect(0);
}

#[test]
fn line_endings_and_bom_are_not_an_edit() {
    let s = migrated();
    let file = s.migrations().join("0002_create_projects.up.sql");
    let sql = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("\u{feff}{}", sql.replace('\n', "\r\n"))).unwrap();
    s.migrate(&["up"]).expect(0);
}

#[test]
fn a_removed_applied_migration_refuses_the_run() {
    let s = migrated();
    let before = dump(&s.db());
    std::fs::remove_file(s.migrations().join("0003_create_roles.up.sql")).unwrap();
    std::fs::remove_file(s.migrations().join("0003_create_roles.down.sql")).unwrap();
    std::fs::remove_file(s.migrations().join("0003_create_roles.verify.sql")).unwrap();
    let run = s.migrate(&["up"]).expect(4);
    assert!(
        run.stderr
            .contains("migration 3 (create_roles) was applied but its file is missing"),
        "{}",
        run.stderr
    );
    assert_eq!(dump(&s.db()), before);
}

#[test]
fn a_pending_migration_below_the_current_version_refuses_the_run() {
    let s = Scratch::with_migrations(&example_migrations());
    let aside = s.dir.path().join("aside");
    std::fs::create_dir(&aside).unwrap();
    let roles = [
        "0003_create_roles.up.sql",
        "0003_create_roles.down.sql",
        "0003_create_roles.verify.sql",
    ];
    for f in roles {
        std::fs::rename(s.migrations().join(f), aside.join(f)).unwrap();
    }
    s.migrate(&["up", "--to", "4"]).expect(0);
    for f in roles {
        std::fs::rename(aside.join(f), s.migrations().join(f)).unwrap();
    }
    let before = dump(&s.db());
    let run = s.migrate(&["up"]).expect(4);
    assert!(
        run.stderr
            .contains("migration 3 (create_roles) is pending but lower than the current version 4"),
        "{}",
        run.stderr
    );
    assert_eq!(dump(&s.db()), before);
    let report = s
        .migrate(&["--json", "up", "--allow-out-of-order"])
        .expect(0)
        .json();
    let versions: Vec<i64> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [3, 5, 6]);
}

#[test]
fn schema_drift_refuses_the_run_until_allowed() {
    let s = migrated();
    s.conn().execute_batch("CREATE TABLE hotfix (x);").unwrap();
    let before = dump(&s.db());
    let run = s.migrate(&["up"]).expect(4);
    assert!(
        run.stderr
            .contains("the schema was changed outside migrations"),
        "{}",
        run.stderr
    );
    assert_eq!(dump(&s.db()), before);
    let status = s.migrate(&["--json", "status"]).expect(0).json();
    assert_eq!(status["schema_drift"], true);
    s.migrate(&["up", "--allow-drift"]).expect(0);
    // The run recorded the new fingerprint: the next run sees no drift.
    s.migrate(&["down", "--steps", "1"]).expect(0);
}

#[test]
fn malformed_migration_files_are_usage_errors_naming_the_file() {
    let s = migrated();
    std::fs::write(s.migrations().join("0007_orphan.down.sql"), "DROP TABLE x;").unwrap();
    let run = s.migrate(&["up"]).expect(2);
    assert!(
        run.stderr.contains(
            "invalid migration file 0007_orphan.down.sql: there is no up migration for version 7"
        ),
        "{}",
        run.stderr
    );
    std::fs::remove_file(s.migrations().join("0007_orphan.down.sql")).unwrap();
    std::fs::write(s.migrations().join("0007_bad.up.sql"), [0x53, 0xff, 0x3b]).unwrap();
    let run = s.migrate(&["status"]).expect(2);
    assert!(
        run.stderr.contains("0007_bad.up.sql: not valid UTF-8"),
        "{}",
        run.stderr
    );
}

/// Drift is named object by object (from the schema the last run recorded, not only its hash),
/// and, after review, accepted: the next run goes ahead without an override, even when nothing
/// is pending (where `up --allow-drift` has nothing to run and records nothing).
#[test]
fn drift_names_the_objects_and_accept_drift_records_the_schema_after_review() {
    let s = migrated();
    s.migrate(&["up"]).expect(0);
    s.conn()
        .execute_batch(
            "CREATE TABLE hotfix (x); CREATE INDEX tasks_title ON tasks (title); DROP INDEX projects_owner;",
        )
        .unwrap();
    let run = s.migrate(&["up"]).expect(4);
    for said in [
        "table hotfix added",
        "index tasks_title added",
        "index projects_owner removed",
        "(--allow-drift)",
    ] {
        assert!(run.stderr.contains(said), "{said}: {}", run.stderr);
    }
    let status = s.migrate(&["status"]).expect(0);
    assert!(
        status.stdout.contains("  index projects_owner removed\n"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("migrate accept-drift"),
        "{}",
        status.stdout
    );
    let json = s.migrate(&["--json", "status"]).expect(0).json();
    let drift = &json["problems"][0];
    assert_eq!(drift["kind"], "schema_drift", "{json}");
    assert_eq!(drift["differences"].as_array().unwrap().len(), 3, "{json}");

    // Nothing pending: `--allow-drift` has nothing to run, and the drift stays.
    s.migrate(&["up", "--allow-drift"]).expect(0);
    s.migrate(&["up"]).expect(4);

    let accepted = s.migrate(&["--json", "accept-drift"]).expect(0).json();
    assert_eq!(accepted["drifted"], true);
    assert_eq!(accepted["differences"].as_array().unwrap().len(), 3);
    s.migrate(&["up"]).expect(0);
    let json = s.migrate(&["--json", "status"]).expect(0).json();
    assert_eq!(json["schema_drift"], false, "{json}");
    let again = s.migrate(&["accept-drift"]).expect(0);
    assert!(again.stdout.starts_with("no drift"), "{}", again.stdout);
    let history = s.migrate(&["--json", "history"]).expect(0).json();
    assert!(
        history.to_string().contains("\"accept-drift\""),
        "{history}"
    );

    // A change made and undone by hand is no drift at all.
    s.conn()
        .execute_batch("CREATE INDEX temp_i ON hotfix (x); DROP INDEX temp_i;")
        .unwrap();
    s.migrate(&["up"]).expect(0);
}
