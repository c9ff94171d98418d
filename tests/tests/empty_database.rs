//! A run on a database that was empty (or absent) fails after some of its migrations committed
//! (per-migration runs, files that commit on their own, no-transaction files): its pre-run state
//! is known without a backup, so it is put back, empty, under the same proof as every restore
//! (exit 5). Where another connection committed meanwhile, nothing is discarded (exit 7).

use std::time::{Duration, Instant};

use migrate_tests::{Scratch, count};

/// Migration 1 commits on its own in `mode`; migration 2 fails.
fn failing_after_a_commit(mode: &str) -> Scratch {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    let first = match mode {
        "own transaction" => "BEGIN;\nCREATE TABLE a (x);\nINSERT INTO a VALUES (1);\nCOMMIT;\n",
        "no transaction" => {
            "-- migrate:no-transaction\nCREATE TABLE a (x);\nINSERT INTO a VALUES (1);\n"
        }
        _ => "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);\n",
    };
    std::fs::write(s.migrations().join("0001_a.up.sql"), first).unwrap();
    std::fs::write(
        s.migrations().join("0002_b.up.sql"),
        "CREATE TABLE b (x);\nINSERT INTO b VALUES (no_such_function());\n",
    )
    .unwrap();
    s
}

fn user_tables(s: &Scratch) -> i64 {
    count(
        &s.conn(),
        "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE '\\_migrate%' ESCAPE '\\'",
    )
}

#[test]
fn a_failed_run_on_an_empty_database_goes_back_to_empty_in_every_commit_mode() {
    for mode in ["per migration", "own transaction", "no transaction"] {
        for start in ["absent", "zero bytes"] {
            let s = failing_after_a_commit(mode);
            if start == "zero bytes" {
                std::fs::write(s.db(), b"").unwrap();
            }
            let mut args = vec!["up"];
            if mode == "per migration" {
                args.push("--per-migration");
            }
            let run = s.migrate(&args).expect(5);
            assert!(
                run.stderr
                    .contains("the database was empty before the run and is empty again"),
                "{mode}, {start}: {}",
                run.stderr
            );
            assert_eq!(user_tables(&s), 0, "{mode}, {start}");
            let conn = s.conn();
            assert_eq!(
                count(&conn, "SELECT count(*) FROM _migrate_history"),
                0,
                "{mode}, {start}"
            );
            // The failed attempt is recorded, and the file is a sound, empty database.
            let state: String = conn
                .query_row(
                    "SELECT outcome FROM _migrate_attempts ORDER BY id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(state, "failed");
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(check, "ok");
            let json = s.migrate(&["--json", "history"]).expect(0).json();
            assert!(
                json["attempts"][0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("empty again"),
                "{json}"
            );
            // Nothing pending was lost: a fixed set applies from the start.
            std::fs::write(s.migrations().join("0002_b.up.sql"), "CREATE TABLE b (x);").unwrap();
            s.migrate(&["-q", "up"]).expect(0);
            assert_eq!(user_tables(&s), 2);
        }
    }
}

/// Another connection commits between the run's first commit and its failure: emptying the
/// database would discard that commit, so nothing is discarded (exit 7), and the row stays.
/// (In WAL mode, set by the first migration, so that the application's write lands while the
/// second migration reads.)
#[test]
fn an_empty_database_is_not_emptied_over_someone_elses_commit() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_a.up.sql"),
        "-- migrate:no-transaction\nPRAGMA journal_mode = WAL;\nCREATE TABLE a (x);\n",
    )
    .unwrap();
    std::fs::write(
        s.migrations().join("0002_b.up.sql"),
        "-- migrate:no-transaction
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000000)
           SELECT count(*) FROM n;
         INSERT INTO a VALUES (no_such_function());",
    )
    .unwrap();
    let db = s.db();
    let app = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(conn) = rusqlite::Connection::open(&db) {
                let _ = conn.busy_timeout(Duration::from_secs(5));
                if conn
                    .execute("INSERT INTO a VALUES ('the application''s row')", [])
                    .is_ok()
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    });
    let run = s.migrate(&["up"]).expect(7);
    assert!(app.join().unwrap(), "the application never committed");
    assert!(
        run.stderr.contains("another connection committed since"),
        "{}",
        run.stderr
    );
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM a WHERE x = 'the application''s row'"
        ),
        1
    );
}
