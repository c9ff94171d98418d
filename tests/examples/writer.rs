//! A process that commits continuously until killed: each transaction inserts one row into
//! `left` and one into `right`, so any consistent snapshot has as many rows in each.
//! Prints `ready` once it has committed its first transaction.
//!
//! ```text
//! writer DB
//! ```

use std::io::Write;

fn main() {
    let db = std::env::args().nth(1).expect("usage: writer DB");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.busy_timeout(std::time::Duration::from_secs(60))
        .expect("busy timeout");
    let mut announced = false;
    for i in 0u64.. {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             INSERT INTO left (v) VALUES ('w{i}');
             INSERT INTO right (v) VALUES ('w{i}');
             COMMIT;"
        ))
        .expect("commit");
        if !announced {
            println!("ready");
            std::io::stdout().flush().expect("flush");
            announced = true;
        }
    }
}
