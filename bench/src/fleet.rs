//! A fleet of tenant databases: `migrate fleet plan` and `migrate fleet up --jobs 2` over
//! 10,000 databases of about 1 MiB each (target: the whole `up`, each database planned,
//! backed up, migrated and quick-checked, under 3 minutes on 2 cores, peak RSS under 100 MB),
//! with the per-database median and p99 from the run's own JSON. Beside it, what an operator
//! does without a fleet command: a shell loop of `migrate up --db` over a sample of the same
//! databases, and `cp` of every file (the floor any per-database backup stands on).
//!
//! ```text
//! cargo run --release -p migrate-bench --bin fleet-bench [-- --dbs 10000 --jobs 2 --size-kib 1024 --loop 300 --data target/bench-data/fleet]
//! ```
//!
//! The databases are copies of one template written just before the run, so they are in the
//! page cache (24 GiB of RAM here): the figures are CPU and fsync, not cold reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use rusqlite::Connection;

struct Args {
    dbs: usize,
    jobs: usize,
    size_kib: u64,
    loop_sample: usize,
    data: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        dbs: 10_000,
        jobs: 2,
        size_kib: 1024,
        loop_sample: 300,
        data: PathBuf::from("target/bench-data/fleet"),
    };
    let op = migrate_bench::flags(|flag, value| {
        match flag {
            "--dbs" => a.dbs = migrate_bench::number(flag, value),
            "--jobs" => a.jobs = migrate_bench::number(flag, value),
            "--size-kib" => a.size_kib = migrate_bench::number(flag, value),
            "--loop" => a.loop_sample = migrate_bench::number(flag, value),
            "--data" => a.data = PathBuf::from(value),
            _ => return false,
        }
        true
    });
    assert!(op.is_none(), "fleet-bench takes no --op");
    a
}

/// The `migrate` binary, built in release first.
fn migrate_bin() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "belay-cli",
            "--bin",
            "migrate",
        ])
        .current_dir(workspace)
        .status()
        .unwrap();
    assert!(status.success(), "building migrate failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    target.join("release/migrate")
}

/// A tenant database of about `kib` KiB: accounts and notes, as an app would keep them.
fn template(path: &Path, kib: u64) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
         CREATE TABLE notes (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id), title TEXT, body TEXT, created_at TEXT);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200)
           INSERT INTO accounts SELECT x, 'User ' || x, 'user' || x || '@example.com' FROM n;",
    )
    .unwrap();
    let mut batch = 0;
    loop {
        let bytes: i64 = conn
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if u64::try_from(bytes).unwrap() >= kib * 1024 {
            break;
        }
        conn.execute(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200)
             INSERT INTO notes (account_id, title, body, created_at)
             SELECT 1 + (x + ?1) % 200, 'Note ' || x, 'Some text of a note, ' || hex(randomblob(40)), datetime('2025-01-01', '+' || x || ' minutes') FROM n",
            [batch],
        )
        .unwrap();
        batch += 1;
    }
}

fn migrations(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("0001_archived_notes.up.sql"),
        "ALTER TABLE notes ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;\nCREATE INDEX notes_account ON notes (account_id, created_at);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("0002_settings.up.sql"),
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);\nINSERT INTO settings VALUES ('plan', 'free');\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("0002_settings.verify.sql"),
        "SELECT count(*) = 1 FROM settings;\n",
    )
    .unwrap();
}

/// `n` copies of `template` in `dir`.
fn copies(template: &Path, dir: &Path, n: usize) -> f64 {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let start = Instant::now();
    for i in 0..n {
        std::fs::copy(template, dir.join(format!("t{i:05}.db"))).unwrap();
    }
    start.elapsed().as_secs_f64()
}

/// Runs `command`, returning its seconds, stdout and peak resident memory (KiB), the last
/// from the kernel's accounting of that one child (`wait4`).
#[expect(
    clippy::zombie_processes,
    reason = "the child is waited for by wait4, for its rusage"
)]
fn timed(command: &mut Command) -> (f64, String, u64) {
    use std::io::Read;
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: wait4 writes only the status and the struct it is given; the child is ours and
    // not waited for elsewhere.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed: {stdout}"
    );
    (secs, stdout, u64::try_from(usage.ru_maxrss).unwrap_or(0))
}

