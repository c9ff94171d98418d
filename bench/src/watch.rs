//! The watchman's costs. First `health` on the shop database (1 GB by default): the library's
//! report with the engine's status of a migrations directory, and the whole `health` command as
//! an operator's probe runs it (this binary's own process, started afresh each run), against
//! the target of 200 ms and against `PRAGMA quick_check` (what a probe that checked would
//! pay). Then a writer committing at a fixed rate into a copy of the shop database (WAL,
//! synchronous NORMAL): its commit latency alone, and with a watchman process beside it running
//! a check tick (200 ms budget) and a checkpoint every second; the p99s compared (target:
//! within 10%).
//!
//! ```text
//! cargo run --release -p migrate-bench --bin watch-bench [-- --size-mb 1024 --runs 10 --secs 30 --rate 200]
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use belay_migrate::guard::watch::every::Every;
use belay_migrate::guard::watch::health::{self, Inputs, Migrations};
use belay_migrate::guard::watch::{Config, Watchman};
use migrate_bench::{median, shop_db};
use rusqlite::Connection;

struct Args {
    size_mb: u64,
    runs: usize,
    secs: u64,
    rate: u64,
    data: PathBuf,
}

fn args() -> Result<Args, (String, Vec<String>)> {
    let mut a = Args {
        size_mb: 1024,
        runs: 10,
        secs: 30,
        rate: 200,
        data: PathBuf::from("target/bench-data"),
    };
    let child = migrate_bench::flags(|flag, value| {
        match flag {
            "--size-mb" => a.size_mb = migrate_bench::number(flag, value),
            "--runs" => a.runs = migrate_bench::number(flag, value),
            "--secs" => a.secs = migrate_bench::number(flag, value),
            "--rate" => a.rate = migrate_bench::number(flag, value),
            "--data" => a.data = PathBuf::from(value),
            _ => return false,
        }
        true
    });
    match child {
        Some(op) => Err(op),
        None => Ok(a),
    }
}

/// The engine's facts for the report, from `migrations`.
fn migrations(dir: &Path, db: &Path) -> Result<Migrations, String> {
    let set = belay_migrate::source::read_dir(dir).map_err(|e| e.to_string())?;
    let status = belay_migrate::Migrator::new(set)
        .status(db)
        .map_err(|e| e.to_string())?;
    Ok(Migrations {
        schema_version: status.current_version,
        pending: status.pending.len(),
        drift: status.schema_drift,
    })
}

fn report(db: &Path, backups: &Path, migrations_dir: &Path) -> health::Health {
    health::health(
        db,
        backups,
        Inputs {
            migrations: Some(migrations(migrations_dir, db)),
            ..Inputs::default()
        },
    )
}

