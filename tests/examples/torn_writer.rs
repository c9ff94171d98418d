//! An application killed inside its writes, for the recovery campaign: commits large
//! transactions on `t` in a loop with a tiny page cache (so each spills pages into the database
//! file, or the WAL, before its COMMIT) and prints `ready` after the first. Killed at a random
//! moment, it leaves what a crash leaves: a hot journal, or WAL frames of a transaction that
//! never committed.
//!
//! With `exclusive`, it takes the database with `PRAGMA locking_mode = EXCLUSIVE`, writes once,
//! prints `ready` and holds the file until killed, as an application in that mode does.
//!
//! ```text
//! torn_writer DB [exclusive]
//! ```

use std::io::Write;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: torn_writer DB [exclusive]");
    let exclusive = args.next().as_deref() == Some("exclusive");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.busy_timeout(Duration::from_secs(60))
        .expect("busy timeout");
    conn.execute_batch("PRAGMA cache_size = -64")
        .expect("cache");
    if exclusive {
        conn.execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE;
             BEGIN IMMEDIATE; UPDATE t SET v = v WHERE id = 1; COMMIT;",
        )
        .expect("exclusive write");
        println!("ready");
        std::io::stdout().flush().expect("flush");
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
    for i in 0u64.. {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             UPDATE t SET v = v || 'w' WHERE id % 3 = {};
             COMMIT;",
            i % 3
        ))
        .expect("commit");
        if i == 0 {
            println!("ready");
            std::io::stdout().flush().expect("flush");
        }
    }
}
