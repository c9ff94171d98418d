//! The repair ladder on databases damaged the ways users' databases are: rows a constraint now
//! rejects, rows deleted behind an index's back, duplicates under UNIQUE indexes, a damaged
//! WITHOUT ROWID table, orphans that cannot be moved, a writer in the way. Each test damages a
//! small database on purpose, repairs it through the public API, and checks what the report
//! says against what is in the file afterwards.

use std::path::{Path, PathBuf};
use std::time::Duration;

use belay_guard::backup::{self, CreateOptions};
use belay_guard::integrity;
use belay_guard::repair::{self, Action, Mode, Options, RepairReport, Rung};
use belay_guard::rusqlite::Connection;

/// A database in a scratch directory; its backups go to the default directory beside it.
struct Scene {
    _dir: tempfile::TempDir,
    db: PathBuf,
}

impl Scene {
    /// A database made by `sql`.
    fn new(sql: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        Connection::open(&db).unwrap().execute_batch(sql).unwrap();
        Self { _dir: dir, db }
    }

    fn conn(&self) -> Connection {
        Connection::open(&self.db).unwrap()
    }

    /// Runs `sql` on a fresh connection (so a schema edited by hand is read again).
    fn run(&self, sql: &str) {
        self.conn().execute_batch(sql).unwrap();
    }

    /// Takes a backup, returning its id.
    fn back_up(&self) -> String {
        backup::create(
            &self.db,
            &backup::default_dir(&self.db),
            &CreateOptions::default(),
            &mut |_| {},
        )
        .unwrap()
        .id
    }

    fn repair(&self) -> RepairReport {
        self.repair_waiting(Duration::from_secs(5))
    }

    fn repair_waiting(&self, busy_timeout: Duration) -> RepairReport {
        repair::repair(
            &self.db,
            &Options {
                backup_dir: None,
                busy_timeout,
                mode: Mode::Repair,
            },
            &mut (),
        )
        .unwrap()
    }

    /// The first column of every row `sql` returns, as text.
    fn column(&self, sql: &str) -> Vec<String> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn integers(&self, sql: &str) -> Vec<i64> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn integer(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// What SQLite's own check says of the file.
    fn integrity(&self) -> Vec<String> {
        self.column("PRAGMA integrity_check")
    }

    /// Overwrites page `page` of the file with zeros.
    fn zero_page(&self, page: usize) {
        let size = self.integer("PRAGMA page_size") as usize;
        let mut bytes = std::fs::read(&self.db).unwrap();
        bytes[(page - 1) * size..page * size].fill(0);
        std::fs::write(&self.db, bytes).unwrap();
    }
}

/// The action the report has for `rung`.
fn action(report: &RepairReport, rung: Rung) -> &Action {
    report
        .actions
        .iter()
        .find(|a| a.rung == rung)
        .unwrap_or_else(|| panic!("no {rung:?} action in {:#?}", report.actions))
}

fn rungs(report: &RepairReport) -> Vec<(Rung, bool)> {
    report
        .actions
        .iter()
        .map(|a| (a.rung, a.succeeded))
        .collect()
}

/// Readings, rows 1..=20 with value `10 * id`, every value required.
const READINGS: &str = "
    CREATE TABLE readings (id INTEGER PRIMARY KEY, value INTEGER NOT NULL);
    CREATE INDEX readings_value ON readings (value);
    WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20)
      INSERT INTO readings SELECT x, 10 * x FROM n;";

/// Replaces `from` by `to` in the definition of `object`, behind SQLite's back.
fn edit_schema(s: &Scene, object: &str, (from, to): (&str, &str)) {
    let conn = s.conn();
    conn.execute_batch("PRAGMA writable_schema = ON").unwrap();
    let changed = conn
        .execute(
            "UPDATE sqlite_schema SET sql = replace(sql, ?1, ?2) WHERE name = ?3",
            [from, to, object],
        )
        .unwrap();
    assert_eq!(changed, 1, "editing {object}");
}

