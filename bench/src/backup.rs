//! The backup benchmark on a generated ~1 GB database (customers, products, orders, order
//! items, with their indexes), in one run, side by side: `cp`, the sqlite3 CLI's `.backup`,
//! rusqlite's backup API, and belay-migrate's backup (plain and compressed), verify and restore.
//! Each operation runs in a child process that reports its own time and peak memory (VmHWM).
//!
//! ```text
//! cargo run --release -p migrate-bench --bin backup-bench [-- --size-mb N --runs N --data DIR]
//! ```
//! The generated database is kept in DIR (default target/bench-data) and reused.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use belay_migrate::backup::{self, Compression, CreateOptions, Reason};
use migrate_bench::{
    Invocation, Sample, fsync, median_sample, memory, peak_rss_kb, run_command, run_self,
    shop_args, shop_db,
};
use rusqlite::Connection;

/// Runs one operation here and prints `seconds peak_kb`.
fn child(op: &str, rest: &[String]) {
    let p = |i: usize| PathBuf::from(&rest[i]);
    let options = |compression| CreateOptions {
        compression,
        reason: Reason::Manual,
        busy_timeout: Duration::from_secs(60),
        ..CreateOptions::default()
    };
    let start = Instant::now();
    match op {
        "rusqlite-backup" => {
            let src = Connection::open(p(0)).unwrap();
            let mut dst = Connection::open(p(1)).unwrap();
            let b = rusqlite::backup::Backup::new(&src, &mut dst).unwrap();
            while b.step(-1).unwrap() != rusqlite::backup::StepResult::Done {}
            drop(b);
            drop(dst);
            fsync(&p(1));
        }
        "ours-plain" => {
            backup::create(&p(0), &p(1), &options(Compression::None), &mut |_| {}).unwrap();
        }
        "ours-zstd" => {
            backup::create(&p(0), &p(1), &options(Compression::Zstd), &mut |_| {}).unwrap();
        }
        "ours-verify" => {
            backup::verify(
                &p(0),
                "latest",
                belay_migrate::integrity::available_workers(),
            )
            .unwrap();
        }
        "ours-restore" => {
            backup::restore(&p(1), &p(0), "latest", Duration::from_secs(60)).unwrap();
        }
        "ours-restore-locked" => {
            let manifest = backup::list(&p(0)).unwrap().pop().unwrap();
            let done = belay_migrate::backup::restore_locked(
                &p(1),
                &p(0),
                &manifest,
                Duration::from_secs(60),
                belay_migrate::backup::Proof::Accepted,
            )
            .unwrap();
            assert!(done.is_some());
        }
        other => panic!("unknown op {other}"),
    }
    println!("{} {}", start.elapsed().as_secs_f64(), peak_rss_kb());
}

fn main() {
    let a = match shop_args(3) {
        Invocation::Child { op, rest } => return child(&op, &rest),
        Invocation::Parent(a) => a,
    };
    let src = shop_db(&a.data, a.size_mb);
    let size = std::fs::metadata(&src).unwrap().len();
    let scratch = tempfile::tempdir_in(&a.data).unwrap();
    let s = scratch.path();
    let fresh = |name: &str| {
        let p = s.join(name);
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_dir_all(&p);
        p
    };
    // Warm the page cache so every contender reads the source from memory.
    let _ = std::fs::read(&src).map(|b| b.len());

    let mut rows: Vec<(&str, Sample)> = Vec::new();
    let mut measure = |name: &'static str, runs: usize, f: &mut dyn FnMut() -> Sample| {
        let samples: Vec<Sample> = (0..runs).map(|_| f()).collect();
        let m = median_sample(samples);
        eprintln!("{name}: {:.2} s", m.seconds);
        rows.push((name, m));
    };
    measure("cp", a.runs, &mut || {
        let dst = fresh("cp.db");
        run_command(Command::new("cp").arg(&src).arg(&dst), None)
    });
    measure("cp + fsync", a.runs, &mut || {
        let dst = fresh("cp.db");
        run_command(Command::new("cp").arg(&src).arg(&dst), Some(&dst))
    });
    measure("sqlite3 CLI `.backup` (+ fsync)", a.runs, &mut || {
        let dst = fresh("cli.db");
        run_command(
            Command::new("sqlite3")
                .arg(&src)
                .arg(format!(".backup '{}'", dst.display())),
            Some(&dst),
        )
    });
    measure("rusqlite `Backup::step(-1)` (+ fsync)", a.runs, &mut || {
        let dst = fresh("rusqlite.db");
        run_self("rusqlite-backup", &[&src, &dst])
    });
    measure("belay-migrate backup, plain", a.runs, &mut || {
        let dir = fresh("plain");
        run_self("ours-plain", &[&src, &dir])
    });
    let zstd_dir = s.join("zstd");
    measure("belay-migrate backup, zstd", a.runs, &mut || {
        let dir = fresh("zstd");
        run_self("ours-zstd", &[&src, &dir])
    });
    let stored = backup::list(&zstd_dir)
        .unwrap()
        .pop()
        .unwrap()
        .compressed_size;
    // A full integrity_check of a large database takes tens of seconds: measured once.
    measure(
        "belay-migrate verify (zstd: SHA-256 + full integrity_check)",
        1,
        &mut || run_self("ours-verify", &[&zstd_dir]),
    );
    measure(
        "belay-migrate restore over a live copy (verify + quick_check + copy)",
        a.runs,
        &mut || {
            let live = fresh("live.db");
            std::fs::copy(&src, &live).unwrap();
            run_self("ours-restore", &[&zstd_dir, &live])
        },
    );

    // As a failed run restores its own backup (no pre-restore copy), over the database the
    // run left: here the shop's migration applied (a column and an index: some pages differ).
    measure(
        "restore as a run does, after its migration (verify + quick_check + the pages that differ)",
        a.runs,
        &mut || {
            let live = fresh("live.db");
            std::fs::copy(&src, &live).unwrap();
            rusqlite::Connection::open(&live)
                .unwrap()
                .execute_batch(
                    "ALTER TABLE products ADD COLUMN discontinued INTEGER NOT NULL DEFAULT 0;
                     CREATE INDEX products_discontinued ON products (discontinued);
                     UPDATE orders SET status = 'archived' WHERE id % 50 = 0;",
                )
                .unwrap();
            run_self("ours-restore-locked", &[&zstd_dir, &live])
        },
    );
    // The worst case: every page differs (a database of random payloads in its place).
    let random = migrate_bench::random_db(&a.data, a.size_mb);
    measure(
        "restore as a run does, over a database of other contents (every page differs)",
        a.runs,
        &mut || {
            let live = fresh("live.db");
            std::fs::copy(&random, &live).unwrap();
            run_self("ours-restore-locked", &[&zstd_dir, &live])
        },
    );

    let cp = rows[0].1.seconds;
    let cp_sync = rows[1].1.seconds;
    println!(
        "database: {:.2} GB ({} bytes); zstd backup stored in {} bytes ({:.1}x smaller); median of {} runs\n",
        size as f64 / 1e9,
        size,
        stored,
        size as f64 / stored as f64,
        a.runs
    );
    println!("| operation | time | vs `cp` | vs `cp` + fsync | peak memory |");
    println!("|---|---:|---:|---:|---:|");
    for (name, m) in &rows {
        let mem = memory(m.peak_kb);
        println!(
            "| {name} | {:.2} s | {:.2}x | {:.2}x | {mem} |",
            m.seconds,
            m.seconds / cp,
            m.seconds / cp_sync
        );
    }
}
