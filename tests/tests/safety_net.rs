//! The safety net around runs with work to do: a damaged database is refused before anything
//! is written; a backup is taken first; a run that fails after committing part of its work is
//! restored from it (exit 5), unless `--no-backup` (exit 7).

use migrate_core::backup;
use migrate_tests::{Scratch, count, dump, fixture};

/// The broken fixture's database with data already in it, so there is something to protect.
fn existing() -> Scratch {
    Scratch::with_migrations(&fixture("migrations_broken")).with_legacy_data()
}

/// The user-visible state, and the applied migrations: everything but the bookkeeping tables'
/// definitions and the attempts log, which records the failed run.
fn state(s: &Scratch) -> String {
    let conn = s.conn();
    let applied: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = '_migrate_history'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let applied = if applied == 1 {
        count(&conn, "SELECT count(*) FROM _migrate_history")
    } else {
        0
    };
    let mut text: String = migrate_tests::user_dump(&s.db());
    text.push_str(&format!("applied migrations: {applied}\n"));
    text
}

#[test]
fn a_failure_after_a_commit_is_restored_from_the_pre_run_backup() {
    let s = existing();
    let before = state(&s);
    let run = s.migrate(&["--json", "up", "--per-migration"]).expect(5);
    let doc = run.json();
    let report = &doc["error"]["report"];
    assert_eq!(report["database"]["state"], "restored");
    let backup_id = report["backup_id"].as_str().unwrap().to_owned();
    assert_eq!(report["database"]["backup"], backup_id.as_str());
    assert!(
        run.stderr.contains("restored from the pre-run backup"),
        "{}",
        run.stderr
    );
    // Migrations 1 and 2 had committed; the database is back to its state before the run.
    assert_eq!(state(&s), before);
    let conn = s.conn();
    let (outcome, recorded): (String, String) = conn
        .query_row(
            "SELECT outcome, backup_id FROM _migrate_attempts ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (outcome.as_str(), recorded.as_str()),
        ("failed", backup_id.as_str())
    );
    let backups = backup::list(&backup::default_dir(&s.db())).unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0].reason, backup::Reason::PreMigrate);
}

#[test]
fn a_failed_no_transaction_step_is_restored_too() {
    let s = Scratch::with_migrations(&fixture("migrations_no_tx"));
    s.conn()
        .execute_batch("CREATE TABLE legacy (v); INSERT INTO legacy VALUES (1);")
        .unwrap();
    std::fs::write(s.migrations().join("0003_tags.verify.sql"), "SELECT 0;\n").unwrap();
    let before = state(&s);
    s.migrate(&["up"]).expect(5);
    assert_eq!(state(&s), before);
}

#[test]
fn without_a_backup_the_partial_state_stays_and_exit_is_7() {
    let s = existing();
    let run = s
        .migrate(&["up", "--per-migration", "--no-backup"])
        .expect(7);
    s.assert_left_at(&run, 2);
    let dir = backup::default_dir(&s.db());
    assert!(backup::list(&dir).unwrap().is_empty(), "no backup taken");
    // The audit journal records the run all the same, with the state it left.
    let journal = std::fs::read_to_string(migrate_core::audit::path(&dir)).unwrap();
    let last: serde_json::Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["outcome"], "failed");
    assert_eq!(last["state"]["state"], "partially_applied");
    assert_eq!(last["backup_id"], serde_json::Value::Null);
}

#[test]
fn a_damaged_database_is_refused_with_exit_6_and_nothing_written() {
    let s = existing();
    s.conn()
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
             INSERT INTO t VALUES (1, NULL);
             PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = replace(sql, 'v TEXT', 'v TEXT NOT NULL') WHERE name = 't';",
        )
        .unwrap();
    let before = dump(&s.db());
    let run = s.migrate(&["up"]).expect(6);
    assert!(
        run.stderr.contains("the database is damaged"),
        "{}",
        run.stderr
    );
    assert_eq!(dump(&s.db()), before);
    assert!(
        !backup::default_dir(&s.db()).exists(),
        "no backup of a damaged database"
    );
}

#[test]
fn a_successful_run_names_its_backup() {
    let s = Scratch::with_migrations(&migrate_tests::example_migrations());
    s.migrate(&["-q", "up", "--to", "2"]).expect(0);
    let doc = s.migrate(&["--json", "up"]).expect(0).json();
    let id = doc["backup_id"].as_str().unwrap();
    backup::verify(&backup::default_dir(&s.db()), id).unwrap();
    // A new, empty database has nothing to back up.
    let fresh = Scratch::with_migrations(&migrate_tests::example_migrations());
    let doc = fresh.migrate(&["--json", "up"]).expect(0).json();
    assert_eq!(doc["backup_id"], serde_json::Value::Null);
}
