//! The connection layer: writes in `BEGIN IMMEDIATE` retried until a deadline, reads on a
//! bounded pool, the breaker that turns it read-only and the probe that turns it back, queued
//! writes replayed in order, and settings reloaded at run time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use belay_guard::Error;
use belay_guard::connect::{Audit, Layer, Options, Replayed, State, Written};
use belay_guard::database::lock::MigrationLock;
use belay_guard::database::settings::{JournalMode, Settings, Synchronous};
use belay_guard::vocab::degraded::Reason;
use rusqlite::Connection;
use rusqlite::types::Value;

fn database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE);",
        )
        .unwrap();
    (dir, db)
}

fn fast() -> Options {
    Options {
        deadline: Duration::from_millis(400),
        probe_every: Duration::from_millis(20),
        ..Options::new()
    }
}

fn insert(layer: &Layer, body: &str) -> Result<usize, Error> {
    layer.write(|c| c.execute("INSERT INTO notes (body) VALUES (?1)", [body]))
}

fn count(layer: &Layer) -> i64 {
    layer
        .read(|c| c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0)))
        .unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn writes_commit_and_reads_see_them_on_connections_set_up_as_asked() {
    let (_dir, db) = database();
    let options = Options {
        settings: Settings {
            synchronous: Some(Synchronous::Normal),
            busy_timeout: Some(250),
            ..Settings::default()
        },
        ..fast()
    };
    let layer = Layer::open(&db, options).unwrap();
    assert_eq!(layer.path(), db);
    assert_eq!(insert(&layer, "a").unwrap(), 1);
    assert_eq!(count(&layer), 1);
    let (sync, busy): (i64, i64) = layer
        .write(|c| {
            Ok((
                c.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
                c.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!((sync, busy), (1, 250));
    let reader = layer.reader().unwrap();
    let on_reader: i64 = reader
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .unwrap();
    assert_eq!(on_reader, 250);
    let refused = reader
        .execute("INSERT INTO notes (body) VALUES ('x')", [])
        .unwrap_err();
    assert!(refused.to_string().contains("readonly"), "{refused}");
    assert_eq!(layer.state(), State::Writable);
    assert!(layer.changes().is_empty());
}

#[test]
fn a_write_waits_out_another_writer_and_gives_up_typed_at_the_deadline() {
    let (_dir, db) = database();
    let layer = Layer::open(&db, fast()).unwrap();
    let other = Connection::open(&db).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let calls = AtomicU32::new(0);
    let e = layer
        .write(|c| {
            calls.fetch_add(1, Ordering::SeqCst);
            c.execute("INSERT INTO notes (body) VALUES ('never')", [])
        })
        .unwrap_err();
    match &e {
        Error::Busy {
            waited, attempts, ..
        } => {
            assert!(*attempts > 1, "{e}");
            assert!(*waited >= Duration::from_millis(400), "{e}");
        }
        other => panic!("expected Busy, got {other}"),
    }
    assert!(e.to_string().contains("nothing was written"), "{e}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "BEGIN IMMEDIATE never got the lock"
    );
    // Released part-way through the deadline: the write goes through.
    let layer = Layer::open(
        &db,
        Options {
            deadline: Duration::from_secs(10),
            ..fast()
        },
    )
    .unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        insert(&layer, "after the wait").unwrap();
    });
    assert_eq!(count(&layer), 1);
}

#[test]
fn the_applications_own_error_is_rolled_back_and_not_retried() {
    let (_dir, db) = database();
    let layer = Layer::open(&db, fast()).unwrap();
    insert(&layer, "dup").unwrap();
    let calls = AtomicU32::new(0);
    let e = layer
        .write(|c| {
            calls.fetch_add(1, Ordering::SeqCst);
            c.execute("INSERT INTO notes (body) VALUES ('fresh')", [])?;
            c.execute("INSERT INTO notes (body) VALUES ('dup')", [])
        })
        .unwrap_err();
    assert!(matches!(e, Error::Sqlite { .. }), "{e}");
    assert!(e.to_string().contains("UNIQUE"), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        count(&layer),
        1,
        "the first insert was rolled back with the second"
    );
    assert_eq!(layer.state(), State::Writable);
}

#[test]
fn a_panicking_write_leaves_no_transaction_open() {
    let (_dir, db) = database();
    let layer = std::sync::Arc::new(Layer::open(&db, fast()).unwrap());
    let l = layer.clone();
    let panicked = std::thread::spawn(move || {
        l.write(|c| -> rusqlite::Result<()> {
            c.execute("INSERT INTO notes (body) VALUES ('half')", [])?;
            panic!("the application's bug");
        })
    })
    .join();
    assert!(panicked.is_err());
    insert(&layer, "next").unwrap();
    assert_eq!(count(&layer), 1, "the half-done write was rolled back");
}

#[test]
fn low_disk_turns_it_read_only_refusing_at_once_and_a_probe_turns_it_back() {
    let (dir, db) = database();
    let audit = Audit {
        dir: dir.path().join("backups"),
        spool: dir.path().join("spool.jsonl"),
    };
    let options = Options {
        disk_low: Some(u64::MAX),
        audit: Some(audit.clone()),
        ..fast()
    };
    let layer = Layer::open(&db, options.clone()).unwrap();
    let e = insert(&layer, "a").unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Degraded {
                reason: Reason::DiskLow { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("read-only for now"), "{e}");
    assert!(matches!(layer.state(), State::Degraded { .. }));
    // Refused at once: another writer holding the lock does not make it wait.
    let other = Connection::open(&db).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = insert(&layer, "b").unwrap_err();
    assert!(matches!(e, Error::Degraded { .. }), "{e}");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(count(&layer), 0, "reads are served");
    // Probes meanwhile find the disk still under the threshold: still read-only.
    std::thread::sleep(Duration::from_millis(100));
    assert!(matches!(layer.state(), State::Degraded { .. }));
    assert_eq!(layer.changes().len(), 1);
    // Space comes back (the threshold is lowered): the probe turns it writable.
    layer
        .reload(Options {
            disk_low: Some(1),
            ..options
        })
        .unwrap();
    wait_until("writable", || layer.state() == State::Writable);
    insert(&layer, "c").unwrap();
    let changes = layer.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let journal = std::fs::read_to_string(audit.dir.join("audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{journal}");
    assert_eq!(lines[0]["event"], "connection_state");
    assert_eq!(lines[0]["state"], "degraded");
    assert_eq!(lines[0]["reason"]["kind"], "disk_low");
    assert_eq!(lines[1]["state"], "writable");
}

#[test]
fn io_errors_in_a_row_open_the_breaker_until_a_probe_write_succeeds() {
    let (_dir, db) = database();
    let layer = Layer::open(
        &db,
        Options {
            io_errors: 2,
            ..fast()
        },
    )
    .unwrap();
    let io_error = || -> rusqlite::Result<usize> {
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_WRITE),
            Some("simulated".to_owned()),
        ))
    };
    let first = layer.write(|_| io_error()).unwrap_err();
    assert!(matches!(first, Error::Sqlite { .. }), "{first}");
    assert_eq!(layer.state(), State::Writable, "one error is not a streak");
    insert(&layer, "between").unwrap();
    layer.write(|_| io_error()).unwrap_err();
    layer.write(|_| io_error()).unwrap_err();
    match layer.state() {
        State::Degraded {
            reason: Reason::IoErrors { count, last },
            ..
        } => {
            assert_eq!(count, 2);
            assert!(last.contains("simulated"), "{last}");
        }
        other => panic!("expected degraded, got {other:?}"),
    }
    wait_until("probe", || layer.state() == State::Writable);
    insert(&layer, "after").unwrap();
    assert_eq!(count(&layer), 2);
}

#[test]
fn queued_writes_are_replayed_in_order_exactly_once_on_recovery() {
    let (_dir, db) = database();
    let options = Options {
        disk_low: Some(u64::MAX),
        queue: 3,
        ..fast()
    };
    let layer = Layer::open(&db, options.clone()).unwrap();
    let sql = "INSERT INTO notes (body) VALUES (?1)";
    let body = |s: &str| vec![Value::Text(s.to_owned())];
    assert_eq!(
        layer.write_or_queue(sql, body("one")).unwrap(),
        Written::Queued { ticket: 1 }
    );
    assert_eq!(
        layer.write_or_queue(sql, body("one")).unwrap(),
        Written::Queued { ticket: 2 }
    );
    assert_eq!(
        layer.write_or_queue(sql, body("three")).unwrap(),
        Written::Queued { ticket: 3 }
    );
    let full = layer.write_or_queue(sql, body("four")).unwrap_err();
    assert!(matches!(full, Error::Degraded { .. }), "{full}");
    assert_eq!(layer.queued(), 3);
    assert_eq!(count(&layer), 0);
    // Writes wait: a reload may not shrink the queue under them.
    let e = layer
        .reload(Options {
            queue: 1,
            ..options.clone()
        })
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("`queue`: 3 queued write(s) still wait"),
        "{e}"
    );
    layer
        .reload(Options {
            disk_low: None,
            ..options
        })
        .unwrap();
    wait_until("writable", || layer.state() == State::Writable);
    assert_eq!(layer.queued(), 0);
    let replayed = layer.take_replayed();
    assert_eq!(replayed.len(), 3);
    assert_eq!(
        replayed[0],
        Replayed {
            ticket: 1,
            result: Ok(1)
        }
    );
    assert!(replayed[1].result.as_ref().unwrap_err().contains("UNIQUE"));
    assert_eq!(
        replayed[2],
        Replayed {
            ticket: 3,
            result: Ok(1)
        }
    );
    let bodies: Vec<String> = layer
        .read(|c| {
            let mut s = c.prepare("SELECT body FROM notes ORDER BY id")?;
            s.query_map([], |r| r.get(0))?.collect()
        })
        .unwrap();
    assert_eq!(bodies, ["one", "three"]);
    assert_eq!(
        layer.write_or_queue(sql, body("five")).unwrap(),
        Written::Done { changes: 1 }
    );
}

