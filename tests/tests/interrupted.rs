//! A run that stopped part-way (its marker left behind, its process gone) is found by the next
//! run: restored from its pre-run backup when it may have changed the database, recorded as
//! interrupted in `_migrate_attempts` and the audit journal, and the next run completes the job.
//! Post-run verification failing restores too. (The crash harness kills real runs; these cases
//! place the marker by hand, one per phase.)

use belay_migrate::Holder;
use belay_migrate::audit;
use belay_migrate::backup;
use belay_migrate::marker::{self, Phase, RunMarker};
use migrate_tests::{Scratch, count, example_migrations, user_dump};

/// The example database at version 1 with legacy rows, and what a clean `up` from there leaves.
fn at_version_1() -> (Scratch, String) {
    let s = Scratch::with_migrations(&example_migrations()).with_legacy_data();
    s.migrate(&["up", "--to", "1"]).expect(0);
    let clean = Scratch::with_migrations(&example_migrations()).with_legacy_data();
    clean.migrate(&["up", "--to", "1"]).expect(0);
    clean.migrate(&["up"]).expect(0);
    (s, user_dump(&clean.db()))
}

/// The example migrations' highest version.
fn latest() -> i64 {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up"]).expect(0);
    count(&s.conn(), "SELECT max(version) FROM _migrate_history")
}

/// Leaves the marker an interrupted `up` at `phase` would have left, with `backup_id`, and
/// `outside` the no-transaction migration it was running.
fn leave_marker(s: &Scratch, (phase, outside): (Phase, Option<i64>), backup_id: Option<String>) {
    let marker = RunMarker {
        holder: Holder {
            pid: 999_999,
            host: "elsewhere".to_owned(),
            started_at: "2026-11-22T07:00:00Z".to_owned(),
        },
        command: belay_migrate::Command::Up,
        from_version: Some(1),
        versions: vec![2, 3],
        backup_dir: backup::default_dir(&s.db()),
        backup_id,
        phase,
        outside,
        token: None,
        recorded: false,
    };
    std::fs::write(
        marker::path(&s.db()),
        serde_json::to_string(&marker).unwrap(),
    )
    .unwrap();
}

fn take_backup(s: &Scratch) -> String {
    let run = s.migrate(&["--json", "backup", "create"]).expect(0);
    run.json()["id"].as_str().unwrap().to_owned()
}

fn last_interrupted(s: &Scratch) -> (String, Option<String>) {
    s.conn()
        .query_row(
            "SELECT error, backup_id FROM _migrate_attempts WHERE outcome = 'interrupted'
             ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

fn journal(s: &Scratch) -> Vec<serde_json::Value> {
    let path = audit::path(&backup::default_dir(&s.db()));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_run_stopped_inside_a_transaction_is_continued_and_later_commits_are_kept() {
    let (s, _) = at_version_1();
    let backup_id = take_backup(&s);
    // The run was killed inside its transaction (SQLite's journal undid it); then the
    // application committed a row. Restoring the backup would discard that row.
    leave_marker(&s, (Phase::Applying, None), Some(backup_id.clone()));
    s.conn()
        .execute(
            "INSERT INTO legacy (v) VALUES ('written after the kill')",
            [],
        )
        .unwrap();

    let run = s.migrate(&["--json", "up"]).expect(0);
    let doc = run.json();
    assert_eq!(doc["interrupted"]["phase"], "applying");
    assert_eq!(doc["interrupted"]["database"]["state"], "consistent");
    assert_eq!(doc["interrupted"]["holder"]["pid"], 999_999);
    assert_eq!(doc["to_version"], latest());
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM legacy WHERE v = 'written after the kill'"
        ),
        1,
        "the application's commit after the kill is kept"
    );
    assert!(!marker::exists(&s.db()));
    let (error, recorded) = last_interrupted(&s);
    assert!(
        error.contains("interrupted while applying migrations"),
        "{error}"
    );
    assert!(error.contains("999999"), "{error}");
    assert_eq!(recorded.as_deref(), Some(backup_id.as_str()));
    let lines = journal(&s);
    let outcomes: Vec<&str> = lines
        .iter()
        .rev()
        .take(2)
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["success", "interrupted"]);
}

#[test]
fn a_no_transaction_file_stopped_part_way_is_not_restored_over_later_commits() {
    let (s, expected) = at_version_1();
    let backup_id = take_backup(&s);
    // What the stopped no-transaction file had done: part of its statements.
    s.conn()
        .execute_batch(
            "CREATE TABLE projects (id INTEGER PRIMARY KEY, owner_id INTEGER, title TEXT);
             UPDATE legacy SET v = 'half-changed' WHERE id = 1;",
        )
        .unwrap();
    leave_marker(&s, (Phase::Applying, Some(2)), Some(backup_id.clone()));
    let part_way = user_dump(&s.db());
    let run = s.migrate(&["up"]).expect(7);
    assert!(
        run.stderr.contains("running no-transaction migration 2"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("migrate restore {backup_id}")),
        "{}",
        run.stderr
    );
    assert_eq!(
        user_dump(&s.db()),
        part_way,
        "nothing restored, nothing discarded"
    );
    assert!(
        marker::exists(&s.db()),
        "kept: every run refuses until resolved"
    );
    s.migrate(&["up"]).expect(7);
    // The operator accepts the loss and restores by hand: the marker goes with the part-way state.
    s.migrate(&["restore", &backup_id, "--yes"]).expect(0);
    assert!(!marker::exists(&s.db()));
    s.migrate(&["up"]).expect(0);
    assert_eq!(user_dump(&s.db()), expected);
}

