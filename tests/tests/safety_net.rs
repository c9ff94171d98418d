//! The safety net around runs with work to do: a damaged database is refused before anything
//! is written; a backup is taken first; a run that fails after committing part of its work is
//! restored from it (exit 5), unless `--no-backup` (exit 7).

use belay_migrate::backup;
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
    let journal = std::fs::read_to_string(belay_migrate::audit::path(&dir)).unwrap();
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
    backup::verify(&backup::default_dir(&s.db()), id, 2).unwrap();
    // A new, empty database has nothing to back up.
    let fresh = Scratch::with_migrations(&migrate_tests::example_migrations());
    let doc = fresh.migrate(&["--json", "up"]).expect(0).json();
    assert_eq!(doc["backup_id"], serde_json::Value::Null);
}

#[test]
fn a_backup_damaged_mid_run_cannot_restore_exit_7_naming_it() {
    let s = Scratch::new().with_legacy_data();
    let m = s.migrations();
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("0001_seed.up.sql"),
        "CREATE TABLE seed (id INTEGER PRIMARY KEY);\n",
    )
    .unwrap();
    // Long enough for the test to damage the backup while it runs, then it fails verification.
    std::fs::write(
        m.join("0002_big.up.sql"),
        "CREATE TABLE big AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1500000)
           SELECT x, randomblob(32) AS payload FROM n;
         CREATE INDEX big_payload ON big (payload);\n",
    )
    .unwrap();
    std::fs::write(
        m.join("0002_big.verify.sql"),
        "SELECT count(*) = 1 FROM big;\n",
    )
    .unwrap();
    let mut child = migrate_tests::migrate_command()
        .arg("--db")
        .arg(s.db())
        .arg("--migrations")
        .arg(&m)
        .args(["up", "--per-migration"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dir = backup::default_dir(&s.db());
    let id = loop {
        let marker = belay_migrate::marker::read(&s.db()).unwrap();
        if let Some(m) = marker.filter(|m| m.phase == belay_migrate::marker::Phase::Applying) {
            break m.backup_id.unwrap();
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it applied"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    // The backup file (not its manifest) damaged while migration 2 runs.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(&id) && !name.ends_with(".json") {
            std::fs::write(&path, b"not a backup any more").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains(&id), "names the backup: {stderr}");
    assert!(stderr.contains("restore"), "{stderr}");
    assert_eq!(
        count(&s.conn(), "SELECT max(version) FROM _migrate_history"),
        1
    );
}