/// Runs `write` while the definition of `object` reads `to` where it read `from`, then puts the
/// definition back: what the rows written then hold, the schema no longer allows, or an index
/// never saw (the way damage leaves a file that its own schema rejects).
fn behind_the_schema(s: &Scene, object: &str, (from, to): (&str, &str), write: &str) {
    edit_schema(s, object, (from, to));
    s.run(write);
    edit_schema(s, object, (to, from));
}

/// Writes NULLs into `readings` (row 7 changed, row 21 added), which its NOT NULL rejects.
fn null_readings(s: &Scene) {
    behind_the_schema(
        s,
        "readings",
        ("value INTEGER NOT NULL", "value INTEGER"),
        "UPDATE readings SET value = NULL WHERE id = 7; INSERT INTO readings VALUES (21, NULL);",
    );
}

/// A row its NOT NULL constraint now rejects is moved into quarantine by the rebuild, and the
/// backup's version of it (when the backup has one) takes its place.
#[test]
fn a_row_its_constraint_rejects_is_quarantined_and_replaced_by_the_backups_version() {
    let s = Scene::new(READINGS);
    let id = s.back_up();
    null_readings(&s);

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    assert_eq!(report.planned.first, [Rung::Rebuild]);
    let rebuild = action(&report, Rung::Rebuild);
    assert!(rebuild.succeeded, "{}", rebuild.detail);
    assert!(
        rebuild
            .detail
            .contains("1 read row by row around damage: readings"),
        "{}",
        rebuild.detail
    );
    let [held] = report.quarantined.as_slice() else {
        panic!("{:#?}", report.quarantined)
    };
    assert_eq!(
        (held.table.as_str(), held.into.as_str()),
        ("readings", "_migrate_quarantine_readings")
    );
    assert_eq!((held.rowids.as_slice(), held.rows), ([7, 21].as_slice(), 2));
    assert!(
        held.reason.starts_with("rejected by the rebuilt table"),
        "{}",
        held.reason
    );
    let [back] = report.recovered.as_slice() else {
        panic!("{:#?}", report.recovered)
    };
    assert_eq!(
        (
            back.table.as_str(),
            back.backup.as_str(),
            back.rowids.as_slice()
        ),
        ("readings", id.as_str(), [7].as_slice())
    );
    assert!(report.lost.is_empty(), "{:#?}", report.lost);
    assert!(report.absent.is_empty(), "{:#?}", report.absent);
    // Row 7 holds the backup's value; row 21 (never backed up) is only in quarantine.
    assert_eq!(
        s.integer("SELECT value FROM readings WHERE id = 7"),
        70,
        "the backup's row"
    );
    assert_eq!(s.integer("SELECT count(*) FROM readings"), 20);
    assert_eq!(
        s.column(
            "SELECT _migrate_rowid || ':' || ifnull(value, 'null') || ':' || _migrate_reason
             FROM _migrate_quarantine_readings ORDER BY _migrate_rowid"
        ),
        [
            "7:null:rejected by the rebuilt table: NOT NULL constraint failed: readings.value",
            "21:null:rejected by the rebuilt table: NOT NULL constraint failed: readings.value"
        ]
    );
    assert_eq!(s.integrity(), ["ok"]);
}

/// Without a backup, a row its constraint rejects is kept in quarantine only, and nothing is
/// said to be recovered.
#[test]
fn without_a_backup_a_rejected_row_stays_only_in_quarantine() {
    let s = Scene::new(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         CREATE INDEX notes_body ON notes (body);
         INSERT INTO notes VALUES (1, 'one'), (2, NULL), (3, 'three');",
    );
    // The schema says NOT NULL; the file holds a NULL (what a damaged record can decode to).
    edit_schema(&s, "notes", ("body TEXT", "body TEXT NOT NULL"));
    assert!(
        s.integrity()
            .iter()
            .any(|l| l.contains("NULL value in notes.body")),
        "{:?}",
        s.integrity()
    );

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    assert_eq!(report.quarantined.len(), 1, "{:#?}", report.quarantined);
    assert_eq!(report.quarantined[0].rowids, [2]);
    assert!(report.recovered.is_empty(), "{:#?}", report.recovered);
    assert_eq!(s.integers("SELECT id FROM notes ORDER BY id"), [1, 3]);
    assert_eq!(
        s.integers("SELECT _migrate_rowid FROM _migrate_quarantine_notes WHERE body IS NULL"),
        [2]
    );
    assert_eq!(s.integrity(), ["ok"]);
}