#[test]
fn the_cli_says_what_it_found() {
    let (s, _) = at_version_1();
    let backup_id = take_backup(&s);
    leave_marker(&s, (Phase::Verifying, None), Some(backup_id));
    let run = s.migrate(&["up"]).expect(0);
    assert!(
        run.stdout
            .contains("was interrupted while verifying the result; the database is at version 1, a consistent version"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_run_stopped_before_applying_changed_nothing_and_is_only_recorded() {
    let (s, expected) = at_version_1();
    leave_marker(&s, (Phase::BackingUp, None), None);
    let run = s.migrate(&["--json", "up"]).expect(0);
    assert_eq!(run.json()["interrupted"]["database"]["state"], "unchanged");
    assert_eq!(user_dump(&s.db()), expected);
    assert!(last_interrupted(&s).0.contains("taking the pre-run backup"));
}

#[test]
fn a_marker_is_found_even_with_nothing_pending() {
    let (s, expected) = at_version_1();
    let backup_id = take_backup(&s);
    // The stopped run had committed everything; only its verification was cut short.
    s.migrate(&["up", "--no-backup"]).expect(0);
    leave_marker(&s, (Phase::Verifying, None), Some(backup_id));
    let run = s.migrate(&["--json", "up"]).expect(0);
    // Committed whole: nothing to restore; recorded, and the marker gone.
    assert_eq!(run.json()["interrupted"]["database"]["state"], "consistent");
    assert!(!marker::exists(&s.db()));
    assert_eq!(user_dump(&s.db()), expected);
    assert_eq!(
        count(&s.conn(), "SELECT max(version) FROM _migrate_history"),
        latest()
    );
}

#[test]
fn a_restore_cut_short_exits_7_naming_the_backup() {
    let (s, _) = at_version_1();
    leave_marker(&s, (Phase::Restoring, None), Some("gone-backup".to_owned()));
    let run = s.migrate(&["up"]).expect(7);
    assert!(run.stderr.contains("gone-backup"), "{}", run.stderr);
    assert!(
        run.stderr.contains("migrate restore gone-backup"),
        "{}",
        run.stderr
    );
    assert!(marker::exists(&s.db()), "kept for the next attempt");
}

#[test]
fn damage_a_migration_makes_is_found_before_commit_and_rolled_back_exit_5() {
    // At the default depth and with verify = "full": a migration that edits sqlite_schema
    // directly gets the full check of the whole file, inside its transaction.
    for config in ["", "verify = \"full\"\n"] {
        let (s, _) = at_version_1();
        let before = user_dump(&s.db());
        std::fs::write(s.dir.path().join("migrate.toml"), config).unwrap();
        // A migration that leaves an index that no longer matches its table.
        std::fs::write(
            s.migrations().join("0099_break_index.up.sql"),
            "CREATE INDEX legacy_v ON legacy (v);
             PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = replace(sql, 'legacy (v)', 'legacy (id, v)')
              WHERE name = 'legacy_v';
             PRAGMA writable_schema = OFF;\n",
        )
        .unwrap();
        std::fs::write(
            s.migrations().join("0099_break_index.down.sql"),
            "DROP INDEX legacy_v;\n",
        )
        .unwrap();
        let run = s
            .migrate(&[
                "--config",
                s.dir.path().join("migrate.toml").to_str().unwrap(),
                "--json",
                "up",
            ])
            .expect(5);
        let doc = run.json();
        // Found before COMMIT: rolled back, nothing to restore.
        assert_eq!(doc["error"]["report"]["database"]["state"], "unchanged");
        assert!(
            run.stderr
                .contains("the integrity check of what the migrations wrote found"),
            "{}",
            run.stderr
        );
        assert_eq!(user_dump(&s.db()), before);
        assert_eq!(
            count(&s.conn(), "SELECT max(version) FROM _migrate_history"),
            1
        );
    }
}

/// A run on a database that was empty writes its marker without fsyncs (docs/safety.md: after
/// a power loss the database is empty or at a committed version either way), but the marker is
/// still written: a run killed part-way leaves it, and the next run reports the interruption
/// and continues from the version the killed run committed.
#[test]
fn a_run_on_an_empty_database_killed_part_way_leaves_its_marker_and_is_continued() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_notes.up.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); CREATE TABLE big (x INTEGER);",
    )
    .unwrap();
    std::fs::write(
        s.migrations().join("0002_fill.up.sql"),
        migrate_tests::live::fill_table("big", 5_000_000),
    )
    .unwrap();
    assert!(!s.db().exists());
    let mut run = migrate_tests::live::spawn_migrate(&s, &["up", "--per-migration"]);
    let started = std::time::Instant::now();
    // Version 1 committed, and the marker of the run still there: the run is inside 2.
    loop {
        let at_1 = s.db().exists()
            && rusqlite::Connection::open(s.db())
                .and_then(|c| {
                    c.query_row("SELECT max(version) FROM _migrate_history", [], |r| {
                        r.get::<_, Option<i64>>(0)
                    })
                })
                .is_ok_and(|v| v == Some(1));
        if at_1 && marker::exists(&s.db()) {
            break;
        }
        assert!(
            run.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            started.elapsed().as_secs() < 60,
            "migration 1 never committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    run.kill().unwrap();
    run.wait().unwrap();
    let left = marker::read(&s.db())
        .unwrap()
        .expect("the marker a kill leaves");
    assert_eq!(left.phase, Phase::Applying);
    assert_eq!(left.backup_id, None);

    let doc = s
        .migrate(&["--json", "up", "--per-migration"])
        .expect(0)
        .json();
    assert_eq!(doc["interrupted"]["database"]["state"], "consistent");
    assert_eq!(doc["interrupted"]["database"]["version"], 1);
    assert_eq!(doc["to_version"], 2);
    assert!(!marker::exists(&s.db()));
    assert_eq!(count(&s.conn(), "SELECT count(*) FROM big"), 5_000_000);
}
