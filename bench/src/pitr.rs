//! The point-in-time archive's costs, on a copy of the shop database (1 GB by default, WAL,
//! `synchronous = NORMAL`):
//!
//! - write throughput: a writer committing small orders (an order and three items a
//!   transaction) as fast as it can for `--secs`, alone (SQLite's own autocheckpoint) and with an
//!   archiver beside it shipping every `--interval` (its own checkpoints at the default 4 MiB);
//!   runs alternate, the medians compared (target: at most 10% lower);
//! - the time from COMMIT returning to the commit being in the archive: a commit counts as
//!   archived when the first round that began after it has ended (a round may take it earlier:
//!   this is an upper bound); p50, p99, max (target: p99 at most 1 s);
//! - archive size per GB written: the segments' bytes against the WAL frames they hold;
//! - restores: the newest point and a random one rebuilt into a new file, the page hash
//!   compared and `quick_check` run (target: under 8 s for 1 GB); the base snapshot's cost too.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin pitr-bench [-- --size-mb 1024 --runs 2 --secs 20 --interval-ms 1000]
//! ```
//!
//! `--snapshot-wal-ratio X` and `--checkpoint-kib N` set the archiver's options of those names.
//! `--keep-archive DIR` (new, on the filesystem of `--data`) keeps the last unthrottled run's
//! archive there; `--restores-from DIR`
//! measures only the restores, from an archive kept so.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use belay_migrate::guard::archive::{self, Archiver, Catalog, Options};
use migrate_bench::{median, number, shop_db};
use rusqlite::Connection;

struct Args {
    size_mb: u64,
    runs: usize,
    secs: u64,
    interval: Duration,
    rate: u64,
    data: PathBuf,
    keep_archive: Option<PathBuf>,
    restores_from: Option<PathBuf>,
    options: Options,
}

fn args() -> Args {
    let mut a = Args {
        size_mb: 1024,
        runs: 2,
        secs: 20,
        interval: Duration::from_millis(1000),
        rate: 1000,
        data: PathBuf::from("target/bench-data"),
        keep_archive: None,
        restores_from: None,
        options: Options::default(),
    };
    let child = migrate_bench::flags(|flag, value| {
        match flag {
            "--size-mb" => a.size_mb = number(flag, value),
            "--runs" => a.runs = number(flag, value),
            "--secs" => a.secs = number(flag, value),
            "--interval-ms" => a.interval = Duration::from_millis(number(flag, value)),
            "--rate" => a.rate = number(flag, value),
            "--data" => a.data = PathBuf::from(value),
            "--keep-archive" => a.keep_archive = Some(PathBuf::from(value)),
            "--restores-from" => a.restores_from = Some(PathBuf::from(value)),
            "--snapshot-wal-ratio" => a.options.snapshot_wal_ratio = number(flag, value),
            "--checkpoint-kib" => {
                a.options.checkpoint_bytes = number::<u64>(flag, value)
                    .checked_mul(1024)
                    .expect("--checkpoint-kib: too large");
            }
            _ => return false,
        }
        true
    });
    assert!(child.is_none(), "pitr-bench has no child runs");
    a
}

/// The time spent in COMMITs that took over 5 ms: the writer waiting on a lock or a checkpoint.
fn stalled(took: &[Duration]) -> Duration {
    took.iter().filter(|d| **d > Duration::from_millis(5)).sum()
}