#[test]
fn without_a_queue_a_degraded_write_is_refused() {
    let (_dir, db) = database();
    let layer = Layer::open(
        &db,
        Options {
            disk_low: Some(u64::MAX),
            ..fast()
        },
    )
    .unwrap();
    let e = layer
        .write_or_queue("INSERT INTO notes (body) VALUES ('x')", vec![])
        .unwrap_err();
    assert!(matches!(e, Error::Degraded { .. }), "{e}");
}

#[test]
fn a_reload_reaches_every_connection_and_a_bad_one_changes_nothing() {
    let (_dir, db) = database();
    let layer = Layer::open(&db, fast()).unwrap();
    let busy_on_writer = |layer: &Layer| -> i64 {
        layer
            .write(|c| c.query_row("PRAGMA busy_timeout", [], |r| r.get(0)))
            .unwrap()
    };
    let busy_on_reader = |layer: &Layer| -> i64 {
        layer
            .read(|c| c.query_row("PRAGMA busy_timeout", [], |r| r.get(0)))
            .unwrap()
    };
    assert_eq!((busy_on_writer(&layer), busy_on_reader(&layer)), (100, 100));
    let mut next = fast();
    next.settings.busy_timeout = Some(321);
    layer.reload(next.clone()).unwrap();
    assert_eq!((busy_on_writer(&layer), busy_on_reader(&layer)), (321, 321));
    // A value SQLite does not take: named, and the old settings stay on every connection.
    let mut hostile = next.clone();
    hostile.settings.busy_timeout = Some(999);
    hostile.settings.mmap_size = Some(u64::MAX);
    let e = layer.reload(hostile).unwrap_err();
    assert!(
        matches!(e, Error::SettingNotApplied { ref setting, .. } if setting == "mmap_size"),
        "{e}"
    );
    assert_eq!((busy_on_writer(&layer), busy_on_reader(&layer)), (321, 321));
    assert_eq!(layer.options(), next);
    // A bad option and a journal mode are refused by name.
    let e = layer
        .reload(Options {
            readers: 0,
            ..fast()
        })
        .unwrap_err();
    assert!(e.to_string().contains("`readers`"), "{e}");
    let mut wal = fast();
    wal.settings.journal_mode = Some(JournalMode::Delete);
    let e = layer.reload(wal).unwrap_err();
    assert!(e.to_string().contains("`journal_mode`"), "{e}");
}

