//! The safety-net benchmark on the generated ~1 GB shop database with one small pending
//! migration, in one run: the whole safe `up` (lock, pre-flight check, backup, apply with the
//! foreign-key check, post-run check, records) against `cp` of the database plus the bare
//! migration, and the no-pending path; then the same on a database of random payloads of the
//! same size, which zstd cannot shrink. Each run works on a fresh copy of the database; the
//! copying is not timed. Runs in child processes reporting time and peak memory.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin safety-bench [-- --size-mb N --runs N --data DIR]
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use belay_migrate::integrity::{self, Depth, Options};
use belay_migrate::{Migration, Migrations, Migrator, Script, backup};
use migrate_bench::{
    Invocation, Sample, fsync, median, median_sample, memory, peak_rss_kb, random_db, run_command,
    run_self, shop_args, shop_db,
};
use rusqlite::Connection;

/// The small pending migration.
const MIGRATION: &str = "ALTER TABLE products ADD COLUMN discontinued INTEGER NOT NULL DEFAULT 0;
CREATE INDEX products_discontinued ON products (discontinued);";

fn migrations() -> Migrations {
    let up = Script::parse("V1__discontinued.sql", MIGRATION).unwrap();
    Migrations::new(vec![Migration::new(1, "discontinued", up)]).unwrap()
}

fn child(op: &str, rest: &[String]) {
    let db = PathBuf::from(&rest[0]);
    let start = Instant::now();
    match op {
        "safe-up" => {
            let report = Migrator::new(migrations()).up(&db).unwrap();
            assert_eq!(report.steps.len(), 1);
        }
        "safe-up-exclusive" => {
            let report = Migrator::new(migrations())
                .write_lock(belay_migrate::WriteLock::WholeRun)
                .up(&db)
                .unwrap();
            assert_eq!(report.steps.len(), 1);
        }
        "bare" => {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(&format!("BEGIN; {MIGRATION} COMMIT;"))
                .unwrap();
        }
        "quick-check" => {
            let options = Options {
                workers: integrity::available_workers(),
                foreign_keys: integrity::ForeignKeys::Skipped,
                ..Options::new(Depth::Quick)
            };
            assert!(integrity::check(&db, &options).unwrap().ok);
        }
        "backup" => {
            let dir = db.with_extension("bench-backups");
            backup::create(&db, &dir, &Default::default(), &mut |_| {}).unwrap();
        }
        "backup-zstd" => {
            let dir = db.with_extension("bench-backups");
            let options = backup::CreateOptions {
                min_ratio: None,
                ..Default::default()
            };
            backup::create(&db, &dir, &options, &mut |_| {}).unwrap();
        }
        "fk" => {
            let conn = Connection::open(&db).unwrap();
            assert!(
                belay_migrate::integrity::foreign_key_violations(&conn)
                    .unwrap()
                    .is_empty()
            );
        }
        other => panic!("unknown op {other}"),
    }
    println!("{} {}", start.elapsed().as_secs_f64(), peak_rss_kb());
}

/// A fresh copy of `src` at `to` (untimed), with no backups or marker beside it.
/// Commit latencies of an application writer (one small INSERT per transaction, 5 ms apart,
/// busy timeout 120 s) running beside `op`, and the op's own sample.
fn writer_beside(db: &Path, op: &str) -> (Sample, Vec<Duration>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    Connection::open(db)
        .unwrap()
        .execute_batch("CREATE TABLE IF NOT EXISTS bench_app_writes (at INTEGER)")
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let db = db.to_path_buf();
        std::thread::spawn(move || {
            let conn = Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::from_secs(120)).unwrap();
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                conn.execute("INSERT INTO bench_app_writes (at) VALUES (1)", [])
                    .unwrap();
                latencies.push(start.elapsed());
                std::thread::sleep(Duration::from_millis(5));
            }
            latencies
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let sample = run_self(op, &[db]);
    stop.store(true, Ordering::Relaxed);
    (sample, writer.join().unwrap())
}

