//! The safety net on an application database that no migration tool manages: check it, back it
//! up, verify the backup, and put one table back after a mistake, with `belay_guard` alone.
//!
//! ```text
//! cargo run -p belay-guard --example standalone -- DIR
//! ```
//!
//! Creates `DIR/shop.db` (an application's own schema and rows), then prints each step.

use std::path::PathBuf;

use belay_guard::backup::{self, CreateOptions};
use belay_guard::integrity::{self, Depth, Options, Verdict};
use belay_guard::rusqlite::Connection;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: standalone DIR")?);
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("shop.db");
    let app = Connection::open(&db)?;
    app.execute_batch(
        "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, product INTEGER NOT NULL REFERENCES products (id), qty INTEGER NOT NULL);
         DELETE FROM orders; DELETE FROM products;
         INSERT INTO products VALUES (1, 'tea', 350), (2, 'coffee', 420), (3, 'cocoa', 390);
         INSERT INTO orders (product, qty) VALUES (1, 2), (2, 1), (3, 5);",
    )?;

    // 1. A check: ok, damaged, or could not check (and why).
    let report = integrity::check(&db, &Options::new(Depth::Full))?;
    match report.verdict {
        Verdict::Ok => println!("check: ok ({} ms)", report.duration_ms),
        Verdict::Damaged => println!("check: damaged, {} problem(s)", report.damage),
        Verdict::CouldNotCheck => println!("check: no verdict ({:?})", report.obstacle),
    }

    // 2. A hot backup of a pinned snapshot, compressed, beside the database; then verified.
    let backups = backup::default_dir(&db);
    let manifest = backup::create(&db, &backups, &CreateOptions::default(), &mut |_| {})?;
    println!(
        "backup: {} ({} bytes, {} stored)",
        manifest.id, manifest.byte_size, manifest.compressed_size
    );
    let verified = backup::verify(&backups, &manifest.id, 1)?;
    println!(
        "verify: checksum and integrity ok ({} bytes, {})",
        verified.bytes, verified.check
    );

    // 3. A mistake in one table; the other goes on.
    app.execute_batch(
        "UPDATE products SET price = 0; INSERT INTO orders (product, qty) VALUES (1, 9);",
    )?;
    drop(app);

    // 4. Only `products` put back, in one transaction, foreign keys checked; `orders` keeps
    //    its new row. `&mut ()`: no migration history to record the restore in.
    let restored = backup::restore_tables(
        &db,
        &backups,
        (&manifest.id, &["products".to_owned()]),
        std::time::Duration::from_secs(5),
        &mut (),
    )?;
    for t in &restored.tables {
        println!(
            "restored table {} from {}: {} rows (was {})",
            t.table, restored.id, t.rows_after, t.rows_before
        );
    }
    let app = Connection::open(&db)?;
    let (prices, orders): (i64, i64) = app.query_row(
        "SELECT (SELECT sum(price) FROM products), (SELECT count(*) FROM orders)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    println!("now: prices sum to {prices}, {orders} orders");
    Ok(())
}