#[test]
fn the_journal_mode_is_set_at_open_under_the_migration_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    let mut options = fast();
    options.settings.journal_mode = Some(JournalMode::Wal);
    let held = MigrationLock::acquire(&db, Duration::from_secs(1)).unwrap();
    let e = Layer::open(&db, options.clone()).err().unwrap();
    assert!(matches!(e, Error::LockTimeout { .. }), "{e}");
    drop(held);
    let layer = Layer::open(&db, options.clone()).unwrap();
    let mode: String = layer
        .read(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(layer);
    // Already in that mode: no lock needed.
    let held = MigrationLock::acquire(&db, Duration::from_secs(1)).unwrap();
    Layer::open(&db, options).unwrap();
    drop(held);
    let bad = Options {
        readers: 100,
        ..fast()
    };
    assert!(Layer::open(&db, bad).is_err());
}

#[test]
fn one_statement_runs_as_its_own_transaction_retried_and_refused_like_any_write() {
    let (_dir, db) = database();
    let layer = Layer::open(&db, fast()).unwrap();
    let n = layer
        .execute("INSERT INTO notes (body) VALUES (?1)", &[&"single"])
        .unwrap();
    assert_eq!(n, 1);
    let e = layer
        .execute(
            "INSERT INTO notes (body) VALUES ('a'); INSERT INTO notes (body) VALUES ('b')",
            &[],
        )
        .unwrap_err();
    assert!(matches!(e, Error::Sqlite { .. }), "{e}");
    let e = layer
        .execute("INSERT INTO notes (body) VALUES (?1)", &[&"single"])
        .unwrap_err();
    assert!(e.to_string().contains("UNIQUE"), "{e}");
    // Another writer holds the lock past the deadline: typed, nothing written.
    let other = Connection::open(&db).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = layer
        .execute("INSERT INTO notes (body) VALUES ('late')", &[])
        .unwrap_err();
    assert!(matches!(e, Error::Busy { .. }), "{e}");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(count(&layer), 1);
}

