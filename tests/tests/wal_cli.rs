//! `migrate wal status|checkpoint` against a WAL this process writes, with a reader of its own
//! holding an old snapshot: what is reported, what a blocking mode does when the reader stays
//! (exit 3 after the lock timeout, nothing lost), and who is named as holding frames back.

use migrate_tests::{Scratch, count};
use rusqlite::Connection;

/// A WAL database with 10 rows, never checkpointed by itself, and its writer.
fn wal_db(s: &Scratch) -> Connection {
    let conn = Connection::open(s.db()).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE t (x INTEGER, pad BLOB);",
    )
    .unwrap();
    insert(&conn, 10);
    conn
}

fn insert(conn: &Connection, rows: i64) {
    for i in 0..rows {
        conn.execute("INSERT INTO t VALUES (?1, randomblob(300))", [i])
            .unwrap();
    }
}

fn names_this_process(holders: &serde_json::Value, files: &[&str]) -> bool {
    holders["processes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["pid"] == std::process::id() && p["files"] == serde_json::json!(files))
}

#[test]
fn a_reader_holding_frames_back_is_named_and_a_blocking_mode_gives_up_with_exit_3() {
    let s = Scratch::new();
    let writer = wal_db(&s);
    let reader = Connection::open(s.db()).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    assert_eq!(count(&reader, "SELECT count(*) FROM t"), 10);
    insert(&writer, 30);

    // Status reads the files: frames to copy, nothing recorded yet, this process holding all.
    let doc = s.migrate(&["--json", "wal", "status"]).expect(0).json();
    assert_eq!(doc["journal"], "wal");
    assert!(doc["index"]["frames"].as_u64().unwrap() >= 40, "{doc}");
    assert_eq!(doc["index"]["checkpointed"], 0);
    assert!(doc["last_checkpoint"].is_null());
    assert!(
        names_this_process(&doc["holders"], &["db", "shm", "wal"]),
        "{doc}"
    );
    let text = s.migrate(&["wal", "status"]).expect(0).stdout;
    assert!(
        text.contains("last checkpoint: none recorded by migrate"),
        "{text}"
    );
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );

    // Passive: copies what the reader allows, leaves the rest, names who holds it back.
    let doc = s.migrate(&["--json", "wal", "checkpoint"]).expect(0).json();
    assert_eq!(doc["busy"], false);
    assert!(doc["frames_left"].as_i64().unwrap() >= 30, "{doc}");
    assert!(
        names_this_process(&doc["held_back_by"], &["db", "shm", "wal"]),
        "{doc}"
    );

    // Truncate waits for the reader up to the lock timeout, then gives up: exit 3.
    let run = s
        .migrate(&[
            "--lock-timeout",
            "0.3",
            "wal",
            "checkpoint",
            "--mode",
            "truncate",
        ])
        .expect(3);
    assert!(
        run.stdout.contains("checkpoint (truncate)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("busy"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("held back by: pid {}", std::process::id())),
        "{}",
        run.stdout
    );
    // Nothing lost: the reader's snapshot, and every commit after it.
    assert_eq!(count(&reader, "SELECT count(*) FROM t"), 10);
    reader.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&writer, "SELECT count(*) FROM t"), 40);

    // The reader gone, truncate empties the WAL; status shows the record.
    let doc = s
        .migrate(&["--json", "wal", "checkpoint", "--mode", "truncate"])
        .expect(0)
        .json();
    assert_eq!(doc["busy"], false);
    assert_eq!(doc["wal_bytes_after"], 0);
    assert!(doc["held_back_by"].is_null());
    let text = s.migrate(&["wal", "status"]).expect(0).stdout;
    assert!(text.contains("(truncate): "), "{text}");
    assert!(text.contains("all copied, the WAL restarted"), "{text}");
    assert_eq!(count(&writer, "SELECT count(*) FROM t"), 40);
}

#[test]
fn a_rollback_journal_database_has_no_wal_and_a_missing_one_is_named() {
    let s = Scratch::new();
    Connection::open(s.db())
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let run = s
        .migrate(&["wal", "checkpoint", "--mode", "full"])
        .expect(0);
    assert_eq!(
        run.stdout,
        "not in WAL mode (journal mode delete): there is no WAL to checkpoint\n"
    );
    assert_eq!(
        s.migrate(&["--json", "wal", "checkpoint"]).expect(0).json()["wal"],
        false
    );
    let text = s.migrate(&["wal", "status"]).expect(0).stdout;
    assert!(
        text.starts_with("journal: rollback (page size 4096): no WAL"),
        "{text}"
    );

    let absent = Scratch::new();
    let run = absent.migrate(&["wal", "status"]).expect(2);
    assert!(
        run.stderr.contains("there is no database at"),
        "{}",
        run.stderr
    );
    absent.migrate(&["wal", "checkpoint"]).expect(2);
    // Not a database: said, nothing written.
    std::fs::write(absent.db(), vec![b'x'; 4096]).unwrap();
    let run = absent.migrate(&["wal", "status"]).expect(2);
    assert!(run.stderr.contains("not a database"), "{}", run.stderr);
    assert_eq!(std::fs::read(absent.db()).unwrap(), vec![b'x'; 4096]);
}

#[test]
fn a_record_that_cannot_be_written_does_not_fail_the_checkpoint() {
    let s = Scratch::new();
    let writer = wal_db(&s);
    // The backup directory's place is a file: the record cannot be written there.
    let blocked = s.dir.path().join("not-a-dir");
    std::fs::write(&blocked, "").unwrap();
    let run = s
        .migrate(&[
            "--backup-dir",
            blocked.to_str().unwrap(),
            "wal",
            "checkpoint",
        ])
        .expect(0);
    assert!(
        run.stderr.contains("the checkpoint was not recorded"),
        "{}",
        run.stderr
    );
    drop(writer);
}
