//! A whole restore writes only the pages that differ, in place, in one SQLite transaction:
//! SQLite's own verdict and a page-by-page comparison with the image hold after every shape of
//! change (rows edited, the file grown, the file shrunk), in both journal families, and a
//! connection that stayed open across the restore sees the restored schema and rows, not the
//! ones it had cached.

use std::path::{Path, PathBuf};
use std::time::Duration;

use belay_guard::backup::{self, CreateOptions, Manifest, Proof};
use belay_guard::rusqlite::Connection;
use belay_guard::rusqlite::types::Value;
use belay_guard::vocab::sql::quote_ident;

const TIMEOUT: Duration = Duration::from_secs(10);

fn database(dir: &Path, wal: bool) -> PathBuf {
    let db = dir.join("app.db");
    let conn = Connection::open(&db).unwrap();
    if wal {
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
    }
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
         CREATE INDEX t_v ON t (v);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000)
         INSERT INTO t SELECT x, 'row ' || x || ' ' || hex(randomblob(20)) FROM n;",
    )
    .unwrap();
    db
}

fn take(db: &Path) -> (PathBuf, Manifest) {
    let dir = backup::default_dir(db);
    let manifest = backup::create(db, &dir, &CreateOptions::default(), &mut |_| {}).unwrap();
    (dir, manifest)
}

fn single(conn: &Connection, sql: &str) -> String {
    conn.query_row(sql, [], |r| {
        r.get::<_, belay_guard::rusqlite::types::Value>(0)
    })
    .map(|v| format!("{v:?}"))
    .unwrap()
}

/// The first column of every row `sql` returns, as text.
fn strings(conn: &Connection, sql: &str) -> Vec<String> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Everything a reader can see: the schema and every row, in order.
fn contents(db: &Path) -> Vec<String> {
    let conn = Connection::open(db).unwrap();
    let mut out = strings(
        &conn,
        "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY name",
    );
    let tables = strings(
        &conn,
        "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
    );
    for table in tables {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT * FROM {} ORDER BY rowid",
                quote_ident(&table)
            ))
            .unwrap();
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..columns)
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        for row in rows {
            out.push(format!("{table}: {:?}", row.unwrap()));
        }
    }
    out
}

fn sqlite_says_ok(db: &Path) {
    let conn = Connection::open(db).unwrap();
    assert_eq!(single(&conn, "PRAGMA integrity_check"), "Text(\"ok\")");
}

fn restore(db: &Path, dir: &Path, manifest: &Manifest) {
    let done = backup::restore_locked(db, dir, manifest, TIMEOUT, Proof::Accepted).unwrap();
    assert!(done.is_some());
}

#[test]
fn every_shape_of_change_is_undone_in_both_journal_modes() {
    let changes: [(&str, &str); 4] = [
        (
            "rows edited",
            "UPDATE t SET v = 'edited' WHERE id % 97 = 0; DELETE FROM t WHERE id % 101 = 0;",
        ),
        (
            "the file grown",
            "CREATE TABLE more (x BLOB);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000)
             INSERT INTO more SELECT randomblob(900) FROM n;",
        ),
        ("the file shrunk", "DELETE FROM t WHERE id > 2000; VACUUM;"),
        (
            "the schema rebuilt",
            "DROP INDEX t_v; ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 7; CREATE INDEX t_w ON t (w, v);",
        ),
    ];
    for wal in [false, true] {
        for (name, change) in changes {
            let dir = tempfile::tempdir().unwrap();
            let db = database(dir.path(), wal);
            let before = contents(&db);
            let pages_before = single(&Connection::open(&db).unwrap(), "PRAGMA page_count");
            let (backups, manifest) = take(&db);
            Connection::open(&db)
                .unwrap()
                .execute_batch(change)
                .unwrap();
            assert_ne!(contents(&db), before, "{name}");
            restore(&db, &backups, &manifest);
            assert_eq!(contents(&db), before, "{name}, wal {wal}");
            let conn = Connection::open(&db).unwrap();
            assert_eq!(
                single(&conn, "PRAGMA page_count"),
                pages_before,
                "{name}, wal {wal}"
            );
            let mode = single(&conn, "PRAGMA journal_mode");
            assert_eq!(
                mode.contains("wal"),
                wal,
                "{name}: the journal mode stays ({mode})"
            );
            drop(conn);
            sqlite_says_ok(&db);
        }
    }
}

/// A connection open across the restore, which cached the schema after the backup, reloads it:
/// the index and column it knew are gone, the rows are the backup's.
#[test]
fn a_connection_open_across_the_restore_sees_the_restored_schema() {
    for wal in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), wal);
        let (backups, manifest) = take(&db);
        let app = Connection::open(&db).unwrap();
        app.execute_batch("ALTER TABLE t ADD COLUMN extra TEXT; UPDATE t SET extra = 'x';")
            .unwrap();
        assert_eq!(single(&app, "SELECT count(extra) FROM t"), "Integer(20000)");
        restore(&db, &backups, &manifest);
        let e = app
            .query_row("SELECT count(extra) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert!(e.to_string().contains("no such column"), "wal {wal}: {e}");
        assert_eq!(single(&app, "SELECT count(*) FROM t"), "Integer(20000)");
        // And it writes into the restored database as into any other.
        app.execute_batch("INSERT INTO t (v) VALUES ('after')")
            .unwrap();
        drop(app);
        sqlite_says_ok(&db);
    }
}
