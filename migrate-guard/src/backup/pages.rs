//! Restoring in place, page by page: only the pages of the live database that differ from the
//! image are written, through SQLite's writable `sqlite_dbpage`, inside one ordinary write
//! transaction on the live database (the caller's). SQLite's backup API rewrites every page,
//! and in rollback-journal mode first journals every old one: restoring 1 GB wrote 2 GB and
//! synced both. Here the journal holds only the pages that change, and a restore after a
//! failed migration changes few.
//!
//! It is still SQLite's own transaction: crash-safe as any commit (the journal or the WAL
//! holds what is needed to roll it back), invisible to other connections until it commits,
//! and then seen by them as any other commit. Page 1 is written last, as the backup API writes
//! it: the image's, with the live database's journal mode (bytes 18-19) and the change counter
//! moved on; once every page is the image's, the schema cookie is set above both the live one
//! and the image's (`PRAGMA schema_version`), so that every connection reloads the schema it
//! cached (a connection that cached a schema at the image's cookie value, from another branch
//! of history, would otherwise keep it).
//!
//! [`page_one`], [`new_cookie`] and [`pending_page`] are pure; [`possible`] and [`write_changed`] read and
//! write.

use rusqlite::Connection;

use crate::Error;
use crate::vocab::error::SqliteContext;

/// Byte offsets in page 1 (the database header).
const WRITE_VERSION: usize = 18;
const READ_VERSION: usize = 19;
const CHANGE_COUNTER: usize = 24;
const SCHEMA_COOKIE: usize = 40;
const VERSION_VALID_FOR: usize = 92;

fn be32(page: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([page[at], page[at + 1], page[at + 2], page[at + 3]])
}

