//! The integrity benchmark on the generated ~1 GB shop database, in one run, side by side with
//! the sqlite3 CLI: quick check + foreign keys, SQLite's full `integrity_check`, per-table
//! `integrity_check(T)` on parallel connections, and belay-migrate's full check split over
//! parallel connections. Each of ours runs in a child process reporting time and peak memory.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin integrity-bench [-- --size-mb N --runs N --workers N --data DIR]
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use belay_migrate::integrity::{self, Depth, Options};
use belay_migrate::sql::quote_ident;
use migrate_bench::{
    Invocation, Sample, median_sample, memory, peak_rss_kb, run_command, run_self, shop_args,
    shop_db,
};
use rusqlite::{Connection, OpenFlags};

fn ours(db: &Path, depth: Depth, workers: usize) {
    let report = integrity::check(
        db,
        &Options {
            workers,
            ..Options::new(depth)
        },
    )
    .unwrap();
    assert!(report.ok, "{:#?}", report.findings);
}

/// `integrity_check(T)` of each table on `workers` connections, largest tables first: the
/// table-grained split, for comparison with ours.
fn per_table(db: &Path, workers: usize) {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM dbstat WHERE name IN (SELECT name FROM sqlite_schema WHERE type = 'table') GROUP BY name ORDER BY sum(pgsize) DESC")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.reverse();
    let queue = std::sync::Mutex::new(tables);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let conn =
                    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
                while let Some(t) = queue.lock().unwrap().pop() {
                    let line: String = conn
                        .query_row(
                            &format!("PRAGMA integrity_check({})", quote_ident(&t)),
                            [],
                            |r| r.get(0),
                        )
                        .unwrap();
                    assert_eq!(line, "ok");
                }
            });
        }
    });
}

/// The floor of any quick check: the bundled SQLite's own `quick_check`, one statement on one
/// connection, its answer only compared with `ok`.
fn sqlite_quick(db: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let rows: Vec<String> = conn
        .prepare("PRAGMA quick_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, ["ok"]);
}

fn child(op: &str, rest: &[String]) {
    let db = PathBuf::from(&rest[0]);
    let workers: usize = rest.get(1).map_or(1, |w| w.parse().unwrap());
    let start = Instant::now();
    match op {
        "ours-quick" => ours(&db, Depth::Quick, workers),
        "ours-full" => ours(&db, Depth::Full, workers),
        "per-table" => per_table(&db, workers),
        "sqlite-quick" => sqlite_quick(&db),
        other => panic!("unknown op {other}"),
    }
    println!("{} {}", start.elapsed().as_secs_f64(), peak_rss_kb());
}

fn sqlite3(db: &Path, sql: &str) -> Sample {
    run_command(Command::new("sqlite3").arg(db).arg(sql), None)
}

fn main() {
    let a = match shop_args(1) {
        Invocation::Child { op, rest } => return child(&op, &rest),
        Invocation::Parent(a) => a,
    };
    let db = shop_db(&a.data, a.size_mb);
    let gb = std::fs::metadata(&db).unwrap().len() as f64 / 1e9;
    let _ = std::fs::read(&db).map(|b| b.len());
    let workers = a.workers.to_string();
    let w = Path::new(&workers);
    let mut rows: Vec<(String, Sample)> = Vec::new();
    let mut measure = |name: String, f: &mut dyn FnMut() -> Sample| {
        let m = median_sample((0..a.runs).map(|_| f()).collect());
        eprintln!("{name}: {:.2} s", m.seconds);
        rows.push((name, m));
    };
    measure(
        "SQLite's quick_check alone (bundled library, one connection)".into(),
        &mut || run_self("sqlite-quick", &[&db]),
    );
    measure(
        "sqlite3 CLI: quick_check + foreign_key_check".into(),
        &mut || sqlite3(&db, "PRAGMA quick_check; PRAGMA foreign_key_check;"),
    );
    measure(
        "migrate check (quick_check + foreign keys)".into(),
        &mut || run_self("ours-quick", &[&db]),
    );
    measure(format!("migrate check --jobs {workers}"), &mut || {
        run_self("ours-quick", &[&db, w])
    });
    // MIGRATE_BENCH_QUICK_ONLY=1 stops here (the full checks take minutes).
    let quick_only = std::env::var_os("MIGRATE_BENCH_QUICK_ONLY").is_some();
    if quick_only {
        return quick_table(&rows, gb, a.runs);
    }
    measure("sqlite3 CLI: integrity_check".into(), &mut || {
        sqlite3(&db, "PRAGMA integrity_check;")
    });
    measure("migrate check --full (one connection)".into(), &mut || {
        run_self("ours-full", &[&db, Path::new("1")])
    });
    measure(
        format!("per-table integrity_check(T) on {workers} connections"),
        &mut || run_self("per-table", &[&db, w]),
    );
    measure(
        format!("migrate check --full --jobs {workers}"),
        &mut || run_self("ours-full", &[&db, w]),
    );
    quick_table(&rows[..4], gb, a.runs);
    let cli_full = rows[4].1.seconds;
    let ours_full = rows[5].1.seconds;
    println!(
        "database: {gb:.2} GB; {} core(s); median of {} run(s); ratios against the sqlite3 CLI's integrity_check and ours on one connection\n",
        integrity::available_workers(),
        a.runs
    );
    println!(
        "| check | time | per GB | vs CLI integrity_check | vs ours, 1 connection | peak memory |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, m) in &rows {
        let mem = memory(m.peak_kb);
        println!(
            "| {name} | {:.2} s | {:.2} s | {:.2}x | {:.2}x | {mem} |",
            m.seconds,
            m.seconds / gb,
            m.seconds / cli_full,
            m.seconds / ours_full
        );
    }
}

/// The quick checks against SQLite's own `quick_check` (the floor) and the CLI doing the same.
fn quick_table(rows: &[(String, Sample)], gb: f64, runs: usize) {
    let floor = rows[0].1.seconds;
    let cli = rows[1].1.seconds;
    println!(
        "database: {gb:.2} GB; {} core(s); median of {runs} run(s); quick checks against SQLite's quick_check alone and the sqlite3 CLI's quick_check + foreign_key_check\n",
        integrity::available_workers(),
    );
    println!(
        "| quick check | time | vs SQLite's quick_check alone | vs CLI quick + FK | peak memory |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, m) in rows {
        println!(
            "| {name} | {:.2} s | {:.2}x | {:.2}x | {} |",
            m.seconds,
            m.seconds / floor,
            m.seconds / cli,
            memory(m.peak_kb)
        );
    }
    println!();
}
