//! The differential campaign: random damage, judged by SQLite itself.
//!
//! Each case copies a migrated database (rowid and WITHOUT ROWID tables, UNIQUE, partial and
//! expression indexes, foreign keys, overflow pages, a freelist) and damages it at random: bytes
//! flipped at random offsets, a page zeroed, filled with noise or swapped with another, the file
//! truncated, the freelist trunk or a header field damaged, WAL frames torn or flipped. Nothing
//! aims at a message this crate knows. Then SQLite's own `quick_check` and `integrity_check`
//! (a fresh read-only connection, its answer taken as it is) give the verdict, and ours must
//! agree wherever SQLite calls the file damaged: at the same depth, on one connection and on
//! two, whole and table by table. Where `quick_check` calls it damaged, `migrate up` must
//! refuse with exit 6 and leave the files byte for byte as they were. The repair ladder then
//! runs on it, and every row of the ground truth must be back at its value, in quarantine, or
//! named by the report (as lost, or as restored at an older value from the backup).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use belay_migrate::backup::{self, CreateOptions};
use belay_migrate::integrity::repair::{self, Mode, RepairReport};
use belay_migrate::integrity::{self, Depth, ForeignKeys, Options};
use rusqlite::{Connection, OpenFlags};

use crate::corrupt::Rng;

/// The kinds of random damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Damage {
    /// 1 to 16 bytes flipped at random offsets anywhere in the file.
    FlippedBytes,
    /// One page (page 1 included) overwritten with zeros.
    ZeroedPage,
    /// One page overwritten with random bytes.
    NoisePage,
    /// Two pages swapped.
    SwappedPages,
    /// The file cut at a random length.
    Truncated,
    /// The freelist trunk page's bytes, or the header's pointer to it, damaged.
    FreelistTrunk,
    /// One field of the 100-byte header set to a random value.
    HeaderField,
    /// In WAL mode with transactions not yet checkpointed: the WAL cut or flipped inside them.
    TornWal,
}

impl Damage {
    pub const ALL: [Damage; 8] = [
        Damage::FlippedBytes,
        Damage::ZeroedPage,
        Damage::NoisePage,
        Damage::SwappedPages,
        Damage::Truncated,
        Damage::FreelistTrunk,
        Damage::HeaderField,
        Damage::TornWal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Damage::FlippedBytes => "flipped bytes",
            Damage::ZeroedPage => "zeroed page",
            Damage::NoisePage => "page of noise",
            Damage::SwappedPages => "swapped pages",
            Damage::Truncated => "truncated file",
            Damage::FreelistTrunk => "freelist trunk",
            Damage::HeaderField => "header field",
            Damage::TornWal => "torn/flipped WAL",
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT,
                       balance REAL NOT NULL DEFAULT 0 CHECK (balance > -1000));
CREATE TABLE orders (id INTEGER PRIMARY KEY,
                     account_id INTEGER NOT NULL REFERENCES accounts (id),
                     total INTEGER NOT NULL, note TEXT);
CREATE INDEX orders_account ON orders (account_id);
CREATE INDEX orders_big ON orders (total) WHERE total > 5000;
CREATE INDEX orders_note ON orders (lower(note));
CREATE TABLE tags (name TEXT PRIMARY KEY COLLATE NOCASE, weight INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX tags_weight ON tags (weight);
CREATE TABLE events (at INTEGER, payload TEXT);
";

const DATA: &str = "
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 700)
  INSERT INTO accounts SELECT x, 'a' || x || '@example.com', 'account ' || x, x % 97 FROM n;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2500)
  INSERT INTO orders SELECT x, 1 + (x * 7) % 700, x * 13 % 10000,
                            'Note ' || x || ' ' || substr(hex(x * 2654435761), 1, 24) FROM n;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 400)
  INSERT INTO tags SELECT 'tag-' || x, x % 31 FROM n;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300)
  INSERT INTO events SELECT 1700000000 + x,
    CASE WHEN x % 25 = 0 THEN hex(zeroblob(3000)) ELSE 'event ' || x END FROM n;
DELETE FROM events WHERE rowid BETWEEN 100 AND 220;
";

/// Run after the template's backup: rows whose newest values only the damaged file holds, so a
/// repair that brings them back from the backup brings back older values.
const AFTER_BACKUP: &str = "UPDATE orders SET total = total + 1 WHERE id % 61 = 0;";

/// The pending migration `up` is asked to apply.
const PENDING: &str = "ALTER TABLE accounts ADD COLUMN tier TEXT;";

