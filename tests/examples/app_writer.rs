//! The live application beside a run: commits one row into `notes` at a time until killed, and
//! prints each row's id only after its COMMIT returned. What it printed is the ground truth of
//! what must survive anything the migration tool does. Prints `ready` after its first commit.
//!
//! ```text
//! app_writer DB [PAUSE_MS]
//! ```

use std::io::Write;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: app_writer DB [PAUSE_MS]");
    let pause = Duration::from_millis(args.next().map_or(2, |p| p.parse().expect("PAUSE_MS")));
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.busy_timeout(Duration::from_secs(120))
        .expect("busy timeout");
    let mut out = std::io::stdout();
    for i in 0u64.. {
        let id: i64 = conn
            .query_row(
                "INSERT INTO notes (body) VALUES (?1) RETURNING id",
                [format!("written by the app, #{i}")],
                |r| r.get(0),
            )
            .expect("commit");
        if i == 0 {
            writeln!(out, "ready").expect("stdout");
        }
        writeln!(out, "{id}").expect("stdout");
        out.flush().expect("stdout");
        std::thread::sleep(pause);
    }
}