/// Rows the backup has and the rebuilt database does not (deleted since the backup) are listed
/// as absent, and not brought back; a row lost that the backup never had is lost, not absent.
#[test]
fn rows_deleted_since_the_backup_are_listed_as_absent_and_not_restored() {
    let s = Scene::new(&format!(
        "{READINGS}
         CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE INDEX customers_name ON customers (name);
         INSERT INTO customers VALUES (1, 'ann'), (2, 'bob'), (3, 'cy'), (4, 'di'), (5, 'ed');"
    ));
    let id = s.back_up();
    s.run("DELETE FROM customers WHERE id IN (2, 4); INSERT INTO customers VALUES (6, 'fay');");
    behind_the_schema(
        &s,
        "customers_name",
        ("(name)", "(name) WHERE 0"),
        "DELETE FROM customers WHERE id = 6",
    );
    null_readings(&s);

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    let [absent] = report.absent.as_slice() else {
        panic!("{:#?}", report.absent)
    };
    assert_eq!(
        (
            absent.table.as_str(),
            absent.backup.as_str(),
            absent.rowids.as_slice()
        ),
        ("customers", id.as_str(), [2, 4].as_slice())
    );
    assert!(!absent.taken_at.is_empty());
    let [lost] = report.lost.as_slice() else {
        panic!("{:#?}", report.lost)
    };
    assert_eq!(
        (lost.table.as_str(), lost.rowids.as_slice()),
        ("customers", [6].as_slice())
    );
    assert!(
        lost.detail
            .ends_with(&format!("backup {id} does not have them")),
        "{}",
        lost.detail
    );
    assert_eq!(
        s.integers("SELECT id FROM customers ORDER BY id"),
        [1, 3, 5]
    );
    assert_eq!(s.integrity(), ["ok"]);
}

/// A WITHOUT ROWID table with a damaged leaf keeps the rows before the damage in key order,
/// and the report says how many were read and that the rest could not be.
#[test]
fn a_damaged_without_rowid_table_keeps_the_rows_before_the_damage_and_says_how_many() {
    let s = Scene::new(
        "CREATE TABLE words (word TEXT PRIMARY KEY, meaning TEXT NOT NULL) WITHOUT ROWID;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
           INSERT INTO words SELECT printf('w%05d', x), 'meaning of ' || x || ' ' || hex(x * 2654435761) FROM n;",
    );
    let all = s.column("SELECT word FROM words ORDER BY word");
    // The leaves in key order (dbstat's path follows the tree); the middle one is zeroed.
    let leaves = s.integers(
        "SELECT pageno FROM dbstat WHERE name = 'words' AND pagetype = 'leaf' ORDER BY path",
    );
    assert!(leaves.len() > 10, "{leaves:?}");
    s.zero_page(leaves[leaves.len() / 2] as usize);

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    let rebuild = action(&report, Rung::Rebuild);
    assert!(rebuild.detail.contains(": words"), "{}", rebuild.detail);
    let [lost] = report.lost.as_slice() else {
        panic!("{:#?}", report.lost)
    };
    assert_eq!(lost.table, "words");
    assert!(lost.rowids.is_empty() && lost.between.is_none());
    let read: usize = lost
        .detail
        .strip_prefix("a WITHOUT ROWID table: the rows after the first ")
        .and_then(|rest| rest.strip_suffix(" in key order could not be read"))
        .unwrap_or_else(|| panic!("{}", lost.detail))
        .parse()
        .unwrap();
    // What is left is exactly the first `read` words, and the damage cost some.
    let kept = s.column("SELECT word FROM words ORDER BY word");
    assert_eq!(kept, all[..read]);
    assert!(read > 0 && read < all.len(), "{read} of {}", all.len());
    assert_eq!(s.integrity(), ["ok"]);
}