/// The rowid tables of the template, with the columns their truth compares.
const TABLES: [(&str, &str); 3] = [
    ("accounts", "id, email, name, balance"),
    ("orders", "id, account_id, total, note"),
    ("events", "at, payload"),
];

/// A migrated database at version 1 with data and a backup, copied for every case.
pub struct Template {
    dir: tempfile::TempDir,
    truth: Truth,
    pages: usize,
}

/// Rows by table, each row by row id, as the bytes of its `quote()`d values (bytes: damage can
/// leave text that is not UTF-8).
pub type Truth = BTreeMap<String, BTreeMap<i64, Vec<u8>>>;

impl Template {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        std::fs::write(migrations.join("0001_schema.up.sql"), SCHEMA).unwrap();
        let db = dir.path().join("app.db");
        crate::migrate_command()
            .arg("--db")
            .arg(&db)
            .arg("--migrations")
            .arg(&migrations)
            .args(["-q", "up"])
            .status()
            .unwrap();
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(DATA).unwrap();
        drop(conn);
        backup::create(
            &db,
            &backup::default_dir(&db),
            &CreateOptions::default(),
            &mut |_| {},
        )
        .unwrap();
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(AFTER_BACKUP).unwrap();
        drop(conn);
        std::fs::write(migrations.join("0002_tier.up.sql"), PENDING).unwrap();
        let truth = truth(&db).unwrap();
        let pages = (std::fs::metadata(&db).unwrap().len() / 4096) as usize;
        Template { dir, truth, pages }
    }

    fn copy_to(&self, to: &Path) {
        crate::copy_tree(self.dir.path(), to);
    }
}

impl Default for Template {
    fn default() -> Self {
        Self::new()
    }
}

fn truth(db: &Path) -> rusqlite::Result<Truth> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    TABLES
        .iter()
        .map(|(t, _)| Ok(((*t).to_owned(), rows(&conn, t, "rowid")?)))
        .collect()
}