/// Kilobytes read from block devices since boot (`pgpgin` in /proc/vmstat).
fn device_reads_kb() -> Option<u64> {
    std::fs::read_to_string("/proc/vmstat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("pgpgin "))?
        .trim()
        .parse()
        .ok()
}

/// Drops the kernel's page cache (clean pages only: `db` is synced first), so the next run
/// reads from the device. `None` where that is not allowed (it needs root).
fn cold(db: &Path) -> Option<()> {
    fsync(db);
    std::fs::write("/proc/sys/vm/drop_caches", "3").ok()
}

/// `op` on `db` from a cold page cache: its sample and the bytes the device delivered (about
/// the file's size when every page is read once, twice that when read twice).
fn from_cold_cache(db: &Path, op: &str) -> Option<(Sample, u64)> {
    cold(db)?;
    let before = device_reads_kb()?;
    let sample = run_self(op, &[db]);
    let after = device_reads_kb()?;
    Some((sample, (after - before) * 1024))
}

/// `(p99, max)` of `latencies`.
fn tail(mut latencies: Vec<Duration>) -> (Duration, Duration) {
    latencies.sort_unstable();
    let n = latencies.len().max(1);
    let p99 = latencies[((n * 99) / 100).min(n - 1)];
    (p99, *latencies.last().unwrap_or(&Duration::ZERO))
}

fn fresh(src: &Path, to: &Path) {
    for suffix in [".backups", ".bench-backups"] {
        let _ = std::fs::remove_dir_all(format!("{}{suffix}", to.display()));
    }
    let _ = std::fs::remove_dir_all(to.with_extension("bench-backups"));
    std::fs::copy(src, to).unwrap();
}

fn main() {
    let a = match shop_args(3) {
        Invocation::Child { op, rest } => return child(&op, &rest),
        Invocation::Parent(a) => a,
    };
    let src = shop_db(&a.data, a.size_mb);
    let size = std::fs::metadata(&src).unwrap().len();
    let scratch = tempfile::tempdir_in(&a.data).unwrap();
    let db = scratch.path().join("live.db");
    let copy = scratch.path().join("cp.db");
    let _ = std::fs::read(&src).map(|b| b.len());

    let mut rows: Vec<(&str, Sample)> = Vec::new();
    let mut measure = |name: &'static str, f: &mut dyn FnMut() -> Sample| {
        let m = median_sample((0..a.runs).map(|_| f()).collect());
        eprintln!("{name}: {:.2} s", m.seconds);
        rows.push((name, m));
    };
    measure("cp + fsync, then the bare migration", &mut || {
        fresh(&src, &db);
        let _ = std::fs::remove_file(&copy);
        let cp = run_command(Command::new("cp").arg(&db).arg(&copy), Some(&copy));
        let bare = run_self("bare", &[&db]);
        Sample {
            seconds: cp.seconds + bare.seconds,
            peak_kb: bare.peak_kb,
        }
    });
    measure("cp (no fsync), then the bare migration", &mut || {
        fresh(&src, &db);
        let _ = std::fs::remove_file(&copy);
        let cp = run_command(Command::new("cp").arg(&db).arg(&copy), None);
        let bare = run_self("bare", &[&db]);
        Sample {
            seconds: cp.seconds + bare.seconds,
            peak_kb: bare.peak_kb,
        }
    });
    measure("migrate up: the whole safe run", &mut || {
        fresh(&src, &db);
        run_self("safe-up", &[&db])
    });
    measure(
        "  part: quick_check (the pre-flight: the file's structure)",
        &mut || {
            fresh(&src, &db);
            run_self("quick-check", &[&db])
        },
    );
    measure("  part: backup (zstd where it pays, hashed)", &mut || {
        fresh(&src, &db);
        run_self("backup", &[&db])
    });
    measure(
        "  part: every foreign-key constraint (before COMMIT, when a run writes rows)",
        &mut || {
            fresh(&src, &db);
            run_self("fk", &[&db])
        },
    );

    // The same on a database of random payloads, which zstd cannot shrink.
    let random = random_db(&a.data, a.size_mb);
    let random_size = std::fs::metadata(&random).unwrap().len();
    let mut random_rows: Vec<(&str, Sample)> = Vec::new();
    let mut measure_random = |name: &'static str, f: &mut dyn FnMut() -> Sample| {
        let m = median_sample((0..a.runs).map(|_| f()).collect());
        eprintln!("random payloads, {name}: {:.2} s", m.seconds);
        random_rows.push((name, m));
    };
    measure_random("cp + fsync, then the bare migration", &mut || {
        fresh(&random, &db);
        let _ = std::fs::remove_file(&copy);
        let cp = run_command(Command::new("cp").arg(&db).arg(&copy), Some(&copy));
        let bare = run_self("bare", &[&db]);
        Sample {
            seconds: cp.seconds + bare.seconds,
            peak_kb: bare.peak_kb,
        }
    });
    measure_random("migrate up: the whole safe run", &mut || {
        fresh(&random, &db);
        run_self("safe-up", &[&db])
    });
    measure_random(
        "  part: backup (stored plain: the sample does not shrink)",
        &mut || {
            fresh(&random, &db);
            run_self("backup", &[&db])
        },
    );
    measure_random("  part: backup (zstd forced)", &mut || {
        fresh(&random, &db);
        run_self("backup-zstd", &[&db])
    });
    let _ = std::fs::remove_file(&copy);

    // From a cold page cache: how many times the device reads the file.
    let mut cold_rows = Vec::new();
    for (name, op) in [
        ("migrate up: the whole safe run", "safe-up"),
        ("  part: quick_check alone", "quick-check"),
        ("  part: backup alone", "backup"),
    ] {
        fresh(&src, &db);
        match from_cold_cache(&db, op) {
            Some((sample, read)) => cold_rows.push((name, sample.seconds, read)),
            None => {
                eprintln!("from a cold cache: not measured (dropping the page cache needs root)");
                break;
            }
        }
    }

    // An application writer beside the bare migration and beside the safe run: how long its
    // commits wait.
    let mut writers = Vec::new();
    for (name, op, wal) in [
        ("beside the bare migration", "bare", false),
        ("beside migrate up (rollback journal)", "safe-up", false),
        ("beside the bare migration, WAL mode", "bare", true),
        ("beside migrate up, WAL mode", "safe-up", true),
        (
            "beside migrate up --exclusive, WAL mode",
            "safe-up-exclusive",
            true,
        ),
    ] {
        fresh(&src, &db);
        if wal {
            Connection::open(&db)
                .unwrap()
                .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .unwrap();
        }
        let (sample, latencies) = writer_beside(&db, op);
        let commits = latencies.len();
        let (p99, max) = tail(latencies);
        eprintln!("writer {name}: {commits} commits, p99 {p99:?}, max {max:?}");
        writers.push((name, sample.seconds, commits, p99, max));
    }

    // Nothing pending: the migrated copy, opened and checked by a fresh Migrator each time.
    fresh(&src, &db);
    Migrator::new(migrations()).up(&db).unwrap();
    let migrator = Migrator::new(migrations());
    let samples: Vec<Duration> = (0..200)
        .map(|_| {
            let start = Instant::now();
            let report = migrator.up(&db).unwrap();
            assert!(report.steps.is_empty());
            start.elapsed()
        })
        .collect();
    let no_pending = median(samples);
    fsync(&db);

    let base = rows[0].1.seconds;
    println!(
        "database: {:.2} GB; {} core(s); median of {} run(s)\n",
        size as f64 / 1e9,
        integrity::available_workers(),
        a.runs
    );
    println!("| run | time | vs cp + fsync + bare migration | peak memory |");
    println!("|---|---:|---:|---:|");
    for (name, m) in &rows {
        println!(
            "| {name} | {:.2} s | {:.2}x | {} |",
            m.seconds,
            m.seconds / base,
            memory(m.peak_kb)
        );
    }
    let random_base = random_rows[0].1.seconds;
    println!(
        "\nrandom payloads: {:.2} GB\n\n| run | time | vs cp + fsync + bare migration | peak memory |\n|---|---:|---:|---:|",
        random_size as f64 / 1e9
    );
    for (name, m) in &random_rows {
        println!(
            "| {name} | {:.2} s | {:.2}x | {} |",
            m.seconds,
            m.seconds / random_base,
            memory(m.peak_kb)
        );
    }
    if !cold_rows.is_empty() {
        println!(
            "\nfrom a cold page cache (dropped before each run), shop database\n\n| run | time | read from the device | x the file |\n|---|---:|---:|---:|"
        );
        for (name, seconds, read) in &cold_rows {
            println!(
                "| {name} | {seconds:.2} s | {:.2} GB | {:.2}x |",
                *read as f64 / 1e9,
                *read as f64 / size as f64
            );
        }
    }
    println!(
        "\n| an application writer (a commit every 5 ms) | run time | commits | p99 commit latency | max commit latency |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, seconds, commits, p99, max) in &writers {
        println!(
            "| {name} | {seconds:.2} s | {commits} | {:.1} ms | {:.1} ms |",
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
    println!(
        "\nnothing pending (`Migrator::up` on the migrated {:.2} GB database, open included): median {} µs of 200",
        size as f64 / 1e9,
        no_pending.as_micros()
    );
}