/// When the rebuild recreates a partial UNIQUE index that damage let duplicates into, the
/// later duplicates it covers are quarantined; a row outside its WHERE clause stays.
#[test]
fn duplicates_under_a_partial_unique_index_are_quarantined_when_the_rebuild_recreates_it() {
    let s = Scene::new(&format!(
        "{READINGS}
         CREATE TABLE members (id INTEGER PRIMARY KEY, email TEXT NOT NULL, active INTEGER NOT NULL);
         CREATE UNIQUE INDEX members_email ON members (email) WHERE active;
         INSERT INTO members VALUES (1, 'a@x', 1), (2, 'b@x', 1), (3, 'c@x', 1), (4, 'a@x', 0);"
    ));
    // Rows written while the index covered nothing, so it never saw their keys.
    behind_the_schema(
        &s,
        "members_email",
        ("WHERE active", "WHERE 0"),
        "INSERT INTO members VALUES (5, 'b@x', 1), (6, 'c@x', 1), (7, 'c@x', 0)",
    );
    null_readings(&s);

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    assert_eq!(report.planned.first, [Rung::Rebuild]);
    let dups: Vec<_> = report
        .quarantined
        .iter()
        .filter(|q| q.table == "members")
        .collect();
    let [dups] = dups.as_slice() else {
        panic!("{:#?}", report.quarantined)
    };
    assert_eq!(
        dups.reason,
        "duplicate key under UNIQUE index members_email"
    );
    assert_eq!((dups.rowids.as_slice(), dups.rows), ([5, 6].as_slice(), 2));
    assert_eq!(
        s.integers("SELECT id FROM members ORDER BY id"),
        [1, 2, 3, 4, 7]
    );
    assert_eq!(
        s.integers("SELECT _migrate_rowid FROM _migrate_quarantine_members ORDER BY 1"),
        [5, 6]
    );
    // The index is back, and enforces again.
    assert!(
        s.conn()
            .execute("INSERT INTO members VALUES (8, 'a@x', 1)", [])
            .is_err()
    );
    assert_eq!(s.integrity(), ["ok"]);
}

/// A UNIQUE index on an expression cannot say which rows repeat a key, so a rebuild that
/// meets duplicates under one fails, and the latest backup is put in place instead.
#[test]
fn duplicates_under_a_unique_expression_index_fail_the_rebuild_and_the_backup_is_restored() {
    let s = Scene::new(&format!(
        "{READINGS}
         CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
         CREATE UNIQUE INDEX users_email ON users (lower(email));
         INSERT INTO users VALUES (1, 'ann@x'), (2, 'bob@x');"
    ));
    let id = s.back_up();
    behind_the_schema(
        &s,
        "users_email",
        ("(lower(email))", "(lower(email)) WHERE 0"),
        "INSERT INTO users VALUES (3, 'ANN@x')",
    );
    null_readings(&s);

    let report = s.repair();

    assert_eq!(
        rungs(&report),
        [(Rung::Rebuild, false), (Rung::RestoreBackup, true)]
    );
    let rebuild = action(&report, Rung::Rebuild);
    assert!(
        rebuild
            .detail
            .contains("recreating index users_email on users"),
        "{}",
        rebuild.detail
    );
    assert!(report.ok, "{report:#?}");
    let [lost] = report.lost.as_slice() else {
        panic!("{:#?}", report.lost)
    };
    assert_eq!(lost.table, "*");
    assert!(lost.detail.contains(&id), "{}", lost.detail);
    assert_eq!(s.integers("SELECT id FROM users ORDER BY id"), [1, 2]);
    assert_eq!(s.integer("SELECT value FROM readings WHERE id = 7"), 70);
    assert_eq!(s.integrity(), ["ok"]);
}