fn rows(conn: &Connection, table: &str, key: &str) -> rusqlite::Result<BTreeMap<i64, Vec<u8>>> {
    let base = table.strip_prefix("_migrate_quarantine_").unwrap_or(table);
    let columns = TABLES.iter().find(|(t, _)| *t == base).map_or("*", |c| c.1);
    let values = columns
        .split(", ")
        .map(|c| format!("quote({c})"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let mut stmt = conn.prepare(&format!(
        "SELECT {key}, CAST({values} AS BLOB) FROM \"{table}\""
    ))?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// SQLite's verdict: its answer to `pragma` on a fresh connection that may write (as the
/// application's does, so that CHECK constraints are verified too), with `query_only` on, is
/// exactly `ok`.
pub fn sqlite_says_ok(db: &Path, pragma: &str) -> bool {
    let answer = || -> rusqlite::Result<Vec<String>> {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.pragma_update(None, "query_only", true)?;
        let mut stmt = conn.prepare(&format!("PRAGMA {pragma}"))?;
        stmt.query_map([], |r| r.get(0))?.collect()
    };
    matches!(answer(), Ok(rows) if rows == ["ok"])
}

/// What one case showed.
#[derive(Debug, Clone, Default)]
pub struct Case {
    pub damage: Option<Damage>,
    pub seed: u64,
    pub description: String,
    /// SQLite's `quick_check` / `integrity_check` did not say `ok`.
    pub sqlite_quick_damaged: bool,
    pub sqlite_full_damaged: bool,
    /// Checks of ours that reported no damage where SQLite's check of the same depth (and
    /// scope) reported some, by name.
    pub missed: Vec<String>,
    /// Checks of ours that reported damage where SQLite said `ok` at the same depth.
    pub extra: Vec<String>,
    /// Checks of ours that gave no verdict (could not check), with what stopped them: never
    /// ok, and counted apart from damage.
    pub unchecked: Vec<String>,
    /// Where SQLite's quick check called the file damaged: `up`'s exit code, and whether the
    /// files were left byte for byte as they were.
    pub up: Option<(i32, bool)>,
    /// The repair's outcome, when it ran.
    pub repair: Option<RepairOutcome>,
}

impl Case {
    /// Whether `up` refused the damaged file as it must: the files byte for byte as they were,
    /// with exit 6 where our quick check called it damaged, or the code of what stopped it
    /// (1 to 3) where it gave no verdict. True when `up` did not run.
    pub fn up_refused_rightly(&self) -> bool {
        let no_verdict = self.unchecked.iter().any(|u| u.starts_with("quick:"));
        self.up.is_none_or(|(code, unchanged)| {
            unchanged && (code == 6 || (no_verdict && matches!(code, 1..=3)))
        })
    }
}

/// What the repair ladder made of a damaged case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairOutcome {
    /// The database checks clean afterwards.
    pub ok: bool,
    /// Truth rows neither back at their value nor in quarantine, nor holding the value the
    /// damaged file itself gave (a value changed in place, which no check can see).
    pub missing_or_changed: usize,
    /// Of those, how many the report names (lost, restored at an older value, or in a table
    /// read back from a damaged b-tree).
    pub named: usize,
    /// Rows the report says it restored from the backup (at the backup's values).
    pub restored_from_backup: usize,
    /// The report said "none lost" although rows are missing or older, or rows came from the
    /// backup: never allowed.
    pub claimed_none_lost_wrongly: bool,
}

impl RepairOutcome {
    pub fn class(&self) -> &'static str {
        match (self.ok, self.missing_or_changed) {
            (true, 0) => "repaired",
            (true, _) => "repaired, rows reported",
            (false, _) => "refused (damage remains)",
        }
    }
}

/// Runs one case of `damage` with `seed` on a copy of `template`. `with_repair` also runs the
/// repair ladder on it when SQLite calls it damaged.
pub fn case(template: &Template, damage: Damage, seed: u64, with_repair: bool) -> Case {
    let dir = tempfile::tempdir().unwrap();
    template.copy_to(dir.path());
    let db = dir.path().join("app.db");
    let mut rng = Rng::new(seed.wrapping_mul(31) ^ ((damage as u64) << 40));
    let description = inject(damage, &db, template.pages, &mut rng);
    let mut case = Case {
        damage: Some(damage),
        seed,
        description,
        ..Case::default()
    };
    if let Some(keep) = std::env::var_os("MIGRATE_DIFF_KEEP") {
        // Keeps each damaged database for a closer look.
        crate::copy_tree(
            dir.path(),
            &Path::new(&keep).join(format!("{damage:?}-{seed}")),
        );
    }
    case.sqlite_quick_damaged = !sqlite_says_ok(&db, "quick_check");
    case.sqlite_full_damaged = !sqlite_says_ok(&db, "integrity_check");
    let ours = |(depth, workers): (Depth, usize), tables: Vec<String>, foreign_keys| {
        let report = integrity::check(
            &db,
            &Options {
                depth,
                tables,
                workers,
                busy_timeout: Duration::from_secs(5),
                foreign_keys,
            },
        );
        // A check that cannot run at all on a damaged file is no verdict of "ok".
        match report {
            Ok(r) if r.damage > 0 => Ours::Damaged,
            Ok(r) => match r.obstacle {
                Some(o) => Ours::Unchecked(format!("{o:?}")),
                None => Ours::Ok,
            },
            Err(e) => Ours::Unchecked(e.to_string()),
        }
    };
    let checked = ForeignKeys::Checked;
    for (name, depth, workers, foreign_keys, sqlite_damaged) in [
        ("quick", Depth::Quick, 1, checked, case.sqlite_quick_damaged),
        (
            "quick --jobs 2",
            Depth::Quick,
            2,
            checked,
            case.sqlite_quick_damaged,
        ),
        // The run's pre-flight: the structure alone, its foreign keys left to the run.
        (
            "pre-flight",
            Depth::Quick,
            2,
            ForeignKeys::Skipped,
            case.sqlite_quick_damaged,
        ),
        ("full", Depth::Full, 1, checked, case.sqlite_full_damaged),
        (
            "full --jobs 2",
            Depth::Full,
            2,
            checked,
            case.sqlite_full_damaged,
        ),
    ] {
        judge(
            &mut case,
            name,
            sqlite_damaged,
            ours((depth, workers), Vec::new(), foreign_keys),
        );
    }
    // Table by table, against SQLite's check of that table alone.
    let (table, _) = TABLES[rng.below(TABLES.len())];
    let sqlite_table_damaged = !sqlite_says_ok(&db, &format!("quick_check({table})"));
    judge(
        &mut case,
        "quick --table",
        sqlite_table_damaged,
        // A table the damaged schema no longer lists is damage to it (our check refuses an
        // unknown table name as a usage error).
        if table_exists(&db, table) {
            ours((Depth::Quick, 1), vec![table.to_owned()], checked)
        } else {
            Ours::Damaged
        },
    );
    if case.sqlite_quick_damaged {
        let before = snapshot(&db);
        let run = crate::migrate_command()
            .arg("--db")
            .arg(&db)
            .arg("--migrations")
            .arg(dir.path().join("migrations"))
            .args(["--lock-timeout", "5", "up"])
            .output()
            .unwrap();
        let unchanged = snapshot(&db) == before;
        if std::env::var_os("MIGRATE_DIFF_VERBOSE").is_some() {
            eprintln!(
                "{damage:?} {seed}: up exit {:?}: {}",
                run.status.code(),
                String::from_utf8_lossy(&run.stderr)
            );
        }
        case.up = Some((run.status.code().unwrap_or(-1), unchanged));
    }
    if with_repair && (case.sqlite_quick_damaged || case.sqlite_full_damaged) {
        case.repair = Some(repair_and_account(&db, &template.truth));
    }
    case
}

/// What one check of ours said.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ours {
    Ok,
    Damaged,
    /// No verdict, and why.
    Unchecked(String),
}

