//! The connection layer against what it is for: many writers at once (threads and processes,
//! a 100 ms busy timeout) with no `database is locked` reaching them, beside plain rusqlite
//! connections doing the same; and a real full disk (a small tmpfs) that turns it read-only
//! and back, losing nothing, with the record of it reaching the audit journal through the
//! spool.
//!
//! Rows per writer: `MIGRATE_LAYER_ROWS` (150 by default; docs/testing.md gives the full run).

use std::io::Write;
use std::time::{Duration, Instant};

use belay_migrate::guard::Error;
use belay_migrate::guard::connect::{Audit, Layer, Options, State};
use belay_migrate::guard::files::spool;
use belay_migrate::guard::vocab::degraded::Reason;
use migrate_tests::contention::{self, Writers};
use migrate_tests::tmpfs::Tmpfs;
use rusqlite::Connection;

fn rows() -> u64 {
    std::env::var("MIGRATE_LAYER_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

#[test]
fn eight_threads_and_four_processes_write_through_the_layer_without_a_locked_error() {
    let rows = rows();
    let dir = tempfile::tempdir().unwrap();
    let layered = dir.path().join("layer.db");
    contention::database(&layered);
    let through_layer = contention::run(&layered, Writers::Layer, 8, 4, rows);
    let plain = dir.path().join("plain.db");
    contention::database(&plain);
    let by_hand = contention::run(&plain, Writers::Plain, 8, 4, rows);
    eprintln!(
        "12 writers x {rows} rows, 100 ms busy timeout: layer {} committed, {} errors ({} locked); plain rusqlite {} committed, {} errors ({} locked)",
        through_layer.acknowledged.len(),
        through_layer.errors,
        through_layer.locked,
        by_hand.acknowledged.len(),
        by_hand.errors,
        by_hand.locked
    );
    assert_eq!(
        through_layer.errors, 0,
        "no error reaches a writer through the layer"
    );
    assert_eq!(through_layer.acknowledged.len() as u64, 12 * rows);
    for (db, outcome) in [(&layered, &through_layer), (&plain, &by_hand)] {
        let (missing, unacknowledged) = contention::check(db, &outcome.acknowledged);
        assert!(missing.is_empty(), "acknowledged but missing: {missing:?}");
        assert_eq!(unacknowledged, 0, "rows nobody acknowledged");
    }
    let ok: String = Connection::open(&layered)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

/// Fills `disk` with a file until the disk refuses, then gives `leave` bytes back.
fn fill(disk: &Tmpfs, leave: u64) -> std::path::PathBuf {
    let filler = disk.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![7u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave)).unwrap();
    filler
}

#[test]
fn a_full_disk_turns_the_layer_read_only_and_freeing_space_turns_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("small"), 2 << 20);
    let db = disk.path().join("app.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE notes (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
        )
        .unwrap();
    let audit = Audit {
        dir: disk.path().join("backups"),
        // The spool on another file system than the full one.
        spool: dir.path().join("app.audit-spool.jsonl"),
    };
    let layer = Layer::open(
        &db,
        Options {
            audit: Some(audit.clone()),
            ..Options::new()
        },
    )
    .unwrap();
    let filler = fill(&disk, 256 << 10);
    let mut acknowledged = Vec::new();
    let degraded = loop {
        match layer.write(|c| {
            c.query_row(
                "INSERT INTO notes (body) VALUES (randomblob(3000)) RETURNING id",
                [],
                |r| r.get::<_, i64>(0),
            )
        }) {
            Ok(id) => acknowledged.push(id),
            Err(e) => break e,
        }
        assert!(acknowledged.len() < 10_000, "the disk never filled");
    };
    assert!(
        matches!(
            &degraded,
            Error::Degraded {
                reason: Reason::DiskFull { .. },
                ..
            }
        ),
        "{degraded}"
    );
    assert!(!acknowledged.is_empty());
    assert!(matches!(layer.state(), State::Degraded { .. }));
    // Writes are refused at once, typed, and change nothing; reads are served.
    let started = Instant::now();
    let refused = layer
        .write(|c| c.execute("INSERT INTO notes (body) VALUES (x'00')", []))
        .unwrap_err();
    eprintln!(
        "a write while read-only was refused in {:?}",
        started.elapsed()
    );
    assert!(matches!(refused, Error::Degraded { .. }), "{refused}");
    let n: i64 = layer
        .read(|c| c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(
        n,
        acknowledged.len() as i64,
        "reads are served, every acknowledged row there"
    );
    let verdict: String = layer
        .read(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(verdict, "ok");
    // The journal is on the full disk: the change waits in the spool.
    let waiting = spool::waiting(&audit.spool).unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(waiting[0].contains("\"degraded\""), "{waiting:?}");
    // Space comes back: writable again within 5 s, by itself.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    while layer.state() != State::Writable {
        assert!(
            freed.elapsed() < Duration::from_secs(5),
            "still read-only 5 s after space came back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("writable again {:?} after space came back", freed.elapsed());
    let id: i64 = layer
        .write(|c| {
            c.query_row(
                "INSERT INTO notes (body) VALUES (x'01') RETURNING id",
                [],
                |r| r.get(0),
            )
        })
        .unwrap();
    acknowledged.push(id);
    drop(layer);
    let c = Connection::open(&db).unwrap();
    for id in &acknowledged {
        let n: i64 = c
            .query_row("SELECT count(*) FROM notes WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 1, "acknowledged row {id} is missing");
    }
    let verdict: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let journal = std::fs::read_to_string(audit.dir.join("audit.jsonl")).unwrap();
    let states: Vec<String> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["state"].to_string())
        .collect();
    assert_eq!(states, ["\"degraded\"", "\"writable\""], "{journal}");
    assert!(spool::waiting(&audit.spool).unwrap().is_empty());
}