#[test]
fn a_database_at_its_page_limit_stays_read_only_until_a_new_writer_has_room() {
    let (_dir, db) = database();
    let layer = Layer::open(&db, fast()).unwrap();
    let pages: i64 = layer
        .write(|c| c.query_row("PRAGMA page_count", [], |r| r.get(0)))
        .unwrap();
    layer
        .write(|c| c.execute_batch(&format!("PRAGMA max_page_count = {}", pages + 2)))
        .unwrap();
    let full = loop {
        let body = format!("{:0>2000}", count(&layer));
        if let Err(e) = insert(&layer, &body) {
            break e;
        }
    };
    assert!(
        matches!(
            &full,
            Error::Degraded {
                reason: Reason::DiskFull { .. },
                ..
            }
        ),
        "{full}"
    );
    // The disk has room, the database does not: the probe says so and it stays read-only.
    std::thread::sleep(Duration::from_millis(150));
    assert!(matches!(layer.state(), State::Degraded { .. }));
    assert_eq!(
        layer.changes().len(),
        1,
        "no flapping: {:?}",
        layer.changes()
    );
    // A reload sets up a new writer (SQLite's own page limit): the probe passes.
    layer.reload(fast()).unwrap();
    wait_until("writable", || layer.state() == State::Writable);
    insert(&layer, "room again").unwrap();
}

#[test]
fn a_reader_that_cannot_be_opened_is_an_error_of_its_own_not_busy() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("gone");
    std::fs::create_dir(&sub).unwrap();
    let db = sub.join("app.db");
    let layer = Layer::open(&db, fast()).unwrap();
    std::fs::remove_dir_all(&sub).unwrap();
    let e = layer
        .read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidDatabase { .. }), "{e}");
}