/// Orphans in a WITHOUT ROWID table cannot be addressed to be moved: quarantine says so, the
/// rebuilt copy still fails its check and is not used, and with no backup the repair reports
/// failure, having deleted nothing.
#[test]
fn orphans_in_a_without_rowid_table_cannot_be_moved_and_without_a_backup_the_repair_fails() {
    let s = Scene::new(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE owners (id INTEGER PRIMARY KEY);
         CREATE TABLE pets (owner INTEGER NOT NULL REFERENCES owners (id), name TEXT NOT NULL,
                            PRIMARY KEY (owner, name)) WITHOUT ROWID;
         INSERT INTO owners VALUES (1), (2);
         INSERT INTO pets VALUES (1, 'rex'), (2, 'tom'), (3, 'ghost');",
    );
    let before = std::fs::read(&s.db).unwrap();

    let report = s.repair();

    assert!(!report.ok, "{report:#?}");
    assert_eq!(
        rungs(&report),
        [
            (Rung::Quarantine, false),
            (Rung::Rebuild, false),
            (Rung::RestoreBackup, false)
        ]
    );
    let quarantine = action(&report, Rung::Quarantine);
    assert!(
        quarantine
            .detail
            .contains("1 orphan(s) in WITHOUT ROWID tables could not be moved"),
        "{}",
        quarantine.detail
    );
    let rebuild = action(&report, Rung::Rebuild);
    assert!(
        rebuild
            .detail
            .contains("the rebuilt copy still fails its check")
            && rebuild.detail.contains("pets")
            && rebuild.detail.ends_with("not used"),
        "{}",
        rebuild.detail
    );
    let restore = action(&report, Rung::RestoreBackup);
    assert!(
        restore
            .detail
            .contains("there is no backup that verifies in"),
        "{}",
        restore.detail
    );
    assert!(report.after.as_ref().is_some_and(|a| !a.ok));
    // Nothing was deleted; the file is as it was, and a copy of it was kept.
    assert_eq!(s.integer("SELECT count(*) FROM pets"), 3);
    assert_eq!(std::fs::read(&s.db).unwrap(), before);
    let copy = report.damaged_copy.as_ref().unwrap();
    assert_eq!(std::fs::read(copy).unwrap(), before);
}

/// Rows gone from a table while its index still lists them are evidence of lost rows: the
/// reindex refuses to erase that evidence, and the rebuild fetches the rows from the backup.
#[test]
fn rows_an_index_lists_but_its_table_lost_are_recovered_from_the_backup_not_reindexed_away() {
    let s = Scene::new(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL);
         CREATE INDEX orders_total ON orders (total);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 30)
           INSERT INTO orders SELECT x, 3 * x FROM n;",
    );
    let id = s.back_up();
    // Rows deleted while the index covered nothing, so their entries stay in it.
    behind_the_schema(
        &s,
        "orders_total",
        ("(total)", "(total) WHERE 0"),
        "DELETE FROM orders WHERE id IN (5, 6, 17)",
    );

    let report = s.repair();

    assert_eq!(report.planned.first, [Rung::Reindex]);
    assert_eq!(
        rungs(&report),
        [(Rung::Reindex, false), (Rung::Rebuild, true)]
    );
    assert_eq!(
        action(&report, Rung::Reindex).detail,
        "index orders_total lists 3 row(s) its table no longer has (row ids 5, 6, 17): the table itself is damaged"
    );
    assert!(report.ok, "{report:#?}");
    let [back] = report.recovered.as_slice() else {
        panic!("{:#?}", report.recovered)
    };
    assert_eq!(
        (
            back.table.as_str(),
            back.backup.as_str(),
            back.rowids.as_slice()
        ),
        ("orders", id.as_str(), [5, 6, 17].as_slice())
    );
    assert!(report.lost.is_empty(), "{:#?}", report.lost);
    assert_eq!(
        s.integer("SELECT count(*) FROM orders WHERE total = 3 * id"),
        30
    );
    assert_eq!(s.integrity(), ["ok"]);
}

