//! Large migration files: a file of single-row INSERTs of 4, 16 and 50 MB, applied by
//! `belay-migrate` (`Migrator::up`, the whole safe run on a small database) and by the sqlite3
//! CLI (the same file between `BEGIN` and `COMMIT`, read from stdin), side by side. The run
//! must be linear in the file's size: its time per MB stays flat, and the 50 MB file is within
//! 2x of the CLI.
//!
//! ```text
//! cargo run --release -p migrate-bench --bin script-bench -- [--sizes 4,16,50] [--runs 3]
//! ```

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use belay_migrate::{Migrator, source};
use migrate_bench::{median, time};

const TABLE: &str =
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL);";

/// A file of single-row INSERTs, about `mb` MB.
fn inserts(mb: u64) -> String {
    let target = (mb * 1024 * 1024) as usize;
    let mut sql = String::with_capacity(target + 128);
    let mut id = 0u64;
    while sql.len() < target {
        id += 1;
        sql.push_str(&format!(
            "INSERT INTO items (id, name, qty) VALUES ({id}, 'item number {id}', {});\n",
            id % 97
        ));
    }
    sql
}

fn ours(dir: &Path, file: &str) -> Duration {
    let migrations = dir.join("migrations");
    let _ = std::fs::remove_dir_all(&migrations);
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(migrations.join("0001_items.up.sql"), TABLE).unwrap();
    let db = dir.join("ours.db");
    for suffix in ["", "-journal", ".migrate-lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let _ = std::fs::remove_dir_all(dir.join("ours.db.backups"));
    Migrator::new(source::read_dir(&migrations).unwrap())
        .up(&db)
        .unwrap();
    std::fs::write(migrations.join("0002_fill.up.sql"), file).unwrap();
    // Reading the directory is part of the run.
    let (t, report) = time(|| {
        Migrator::new(source::read_dir(&migrations).unwrap())
            .up(&db)
            .unwrap()
    });
    assert_eq!(report.steps.len(), 1);
    t
}

fn cli(dir: &Path, file: &str) -> Duration {
    let db = dir.join("cli.db");
    let _ = std::fs::remove_file(&db);
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg(TABLE)
        .status()
        .unwrap();
    assert!(status.success());
    let (t, ok) = time(|| {
        let mut child = Command::new("sqlite3")
            .arg(&db)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"BEGIN;\n").unwrap();
        stdin.write_all(file.as_bytes()).unwrap();
        stdin.write_all(b"COMMIT;\n").unwrap();
        drop(stdin);
        child.wait().unwrap().success()
    });
    assert!(ok);
    t
}

fn main() {
    let mut sizes = vec![4u64, 16, 50];
    let mut runs = 3usize;
    let child = migrate_bench::flags(|flag, value| {
        match flag {
            "--sizes" => {
                sizes = value
                    .split(',')
                    .map(|s| migrate_bench::number(flag, s))
                    .collect();
            }
            "--runs" => runs = migrate_bench::number(flag, value),
            _ => return false,
        }
        true
    });
    assert!(child.is_none(), "script-bench has no child runs");
    let dir = tempfile::tempdir().unwrap();
    println!("| file | statements | migrate up | per MB | sqlite3 CLI (one transaction) | ratio |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for mb in sizes {
        let file = inserts(mb);
        let statements = file.lines().count();
        let ours_t = median((0..runs).map(|_| ours(dir.path(), &file)).collect());
        let cli_t = median((0..runs).map(|_| cli(dir.path(), &file)).collect());
        println!(
            "| {mb} MB | {statements} | {:.2} s | {:.0} ms | {:.2} s | {:.2}x |",
            ours_t.as_secs_f64(),
            ours_t.as_secs_f64() * 1e3 / mb as f64,
            cli_t.as_secs_f64(),
            ours_t.as_secs_f64() / cli_t.as_secs_f64()
        );
    }
}