fn put32(page: &mut [u8], at: usize, value: u32) {
    page[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// The image's page 1 as the live database must hold it while the copy goes on: its journal
/// mode kept, its change counter moved on, and for now its schema cookie (a new cookie would
/// make this connection read the schema again before the copy is whole).
pub(crate) fn page_one(image: &[u8], live: &[u8]) -> Vec<u8> {
    let mut page = image.to_vec();
    page[WRITE_VERSION] = live[WRITE_VERSION];
    page[READ_VERSION] = live[READ_VERSION];
    let counter = be32(live, CHANGE_COUNTER).wrapping_add(1);
    put32(&mut page, CHANGE_COUNTER, counter);
    put32(&mut page, VERSION_VALID_FOR, counter);
    put32(&mut page, SCHEMA_COOKIE, be32(live, SCHEMA_COOKIE));
    page
}

/// The schema cookie the restored database gets: above both the live one and the image's.
pub(crate) fn new_cookie(image: &[u8], live: &[u8]) -> u32 {
    be32(live, SCHEMA_COOKIE)
        .max(be32(image, SCHEMA_COOKIE))
        .wrapping_add(1)
}

/// Whether two versions of page 1 are equal but for what a copy into a live database changes:
/// the journal mode (18-19), the change counter (24-27, 92-95), the schema cookie (40-43) and
/// the SQLite version that wrote it (96-99).
pub(crate) fn same_header_aside(a: &[u8], b: &[u8]) -> bool {
    let changed = |i: usize| {
        matches!(i, WRITE_VERSION | READ_VERSION)
            || (CHANGE_COUNTER..CHANGE_COUNTER + 4).contains(&i)
            || (SCHEMA_COOKIE..SCHEMA_COOKIE + 4).contains(&i)
            || (VERSION_VALID_FOR..VERSION_VALID_FOR + 8).contains(&i)
    };
    a.len() == b.len() && (0..a.len()).all(|i| changed(i) || a[i] == b[i])
}

/// The page holding the lock byte at offset 1 GiB, which SQLite never uses: never written.
pub(crate) fn pending_page(page_size: u64) -> u64 {
    0x4000_0000 / page_size + 1
}

/// Whether `image` can be written into `live` page by page: `sqlite_dbpage` writable on `live`
/// (compiled in, defensive mode off), a file database, pages of the same size. Otherwise the
/// caller copies with the backup API.
pub(crate) fn possible(image: &Connection, live: &Connection) -> bool {
    let page_size =
        |c: &Connection| -> Option<i64> { c.query_row("PRAGMA page_size", [], |r| r.get(0)).ok() };
    let defensive = live
        .db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE)
        .unwrap_or(true);
    !defensive
        && live.path().is_some_and(|p| !p.is_empty())
        && live.prepare("SELECT 1 FROM sqlite_dbpage LIMIT 0").is_ok()
        && page_size(image).is_some()
        && page_size(image) == page_size(live)
}

/// Writes into `live` (inside its open write transaction) every page of `image` that differs,
/// then page 1 as [`page_one`] makes it, then truncates `live` to the image's size (or has
/// extended it on the way).
/// Returns the pages written, in order.
///
/// # Errors
///
/// SQLite's error when a page cannot be read or written (the caller's transaction then rolls
/// back, and nothing changed).
pub(crate) fn write_changed(image: &Connection, live: &Connection) -> Result<Vec<i64>, Error> {
    let reading = "reading the backup image";
    let comparing = "reading the database to compare it with the backup";
    let writing = "writing the backup's pages into the database";
    let live_pages: i64 = live
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .context(comparing)?;
    let page_size: i64 = live
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .context(comparing)?;
    let pending = pending_page(page_size as u64) as i64;
    let mut current = live
        .prepare("SELECT data FROM sqlite_dbpage('main') WHERE pgno = ?1")
        .context(comparing)?;
    let mut write = live
        .prepare("INSERT INTO sqlite_dbpage (pgno, data) VALUES (?1, ?2)")
        .context(writing)?;
    let mut pages = image
        .prepare("SELECT pgno, data FROM sqlite_dbpage('main') ORDER BY pgno")
        .context(reading)?;
    let mut rows = pages.query([]).context(reading)?;
    let (mut written, mut image_pages, mut first) = (Vec::new(), 0i64, None);
    while let Some(row) = rows.next().context(reading)? {
        let pgno: i64 = row.get(0).context(reading)?;
        let data = row
            .get_ref(1)
            .and_then(|v| Ok(v.as_blob()?))
            .context(reading)?;
        image_pages = pgno;
        if pgno == pending {
            continue;
        }
        let now: Option<Vec<u8>> = if pgno <= live_pages {
            Some(current.query_row([pgno], |r| r.get(0)).context(comparing)?)
        } else {
            None
        };
        let page = match (pgno, now) {
            // Last: its new schema cookie makes every statement of this connection read the
            // schema again, which must find the image's pages by then.
            (1, live_one) => {
                first = Some(match live_one {
                    Some(live_one) => (page_one(data, &live_one), new_cookie(data, &live_one)),
                    None => (data.to_vec(), be32(data, SCHEMA_COOKIE).wrapping_add(1)),
                });
                continue;
            }
            (_, Some(same)) if same == data => continue,
            _ => data.to_vec(),
        };
        write
            .execute(rusqlite::params![pgno, page])
            .context(writing)?;
        written.push(pgno);
    }
    let cookie = match first {
        Some((page, cookie)) => {
            write.execute(rusqlite::params![1, page]).context(writing)?;
            written.push(1);
            Some(cookie)
        }
        None => None,
    };
    if image_pages < live_pages {
        // The pages past the image's end go: SQLite truncates the file as the transaction
        // commits (this must be the last page written through `sqlite_dbpage`).
        write
            .execute(rusqlite::params![image_pages + 1, rusqlite::types::Null])
            .context(writing)?;
    }
    if let Some(cookie) = cookie {
        // Now that every page is the image's: every connection reads the schema again, this
        // one included, as after SQLite's backup API.
        live.execute_batch(&format!("PRAGMA schema_version = {cookie}"))
            .context(writing)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(versions: u8, counter: u32, cookie: u32) -> Vec<u8> {
        let mut page = vec![0u8; 512];
        page[WRITE_VERSION] = versions;
        page[READ_VERSION] = versions;
        put32(&mut page, CHANGE_COUNTER, counter);
        put32(&mut page, VERSION_VALID_FOR, counter);
        put32(&mut page, SCHEMA_COOKIE, cookie);
        page[200] = 0xAB;
        page
    }

    #[test]
    fn page_one_keeps_the_live_mode_and_moves_counters_past_both() {
        let image = header(1, 7, 12);
        let live = header(2, 30, 9);
        let page = page_one(&image, &live);
        assert_eq!((page[WRITE_VERSION], page[READ_VERSION]), (2, 2));
        assert_eq!(be32(&page, CHANGE_COUNTER), 31);
        assert_eq!(be32(&page, VERSION_VALID_FOR), 31);
        assert_eq!(
            be32(&page, SCHEMA_COOKIE),
            9,
            "the live cookie until the copy is whole"
        );
        assert_eq!(page[200], 0xAB, "the rest is the image's");
        assert_eq!(new_cookie(&image, &live), 13, "above the image's 12");
        assert_eq!(new_cookie(&header(1, 7, 3), &live), 10, "above the live 9");
    }

    /// One row edited: a handful of pages written (its leaf, its index's leaf, page 1), not
    /// the file; and nothing at all would be possible without a writable `sqlite_dbpage`.
    #[test]
    fn only_the_pages_that_differ_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let (live, image) = (dir.path().join("live.db"), dir.path().join("image.db"));
        let conn = Connection::open(&live).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t (v);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000)
             INSERT INTO t SELECT x, 'value ' || x FROM n;",
        )
        .unwrap();
        std::fs::copy(&live, &image).unwrap();
        conn.execute_batch("UPDATE t SET v = 'changed' WHERE id = 2500")
            .unwrap();
        let source = Connection::open(&image).unwrap();
        assert!(possible(&source, &conn));
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let written = write_changed(&source, &conn).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        assert!(
            written.len() <= 4 && pages > 40,
            "{written:?} of {pages} pages written"
        );
        assert_eq!(written.last(), Some(&1), "page 1 last");
        let v: String = conn
            .query_row("SELECT v FROM t WHERE id = 2500", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, "value 2500");
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
            .unwrap();
        assert!(
            !possible(&source, &conn),
            "defensive mode refuses page writes"
        );
    }

    #[test]
    fn page_one_compares_without_what_a_copy_changes() {
        let image = header(1, 7, 12);
        assert!(same_header_aside(
            &image,
            &page_one(&image, &header(2, 30, 9))
        ));
        let mut other = image.clone();
        other[28] ^= 1;
        assert!(
            !same_header_aside(&image, &other),
            "the page count is compared"
        );
        assert!(!same_header_aside(&image, &image[..100]));
    }

    #[test]
    fn the_pending_page_is_at_one_gibibyte() {
        assert_eq!(pending_page(4096), 262_145);
        assert_eq!(pending_page(65536), 16_385);
        assert_eq!(pending_page(512), 2_097_153);
    }
}
