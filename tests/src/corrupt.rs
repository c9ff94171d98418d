//! Seeded corruption injectors: each damages a copy of the campaign database in one way and
//! says what a perfect repair would leave (the ground truth). Reusable by any test that needs
//! a damaged database.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use rusqlite::Connection;

/// A small deterministic generator (xorshift64*), so a seed names one trial exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The kinds of damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Bytes flipped in a table's leaf page (page header and cell pointers).
    TableLeaf,
    /// Bytes flipped in an index's leaf page.
    IndexLeaf,
    /// Bytes flipped in a table's interior page (cell pointers and child page numbers).
    Interior,
    /// A b-tree page overwritten with zeros.
    ZeroedPage,
    /// The file cut short by some pages.
    Truncated,
    /// A field of the 100-byte file header damaged.
    Header,
    /// The freelist's trunk page or count damaged.
    Freelist,
    /// Rows whose entries are missing from an index.
    IndexMissing,
    /// Rows that repeat a value under a UNIQUE index.
    UniqueDuplicates,
    /// Rows whose foreign-key parent was deleted.
    OrphanedForeignKeys,
    /// The WAL cut in the middle of the last transaction's frames.
    TornWal,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::TableLeaf,
        Kind::IndexLeaf,
        Kind::Interior,
        Kind::ZeroedPage,
        Kind::Truncated,
        Kind::Header,
        Kind::Freelist,
        Kind::IndexMissing,
        Kind::UniqueDuplicates,
        Kind::OrphanedForeignKeys,
        Kind::TornWal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::TableLeaf => "table leaf bytes",
            Kind::IndexLeaf => "index leaf bytes",
            Kind::Interior => "interior page bytes",
            Kind::ZeroedPage => "zeroed page",
            Kind::Truncated => "truncated file",
            Kind::Header => "damaged header",
            Kind::Freelist => "damaged freelist",
            Kind::IndexMissing => "index entries missing",
            Kind::UniqueDuplicates => "duplicates under UNIQUE",
            Kind::OrphanedForeignKeys => "orphaned foreign keys",
            Kind::TornWal => "torn WAL",
        }
    }
}

/// Rows by table, each row by row id, as `quote()`d values joined by `|`.
pub type Truth = BTreeMap<String, BTreeMap<i64, String>>;

/// The user tables of the campaign database.
pub const TABLES: [&str; 3] = ["customers", "orders", "events"];

/// Creates the campaign database at `db`: customers (UNIQUE email), orders (a foreign key to
/// customers, indexed), events (no index), with a freelist from deleted events.
pub fn create_sample(db: &Path) {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
         CREATE UNIQUE INDEX customers_email ON customers (email);
         CREATE TABLE orders (id INTEGER PRIMARY KEY,
                              customer_id INTEGER NOT NULL REFERENCES customers (id),
                              total INTEGER NOT NULL, note TEXT);
         CREATE INDEX orders_customer ON orders (customer_id);
         CREATE TABLE events (at INTEGER, payload TEXT);
         BEGIN;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1500)
           INSERT INTO customers SELECT x, 'customer ' || x, 'c' || x || '@example.com' FROM n;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 6000)
           INSERT INTO orders SELECT x, 1 + (x * 7) % 1500, x * 13 % 10000,
                                     'order note ' || x || ' ' || substr(hex(x * 2654435761), 1, 40) FROM n;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000)
           INSERT INTO events SELECT 1700000000 + x, 'event payload ' || x || ' ' || hex(x * 40503) FROM n;
         COMMIT;
         DELETE FROM events WHERE rowid BETWEEN 1000 AND 1600;",
    )
    .unwrap();
}

/// The rows of the user tables of `db`.
pub fn truth(db: &Path) -> Truth {
    let conn = Connection::open(db).unwrap();
    TABLES
        .iter()
        .map(|t| ((*t).to_owned(), rows(&conn, t, "rowid")))
        .collect()
}

/// The rows of `table` (keyed by `key`, e.g. `rowid` or `_migrate_rowid`), values only.
pub fn rows(conn: &Connection, table: &str, key: &str) -> BTreeMap<i64, String> {
    try_rows(conn, table, key).unwrap()
}