/// A rebuild carries over what makes the file the same database: views, triggers, a full-text
/// table with its shadow tables, statistics, AUTOINCREMENT counters, header fields, WAL mode.
#[test]
fn a_rebuild_keeps_views_triggers_full_text_statistics_counters_and_settings() {
    let s = Scene::new(&format!(
        "{READINGS}
         PRAGMA journal_mode = WAL;
         PRAGMA user_version = 42;
         PRAGMA application_id = 7007;
         CREATE TABLE tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL);
         INSERT INTO tickets (title) VALUES ('first'), ('second'), ('third');
         DELETE FROM tickets WHERE id = 3;
         CREATE TABLE audit (ticket INTEGER, what TEXT);
         CREATE VIEW open_tickets AS SELECT id, title FROM tickets;
         CREATE TRIGGER tickets_audit AFTER INSERT ON tickets
           BEGIN INSERT INTO audit VALUES (new.id, 'created'); END;
         CREATE VIRTUAL TABLE docs USING fts5 (body);
         INSERT INTO docs (rowid, body) VALUES (1, 'a lantern in the fog'), (2, 'the quiet harbour');
         ANALYZE;"
    ));
    null_readings(&s);

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    assert_eq!(rungs(&report), [(Rung::Rebuild, true)]);
    assert_eq!(
        s.column("SELECT title FROM open_tickets ORDER BY id"),
        ["first", "second"]
    );
    assert_eq!(
        s.integers("SELECT rowid FROM docs WHERE docs MATCH 'lantern'"),
        [1]
    );
    assert!(s.integer("SELECT count(*) FROM sqlite_stat1") > 0);
    assert_eq!(s.integer("PRAGMA user_version"), 42);
    assert_eq!(s.integer("PRAGMA application_id"), 7007);
    assert_eq!(s.column("PRAGMA journal_mode"), ["wal"]);
    // The counter survived (3 is not reused), and the trigger fires again.
    s.run("INSERT INTO tickets (title) VALUES ('fourth')");
    assert_eq!(s.integer("SELECT max(id) FROM tickets"), 4);
    assert_eq!(
        s.column("SELECT ticket || ':' || what FROM audit"),
        ["4:created"]
    );
    assert_eq!(s.integrity(), ["ok"]);
}

/// A connection in the middle of a write holds the file: the repair does not put a rebuilt
/// copy under it (a rename would cut that connection off), it fails the step and says so,
/// leaving the database as it was.
#[test]
fn a_writer_holding_the_database_makes_the_install_fail_instead_of_renaming_under_it() {
    let s = Scene::new(READINGS);
    null_readings(&s);
    let before = std::fs::read(&s.db).unwrap();
    let writer = s.conn();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();

    let report = s.repair_waiting(Duration::from_millis(200));

    assert!(!report.ok, "{report:#?}");
    assert_eq!(
        rungs(&report),
        [(Rung::Rebuild, false), (Rung::RestoreBackup, false)]
    );
    let rebuild = action(&report, Rung::Rebuild);
    assert!(
        rebuild.detail.contains("could not lock")
            && rebuild.detail.contains("held by another connection"),
        "{}",
        rebuild.detail
    );
    writer.execute_batch("ROLLBACK").unwrap();
    drop(writer);
    assert_eq!(std::fs::read(&s.db).unwrap(), before);
    assert!(!scratch_path(&s.db).exists());
}

/// When the file the last resort would copy the backup into cannot be written, the step fails
/// naming that path, and the database is left as it was.
#[test]
fn a_backup_that_cannot_be_staged_beside_the_database_fails_the_restore_and_changes_nothing() {
    let s = Scene::new(READINGS);
    s.back_up();
    null_readings(&s);
    let before = std::fs::read(&s.db).unwrap();
    // Something that is not a file where the repair stages its work.
    let scratch = scratch_path(&s.db);
    std::fs::create_dir(&scratch).unwrap();

    let report = s.repair();

    assert!(!report.ok, "{report:#?}");
    assert_eq!(
        rungs(&report),
        [(Rung::Rebuild, false), (Rung::RestoreBackup, false)]
    );
    let restore = action(&report, Rung::RestoreBackup);
    assert!(
        restore.detail.contains(&scratch.display().to_string()),
        "{}",
        restore.detail
    );
    assert_eq!(std::fs::read(&s.db).unwrap(), before);
}