fn judge(case: &mut Case, name: &str, sqlite_damaged: bool, ours: Ours) {
    match (sqlite_damaged, ours) {
        (true, Ours::Ok) => case.missed.push(name.to_owned()),
        (false, Ours::Damaged) => case.extra.push(name.to_owned()),
        (_, Ours::Unchecked(why)) => case.unchecked.push(format!("{name}: {why}")),
        _ => {}
    }
}

fn table_exists(db: &Path, table: &str) -> bool {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = ?1",
                [table],
                |r| r.get::<_, i64>(0),
            )
        })
        .is_ok_and(|n| n == 1)
}

/// The bytes of the database and its WAL (not the `-shm` index, which readers rebuild).
fn snapshot(db: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    (
        std::fs::read(db).unwrap(),
        std::fs::read(crate::sibling(db, "-wal")).ok(),
    )
}

fn repair_and_account(db: &Path, truth: &Truth) -> RepairOutcome {
    let damaged = readable_rows(db);
    let report = repair::repair(
        db,
        &repair::Options {
            backup_dir: None,
            busy_timeout: Duration::from_secs(5),
            mode: Mode::Repair,
        },
    );
    let Ok(report) = report else {
        return RepairOutcome::default();
    };
    account(db, (truth, &damaged), &report)
}

/// What each table of the damaged file still gives back, table by table, row by row where a
/// whole read fails part-way (best effort: nothing, for what cannot be read).
fn readable_rows(db: &Path) -> Truth {
    let Ok(conn) = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return Truth::new();
    };
    TABLES
        .iter()
        .map(|(t, _)| ((*t).to_owned(), rows(&conn, t, "rowid").unwrap_or_default()))
        .collect()
}

fn account(db: &Path, (truth, damaged): (&Truth, &Truth), report: &RepairReport) -> RepairOutcome {
    let mut outcome = RepairOutcome {
        ok: report.ok,
        restored_from_backup: report.recovered.iter().map(|r| r.rowids.len()).sum(),
        ..RepairOutcome::default()
    };
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok();
    for (table, want) in truth {
        let have = conn
            .as_ref()
            .and_then(|c| rows(c, table, "rowid").ok())
            .unwrap_or_default();
        let held = conn
            .as_ref()
            .and_then(|c| rows(c, &repair::quarantine_table(table), "_migrate_rowid").ok())
            .unwrap_or_default();
        let gave = damaged.get(table);
        for (rowid, row) in want {
            if have.get(rowid) == Some(row) || held.get(rowid) == Some(row) {
                continue;
            }
            let in_place =
                have.contains_key(rowid) && gave.and_then(|g| g.get(rowid)) == have.get(rowid);
            if in_place {
                continue;
            }
            outcome.missing_or_changed += 1;
            let named = report.lost.iter().any(|l| {
                l.table == "*"
                    || (&l.table == table
                        && (l.rowids.contains(rowid)
                            || l.between.is_some_and(|g| g.contains(*rowid))))
            }) || report
                .recovered
                .iter()
                .any(|r| &r.table == table && r.rowids.contains(rowid))
                || report
                    .quarantined
                    .iter()
                    .any(|q| &q.table == table && q.rowids.contains(rowid))
                || report.unverified.iter().any(|u| &u.table == table)
                || report
                    .absent
                    .iter()
                    .any(|a| &a.table == table && a.rowids.contains(rowid));
            if named {
                outcome.named += 1;
            }
        }
    }
    outcome.claimed_none_lost_wrongly = report.ok
        && report.lost.is_empty()
        && report.recovered.is_empty()
        && report.unverified.is_empty()
        && report.absent.is_empty()
        && outcome.missing_or_changed > 0;
    outcome
}