/// [`rows`], or SQLite's error when they cannot be read.
pub fn try_rows(
    conn: &Connection,
    table: &str,
    key: &str,
) -> rusqlite::Result<BTreeMap<i64, String>> {
    let columns = match table.strip_prefix("_migrate_quarantine_").unwrap_or(table) {
        "customers" => "id, name, email",
        "orders" => "id, customer_id, total, note",
        _ => "at, payload",
    };
    let values = columns
        .split(", ")
        .map(|c| format!("quote({c})"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let mut stmt = conn.prepare(&format!("SELECT {key}, {values} FROM \"{table}\""))?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// [`truth`], or SQLite's error when the rows cannot be read.
pub fn try_truth(db: &Path) -> rusqlite::Result<Truth> {
    let conn = Connection::open(db)?;
    TABLES
        .iter()
        .map(|t| Ok(((*t).to_owned(), try_rows(&conn, t, "rowid")?)))
        .collect()
}

/// Pages of `db` by object and page type (from `dbstat`).
pub fn pages(db: &Path, names: &[&str], pagetype: &str) -> Vec<usize> {
    let conn = Connection::open(db).unwrap();
    let marks = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    let mut stmt = conn
        .prepare(&format!(
            "SELECT pageno FROM dbstat WHERE name IN ({marks}) AND pagetype = ?1 ORDER BY pageno"
        ))
        .unwrap();
    stmt.query_map([pagetype], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|p| p.unwrap() as usize)
        .collect()
}

fn page_size(db: &Path) -> usize {
    let conn = Connection::open(db).unwrap();
    conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
        .unwrap() as usize
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len];
    f.read_exact(&mut buf).unwrap();
    buf
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

/// Flips `count` bytes of page `page` within `range` (offsets inside the page), each to a
/// different value.
fn flip(db: &Path, rng: &mut Rng, page: usize, range: std::ops::Range<usize>, count: usize) {
    let size = page_size(db);
    let base = ((page - 1) * size) as u64;
    // Page 1's b-tree header starts after the 100-byte file header.
    let shift = if page == 1 { 100 } else { 0 };
    for _ in 0..count {
        let at = shift + range.start + rng.below(range.len());
        let old = read_at(db, base + at as u64, 1)[0];
        let new = old ^ (1 + rng.below(255) as u8);
        write_at(db, base + at as u64, &[new]);
    }
}

/// The number of cells on a b-tree page (its header's bytes 3-4).
fn cells(db: &Path, page: usize) -> usize {
    let size = page_size(db);
    let shift = if page == 1 { 100 } else { 0 };
    let h = read_at(db, ((page - 1) * size + shift) as u64, 5);
    u16::from_be_bytes([h[3], h[4]]) as usize
}

/// Damages `db` (a copy of the campaign database, with its truth `before`) in the way `kind`
/// names, returning a description and the truth a perfect repair leaves.
pub fn inject(kind: Kind, db: &Path, before: &Truth, rng: &mut Rng) -> (String, Truth) {
    let mut truth = before.clone();
    let description = match kind {
        Kind::TableLeaf => {
            let page = *rng.pick(&pages(db, &TABLES, "leaf"));
            let n = cells(db, page);
            let count = 1 + rng.below(4);
            flip(db, rng, page, 0..8 + 2 * n, count);
            format!("{count} byte(s) flipped in table leaf page {page}")
        }
        Kind::IndexLeaf => {
            let page = *rng.pick(&pages(db, &["customers_email", "orders_customer"], "leaf"));
            let n = cells(db, page);
            let count = 1 + rng.below(4);
            flip(db, rng, page, 0..8 + 2 * n, count);
            format!("{count} byte(s) flipped in index leaf page {page}")
        }
        Kind::Interior => {
            let page = *rng.pick(&pages(db, &TABLES, "internal"));
            let n = cells(db, page);
            let count = 1 + rng.below(3);
            // The header with its right-child pointer, the cell pointers, and the cells'
            // child page numbers at the end of the page.
            let size = page_size(db);
            if rng.below(2) == 0 {
                flip(db, rng, page, 0..12 + 2 * n, count);
            } else {
                let cell_area = size - (n * 8).min(size / 2);
                flip(
                    db,
                    rng,
                    page,
                    cell_area..size - if page == 1 { 100 } else { 0 },
                    count,
                );
            }
            format!("{count} byte(s) flipped in interior page {page}")
        }
        Kind::ZeroedPage => {
            let mut candidates = pages(db, &TABLES, "leaf");
            candidates.extend(pages(db, &["customers_email", "orders_customer"], "leaf"));
            let page = *rng.pick(&candidates);
            let size = page_size(db);
            write_at(db, ((page - 1) * size) as u64, &vec![0; size]);
            format!("page {page} zeroed")
        }
        Kind::Truncated => {
            let size = page_size(db) as u64;
            let len = std::fs::metadata(db).unwrap().len();
            let pages = len / size;
            let cut = 1 + rng.below((pages / 10) as usize) as u64;
            let f = OpenOptions::new().write(true).open(db).unwrap();
            f.set_len(len - cut * size).unwrap();
            f.sync_all().unwrap();
            format!("the last {cut} of {pages} pages cut off")
        }
        Kind::Header => {
            let (offset, bytes, what): (u64, Vec<u8>, &str) = match rng.below(5) {
                0 => (0, b"SQLite format 2\0".to_vec(), "magic string"),
                1 => (16, vec![0x12, 0x34], "page size"),
                2 => (18, vec![3, 3], "file format versions"),
                3 => (21, vec![0, 0, 0], "payload fractions"),
                _ => (44, vec![0, 0, 0, 9], "schema format number"),
            };
            write_at(db, offset, &bytes);
            format!("header {what} damaged")
        }
        Kind::Freelist => {
            let h = read_at(db, 32, 8);
            let trunk = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
            assert!(trunk > 0, "the campaign database has a freelist");
            let size = page_size(db);
            match rng.below(3) {
                0 => {
                    // The trunk's leaf count far beyond what a page holds.
                    write_at(db, ((trunk - 1) * size + 4) as u64, &[0, 0, 0x7f, 0xff]);
                    format!("freelist trunk page {trunk}: leaf count damaged")
                }
                1 => {
                    // A leaf entry pointing at a b-tree page in use.
                    let used = *rng.pick(&pages(db, &TABLES, "leaf"));
                    write_at(
                        db,
                        ((trunk - 1) * size + 8) as u64,
                        &(used as u32).to_be_bytes(),
                    );
                    format!("freelist trunk page {trunk}: a leaf points at page {used}, in use")
                }
                _ => {
                    write_at(db, 36, &[0, 0, 0x10, 0]);
                    "the header's free page count damaged".to_owned()
                }
            }
        }
        Kind::IndexMissing => {
            let n = 1 + rng.below(20);
            blind_index(db, "orders_customer", || {
                let conn = Connection::open(db).unwrap();
                let first: i64 = conn
                    .query_row("SELECT max(id) + 1 FROM orders", [], |r| r.get(0))
                    .unwrap();
                for id in first..first + n as i64 {
                    conn.execute(
                        "INSERT INTO orders VALUES (?1, 1 + ?1 % 1500, 7, 'late ' || ?1)",
                        [id],
                    )
                    .unwrap();
                }
            });
            truth.insert("orders".into(), truth_of(db, "orders"));
            format!("{n} orders inserted while their index entries were not written")
        }
        Kind::UniqueDuplicates => {
            let n = 1 + rng.below(10);
            let victims: Vec<i64> = (0..n).map(|_| 1 + rng.below(1500) as i64).collect();
            blind_index(db, "customers_email", || {
                let conn = Connection::open(db).unwrap();
                for id in &victims {
                    conn.execute(
                        "INSERT INTO customers (name, email) SELECT 'dup ' || id, email FROM customers WHERE id = ?1",
                        [id],
                    )
                    .unwrap();
                }
            });
            // The duplicates are not data: a repair quarantines them.
            format!("{n} customers inserted repeating existing emails under UNIQUE")
        }
        Kind::OrphanedForeignKeys => {
            let n = 1 + rng.below(8);
            let conn = Connection::open(db).unwrap();
            conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
            for _ in 0..n {
                let id = 1 + rng.below(1500) as i64;
                conn.execute("DELETE FROM customers WHERE id = ?1", [id])
                    .unwrap();
            }
            drop(conn);
            truth.insert("customers".into(), truth_of(db, "customers"));
            format!("{n} customers with orders deleted, orphaning their orders")
        }
        Kind::TornWal => {
            let conn = Connection::open(db).unwrap();
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .unwrap();
            conn.execute_batch(
                "PRAGMA wal_autocheckpoint = 0;
                 INSERT INTO events (at, payload) VALUES (1, 'committed before the tear');",
            )
            .unwrap();
            truth.insert("events".into(), rows(&conn, "events", "rowid"));
            let wal = crate::sibling(db, "-wal");
            let durable = std::fs::metadata(&wal).unwrap().len();
            conn.execute_batch(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200)
                 INSERT INTO events (at, payload) SELECT x, hex(randomblob(60)) FROM n;",
            )
            .unwrap();
            let full = std::fs::metadata(&wal).unwrap().len();
            // Keep the file as a crash would leave it: copy it while the connection is open.
            let torn = durable + 1 + rng.below((full - durable - 1) as usize) as u64;
            let bytes = std::fs::read(&wal).unwrap();
            let main = std::fs::read(db).unwrap();
            drop(conn);
            std::fs::write(db, main).unwrap();
            std::fs::write(&wal, &bytes[..torn as usize]).unwrap();
            let _ = std::fs::remove_file(crate::sibling(db, "-shm"));
            format!("WAL cut at byte {torn} of {full}, inside the last transaction's frames")
        }
    };
    (description, truth)
}

fn truth_of(db: &Path, table: &str) -> BTreeMap<i64, String> {
    rows(&Connection::open(db).unwrap(), table, "rowid")
}

/// Runs `write` while `index` is hidden from SQLite (turned into a partial index that covers no
/// row), so the rows it writes get no entries in it; then shows the index again.
fn blind_index(db: &Path, index: &str, write: impl FnOnce()) {
    let edit = |sql: &str| {
        let conn = Connection::open(db).unwrap();
        conn.execute_batch("PRAGMA writable_schema = ON").unwrap();
        conn.execute(sql, [index]).unwrap();
    };
    edit("UPDATE sqlite_schema SET sql = sql || ' WHERE 0' WHERE name = ?1");
    write();
    edit("UPDATE sqlite_schema SET sql = substr(sql, 1, length(sql) - 8) WHERE name = ?1");
}