/// `<db>.repair.tmp`, where a repair writes the file it will put in place.
fn scratch_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.repair.tmp", db.display()))
}

/// A row its CHECK constraint rejects is reported by every check (quick or full, on one
/// connection or several), as it reports a NULL under NOT NULL: SQLite verifies CHECK
/// constraints only on a connection that may write, so the check opens one (with `query_only`
/// on) where it can. The check writes nothing: the file is the same bytes after it.
#[test]
fn a_row_its_check_constraint_rejects_is_found_by_every_check() {
    let s = Scene::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER CHECK (v > 0));
         INSERT INTO t VALUES (1, 5);",
    );
    s.run("PRAGMA ignore_check_constraints = ON; UPDATE t SET v = -5 WHERE id = 1;");
    assert_eq!(s.integrity(), ["CHECK constraint failed in t"]);
    let before = std::fs::read(&s.db).unwrap();

    for depth in [integrity::Depth::Quick, integrity::Depth::Full] {
        for workers in [1, 2] {
            let options = integrity::Options {
                workers,
                ..integrity::Options::new(depth)
            };
            let found = integrity::check(&s.db, &options).unwrap();
            assert!(!found.ok, "{depth:?} on {workers}: {found:#?}");
            assert!(
                found
                    .findings
                    .iter()
                    .any(|f| f.message.contains("CHECK constraint failed in t")),
                "{depth:?} on {workers}: {found:#?}"
            );
        }
    }
    assert_eq!(
        std::fs::read(&s.db).unwrap(),
        before,
        "a check writes nothing"
    );
}

/// A row of a WITHOUT ROWID table that its constraint rejects goes to quarantine (with no row
/// id to name it by); the rest of the table is copied, and nothing is reported lost.
#[test]
fn a_without_rowid_row_its_constraint_rejects_is_quarantined_and_the_rest_copied() {
    let s = Scene::new(
        "CREATE TABLE rates (code TEXT PRIMARY KEY, rate REAL NOT NULL) WITHOUT ROWID;
         INSERT INTO rates VALUES ('eur', 1.0), ('gbp', 0.85), ('usd', 1.1);",
    );
    behind_the_schema(
        &s,
        "rates",
        ("rate REAL NOT NULL", "rate REAL"),
        "UPDATE rates SET rate = NULL WHERE code = 'gbp'",
    );

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    assert!(report.lost.is_empty(), "{:#?}", report.lost);
    let [held] = report.quarantined.as_slice() else {
        panic!("{:#?}", report.quarantined)
    };
    assert_eq!(
        (held.table.as_str(), held.rowids.as_slice(), held.rows),
        ("rates", [].as_slice(), 1)
    );
    assert_eq!(
        s.column("SELECT code FROM rates ORDER BY code"),
        ["eur", "usd"]
    );
    assert_eq!(
        s.column(
            "SELECT code || ':' || ifnull(_migrate_rowid, 'none') FROM _migrate_quarantine_rates"
        ),
        ["gbp:none"]
    );
    assert_eq!(s.integrity(), ["ok"]);
}