fn main() {
    let a = args();
    let migrate = migrate_bin();
    std::fs::create_dir_all(&a.data).unwrap();
    let template_db = a.data.join("template.db");
    let _ = std::fs::remove_file(&template_db);
    template(&template_db, a.size_kib);
    let size = std::fs::metadata(&template_db).unwrap().len();
    let migrations_dir = a.data.join("migrations");
    migrations(&migrations_dir);

    let tenants = a.data.join("tenants");
    let copy_secs = copies(&template_db, &tenants, a.dbs);
    let glob = format!("{}/*.db", tenants.display());
    let journal = a.data.join("fleet.journal");
    let _ = std::fs::remove_file(&journal);
    let fleet = |verb: &str, extra: &[&str]| {
        let mut cmd = Command::new(&migrate);
        cmd.arg("--migrations")
            .arg(&migrations_dir)
            .args(["--json", "fleet", verb, "--dbs", &glob])
            .args(extra);
        if verb != "plan" {
            cmd.arg("--journal").arg(&journal);
        }
        cmd
    };
    let (plan_secs, _, plan_peak_kib) = timed(&mut fleet("plan", &[]));
    let jobs = a.jobs.to_string();
    let (up_secs, up_json, up_peak_kib) = timed(&mut fleet("up", &["--jobs", &jobs]));
    let doc: serde_json::Value = serde_json::from_str(&up_json).unwrap();
    let summary = &doc["summary"];
    assert_eq!(
        summary["counts"]["migrated"].as_u64(),
        Some(a.dbs as u64),
        "{summary}"
    );
    let (status_secs, _, _) = timed(&mut fleet("status", &[]));
    let journal_bytes = std::fs::metadata(&journal).unwrap().len();

    // The operator's loop, on a sample of fresh copies.
    let sample = a.data.join("loop");
    copies(&template_db, &sample, a.loop_sample);
    let start = Instant::now();
    for i in 0..a.loop_sample {
        let status = Command::new(&migrate)
            .arg("--migrations")
            .arg(&migrations_dir)
            .arg("--db")
            .arg(sample.join(format!("t{i:05}.db")))
            .args(["--quiet", "up"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let loop_per_db = start.elapsed().as_secs_f64() / a.loop_sample as f64;
    let fleet_per_db = up_secs / a.dbs as f64;

    println!(
        "fleet-bench: {} databases of {} KiB, --jobs {}, on {} core(s)",
        a.dbs,
        size / 1024,
        a.jobs,
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    );
    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!(
        "| `fleet up` (plan, backup, migrate, quick_check, journal) | {up_secs:.1} s | < 180 s |"
    );
    println!(
        "| per database (the run's own timing) | median {} ms, p99 {} ms | - |",
        summary["median_ms"], summary["p99_ms"]
    );
    println!(
        "| peak RSS of `migrate fleet up` | {:.1} MB | < 100 MB |",
        up_peak_kib as f64 / 1024.0
    );
    println!(
        "| `fleet plan` | {plan_secs:.2} s, peak RSS {:.1} MB | - |",
        plan_peak_kib as f64 / 1024.0
    );
    println!("| `fleet status` | {status_secs:.2} s | - |");
    println!("| journal | {:.1} MB | - |", journal_bytes as f64 / 1e6);
    println!(
        "| shell loop of `migrate up --db` ({} databases) | {:.1} ms a database; fleet {:.1} ms a database: **{:.2}x** the loop's throughput | - |",
        a.loop_sample,
        loop_per_db * 1e3,
        fleet_per_db * 1e3,
        loop_per_db / fleet_per_db
    );
    println!("| `cp` of every file (the floor of a per-database backup) | {copy_secs:.1} s | - |");
    std::fs::remove_dir_all(&tenants).unwrap();
    std::fs::remove_dir_all(&sample).unwrap();
}
