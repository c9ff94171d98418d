//! The start-up benchmark: the call an application makes when it starts and nothing is
//! pending, with 1,000 migrations embedded in the binary, for belay-migrate
//! (`embed_migrations!`) and refinery 0.10 (its `embed_migrations!` runner), in one run.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin startup-bench [-- --runs N]
//! ```

use std::time::Duration;

use migrate_bench::{median, time};

use belay_migrate::{Migrations, Migrator, Request};
use rusqlite::Connection;

static OURS: Migrations = belay_macros::embed_migrations!("migrations_1000");

mod theirs {
    refinery::embed_migrations!("migrations_1000");
}

fn main() {
    let runs: usize = match std::env::args().nth(1).as_deref() {
        Some("--runs") => std::env::args()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .expect("--runs N"),
        _ => 500,
    };
    let dir = tempfile::tempdir().unwrap();
    let ours_db = dir.path().join("ours.db");
    let theirs_db = dir.path().join("refinery.db");
    assert_eq!(OURS.len(), 1000);
    assert_eq!(
        Migrator::new(OURS.clone())
            .up(&ours_db)
            .unwrap()
            .steps
            .len(),
        1000
    );
    let mut conn = Connection::open(&theirs_db).unwrap();
    let report = theirs::migrations::runner().run(&mut conn).unwrap();
    assert_eq!(report.applied_migrations().len(), 1000);
    drop(conn);

    let up = Request::up();
    let ours_conn = Connection::open(&ours_db).unwrap();
    let mut theirs_conn = Connection::open(&theirs_db).unwrap();
    let (mut ours_open, mut ours_held, mut theirs_open, mut theirs_held) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (t, r) = time(|| Migrator::new(OURS.clone()).up(&ours_db).unwrap());
        assert!(r.steps.is_empty());
        ours_open.push(t);
        let (t, r) = time(|| Migrator::new(OURS.clone()).run_on(&ours_conn, &up).unwrap());
        assert!(r.steps.is_empty());
        ours_held.push(t);
        let (t, r) = time(|| {
            let mut conn = Connection::open(&theirs_db).unwrap();
            theirs::migrations::runner().run(&mut conn).unwrap()
        });
        assert!(r.applied_migrations().is_empty());
        theirs_open.push(t);
        let (t, r) = time(|| theirs::migrations::runner().run(&mut theirs_conn).unwrap());
        assert!(r.applied_migrations().is_empty());
        theirs_held.push(t);
    }
    let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    let row = |what: &str, o: Duration, t: Duration| {
        println!(
            "| {what} | {} | {} | {:.3} |",
            us(o),
            us(t),
            o.as_secs_f64() / t.as_secs_f64()
        )
    };
    println!("1,000 embedded migrations, nothing pending; medians of {runs} calls\n");
    println!("| start-up call | belay-migrate | refinery 0.10 | ratio ours/refinery |");
    println!("|---|---:|---:|---:|");
    row(
        "on the application's open connection (`run_on` / `runner().run(&mut conn)`)",
        median(ours_held),
        median(theirs_held),
    );
    row(
        "opening the database first (`up(path)` / open + `runner().run`)",
        median(ours_open),
        median(theirs_open),
    );
}
