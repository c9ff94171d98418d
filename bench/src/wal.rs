//! The WAL under load: a writer commits small transactions at a fixed rate while one reader
//! holds a read transaction open for a while, then lets go; the run goes on a while after.
//! Side by side: SQLite's defaults (`wal_autocheckpoint` 1000, passive, on the writer's
//! commits), and the checkpoint policy (`belay_guard::database::checkpointer`, the writer's
//! autocheckpoint off, a tick every second). Reports the WAL's largest size, its size at the
//! end, the writer's commit latency, and the longest time frames were held back.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin wal-bench [-- --reader-secs 60 --after-secs 10 --rate 500]
//! ```

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use belay_migrate::guard::database::checkpointer::{Checkpointer, Policy, Purpose};
use migrate_bench::median;
use rusqlite::Connection;

struct Args {
    reader_secs: u64,
    after_secs: u64,
    rate: u64,
}

fn args() -> Args {
    let mut a = Args {
        reader_secs: 60,
        after_secs: 10,
        rate: 500,
    };
    let child = migrate_bench::flags(|flag, value| {
        match flag {
            "--reader-secs" => a.reader_secs = migrate_bench::number(flag, value),
            "--after-secs" => a.after_secs = migrate_bench::number(flag, value),
            "--rate" => a.rate = migrate_bench::number(flag, value),
            _ => return false,
        }
        true
    });
    assert!(child.is_none(), "wal-bench has no child runs");
    a
}

struct Outcome {
    commits: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    wal_max: u64,
    wal_end: u64,
    wal_max_after_reader: u64,
    blocked_max: Duration,
    checkpoint_errors: usize,
}

fn wal_size(db: &Path) -> u64 {
    std::fs::metadata(format!("{}-wal", db.display())).map_or(0, |m| m.len())
}

fn scenario(dir: &Path, name: &str, with_policy: Option<Policy>, a: &Args) -> Outcome {
    let db = dir.join(format!("{name}.db"));
    let setup = Connection::open(&db).unwrap();
    setup
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE events (id INTEGER PRIMARY KEY, at INTEGER, body TEXT);
             INSERT INTO events (at, body) VALUES (0, 'start');",
        )
        .unwrap();
    drop(setup);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    let writer = {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        let policy_on = with_policy.is_some();
        let interval = Duration::from_micros(1_000_000 / a.rate.max(1));
        std::thread::spawn(move || {
            let conn = Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::from_secs(10)).unwrap();
            conn.execute_batch("PRAGMA synchronous = NORMAL").unwrap();
            if policy_on {
                conn.execute_batch("PRAGMA wal_autocheckpoint = 0").unwrap();
            }
            let mut latencies = Vec::new();
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                conn.execute(
                    "INSERT INTO events (at, body) VALUES (?1, 'an event of a hundred bytes or so, as an application writes them all day long')",
                    [t.elapsed().as_nanos() as i64],
                )
                .unwrap();
                latencies.push(t.elapsed());
                next += interval;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            latencies
        })
    };
    let reader = {
        let db = db.clone();
        let hold = Duration::from_secs(a.reader_secs);
        std::thread::spawn(move || {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch("BEGIN").unwrap();
            let _: i64 = conn
                .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
                .unwrap();
            std::thread::sleep(hold);
            conn.execute_batch("COMMIT").unwrap();
        })
    };
    let checkpointer = with_policy.map(|policy| {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut c = Checkpointer::new(&db, policy);
            let (mut blocked_max, mut errors) = (Duration::ZERO, 0);
            while !stop.load(Ordering::Relaxed) {
                match c.tick(Purpose::Routine) {
                    Ok(tick) => blocked_max = blocked_max.max(tick.blocked_for),
                    Err(_) => errors += 1,
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            (blocked_max, errors)
        })
    });

    let total = Duration::from_secs(a.reader_secs + a.after_secs);
    let reader_done = Duration::from_secs(a.reader_secs) + Duration::from_secs(2);
    let (mut wal_max, mut wal_max_after_reader) = (0, 0);
    while started.elapsed() < total {
        let size = wal_size(&db);
        wal_max = wal_max.max(size);
        if started.elapsed() > reader_done {
            wal_max_after_reader = wal_max_after_reader.max(size);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let wal_end = wal_size(&db);
    stop.store(true, Ordering::Relaxed);
    let latencies = writer.join().unwrap();
    reader.join().unwrap();
    let (blocked_max, checkpoint_errors) = checkpointer
        .map(|h| h.join().unwrap())
        .unwrap_or((Duration::ZERO, 0));
    let mut sorted = latencies.clone();
    sorted.sort();
    let n = sorted.len().max(1);
    Outcome {
        commits: latencies.len(),
        p50: median(latencies),
        p99: sorted[(n * 99 / 100).min(n - 1)],
        max: *sorted.last().unwrap_or(&Duration::ZERO),
        wal_max,
        wal_end,
        wal_max_after_reader,
        blocked_max,
        checkpoint_errors,
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        (
            "SQLite's defaults (autocheckpoint 1000, passive)",
            scenario(dir.path(), "defaults", None, &a),
        ),
        (
            "the checkpoint policy (64 MiB limit, 100 ms bound)",
            scenario(dir.path(), "policy", Some(Policy::default()), &a),
        ),
    ];
    println!(
        "a writer at {} commits/s (synchronous = NORMAL), a reader holding one read transaction for {} s, then {} s more\n",
        a.rate, a.reader_secs, a.after_secs
    );
    println!(
        "| checkpoints | commits | p50 commit | p99 commit | max commit | largest WAL | largest WAL after the reader let go | WAL at the end | longest held back | checkpoint errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, o) in &rows {
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} |",
            o.commits,
            ms(o.p50),
            ms(o.p99),
            ms(o.max),
            mib(o.wal_max),
            mib(o.wal_max_after_reader),
            mib(o.wal_end),
            o.blocked_max.as_secs_f64(),
            o.checkpoint_errors
        );
    }
}
