//! The WAL from outside: its state read from the files without checkpointing, and checkpoints
//! on request, with a reader in the way and without.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use belay_guard::Error;
use belay_guard::database::holders::Holders;
use belay_guard::database::wal::{self, CheckpointMode, Checkpointed, Journal};
use rusqlite::Connection;

/// A WAL database with `rows` rows committed one by one, never checkpointed, and the writer's
/// connection (kept open so the WAL stays).
fn wal_db(dir: &Path, rows: i64) -> (PathBuf, Connection) {
    let db = dir.join("app.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE t (x INTEGER, pad BLOB);",
    )
    .unwrap();
    for i in 0..rows {
        conn.execute("INSERT INTO t VALUES (?1, randomblob(500))", [i])
            .unwrap();
    }
    (db, conn)
}

fn count(db: &Path) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn status_reads_the_wal_without_checkpointing_it() {
    let dir = tempfile::tempdir().unwrap();
    let (db, writer) = wal_db(dir.path(), 50);
    let before = wal::status(&db).unwrap();
    assert_eq!(before.journal, Journal::Wal);
    assert_eq!(before.page_size, 4096);
    assert!(before.wal_bytes > 0);
    assert_eq!(
        before.wal_file_frames,
        (before.wal_bytes - 32) / (4096 + 24)
    );
    let index = before.index.expect("the index of a WAL in use");
    assert!(index.frames >= 50, "{index:?}");
    assert_eq!(index.checkpointed, 0);
    let Holders::Listed { processes, .. } = &before.holders else {
        panic!("no /proc here");
    };
    assert!(processes.iter().any(|p| p.pid == std::process::id()));
    // Looking again changes nothing: no frame was copied back by looking.
    let after = wal::status(&db).unwrap();
    assert_eq!(after.index, before.index);
    assert_eq!(after.wal_bytes, before.wal_bytes);
    drop(writer);
}

#[test]
fn status_of_other_files_says_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plain.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let s = wal::status(&db).unwrap();
    assert_eq!(
        (s.journal, s.wal_bytes, s.index),
        (Journal::Rollback, 0, None)
    );

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(wal::status(&empty).unwrap().journal, Journal::Empty);

    let short = dir.path().join("short.db");
    std::fs::write(&short, b"SQLite format 3\0").unwrap();
    let e = wal::status(&short).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidDatabase { reason, .. } if reason.contains("shorter")),
        "{e}"
    );
    let text = dir.path().join("notes.db");
    std::fs::write(&text, vec![b'x'; 4096]).unwrap();
    let e = wal::status(&text).unwrap_err();
    assert!(e.to_string().contains("not a database"), "{e}");
    let absent = dir.path().join("absent.db");
    assert!(matches!(
        wal::status(&absent),
        Err(Error::NoDatabase { .. })
    ));
    assert!(matches!(
        wal::checkpoint(&absent, CheckpointMode::Passive, Duration::ZERO),
        Err(Error::NoDatabase { .. })
    ));
}

#[test]
fn a_checkpoint_copies_every_frame_and_truncate_empties_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (db, writer) = wal_db(dir.path(), 40);
    let Checkpointed::Done(done) =
        wal::checkpoint(&db, CheckpointMode::Passive, Duration::ZERO).unwrap()
    else {
        panic!("not WAL?");
    };
    assert!(!done.busy);
    assert!(done.log_frames >= 40);
    assert_eq!(done.frames_left(), 0);
    let Checkpointed::Done(done) =
        wal::checkpoint(&db, CheckpointMode::Truncate, Duration::from_secs(5)).unwrap()
    else {
        panic!("not WAL?");
    };
    assert!(!done.busy);
    assert_eq!(done.wal_bytes_after, 0);
    assert_eq!(count(&db), 40);
    drop(writer);

    // Recorded, and read back as it was.
    let backups = dir.path().join("app.db.backups");
    assert_eq!(wal::last(&backups).unwrap(), None);
    wal::record(&backups, &done).unwrap();
    assert_eq!(wal::last(&backups).unwrap(), Some(done));
    std::fs::write(wal::record_path(&backups), "{ not a record").unwrap();
    let e = wal::last(&backups).unwrap_err();
    assert!(
        e.to_string()
            .contains("last-checkpoint.json is not a checkpoint record"),
        "{e}"
    );
}

#[test]
fn a_reader_in_the_way_leaves_frames_and_a_blocking_mode_gives_up_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (db, writer) = wal_db(dir.path(), 10);
    // A reader pins the snapshot of 10 rows; the writer commits 30 more after it.
    let reader = Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, 10);
    for i in 0..30 {
        writer
            .execute("INSERT INTO t VALUES (?1, randomblob(500))", [i])
            .unwrap();
    }
    let Checkpointed::Done(passive) =
        wal::checkpoint(&db, CheckpointMode::Passive, Duration::ZERO).unwrap()
    else {
        panic!("not WAL?");
    };
    assert!(!passive.busy);
    assert!(passive.frames_left() >= 30, "{passive:?}");

    let started = Instant::now();
    let Checkpointed::Done(truncate) =
        wal::checkpoint(&db, CheckpointMode::Truncate, Duration::from_millis(300)).unwrap()
    else {
        panic!("not WAL?");
    };
    assert!(truncate.busy, "{truncate:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(truncate.wal_bytes_after > 0);
    // Nothing lost: the reader's snapshot and every commit after it.
    assert_eq!(
        reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        10
    );
    reader.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&db), 40);
    drop(writer);
}

