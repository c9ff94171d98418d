//! A writer process for the connection layer's tests and benchmark: commits ROWS rows into
//! `notes`, each in a transaction that first reads (the newest id) then inserts, and prints
//! each row's id only after its COMMIT returned; then `errors N` for the writes that failed.
//!
//! ```text
//! layer_writer DB layer|plain ROWS TAG
//! ```
//!
//! `layer` writes through `belay_guard::connect::Layer` (busy timeout 100 ms, `synchronous =
//! NORMAL`); `plain` through one rusqlite connection as applications write by hand (a
//! DEFERRED transaction, SQLite's defaults, the same 100 ms busy timeout), counting each error
//! and going on.

use std::io::Write;
use std::time::Duration;

use belay_migrate::guard::connect::Layer;
use migrate_tests::contention::{layer_options, read_then_insert};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, mode, rows, tag] = args.as_slice() else {
        panic!("usage: layer_writer DB layer|plain ROWS TAG");
    };
    let rows: u64 = rows.parse().expect("ROWS");
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut errors = 0u64;
    match mode.as_str() {
        "layer" => {
            let layer = Layer::open(db.as_ref(), layer_options()).expect("open the layer");
            for i in 0..rows {
                match layer.write(|c| read_then_insert(c, tag, i)) {
                    Ok(id) => writeln!(out, "{id}").expect("stdout"),
                    Err(e) => {
                        eprintln!("{e}");
                        errors += 1;
                    }
                }
            }
        }
        "plain" => {
            let conn = rusqlite::Connection::open(db).expect("open");
            conn.busy_timeout(Duration::from_millis(100))
                .expect("busy timeout");
            for i in 0..rows {
                let done = conn.execute_batch("BEGIN").and_then(|()| {
                    let id = read_then_insert(&conn, tag, i)?;
                    conn.execute_batch("COMMIT")?;
                    Ok(id)
                });
                match done {
                    Ok(id) => writeln!(out, "{id}").expect("stdout"),
                    Err(e) => {
                        eprintln!("{e}");
                        errors += 1;
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                }
            }
        }
        other => panic!("unknown mode {other}"),
    }
    writeln!(out, "errors {errors}").expect("stdout");
    out.flush().expect("stdout");
}
