//! The connection layer's cost: each write through `Layer::write` (a `BEGIN IMMEDIATE`
//! transaction, the breaker asked, the retry wrapper) against a bare rusqlite `execute` (one
//! autocommit statement) on the same database in the same mode, by journal mode and
//! `synchronous`; rounds alternate between the two so that drift of the disk falls on both.
//! Then how fast a write is refused while the layer is read-only.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin layer-bench [-- --rounds 7 --commits 2000]
//! ```

use std::time::{Duration, Instant};

use belay_migrate::guard::connect::{Layer, Options};
use belay_migrate::guard::database::settings::{Settings, Synchronous};
use migrate_bench::{events_db, median};
use rusqlite::Connection;

const INSERT: &str = "INSERT INTO events (body) VALUES ('an event of a hundred bytes or so, as an application writes them')";

fn main() {
    let (mut rounds, mut commits) = (7usize, 2000usize);
    let child = migrate_bench::flags(|flag, value| {
        match flag {
            "--rounds" => rounds = migrate_bench::number(flag, value),
            "--commits" => commits = migrate_bench::number(flag, value),
            _ => return false,
        }
        true
    });
    assert!(child.is_none(), "layer-bench has no child runs");
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    println!(
        "one writer, {commits} small INSERTs per round, {rounds} rounds alternating, on {}\n",
        dir.path().display()
    );
    println!(
        "| journal | synchronous | bare execute p50 | by hand IMMEDIATE p50 | layer write p50 | layer execute p50 | bare p99 | layer write p99 | write / bare | write / by hand | execute / bare |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for journal in ["wal", "delete"] {
        for sync in [Synchronous::Off, Synchronous::Normal, Synchronous::Full] {
            let db = dir.path().join(format!("{journal}-{sync:?}.db"));
            let chosen = Settings {
                synchronous: Some(sync),
                ..Settings::default()
            };
            let bare = events_db(&db, journal, &chosen);
            let layer = Layer::open(
                &db,
                Options {
                    settings: chosen,
                    ..Options::new()
                },
            )
            .unwrap();
            let (mut bare_all, mut hand_all, mut layer_all) = (Vec::new(), Vec::new(), Vec::new());
            let mut one_all = Vec::new();
            let (mut over_bare, mut over_hand, mut one_over_bare) =
                (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let b = round(commits, || {
                    bare.execute(INSERT, []).unwrap();
                });
                // What the layer does, written by hand: BEGIN IMMEDIATE, the INSERT, COMMIT.
                let h = round(commits, || {
                    bare.prepare_cached("BEGIN IMMEDIATE")
                        .unwrap()
                        .execute([])
                        .unwrap();
                    bare.execute(INSERT, []).unwrap();
                    bare.prepare_cached("COMMIT").unwrap().execute([]).unwrap();
                });
                let l = round(commits, || {
                    layer.write(|c| c.execute(INSERT, [])).unwrap();
                });
                // One statement, its own transaction, as a bare execute is.
                let o = round(commits, || {
                    layer.execute(INSERT, &[]).unwrap();
                });
                one_over_bare.push(total(&o).as_secs_f64() / total(&b).as_secs_f64());
                one_all.extend(o);
                over_bare.push(total(&l).as_secs_f64() / total(&b).as_secs_f64());
                over_hand.push(total(&l).as_secs_f64() / total(&h).as_secs_f64());
                bare_all.extend(b);
                hand_all.extend(h);
                layer_all.extend(l);
            }
            println!(
                "| {journal} | {} | {} | {} | {} | {} | {} | {} | {:.3}x | {:.3}x | {:.3}x |",
                format!("{sync:?}").to_lowercase(),
                micros(median(bare_all.clone())),
                micros(median(hand_all)),
                micros(median(layer_all.clone())),
                micros(median(one_all)),
                micros(p99(bare_all)),
                micros(p99(layer_all)),
                middle(over_bare),
                middle(over_hand),
                middle(one_over_bare)
            );
        }
    }
    refusals(&dir.path().join("refused.db"));
}

fn round(commits: usize, mut one: impl FnMut()) -> Vec<Duration> {
    (0..commits)
        .map(|_| {
            let t = Instant::now();
            one();
            t.elapsed()
        })
        .collect()
}

/// The median of the rounds' ratios.
fn middle(mut ratios: Vec<f64>) -> f64 {
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn total(samples: &[Duration]) -> Duration {
    samples.iter().sum()
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// A write while the layer is read-only (a disk threshold no disk meets): refused without
/// touching the database.
fn refusals(db: &std::path::Path) {
    Connection::open(db)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)",
        )
        .unwrap();
    let layer = Layer::open(
        db,
        Options {
            disk_low: Some(u64::MAX),
            ..Options::new()
        },
    )
    .unwrap();
    let t = Instant::now();
    let first = layer.write(|c| c.execute(INSERT, [])).unwrap_err();
    let first_took = t.elapsed();
    let samples = round(10_000, || {
        layer.write(|c| c.execute(INSERT, [])).unwrap_err();
    });
    let max = *samples.iter().max().unwrap();
    println!(
        "\nwhile read-only ({first}): the write that turned it read-only {}, then 10,000 refusals p50 {} p99 {} max {}",
        micros(first_took),
        micros(median(samples.clone())),
        micros(p99(samples)),
        micros(max)
    );
}
