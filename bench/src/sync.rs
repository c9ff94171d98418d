//! Commit throughput and latency by `synchronous` setting and journal mode: one writer
//! committing small transactions as fast as it can for a fixed time, on a fresh database each
//! time, through the `[database]` settings path (`belay_guard::database::settings::apply`, read
//! back). What an operator chooses between when setting `synchronous`.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin sync-bench [-- --secs 3]
//! ```

use std::time::{Duration, Instant};

use belay_migrate::guard::database::settings::{Settings, Synchronous};
use migrate_bench::{events_db, median};

fn main() {
    let mut secs = 3u64;
    let child = migrate_bench::flags(|flag, value| {
        match flag {
            "--secs" => secs = migrate_bench::number(flag, value),
            _ => return false,
        }
        true
    });
    assert!(child.is_none(), "sync-bench has no child runs");
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    println!(
        "one writer, one small INSERT per transaction, {secs} s each, on {}\n",
        dir.path().display()
    );
    println!("| journal | synchronous | commits/s | p50 | p99 | max |");
    println!("|---|---|---:|---:|---:|---:|");
    for journal in ["wal", "delete"] {
        for sync in [Synchronous::Off, Synchronous::Normal, Synchronous::Full] {
            let db = dir.path().join(format!("{journal}-{sync:?}.db"));
            let conn = events_db(
                &db,
                journal,
                &Settings {
                    synchronous: Some(sync),
                    ..Settings::default()
                },
            );
            let mut latencies = Vec::new();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(secs) {
                let t = Instant::now();
                conn.execute(
                    "INSERT INTO events (body) VALUES ('an event of a hundred bytes or so, as an application writes them')",
                    [],
                )
                .unwrap();
                latencies.push(t.elapsed());
            }
            let elapsed = started.elapsed();
            let mut sorted = latencies.clone();
            sorted.sort();
            let n = sorted.len();
            println!(
                "| {journal} | {} | {:.0} | {:.3} ms | {:.3} ms | {:.3} ms |",
                format!("{sync:?}").to_lowercase(),
                n as f64 / elapsed.as_secs_f64(),
                median(latencies).as_secs_f64() * 1e3,
                sorted[(n * 99 / 100).min(n - 1)].as_secs_f64() * 1e3,
                sorted[n - 1].as_secs_f64() * 1e3
            );
        }
    }
}
