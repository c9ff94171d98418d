//! The backup benchmark on a generated ~1 GB database (customers, products, orders, order
//! items, with their indexes), in one run, side by side: `cp`, the sqlite3 CLI's `.backup`,
//! rusqlite's backup API, and migrate-core's backup (plain and compressed), verify and restore.
//! Each operation runs in a child process that reports its own time and peak memory (VmHWM).
//!
//! ```text
//! cargo run --release -p migrate-bench --bin backup-bench [-- --size-mb N --runs N --data DIR]
//! ```
//! The generated database is kept in DIR (default target/bench-data) and reused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use migrate_core::backup::{self, Compression, CreateOptions, Reason};
use rusqlite::Connection;

struct Args {
    size_mb: u64,
    runs: usize,
    data: PathBuf,
}

fn args() -> (Args, Option<(String, Vec<String>)>) {
    let mut a = Args {
        size_mb: 1024,
        runs: 3,
        data: PathBuf::from("target/bench-data"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--size-mb" => a.size_mb = it.next().and_then(|v| v.parse().ok()).expect("--size-mb N"),
            "--runs" => a.runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--data" => a.data = PathBuf::from(it.next().expect("--data DIR")),
            // Internal: run one operation in this (child) process.
            "--op" => {
                let op = it.next().expect("--op NAME");
                return (a, Some((op, it.collect())));
            }
            other => panic!("unknown flag {other}"),
        }
    }
    (a, None)
}

/// Builds the database: order_items dominates the size (about 71 bytes a row with its indexes).
fn generate(path: &Path, size_mb: u64) {
    let items = size_mb * 1024 * 1024 / 71;
    let orders = items.div_ceil(4);
    let customers = (orders / 10).max(1000);
    eprintln!("generating {} ({items} order items)...", path.display());
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -200000;
         CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
         CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, title TEXT NOT NULL, price INTEGER NOT NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id), status TEXT NOT NULL, created_at TEXT NOT NULL);
         CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders (id), product_id INTEGER NOT NULL REFERENCES products (id), qty INTEGER NOT NULL, price INTEGER NOT NULL, note TEXT);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {customers})
           INSERT INTO customers SELECT x, 'Customer ' || x, 'customer' || x || '@example.com', date('2020-01-01', '+' || (x % 1500) || ' days') FROM n;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000)
           INSERT INTO products SELECT x, 'SKU-' || printf('%08d', x), 'Product number ' || x || ' ' || hex(randomblob(6)), 100 + abs(random() % 100000) FROM n;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {orders})
           INSERT INTO orders SELECT x, 1 + abs(random() % {customers}), CASE abs(random() % 4) WHEN 0 THEN 'new' WHEN 1 THEN 'paid' WHEN 2 THEN 'shipped' ELSE 'returned' END, datetime('2021-01-01', '+' || (x % 900000) || ' minutes') FROM n;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {items})
           INSERT INTO order_items SELECT 1 + (x - 1) / 4, 1 + abs(random() % 20000), 1 + abs(random() % 5), 100 + abs(random() % 100000), CASE WHEN x % 7 = 0 THEN 'gift wrap ' || hex(randomblob(4)) END FROM n;
         CREATE INDEX orders_customer ON orders (customer_id, created_at);
         CREATE INDEX items_order ON order_items (order_id);
         CREATE INDEX items_product ON order_items (product_id);
         PRAGMA journal_mode = DELETE;"
    ))
    .unwrap();
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fsync(path: &Path) {
    std::fs::File::open(path).unwrap().sync_all().unwrap();
}

/// Runs one operation here and prints `seconds peak_kb`.
fn child(op: &str, rest: &[String]) {
    let p = |i: usize| PathBuf::from(&rest[i]);
    let options = |compression| CreateOptions {
        compression,
        reason: Reason::Manual,
        busy_timeout: Duration::from_secs(60),
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
            backup::verify(&p(0), "latest").unwrap();
        }
        "ours-restore" => {
            backup::restore(&p(1), &p(0), "latest", Duration::from_secs(60)).unwrap();
        }
        other => panic!("unknown op {other}"),
    }
    println!("{} {}", start.elapsed().as_secs_f64(), peak_rss_kb());
}

struct Sample {
    seconds: f64,
    peak_kb: u64,
}

fn run_self(op: &str, paths: &[&Path]) -> Sample {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--op")
        .arg(op)
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{op}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace();
    Sample {
        seconds: parts.next().unwrap().parse().unwrap(),
        peak_kb: parts.next().unwrap().parse().unwrap(),
    }
}

fn run_command(cmd: &mut Command, then_fsync: Option<&Path>) -> Sample {
    let start = Instant::now();
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?}");
    if let Some(p) = then_fsync {
        fsync(p);
    }
    Sample {
        seconds: start.elapsed().as_secs_f64(),
        peak_kb: 0,
    }
}

fn median(mut xs: Vec<Sample>) -> Sample {
    xs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let peak = xs.iter().map(|s| s.peak_kb).max().unwrap_or(0);
    let mid = xs.swap_remove(xs.len() / 2);
    Sample {
        seconds: mid.seconds,
        peak_kb: peak,
    }
}

fn main() {
    let (a, op) = args();
    if let Some((op, rest)) = op {
        return child(&op, &rest);
    }
    std::fs::create_dir_all(&a.data).unwrap();
    let src = a.data.join(format!("shop-{}mb.db", a.size_mb));
    if !src.exists() {
        generate(&src, a.size_mb);
    }
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
        let m = median(samples);
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
    measure("migrate-core backup, plain", a.runs, &mut || {
        let dir = fresh("plain");
        run_self("ours-plain", &[&src, &dir])
    });
    let zstd_dir = s.join("zstd");
    measure("migrate-core backup, zstd", a.runs, &mut || {
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
        "migrate-core verify (zstd: SHA-256 + full integrity_check)",
        1,
        &mut || run_self("ours-verify", &[&zstd_dir]),
    );
    measure(
        "migrate-core restore over a live copy (verify + quick_check + copy)",
        a.runs,
        &mut || {
            let live = fresh("live.db");
            std::fs::copy(&src, &live).unwrap();
            run_self("ours-restore", &[&zstd_dir, &live])
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
        let mem = if m.peak_kb > 0 {
            format!("{:.1} MB", m.peak_kb as f64 / 1024.0)
        } else {
            "-".to_owned()
        };
        println!(
            "| {name} | {:.2} s | {:.2}x | {:.2}x | {mem} |",
            m.seconds,
            m.seconds / cp,
            m.seconds / cp_sync
        );
    }
}