#[test]
fn a_rollback_journal_database_has_no_wal_to_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plain.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    assert_eq!(
        wal::checkpoint(&db, CheckpointMode::Full, Duration::ZERO).unwrap(),
        Checkpointed::NotWal {
            journal_mode: "delete".to_owned()
        }
    );
    // Not a database: SQLite's refusal, named.
    let text = dir.path().join("notes.db");
    std::fs::write(&text, vec![b'x'; 4096]).unwrap();
    let e = wal::checkpoint(&text, CheckpointMode::Passive, Duration::ZERO).unwrap_err();
    assert!(e.to_string().contains("notes.db"), "{e}");
}

/// The policy on a WAL past its limit: a reader pinning an old snapshot keeps the truncate
/// from finishing (bounded wait, frames kept, the blocked time growing, the reader named);
/// once it lets go the WAL is truncated; then routine ticks are passive again.
#[test]
fn the_policy_truncates_past_the_limit_once_the_reader_lets_go() {
    use belay_guard::database::checkpointer::{Checkpointer, Policy, Purpose};
    let dir = tempfile::tempdir().unwrap();
    let (db, writer) = wal_db(dir.path(), 40);
    let reader = Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    assert_eq!(
        reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        40
    );
    for i in 0..60 {
        writer
            .execute("INSERT INTO t VALUES (?1, randomblob(500))", [i])
            .unwrap();
    }
    let policy = Policy {
        wal_limit: 64 << 10,
        truncate_wait: Duration::from_millis(50),
    };
    let mut checkpointer = Checkpointer::new(&db, policy);
    let first = checkpointer.tick(Purpose::Routine).unwrap();
    assert_eq!(first.mode, CheckpointMode::Truncate);
    let Checkpointed::Done(done) = &first.outcome else {
        panic!("not WAL?");
    };
    assert!(done.busy || done.frames_left() > 0, "{done:?}");
    let Some(Holders::Listed { processes, .. }) = &first.held_back_by else {
        panic!("no holders: {first:?}");
    };
    assert!(processes.iter().any(|p| p.pid == std::process::id()));
    std::thread::sleep(Duration::from_millis(30));
    let second = checkpointer.tick(Purpose::Routine).unwrap();
    assert!(second.blocked_for > first.blocked_for, "{second:?}");
    assert!(checkpointer.blocked_for() >= second.blocked_for);

    reader.execute_batch("COMMIT").unwrap();
    let third = checkpointer.tick(Purpose::Routine).unwrap();
    assert_eq!(third.mode, CheckpointMode::Truncate);
    let Checkpointed::Done(done) = &third.outcome else {
        panic!("not WAL?");
    };
    assert!(!done.busy, "{done:?}");
    assert_eq!(done.wal_bytes_after, 0);
    assert_eq!(third.blocked_for, Duration::ZERO);
    assert_eq!(third.held_back_by, None);
    assert_eq!(
        checkpointer.tick(Purpose::Routine).unwrap().mode,
        CheckpointMode::Passive
    );
    assert_eq!(
        checkpointer.tick(Purpose::BeforeBackup).unwrap().mode,
        CheckpointMode::Truncate
    );
    assert_eq!(count(&db), 100);
    drop(writer);

    // A rollback-journal database: nothing to do, nothing blocked.
    let plain = dir.path().join("plain.db");
    Connection::open(&plain)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let tick = Checkpointer::new(&plain, Policy::default())
        .tick(Purpose::Routine)
        .unwrap();
    assert!(matches!(tick.outcome, Checkpointed::NotWal { .. }));
    assert_eq!(tick.blocked_for, Duration::ZERO);
}

#[test]
fn the_largest_page_size_and_an_unreadable_record_are_read_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big-pages.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA page_size = 65536; CREATE TABLE t (x);")
        .unwrap();
    assert_eq!(wal::status(&db).unwrap().page_size, 65_536);
    // The record's place is a directory: said, naming it.
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(wal::record_path(&backups)).unwrap();
    let e = wal::last(&backups).unwrap_err();
    assert!(e.to_string().contains("last-checkpoint.json"), "{e}");
    assert_eq!(CheckpointMode::Full.as_sql(), "FULL");
    assert_eq!(CheckpointMode::Restart.as_sql(), "RESTART");
    assert!(CheckpointMode::Restart.waits() && !CheckpointMode::Passive.waits());
    // An unreadable spool is an error too, naming it.
    let db = dir.path().join("app.db");
    std::fs::create_dir(belay_guard::files::spool::path(&db)).unwrap();
    let e = belay_guard::files::spool::waiting(&belay_guard::files::spool::path(&db)).unwrap_err();
    assert!(e.to_string().contains("audit-spool.jsonl"), "{e}");
}
