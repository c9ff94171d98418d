//! Many writers on one database at once, through the connection layer or through plain
//! rusqlite connections (a DEFERRED transaction that reads then writes, as applications write
//! by hand): threads in this process and writer processes (`tests/examples/layer_writer.rs`).
//! Each writer counts the errors that reached it and reports the ids whose COMMIT returned:
//! the ground truth that nothing acknowledged is lost.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use belay_migrate::guard::connect::{Layer, Options};
use belay_migrate::guard::database::settings::Synchronous;
use rusqlite::Connection;

use crate::example_bin;

/// How the writers write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// Through `belay_guard::connect::Layer`.
    Layer,
    /// Plain rusqlite connections, DEFERRED, SQLite's defaults.
    Plain,
}

impl Writers {
    fn arg(self) -> &'static str {
        match self {
            Writers::Layer => "layer",
            Writers::Plain => "plain",
        }
    }
}

/// What the writers saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Ids whose COMMIT returned.
    pub acknowledged: Vec<i64>,
    /// Errors that reached the writers.
    pub errors: u64,
    /// Of those, `database is locked` / busy ones.
    pub locked: u64,
}

/// A WAL database with `notes (id, body, seen)`.
pub fn database(db: &Path) {
    Connection::open(db)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, seen INTEGER NOT NULL);",
        )
        .unwrap();
}

/// What many applications do in one transaction: look, then write.
///
/// # Errors
///
/// SQLite's.
pub fn read_then_insert(c: &Connection, tag: &str, i: u64) -> rusqlite::Result<i64> {
    let newest: i64 = c.query_row("SELECT coalesce(max(id), 0) FROM notes", [], |r| r.get(0))?;
    c.query_row(
        "INSERT INTO notes (body, seen) VALUES (?1, ?2) RETURNING id",
        rusqlite::params![format!("{tag}-{i}"), newest],
        |r| r.get(0),
    )
}

/// The layer's options for the writers: a 100 ms busy timeout, `synchronous = NORMAL`.
pub fn layer_options() -> Options {
    let mut options = Options::new();
    options.settings.busy_timeout = Some(100);
    options.settings.synchronous = Some(Synchronous::Normal);
    options
}

fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// `threads` writers in this process and `processes` writer processes, `rows` rows each.
pub fn run(db: &Path, writers: Writers, threads: u64, processes: u64, rows: u64) -> Outcome {
    let bin = example_bin("layer_writer");
    let children: Vec<_> = (0..processes)
        .map(|p| {
            Command::new(&bin)
                .arg(db)
                .arg(writers.arg())
                .arg(rows.to_string())
                .arg(format!("process{p}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let layer =
        (writers == Writers::Layer).then(|| Arc::new(Layer::open(db, layer_options()).unwrap()));
    let mut outcome = Outcome::default();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let layer = layer.clone();
            let db = db.to_path_buf();
            std::thread::spawn(move || thread_writer(&db, layer.as_deref(), t, rows))
        })
        .collect();
    for h in handles {
        let o = h.join().unwrap();
        outcome.acknowledged.extend(o.acknowledged);
        outcome.errors += o.errors;
        outcome.locked += o.locked;
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        for line in stdout.lines() {
            match line.strip_prefix("errors ") {
                Some(n) => outcome.errors += n.parse::<u64>().unwrap(),
                None => outcome.acknowledged.push(line.parse().unwrap()),
            }
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        outcome.locked += stderr
            .lines()
            .filter(|l| l.contains("locked") || l.contains("busy"))
            .count() as u64;
    }
    outcome
}

fn thread_writer(db: &Path, layer: Option<&Layer>, t: u64, rows: u64) -> Outcome {
    let mut o = Outcome::default();
    let tag = format!("thread{t}");
    let plain = layer.is_none().then(|| {
        let c = Connection::open(db).unwrap();
        c.busy_timeout(std::time::Duration::from_millis(100))
            .unwrap();
        c
    });
    for i in 0..rows {
        let written = match (layer, &plain) {
            (Some(layer), _) => layer.write(|c| read_then_insert(c, &tag, i)).map_err(|e| {
                (
                    e.to_string(),
                    matches!(e, belay_migrate::guard::Error::Busy { .. }),
                )
            }),
            (None, Some(c)) => c
                .execute_batch("BEGIN")
                .and_then(|()| {
                    let id = read_then_insert(c, &tag, i)?;
                    c.execute_batch("COMMIT")?;
                    Ok(id)
                })
                .map_err(|e| {
                    let _ = c.execute_batch("ROLLBACK");
                    (e.to_string(), is_locked(&e))
                }),
            (None, None) => unreachable!("one or the other"),
        };
        match written {
            Ok(id) => o.acknowledged.push(id),
            Err((_, locked)) => {
                o.errors += 1;
                o.locked += u64::from(locked);
            }
        }
    }
    o
}

/// The acknowledged ids missing from the database, and the rows it has that nobody
/// acknowledged.
pub fn check(db: &Path, acknowledged: &[i64]) -> (Vec<i64>, i64) {
    let c = Connection::open(db).unwrap();
    let mut missing = Vec::new();
    for id in acknowledged {
        let n: i64 = c
            .query_row("SELECT count(*) FROM notes WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        if n != 1 {
            missing.push(*id);
        }
    }
    let rows: i64 = c
        .query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
        .unwrap();
    (missing, rows - acknowledged.len() as i64)
}