/// A damaged table with no index to list its rows, and no backup: what could be read is kept,
/// and the report says rows may be missing anywhere in the table, without naming any.
#[test]
fn a_damaged_table_without_an_index_or_a_backup_reports_the_whole_table_as_the_gap() {
    let s = Scene::new(
        "CREATE TABLE events (at INTEGER NOT NULL, payload TEXT NOT NULL);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
           INSERT INTO events SELECT 1700000000 + x, 'event payload ' || x || ' ' || hex(x * 40503) FROM n;",
    );
    let leaves = s.integers(
        "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY path",
    );
    let page = leaves[leaves.len() / 2];
    let on_page = s.integer(&format!(
        "SELECT ncell FROM dbstat WHERE name = 'events' AND pageno = {page}"
    ));
    s.zero_page(page as usize);

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    let [lost] = report.lost.as_slice() else {
        panic!("{:#?}", report.lost)
    };
    assert_eq!(lost.table, "events");
    assert!(lost.rowids.is_empty());
    assert_eq!(
        lost.between,
        Some(repair::Gap::Between {
            after: None,
            before: None
        })
    );
    assert_eq!(
        lost.detail,
        "the table is damaged and has no index to list the rows it lost; there is no verified backup to fetch them from"
    );
    assert_eq!(report.lost_rows(), (0, true));
    // Exactly the rows of the zeroed page are gone: one run of consecutive row ids.
    let kept = s.integers("SELECT rowid FROM events ORDER BY rowid");
    assert_eq!(kept.len() as i64, 2000 - on_page);
    let missing: Vec<i64> = (1..=2000)
        .filter(|id| kept.binary_search(id).is_err())
        .collect();
    assert_eq!(missing.len() as i64, on_page);
    assert_eq!(missing.last().unwrap() - missing[0] + 1, on_page);
    assert_eq!(s.integrity(), ["ok"]);
}

/// A row lost from its table whose backup version today's schema rejects is quarantined with
/// the backup's values, and the report names it once, as quarantined.
#[test]
fn a_lost_row_whose_backup_version_the_schema_now_rejects_is_quarantined() {
    let s = Scene::new(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         CREATE INDEX notes_body ON notes (body);
         INSERT INTO notes VALUES (1, 'one'), (2, NULL), (3, 'three');",
    );
    s.back_up();
    // Since the backup, the NULL was filled in and the column made NOT NULL...
    s.run("UPDATE notes SET body = 'two' WHERE id = 2");
    edit_schema(&s, "notes", ("body TEXT", "body TEXT NOT NULL"));
    // ...then row 2 was lost from the table while its index entry stayed.
    behind_the_schema(
        &s,
        "notes_body",
        ("(body)", "(body) WHERE 0"),
        "DELETE FROM notes WHERE id = 2",
    );

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    let [held] = report.quarantined.as_slice() else {
        panic!("{:#?}", report.quarantined)
    };
    assert_eq!(
        (held.table.as_str(), held.rowids.as_slice()),
        ("notes", [2].as_slice())
    );
    assert_eq!(
        s.integers("SELECT _migrate_rowid FROM _migrate_quarantine_notes WHERE body IS NULL"),
        [2]
    );
    assert_eq!(s.integers("SELECT id FROM notes ORDER BY id"), [1, 3]);
    // Named once, as quarantined: not as back in the table, nor as lost, nor as absent.
    assert!(report.recovered.is_empty(), "{:#?}", report.recovered);
    assert!(report.lost.is_empty(), "{:#?}", report.lost);
    assert!(report.absent.is_empty(), "{:#?}", report.absent);
    assert_eq!(s.integrity(), ["ok"]);
}

/// A database whose header SQLite refuses to write into (its write version damaged) is
/// rebuilt, and the rebuilt file is renamed over it rather than copied into it.
#[test]
fn a_database_sqlite_will_not_write_is_rebuilt_and_renamed_into_place() {
    let s = Scene::new(READINGS);
    null_readings(&s);
    // Byte 18 of the header: the file format write version; 3 is one no SQLite writes.
    let mut bytes = std::fs::read(&s.db).unwrap();
    bytes[18] = 3;
    std::fs::write(&s.db, bytes).unwrap();

    let report = s.repair();

    assert!(report.ok, "{report:#?}");
    let rebuild = action(&report, Rung::Rebuild);
    assert!(
        rebuild.succeeded && rebuild.detail.ends_with("renamed over the database file (SQLite could not open the damaged file to write into it)"),
        "{}",
        rebuild.detail
    );
    assert_eq!(std::fs::read(&s.db).unwrap()[18], 1);
    s.run("INSERT INTO readings VALUES (30, 300)");
    assert_eq!(s.integrity(), ["ok"]);
}