/// Damages the database at `db` (of about `pages` pages of 4 KiB) and says how.
fn inject(damage: Damage, db: &Path, pages: usize, rng: &mut Rng) -> String {
    const PAGE: usize = 4096;
    let mut bytes = std::fs::read(db).unwrap();
    let page_of = |rng: &mut Rng| rng.below(pages.max(1));
    let description = match damage {
        Damage::FlippedBytes => {
            let n = 1 + rng.below(16);
            let mut at = Vec::new();
            for _ in 0..n {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 + rng.below(255) as u8;
                at.push(i);
            }
            format!("{n} byte(s) flipped at {at:?}")
        }
        Damage::ZeroedPage => {
            let p = page_of(rng);
            bytes[p * PAGE..(p + 1) * PAGE].fill(0);
            format!("page {} zeroed", p + 1)
        }
        Damage::NoisePage => {
            let p = page_of(rng);
            let from = p * PAGE + rng.below(PAGE / 2);
            let to = from + 1 + rng.below((p + 1) * PAGE - from - 1);
            for b in &mut bytes[from..to] {
                *b = rng.next_u64() as u8;
            }
            format!(
                "page {} bytes {}..{} random",
                p + 1,
                from % PAGE,
                to - p * PAGE
            )
        }
        Damage::SwappedPages => {
            let (a, b) = (page_of(rng), page_of(rng));
            if a != b {
                let copy = bytes[a * PAGE..(a + 1) * PAGE].to_vec();
                bytes.copy_within(b * PAGE..(b + 1) * PAGE, a * PAGE);
                bytes[b * PAGE..(b + 1) * PAGE].copy_from_slice(&copy);
            }
            format!("pages {} and {} swapped", a + 1, b + 1)
        }
        Damage::Truncated => {
            let len = rng.below(bytes.len());
            let len = if rng.below(2) == 0 {
                len / PAGE * PAGE
            } else {
                len
            };
            bytes.truncate(len);
            format!("cut at byte {len}")
        }
        Damage::FreelistTrunk => {
            let trunk = u32::from_be_bytes(bytes[32..36].try_into().unwrap()) as usize;
            if trunk == 0 || rng.below(3) == 0 || trunk > pages {
                let value = rng.next_u64() as u32 % (pages as u32 + 4);
                bytes[32..36].copy_from_slice(&value.to_be_bytes());
                format!("freelist trunk pointer set to {value} (was {trunk})")
            } else {
                let base = (trunk - 1) * PAGE;
                let at = base + rng.below(64);
                for b in &mut bytes[at..at + 4] {
                    *b = rng.next_u64() as u8;
                }
                format!(
                    "freelist trunk page {trunk} bytes {}..{} random",
                    at - base,
                    at - base + 4
                )
            }
        }
        Damage::HeaderField => {
            // Offsets of the header's fields (16: page size ... 96: version), page 1.
            const FIELDS: [(usize, usize); 14] = [
                (16, 2),
                (18, 1),
                (19, 1),
                (20, 1),
                (21, 1),
                (22, 1),
                (23, 1),
                (28, 4),
                (36, 4),
                (40, 4),
                (44, 4),
                (52, 4),
                (56, 4),
                (64, 4),
            ];
            let (at, len) = FIELDS[rng.below(FIELDS.len())];
            for b in &mut bytes[at..at + len] {
                *b = rng.next_u64() as u8;
            }
            format!("header bytes {at}..{} random", at + len)
        }
        Damage::TornWal => return tear_wal(db, rng),
    };
    std::fs::write(db, bytes).unwrap();
    description
}