/// The watchman's loop on `db` with checks (200 ms budget) and checkpoints every second,
/// until killed.
fn watchman(db: &Path, backups: &Path) {
    let mut config = Config::new(db, backups);
    config.schedule.check = Some(Every::parse("1s").unwrap());
    config.schedule.checkpoint = Some(Every::parse("1s").unwrap());
    let mut w = Watchman::start(config).unwrap();
    loop {
        for task in w.due(std::time::SystemTime::now()) {
            w.run(task);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Commit latencies of one writer at `rate` a second for `secs`.
fn write(db: &Path, secs: u64, rate: u64) -> Vec<Duration> {
    let conn = Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute_batch("PRAGMA synchronous = NORMAL").unwrap();
    let period = Duration::from_secs(1) / rate as u32;
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut next = start;
    while start.elapsed() < Duration::from_secs(secs) {
        let t = Instant::now();
        conn.execute(
            "INSERT INTO ticks (at, pad) VALUES (?1, randomblob(200))",
            [t.duration_since(start).as_micros() as i64],
        )
        .unwrap();
        latencies.push(t.elapsed());
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    latencies
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err((op, rest)) => {
            match op.as_str() {
                "health" => {
                    let (t, r) = migrate_bench::time(|| {
                        report(
                            Path::new(&rest[0]),
                            Path::new(&rest[1]),
                            Path::new(&rest[2]),
                        )
                    });
                    println!("{} {:?}", t.as_micros(), r.status);
                }
                "watch" => watchman(Path::new(&rest[0]), Path::new(&rest[1])),
                other => panic!("unknown op {other}"),
            }
            return;
        }
    };
    let shop = shop_db(&a.data, a.size_mb);
    let scratch = tempfile::tempdir_in(&a.data).unwrap();
    let migrations_dir = scratch.path().join("migrations");
    std::fs::create_dir_all(&migrations_dir).unwrap();
    std::fs::write(
        migrations_dir.join("0001_reviews.up.sql"),
        "CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER, stars INTEGER);",
    )
    .unwrap();
    let backups = scratch.path().join("backups");
    let size = std::fs::metadata(&shop).unwrap().len();
    println!("shop database {} ({} MiB)\n", shop.display(), size >> 20);

    // health: in process, and as a fresh process each time.
    let _ = report(&shop, &backups, &migrations_dir);
    let lib: Vec<Duration> = (0..a.runs)
        .map(|_| migrate_bench::time(|| report(&shop, &backups, &migrations_dir)).0)
        .collect();
    let mut whole = Vec::new();
    for _ in 0..a.runs {
        let t = Instant::now();
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--op", "health"])
            .arg(&shop)
            .arg(&backups)
            .arg(&migrations_dir)
            .output()
            .unwrap();
        assert!(out.status.success());
        whole.push(t.elapsed());
    }
    let quick = migrate_bench::time(|| {
        Connection::open(&shop)
            .unwrap()
            .query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0))
            .unwrap()
    })
    .0;
    println!(
        "| health on {} MiB | median | max | / target 200 ms | / quick_check ({}) |",
        size >> 20,
        ms(quick)
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, xs) in [("library call", lib), ("fresh process", whole)] {
        let (m, max) = (median(xs.clone()), *xs.iter().max().unwrap());
        println!(
            "| {name} | {} | {} | {:.3} | {:.4} |",
            ms(m),
            ms(max),
            m.as_secs_f64() / 0.2,
            m.as_secs_f64() / quick.as_secs_f64()
        );
    }

    // The writer's latency, alone and beside the watchman.
    let copy = scratch.path().join("live.db");
    std::fs::copy(&shop, &copy).unwrap();
    Connection::open(&copy)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE ticks (id INTEGER PRIMARY KEY, at INTEGER, pad BLOB);",
        )
        .unwrap();
    let alone = write(&copy, a.secs, a.rate);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--op", "watch"])
        .arg(&copy)
        .arg(scratch.path().join("live-backups"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let beside = write(&copy, a.secs, a.rate);
    child.kill().unwrap();
    child.wait().unwrap();
    let state =
        belay_migrate::guard::watch::state::State::read(&scratch.path().join("live-backups"))
            .unwrap();
    println!(
        "\nwriter at {}/s for {}s on a copy (WAL, synchronous NORMAL); the watchman ran {} check tick(s) ({} pass(es) complete) and {} checkpoint(s)\n",
        a.rate,
        a.secs,
        state.counters.checks_total,
        state.sweep.passes,
        state.counters.checkpoints_total
    );
    println!("| writer | commits | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    let p99 = |xs: &Vec<Duration>| percentile(xs.clone(), 0.99);
    for (name, xs) in [("alone", &alone), ("beside watch", &beside)] {
        println!(
            "| {name} | {} | {} | {} | {} |",
            xs.len(),
            ms(percentile(xs.clone(), 0.5)),
            ms(p99(xs)),
            ms(*xs.iter().max().unwrap())
        );
    }
    println!(
        "\np99 beside watch / alone: {:.3} (target <= 1.10)",
        p99(&beside).as_secs_f64() / p99(&alone).as_secs_f64()
    );
}