/// Commits orders for `secs`, as fast as it can (`rate` 0) or `rate` a second, returning when
/// each COMMIT returned and how long each took.
fn write(db: &Path, secs: u64, rate: u64) -> (Vec<Instant>, Vec<Duration>) {
    let conn = Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute_batch("PRAGMA synchronous = NORMAL").unwrap();
    let start = Instant::now();
    let mut done = Vec::new();
    let mut took = Vec::new();
    let mut n: i64 = 0;
    let period = (rate > 0).then(|| Duration::from_secs(1) / rate as u32);
    let mut next = start;
    while start.elapsed() < Duration::from_secs(secs) {
        n += 1;
        let began = Instant::now();
        let tx = conn.unchecked_transaction().unwrap();
        tx.execute(
            "INSERT INTO orders (customer_id, status, created_at) VALUES (?1, 'new', datetime('now'))",
            [1 + n % 1000],
        )
        .unwrap();
        let order = tx.last_insert_rowid();
        for i in 0..3 {
            tx.execute(
                "INSERT INTO order_items (order_id, product_id, qty, price) VALUES (?1, ?2, 1, 500)",
                [order, 1 + (n * 7 + i) % 20000],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let now = Instant::now();
        done.push(now);
        took.push(now - began);
        if let Some(period) = period {
            next += period;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    (done, took)
}

/// A copy of the shop database in WAL mode.
fn live_copy(shop: &Path, dir: &Path) -> PathBuf {
    let copy = dir.join("live.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
    }
    std::fs::copy(shop, &copy).unwrap();
    Connection::open(&copy)
        .unwrap()
        .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    copy
}

struct Archived {
    commits: Vec<Instant>,
    took: Vec<Duration>,
    rounds: Vec<(Instant, Instant)>,
    base: Duration,
    checkpoints: usize,
}

/// The writer with an archiver beside it.
fn with_archiver(
    db: &Path,
    dir: &Path,
    secs: u64,
    rate: u64,
    interval: Duration,
    options: Options,
) -> Archived {
    let t = Instant::now();
    let mut archiver = Archiver::start(db, dir, options).unwrap();
    archiver.round().unwrap();
    let base = t.elapsed();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(Mutex::new(Vec::new()));
    let checkpoints = Arc::new(Mutex::new(0usize));
    let (s, r, c) = (stop.clone(), rounds.clone(), checkpoints.clone());
    let handle = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let began = Instant::now();
            let round = archiver.round().unwrap();
            r.lock().unwrap().push((began, Instant::now()));
            *c.lock().unwrap() += usize::from(round.checkpointed);
            let spent = began.elapsed();
            if round.busy(&options) {
                continue;
            }
            if let Some(wait) = interval.checked_sub(spent) {
                std::thread::sleep(wait);
            }
        }
        // A last round takes what the writer left.
        let began = Instant::now();
        archiver.round().unwrap();
        r.lock().unwrap().push((began, Instant::now()));
    });
    let (commits, took) = write(db, secs, rate);
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    let rounds = Arc::try_unwrap(rounds).unwrap().into_inner().unwrap();
    let checkpoints = *checkpoints.lock().unwrap();
    Archived {
        commits,
        took,
        rounds,
        base,
        checkpoints,
    }
}

/// Each commit's time to the end of the first round that began after it.
fn lags(a: &Archived) -> Vec<Duration> {
    let mut out = Vec::with_capacity(a.commits.len());
    let mut r = 0;
    for &c in &a.commits {
        while r < a.rounds.len() && a.rounds[r].0 < c {
            r += 1;
        }
        let end = a.rounds.get(r).expect("a round after every commit").1;
        out.push(end - c);
    }
    out
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn main() {
    // The archive's own phase timings (RUST_LOG=belay_guard=info) on stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let a = args();
    if let Some(dir) = &a.restores_from {
        let scratch = tempfile::tempdir_in(&a.data).unwrap();
        restores(&Catalog::read(dir).unwrap(), a.runs, scratch.path());
        return;
    }
    let shop = shop_db(&a.data, a.size_mb);
    let scratch = tempfile::tempdir_in(&a.data).unwrap();
    let size = std::fs::metadata(&shop).unwrap().len();
    println!(
        "shop database {} ({} MiB); writer for {} s a run, archiver every {} ms\n",
        shop.display(),
        size >> 20,
        a.secs,
        a.interval.as_millis()
    );

    let mut alone = Vec::new();
    let mut beside = Vec::new();
    let mut last = None;
    for run in 0..a.runs {
        let db = live_copy(&shop, scratch.path());
        let (alone_commits, alone_took) = write(&db, a.secs, 0);
        alone.push(alone_commits.len() as f64 / a.secs as f64);

        let db = live_copy(&shop, scratch.path());
        let dir = scratch.path().join(format!("archive-{run}"));
        let _ = std::fs::remove_dir_all(&dir);
        let archived = with_archiver(&db, &dir, a.secs, 0, a.interval, a.options);
        beside.push(archived.commits.len() as f64 / a.secs as f64);
        println!(
            "run {run}: alone {:.0} commits/s ({} in COMMITs over 5 ms); archived {:.0} commits/s ({} in COMMITs over 5 ms), {} rounds, {} checkpoints; base snapshot {}; p99 COMMIT -> archived {}",
            alone[run],
            secs(stalled(&alone_took)),
            beside[run],
            secs(stalled(&archived.took)),
            archived.rounds.len(),
            archived.checkpoints,
            secs(archived.base),
            secs(percentile(lags(&archived), 0.99)),
        );
        last = Some((db, dir));
    }
    let med = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let (off, on) = (med(alone), med(beside));
    println!(
        "\n| write throughput, unthrottled writer | commits/s (median of {}) | / off |",
        a.runs
    );
    println!("|---|---:|---:|");
    println!("| archiving off | {off:.0} | 1.000 |");
    println!(
        "| archiving on | {on:.0} | {:.3} (target >= 0.90) |",
        on / off
    );

    // A paced writer: what an application at a steady rate sees.
    let db = live_copy(&shop, scratch.path());
    let (_, alone_took) = write(&db, a.secs, a.rate);
    let db = live_copy(&shop, scratch.path());
    let dir = scratch.path().join("archive-paced");
    let _ = std::fs::remove_dir_all(&dir);
    let paced = with_archiver(&db, &dir, a.secs, a.rate, a.interval, a.options);
    let lag = lags(&paced);
    println!(
        "\n| writer at {}/s for {} s | commits/s | COMMIT p50 | COMMIT p99 | COMMIT -> archived p50 | p99 | max | p99 / target 1 s |",
        a.rate, a.secs
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    println!(
        "| archiving off | {:.0} | {} | {} | | | | |",
        alone_took.len() as f64 / a.secs as f64,
        ms(percentile(alone_took.clone(), 0.5)),
        ms(percentile(alone_took.clone(), 0.99)),
    );
    let p99 = percentile(lag.clone(), 0.99);
    println!(
        "| archiving on, every {} ms | {:.0} | {} | {} | {} | {} | {} | {:.3} |",
        a.interval.as_millis(),
        paced.took.len() as f64 / a.secs as f64,
        ms(percentile(paced.took.clone(), 0.5)),
        ms(percentile(paced.took.clone(), 0.99)),
        secs(percentile(lag.clone(), 0.5)),
        secs(p99),
        secs(*lag.iter().max().unwrap()),
        p99.as_secs_f64()
    );

    let (db, dir) = last.expect("a run");
    let catalog = Catalog::read(&dir).unwrap();
    let mut wal_bytes = 0u64;
    let (mut seg_bytes, mut base_bytes, mut files) = (0u64, 0u64, 0usize);
    for g in &catalog.generations {
        let page = u64::from(g.base.page_size) + 24;
        wal_bytes += g
            .segments
            .iter()
            .map(|e| u64::from(e.to.frame.saturating_sub(e.from.frame)) * page)
            .sum::<u64>();
        seg_bytes += g.segments.iter().map(|e| e.bytes).sum::<u64>();
        base_bytes += g.base.bytes;
        files += g.segments.len();
    }
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "\narchive of the last unthrottled run: {} generation(s), bases {:.0} MiB (database {} MiB), {files} segment file(s), {} commit points; {:.0} MiB of WAL frames shipped into {:.0} MiB of segments: {:.0} MiB of segments per GiB written ({:.3}); with the bases, {:.0} MiB per GiB",
        catalog.generations.len(),
        mib(base_bytes),
        size >> 20,
        catalog
            .generations
            .iter()
            .map(|g| g.points().count())
            .sum::<usize>(),
        mib(wal_bytes),
        mib(seg_bytes),
        seg_bytes as f64 / wal_bytes as f64 * 1024.0,
        seg_bytes as f64 / wal_bytes as f64,
        (seg_bytes + base_bytes) as f64 / wal_bytes as f64 * 1024.0,
    );
    restores(&catalog, a.runs, scratch.path());
    if let Some(keep) = &a.keep_archive {
        assert!(
            !keep.exists(),
            "--keep-archive {}: exists; name a new directory",
            keep.display()
        );
        std::fs::rename(&dir, keep).expect("--keep-archive on the filesystem of --data");
        println!("archive kept in {}", keep.display());
    }
    drop(db);
}

/// Restores the newest point and `runs` (at least 2) random ones, each into a new file, checked.
fn restores(catalog: &Catalog, runs: usize, scratch: &Path) {
    let points: Vec<_> = catalog
        .generations
        .iter()
        .flat_map(|g| g.points())
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut picks = vec![*points.last().unwrap()];
    for _ in 0..runs.max(2) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        picks.push(points[(x % points.len() as u64) as usize]);
    }
    println!(
        "\n| restore to a point (1 base + segments, page hash + quick_check) | time | / target 8 s |"
    );
    println!("|---|---:|---:|");
    let mut times = Vec::new();
    for (i, p) in picks.iter().enumerate() {
        let to = scratch.join(format!("restored-{i}.db"));
        let t = Instant::now();
        let rebuilt = archive::rebuild::rebuild(catalog, p.id, &to, 0o600).unwrap();
        let took = t.elapsed();
        times.push(took);
        println!(
            "| commit {} ({}, {} pages) | {} | {:.3} |",
            p.id,
            if i == 0 { "newest" } else { "random" },
            rebuilt.pages,
            secs(took),
            took.as_secs_f64() / 8.0
        );
        std::fs::remove_file(&to).unwrap();
    }
    println!("median restore {}", secs(median(times)));
}