/// Puts the database in WAL mode with transactions the WAL alone holds, then cuts the WAL
/// inside them or flips bytes in it, as a crash or a bad disk would leave it.
fn tear_wal(db: &Path, rng: &mut Rng) -> String {
    let conn = Connection::open(db).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    conn.execute_batch(
        "PRAGMA wal_autocheckpoint = 0;
         UPDATE orders SET note = note || ' (edited)' WHERE id % 9 = 0;
         INSERT INTO events (at, payload) SELECT at + 1, payload FROM events WHERE rowid < 60;
         DELETE FROM tags WHERE weight = 3;",
    )
    .unwrap();
    let wal = crate::sibling(db, "-wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let main = std::fs::read(db).unwrap();
    drop(conn);
    std::fs::write(db, main).unwrap();
    let _ = std::fs::remove_file(crate::sibling(db, "-shm"));
    let description = if rng.below(2) == 0 {
        let cut = 32 + rng.below(bytes.len() - 32);
        bytes.truncate(cut);
        format!("WAL cut at byte {cut}")
    } else {
        let n = 1 + rng.below(8);
        for _ in 0..n {
            let i = rng.below(bytes.len());
            bytes[i] ^= 1 + rng.below(255) as u8;
        }
        format!("{n} byte(s) of the WAL flipped")
    };
    std::fs::write(&wal, bytes).unwrap();
    description
}

/// Counts for one kind of damage.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub cases: usize,
    pub sqlite_quick_damaged: usize,
    pub sqlite_full_damaged: usize,
    pub missed: usize,
    pub extra: usize,
    pub unchecked: usize,
    pub up_refused_unchanged: usize,
    pub up_other: usize,
    pub repaired: usize,
    pub repaired_reported: usize,
    pub refused: usize,
    pub rows_unreported: usize,
}

impl Totals {
    fn add(&mut self, t: &Totals) {
        let fields = [
            (&mut self.cases, t.cases),
            (&mut self.sqlite_quick_damaged, t.sqlite_quick_damaged),
            (&mut self.sqlite_full_damaged, t.sqlite_full_damaged),
            (&mut self.missed, t.missed),
            (&mut self.extra, t.extra),
            (&mut self.unchecked, t.unchecked),
            (&mut self.up_refused_unchanged, t.up_refused_unchanged),
            (&mut self.up_other, t.up_other),
            (&mut self.repaired, t.repaired),
            (&mut self.repaired_reported, t.repaired_reported),
            (&mut self.refused, t.refused),
            (&mut self.rows_unreported, t.rows_unreported),
        ];
        for (sum, n) in fields {
            *sum += n;
        }
    }
}

/// Runs `per_kind` seeds of every kind of damage; the repair ladder on every `repair_every`-th
/// damaged case (0: never).
pub fn run(per_kind: u64, repair_every: u64) -> (Vec<Case>, BTreeMap<Damage, Totals>) {
    let template = Template::new();
    let mut cases = Vec::new();
    let mut totals: BTreeMap<Damage, Totals> = BTreeMap::new();
    for damage in Damage::ALL {
        for seed in 0..per_kind {
            let with_repair = repair_every > 0 && seed % repair_every == 0;
            let c = case(&template, damage, seed, with_repair);
            let t = totals.entry(damage).or_default();
            t.cases += 1;
            t.sqlite_quick_damaged += usize::from(c.sqlite_quick_damaged);
            t.sqlite_full_damaged += usize::from(c.sqlite_full_damaged);
            t.missed += usize::from(!c.missed.is_empty());
            t.extra += usize::from(!c.extra.is_empty());
            t.unchecked += usize::from(!c.unchecked.is_empty());
            match c.up {
                Some((6, true)) => t.up_refused_unchanged += 1,
                Some(_) => t.up_other += 1,
                None => {}
            }
            if let Some(r) = &c.repair {
                match r.class() {
                    "repaired" => t.repaired += 1,
                    "repaired, rows reported" => t.repaired_reported += 1,
                    _ => t.refused += 1,
                }
                t.rows_unreported += r.missing_or_changed - r.named;
            }
            cases.push(c);
        }
    }
    (cases, totals)
}

/// The totals as a markdown table.
pub fn table(totals: &BTreeMap<Damage, Totals>) -> String {
    let mut out = String::from(
        "| damage | cases | SQLite: quick damaged | SQLite: full damaged | we said ok (missed) | we said damaged, SQLite ok | we could not check | `up` exit 6, files unchanged | `up` otherwise | repaired | repaired, rows reported | not repaired | rows unreported |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut sum = Totals::default();
    for (damage, t) in totals {
        row(&mut out, damage.name(), t);
        sum.add(t);
    }
    row(&mut out, "**all**", &sum);
    out
}

fn row(out: &mut String, name: &str, t: &Totals) {
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        t.cases,
        t.sqlite_quick_damaged,
        t.sqlite_full_damaged,
        t.missed,
        t.extra,
        t.unchecked,
        t.up_refused_unchanged,
        t.up_other,
        t.repaired,
        t.repaired_reported,
        t.refused,
        t.rows_unreported
    );
}
