//! A live application commits beside the run. A run that fails after committing part of its
//! work may restore its pre-run backup only when nobody else committed since that backup's
//! snapshot; here the application did, so the run stops with exit 7, names the version and the
//! backup, and every row the application saw committed is still there.

use migrate_tests::live::{App, Journal, app_database, fill_table, lost, spawn_migrate};
use migrate_tests::{Scratch, count};

/// `big` filled with `rows` rows: a migration that takes a while.
fn fill(rows: u64) -> String {
    fill_table("big", rows)
}

#[test]
fn a_failure_after_a_commit_never_restores_over_the_applications_commits() {
    let s = app_database(
        Journal::Wal,
        "",
        &[
            ("0002_fill.up.sql", &fill(300_000)),
            ("0003_broken.up.sql", "SELECT * FROM missing;"),
        ],
    );
    let app = App::start(&s);
    let run = s.migrate(&["up", "--per-migration"]);
    // Give the application a moment more, then stop it and read what it saw committed.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let acknowledged = app.stop();
    assert!(acknowledged.len() > 10, "the application barely wrote");

    let run = run.expect(7);
    assert!(
        run.stderr.contains("another connection committed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("at version 2"), "{}", run.stderr);
    assert!(run.stderr.contains("migrate restore "), "{}", run.stderr);
    assert_eq!(lost(&s, &acknowledged), Vec::<i64>::new());
    // The database is at the consistent version 2, which the next run continues from.
    assert_eq!(count(&s.conn(), "SELECT count(*) FROM big"), 300_000);
    let doc = s.migrate(&["--json", "status"]).expect(0).json();
    assert_eq!(doc["current_version"], 2);
}

/// The reproduction: a `--per-migration` run is killed inside its slow third migration,
/// the application commits a row after the crash, and the next run must continue from the
/// consistent version 2, not restore the pre-run backup over that row.
#[test]
fn a_run_killed_part_way_is_continued_and_the_applications_later_row_is_kept() {
    let s = app_database(
        Journal::Rollback,
        "",
        &[
            ("0002_tag.up.sql", "ALTER TABLE notes ADD COLUMN tag TEXT;"),
            ("0003_fill.up.sql", &fill(5_000_000)),
        ],
    );
    s.conn()
        .execute("INSERT INTO notes (body) VALUES ('before deploy')", [])
        .unwrap();
    let mut run = spawn_migrate(&s, &["up", "--per-migration"]);
    // Wait until migration 2 is committed, then give 3 a moment and kill the run.
    let started = std::time::Instant::now();
    loop {
        let at_2 = rusqlite::Connection::open(s.db())
            .and_then(|c| {
                c.query_row("SELECT max(version) FROM _migrate_history", [], |r| {
                    r.get::<_, Option<i64>>(0)
                })
            })
            .is_ok_and(|v| v == Some(2));
        if at_2 {
            break;
        }
        assert!(
            run.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            started.elapsed().as_secs() < 60,
            "migration 2 never committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    run.kill().unwrap();
    run.wait().unwrap();

    s.conn()
        .execute(
            "INSERT INTO notes (body, tag) VALUES ('written by the app after the crash', 'x')",
            [],
        )
        .unwrap();
    let out = s.migrate(&["--json", "up", "--per-migration"]).expect(0);
    let doc = out.json();
    assert_eq!(doc["interrupted"]["database"]["state"], "consistent");
    assert_eq!(doc["to_version"], 3);
    let conn = s.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM notes WHERE body = 'written by the app after the crash'"
        ),
        1,
        "the application's row is gone"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM notes WHERE body = 'before deploy'"
        ),
        1
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM big"), 5_000_000);
}

/// One-transaction, per-migration and no-transaction runs, each failing in each way (statement,
/// verify query, foreign key, integrity), with the application committing beside every run.
/// After each: every row the application saw committed is there, the schema is at a whole
/// version (the history's), and the exit code is 5 (back at the pre-run state: rolled back, or
/// restored with proof) or 7 (left at a named version, nothing discarded).
#[test]
fn no_failure_in_any_mode_loses_a_row_the_application_saw_committed() {
    let failures: [(&str, &str, Option<&str>); 4] = [
        ("statement", "SELECT * FROM missing;", None),
        ("verify", "CREATE TABLE extra (x);", Some("SELECT 0;")),
        (
            "foreign key",
            "CREATE TABLE child (id INTEGER PRIMARY KEY, note_id INTEGER REFERENCES notes (id));
             INSERT INTO child VALUES (1, 999999999);",
            None,
        ),
        (
            "integrity",
            "CREATE INDEX notes_body ON notes (body);
             PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = replace(sql, 'notes (body)', 'notes (id, body)')
              WHERE name = 'notes_body';
             PRAGMA writable_schema = OFF;",
            None,
        ),
    ];
    let mut outcomes = Vec::new();
    for mode in ["one transaction", "per migration", "no transaction"] {
        for (kind, sql, verify) in failures {
            let header = if mode == "no transaction" {
                "-- migrate:no-transaction\n"
            } else {
                ""
            };
            let s = app_database(
                Journal::Wal,
                "",
                &[
                    ("0002_fill.up.sql", &fill(200_000)),
                    ("0003_fail.up.sql", &format!("{header}{sql}")),
                ],
            );
            if let Some(v) = verify {
                std::fs::write(s.migrations().join("0003_fail.verify.sql"), v).unwrap();
            }
            let app = App::start(&s);
            let run = if mode == "per migration" {
                s.migrate(&["up", "--per-migration"])
            } else {
                s.migrate(&["up"])
            };
            std::thread::sleep(std::time::Duration::from_millis(50));
            let acknowledged = app.stop();
            let case = format!("{mode}, {kind}");
            assert!(
                run.code == 5 || run.code == 7,
                "{case}: exit {}: {}",
                run.code,
                run.stderr
            );
            if mode == "one transaction" {
                assert_eq!(
                    run.code, 5,
                    "{case}: a one-transaction run never needs a restore: {}",
                    run.stderr
                );
            }
            let missing = lost(&s, &acknowledged);
            assert!(
                missing.is_empty(),
                "{case}: acknowledged rows lost: {missing:?}"
            );
            let conn = s.conn();
            // A whole version: what the history says is applied is what the schema holds.
            let version = count(&conn, "SELECT max(version) FROM _migrate_history");
            let big = count(&conn, "SELECT count(*) FROM big");
            let stray = count(
                &conn,
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('extra', 'child', 'notes_body')",
            );
            match (run.code, version) {
                (5, 1) => assert_eq!((big, stray), (0, 0), "{case}: not the pre-run state"),
                (7, 2) => assert_eq!(big, 200_000, "{case}: version 2 without its rows"),
                (code, v) => panic!("{case}: exit {code} at version {v}: {}", run.stderr),
            }
            if run.code == 7 {
                assert!(
                    run.stderr.contains("nothing was discarded"),
                    "{case}: {}",
                    run.stderr
                );
            }
            outcomes.push(format!(
                "{case}: exit {}, {} rows acknowledged",
                run.code,
                acknowledged.len()
            ));
        }
    }
    eprintln!("{}", outcomes.join("\n"));
}

/// `--exclusive`: from the moment the run marker exists to the end of the run, no other
/// connection can take the write lock (application writers wait, within their busy timeout);
/// the application's rows all survive and the run succeeds.
#[test]
fn an_exclusive_run_makes_writers_wait_for_the_whole_run() {
    let s = app_database(
        Journal::Wal,
        " CREATE TABLE padding (x);",
        &[("0002_fill.up.sql", &fill(300_000))],
    );
    // Enough data that the pre-flight check and the backup take a while.
    s.conn()
        .execute_batch(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)
               INSERT INTO padding SELECT hex(randomblob(24)) FROM c;",
        )
        .unwrap();
    let app = App::start(&s);

    let mut run = spawn_migrate(&s, &["up", "--exclusive"]);
    // While the run's marker exists, the write lock is the run's: a writer that will not wait
    // is refused, whatever phase the run is in.
    let probe = rusqlite::Connection::open(s.db()).unwrap();
    probe.busy_timeout(std::time::Duration::ZERO).unwrap();
    let mut probed = 0;
    while run.try_wait().unwrap().is_none() {
        if belay_migrate::marker::exists(&s.db()) {
            match probe.execute("INSERT INTO notes (body) VALUES ('probe')", []) {
                Err(e) => {
                    assert_eq!(
                        e.sqlite_error_code(),
                        Some(rusqlite::ErrorCode::DatabaseBusy),
                        "{e}"
                    );
                    probed += 1;
                }
                // Only possible once the run has committed and removed its marker.
                Ok(_) => assert!(
                    !belay_migrate::marker::exists(&s.db()),
                    "a writer committed while the exclusive run held its marker"
                ),
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the exclusive run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(probed > 0, "never saw the run in progress");
    let acknowledged = app.stop();
    assert_eq!(lost(&s, &acknowledged), Vec::<i64>::new());
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT count(*) FROM big"), 300_000);
}

#[test]
fn exclusive_refuses_what_cannot_run_inside_one_transaction() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(s.migrations().join("0001_a.up.sql"), "CREATE TABLE a (x);").unwrap();
    s.migrate(&["-q", "up"]).expect(0);
    std::fs::write(
        s.migrations().join("0002_vacuum.up.sql"),
        "-- migrate:no-transaction\nVACUUM;",
    )
    .unwrap();
    let before = std::fs::read(s.db()).unwrap();
    let run = s.migrate(&["up", "--exclusive"]).expect(2);
    assert!(run.stderr.contains("0002_vacuum.up.sql"), "{}", run.stderr);
    assert!(
        std::fs::read(s.db()).unwrap() == before,
        "a refused run changed the file"
    );
    s.migrate(&["up", "--exclusive", "--per-migration"])
        .expect(2);
}

/// Runs `up` on `s` and kills it once its marker says it is inside no-transaction migration
/// `version` with a proof token recorded.
fn kill_inside_no_transaction_file(s: &Scratch, version: i64) {
    let mut run = spawn_migrate(s, &["up"]);
    let started = std::time::Instant::now();
    loop {
        let inside = belay_migrate::marker::read(&s.db())
            .ok()
            .flatten()
            .is_some_and(|m| m.outside == Some(version) && m.token.is_some());
        if inside {
            break;
        }
        assert!(run.try_wait().unwrap().is_none(), "the run ended first");
        assert!(started.elapsed().as_secs() < 60, "never inside the file");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    run.kill().unwrap();
    run.wait().unwrap();
}

fn half_done_no_transaction_file(journal: Journal) -> Scratch {
    let slow = fill(1_500_000);
    app_database(
        journal,
        "",
        &[(
            "0002_archive.up.sql",
            &format!(
                "-- migrate:no-transaction\nCREATE TABLE archive (x);\n{slow}\n{slow}\n{slow}\n{slow}"
            ),
        )],
    )
}

/// Killed inside a no-transaction file with nobody writing since: the marker's proof (the file
/// change counter, or the WAL's last commit frame, unchanged) lets the next run restore the
/// backup and complete the run.
#[test]
fn a_half_done_no_transaction_file_is_restored_when_nobody_committed_since() {
    for journal in [Journal::Rollback, Journal::Wal] {
        let s = half_done_no_transaction_file(journal);
        kill_inside_no_transaction_file(&s, 2);
        let doc = s.migrate(&["--json", "up"]).expect(0).json();
        assert_eq!(
            doc["interrupted"]["database"]["state"], "restored",
            "{journal:?}: {doc}"
        );
        assert_eq!(doc["to_version"], 2);
        assert_eq!(count(&s.conn(), "SELECT count(*) FROM big"), 6_000_000);
    }
}

/// The same, but the application commits after the kill (and, in WAL mode, keeps its
/// connection open, so the WAL and the run's recorded frame are still there): the state moved,
/// so nothing is restored, the row stays, and the run stops with exit 7.
#[test]
fn a_half_done_no_transaction_file_is_not_restored_over_a_later_commit() {
    for journal in [Journal::Rollback, Journal::Wal] {
        let s = half_done_no_transaction_file(journal);
        kill_inside_no_transaction_file(&s, 2);
        let app = s.conn();
        app.execute("INSERT INTO notes (body) VALUES ('after the kill')", [])
            .unwrap();
        let run = s.migrate(&["up"]).expect(7);
        assert!(
            run.stderr.contains("running no-transaction migration 2"),
            "{journal:?}: {}",
            run.stderr
        );
        assert_eq!(
            count(
                &app,
                "SELECT count(*) FROM notes WHERE body = 'after the kill'"
            ),
            1,
            "{journal:?}"
        );
    }
}
