//! Helpers shared by the benchmark binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// A new database at `path` in `journal` mode with `settings` applied through `[database]`'s
/// path (read back), and an empty `events (id, body)` table: what the commit benchmarks write.
pub fn events_db(
    path: &Path,
    journal: &str,
    settings: &belay_migrate::guard::database::settings::Settings,
) -> Connection {
    use belay_migrate::guard::database::settings::{self, Scope};
    let conn = Connection::open(path).unwrap();
    let mode: String = conn
        .query_row(&format!("PRAGMA journal_mode = {journal}"), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(mode, journal);
    settings::apply(&conn, settings, Scope::Every).unwrap();
    conn.execute_batch("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)")
        .unwrap();
    conn
}

/// The median of some timings.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs `f`, returning how long it took and what it returned.
pub fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

/// The generated shop database of `size_mb` in `data` (made on first use, then reused).
pub fn shop_db(data: &Path, size_mb: u64) -> PathBuf {
    std::fs::create_dir_all(data).unwrap();
    let path = data.join(format!("shop-{size_mb}mb.db"));
    if !path.exists() {
        generate(&path, size_mb);
    }
    path
}

/// The generated database of random (incompressible) payloads of `size_mb` in `data`, with
/// the shop's `products` table so the shop's migration applies (made on first use, then
/// reused).
pub fn random_db(data: &Path, size_mb: u64) -> PathBuf {
    std::fs::create_dir_all(data).unwrap();
    let path = data.join(format!("random-{size_mb}mb.db"));
    if !path.exists() {
        let rows = size_mb * 1024 * 1024 / 1030;
        eprintln!("generating {} ({rows} random payloads)...", path.display());
        let partial = path.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let conn = Connection::open(&partial).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, title TEXT NOT NULL, price INTEGER NOT NULL);
             INSERT INTO products VALUES (1, 'SKU-1', 'one', 100);
             CREATE TABLE payloads (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {rows})
             INSERT INTO payloads SELECT x, randomblob(1000) FROM n;
             PRAGMA journal_mode = DELETE;"
        ))
        .unwrap();
        drop(conn);
        std::fs::rename(&partial, &path).unwrap();
    }
    path
}

/// Builds the database: order_items dominates the size (about 71 bytes a row with its indexes).
pub fn generate(path: &Path, size_mb: u64) {
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

pub fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn fsync(path: &Path) {
    std::fs::File::open(path).unwrap().sync_all().unwrap();
}

/// One measurement: wall time, and the peak resident memory of the process measured (0 when
/// it was not this binary).
pub struct Sample {
    pub seconds: f64,
    pub peak_kb: u64,
}

/// Runs `--op NAME PATHS...` in a child process of this binary, which prints `seconds peak_kb`.
pub fn run_self(op: &str, paths: &[&Path]) -> Sample {
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

/// Runs a peer's command, timing it from outside (plus an fsync of `then_fsync`).
pub fn run_command(cmd: &mut Command, then_fsync: Option<&Path>) -> Sample {
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

/// The median run, with the highest peak memory of all runs.
pub fn median_sample(mut xs: Vec<Sample>) -> Sample {
    xs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let peak = xs.iter().map(|s| s.peak_kb).max().unwrap_or(0);
    let mid = xs.swap_remove(xs.len() / 2);
    Sample {
        seconds: mid.seconds,
        peak_kb: peak,
    }
}

/// Peak memory for a table cell: "-" when the process measured was not ours.
pub fn memory(peak_kb: u64) -> String {
    if peak_kb > 0 {
        format!("{:.1} MB", peak_kb as f64 / 1024.0)
    } else {
        "-".to_owned()
    }
}

/// The options of the shop-database benchmarks: `--size-mb N --runs N --workers N --data DIR`.
pub struct ShopArgs {
    pub size_mb: u64,
    pub runs: usize,
    /// Connections for the checks that split (integrity-bench); one per core by default.
    pub workers: usize,
    pub data: PathBuf,
}

/// How a shop benchmark binary was started: by a person, or by itself as a child running one
/// operation (`--op NAME ARGS...`) to report that operation's own time and memory.
pub enum Invocation {
    Parent(ShopArgs),
    Child { op: String, rest: Vec<String> },
}

/// Reads the command line's `--flag value` pairs, handing each to `set`, which says whether
/// it knew the flag (an unknown flag, or one without a value, stops the benchmark). A `--op`
/// ends the reading: its value and every word after it are returned, for a child run.
pub fn flags(mut set: impl FnMut(&str, &str) -> bool) -> Option<(String, Vec<String>)> {
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        if flag == "--op" {
            return Some((value, it.collect()));
        }
        assert!(set(&flag, &value), "unknown flag {flag}");
    }
    None
}

/// `value` parsed as the number (or path) `flag` takes.
pub fn number<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| panic!("{flag} takes a number, not {value:?}"))
}

/// Parses the command line of a shop benchmark, with `runs` runs by default.
pub fn shop_args(runs: usize) -> Invocation {
    let mut a = ShopArgs {
        size_mb: 1024,
        runs,
        workers: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        data: PathBuf::from("target/bench-data"),
    };
    let child = flags(|flag, value| {
        match flag {
            "--size-mb" => a.size_mb = number(flag, value),
            "--runs" => a.runs = number(flag, value),
            "--workers" => a.workers = number(flag, value),
            "--data" => a.data = PathBuf::from(value),
            _ => return false,
        }
        true
    });
    match child {
        Some((op, rest)) => Invocation::Child { op, rest },
        None => Invocation::Parent(a),
    }
}
