//! A live application beside every run: the application process (`tests/examples/app_writer.rs`)
//! commits rows into `notes` and prints each id only after its COMMIT returned, the ground
//! truth of what must survive. The campaign ([`case`], [`run`]) draws seeded cases: a journal
//! mode, a run mode (one transaction, `--per-migration`, a no-transaction file), and an event
//! (a failure of each kind, or a SIGKILL at a random moment followed by the next run), and
//! checks after each: every acknowledged row present, the schema at a whole version (or a
//! no-transaction file part-way only where the report says so), no lock left, and the exit
//! codes SPEC.md gives.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::corrupt::Rng;
use crate::{Run, Scratch, count, example_bin};

/// The database's journal mode for a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    Rollback,
    Wal,
}

/// A scratch database migrated to version 1 (`notes`, `big` and `extra_tables`), in `journal`
/// mode, with `migrations` (name, SQL) written for the run to come.
pub fn app_database(journal: Journal, extra_tables: &str, migrations: &[(&str, &str)]) -> Scratch {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_notes.up.sql"),
        format!(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL); CREATE TABLE big (x);{extra_tables}"
        ),
    )
    .unwrap();
    s.migrate(&["-q", "up"]).expect(0);
    if journal == Journal::Wal {
        s.conn()
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
    }
    for (name, sql) in migrations {
        std::fs::write(s.migrations().join(name), sql).unwrap();
    }
    s
}

/// `INSERT` of `rows` rows into `table`: a migration that takes a while.
pub fn fill_table(table: &str, rows: u64) -> String {
    format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows})
           INSERT INTO {table} SELECT x FROM c;"
    )
}

/// The application process, committing until stopped.
pub struct App {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl App {
    /// Starts it, once it has committed its first row.
    pub fn start(s: &Scratch) -> Self {
        Self::start_on(&s.db())
    }

    /// Starts it on the database at `db` (which has `notes`), once it has committed its
    /// first row.
    pub fn start_on(db: &std::path::Path) -> Self {
        let mut child = Command::new(example_bin("app_writer"))
            .arg(db)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        App { child, lines }
    }

    /// Stops it and returns the ids of every row it saw committed.
    pub fn stop(mut self) -> Vec<i64> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.lines
            .map_while(Result::ok)
            .filter_map(|l| l.parse().ok())
            .collect()
    }
}

/// `migrate ARGS` on `s` in the background, its output readable (`wait_with_output`).
pub fn spawn_migrate(s: &Scratch, args: &[&str]) -> Child {
    crate::migrate_command()
        .arg("--db")
        .arg(s.db())
        .arg("--migrations")
        .arg(s.migrations())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The acknowledged `ids` that are not in `notes`.
pub fn lost(s: &Scratch, ids: &[i64]) -> Vec<i64> {
    lost_in(&s.db(), ids)
}

/// The acknowledged `ids` that are not in `notes` of the database at `db`.
pub fn lost_in(db: &std::path::Path, ids: &[i64]) -> Vec<i64> {
    let present: std::collections::HashSet<i64> = rusqlite::Connection::open(db)
        .unwrap()
        .prepare("SELECT id FROM notes")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids.iter()
        .copied()
        .filter(|id| !present.contains(id))
        .collect()
}

/// How the run groups its migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    OneTransaction,
    PerMigration,
    /// Migration 3 is a `-- migrate:no-transaction` file.
    NoTransaction,
}

/// How migration 3 fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Statement,
    Verify,
    ForeignKey,
    Integrity,
}

/// Whether the application writes after the run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App2 {
    /// It keeps committing through the run, the kill and the next run.
    Writes,
    /// It stops as the run starts (so a restore can be proven) and writes again only after.
    Quiet,
}

/// What happens to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Migration 3 fails; then it is fixed and the next run goes on where SPEC.md says it may.
    Fail(Failure),
    /// The run is SIGKILLed `after_ms` after it started; then the next run.
    Kill { after_ms: u64 },
}

/// One case of the campaign.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub seed: u64,
    pub journal: Journal,
    pub mode: Mode,
    pub event: Event,
    pub app: App2,
}

/// The case `seed` names.
pub fn case(seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let journal = *rng.pick(&[Journal::Rollback, Journal::Wal]);
    let mode = *rng.pick(&[
        Mode::OneTransaction,
        Mode::PerMigration,
        Mode::NoTransaction,
    ]);
    let event = if rng.below(2) == 0 {
        Event::Fail(*rng.pick(&[
            Failure::Statement,
            Failure::Verify,
            Failure::ForeignKey,
            Failure::Integrity,
        ]))
    } else {
        Event::Kill {
            after_ms: rng.below(800) as u64,
        }
    };
    let app = if rng.below(3) == 0 {
        App2::Quiet
    } else {
        App2::Writes
    };
    Case {
        seed,
        journal,
        mode,
        event,
        app,
    }
}

const T2_ROWS: u64 = 100_000;
const T3_ROWS: u64 = 1_000_000;

/// Migration 3 as written for the case: failing, or slow (two statements, each a commit of
/// its own in a no-transaction file).
fn migration_3(case: &Case) -> (String, Option<&'static str>) {
    let header = match case.mode {
        Mode::NoTransaction => "-- migrate:no-transaction\n",
        _ => "",
    };
    let fill = fill_table("t3", T3_ROWS);
    let (body, verify) = match case.event {
        Event::Kill { .. } => (format!("CREATE TABLE t3 (x);\n{fill}\n{fill}"), None),
        Event::Fail(Failure::Statement) => (
            format!("CREATE TABLE t3 (x);\n{fill}\nSELECT * FROM missing;"),
            None,
        ),
        Event::Fail(Failure::Verify) => ("CREATE TABLE t3 (x);".to_owned(), Some("SELECT 0;")),
        Event::Fail(Failure::ForeignKey) => (
            "CREATE TABLE t3 (id INTEGER PRIMARY KEY, note_id INTEGER REFERENCES notes (id));
             INSERT INTO t3 VALUES (1, 999999999);"
                .to_owned(),
            None,
        ),
        Event::Fail(Failure::Integrity) => (
            "CREATE TABLE t3 (x);
             CREATE INDEX notes_body ON notes (body);
             PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = replace(sql, 'notes (body)', 'notes (id, body)')
              WHERE name = 'notes_body';
             PRAGMA writable_schema = OFF;"
                .to_owned(),
            None,
        ),
    };
    (format!("{header}{body}"), verify)
}

/// What a case saw, for the tally.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What happened, in a few words: `rolled back`, `restored`, `refused (exit 7)`, ...
    pub label: String,
    /// Whether a later run continued from a consistent version.
    pub resumed: bool,
    /// Rows the application saw committed, every one checked.
    pub rows: usize,
}

/// Runs `case` and checks every invariant, panicking with the seed on any breach.
pub fn run(case: &Case) -> Outcome {
    let (m3, verify) = migration_3(case);
    let s = app_database(
        case.journal,
        "",
        &[
            (
                "0002_t2.up.sql",
                &format!("CREATE TABLE t2 (x);\n{}", fill_table("t2", T2_ROWS)),
            ),
            ("0003_t3.up.sql", &m3),
            ("0004_t4.up.sql", "CREATE TABLE t4 (x);"),
        ],
    );
    if let Some(v) = verify {
        std::fs::write(s.migrations().join("0003_t3.verify.sql"), v).unwrap();
    }
    let what = format!("case {case:?}");
    let mut args = vec!["--json", "up"];
    if case.mode == Mode::PerMigration {
        args.push("--per-migration");
    }
    let mut acknowledged = Vec::new();
    let mut app = Some(App::start(&s));
    if case.app == App2::Quiet {
        acknowledged.extend(app.take().unwrap().stop());
    }
    let first = match case.event {
        Event::Fail(_) => {
            let out = spawn_migrate(&s, &args).wait_with_output().unwrap();
            Some(Run::from(out))
        }
        Event::Kill { after_ms } => {
            let mut child = spawn_migrate(&s, &args);
            std::thread::sleep(Duration::from_millis(after_ms));
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            // A run that finished before the signal is an ordinary run.
            out.status.code().map(|_| Run::from(out))
        }
    };
    // The application writes between the first run and the next (in a quiet case, only
    // after the next run has decided).
    std::thread::sleep(Duration::from_millis(30));
    let mut label;
    let mut resumed = false;
    let mut part_way = false;
    match (case.event, &first) {
        (Event::Fail(_), Some(run)) => {
            let doc = run.json();
            let state = doc["error"]["report"]["database"]["state"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            match (case.mode, run.code, state.as_str()) {
                (Mode::OneTransaction, 5, "unchanged") => label = "rolled back".to_owned(),
                (Mode::OneTransaction, code, state) => {
                    panic!("{what}: a one-transaction run exits 5, unchanged: {code} {state}")
                }
                (_, 5, "restored") => label = "restored (exit 5)".to_owned(),
                (_, 5, "unchanged") => label = "rolled back".to_owned(),
                (_, 7, "not_restored") => label = "refused (exit 7)".to_owned(),
                (_, code, state) => panic!("{what}: exit {code}, {state}: {}", run.stderr),
            }
            let version = count(&s.conn(), "SELECT max(version) FROM _migrate_history");
            // A no-transaction file that failed after a statement committed is part-way, and
            // the report said so (exit 7 with the backup and the choices).
            part_way = case.mode == Mode::NoTransaction && run.code == 7;
            check_whole(&s, version, part_way, &what);
            if !part_way {
                // Fixed, the next run goes on from where the failure left the database.
                let (fixed, _) = migration_3(&Case {
                    event: Event::Kill { after_ms: 0 },
                    ..*case
                });
                std::fs::write(s.migrations().join("0003_t3.up.sql"), fixed).unwrap();
                let _ = std::fs::remove_file(s.migrations().join("0003_t3.verify.sql"));
                let next = s.migrate(&args);
                assert_eq!(next.code, 0, "{what}: the next run: {}", next.stderr);
                resumed = version > 1;
            }
        }
        (Event::Fail(_), None) => unreachable!("a failing run is never killed"),
        (Event::Kill { .. }, Some(run)) => {
            assert_eq!(
                run.code, 0,
                "{what}: finished before the kill: {}",
                run.stderr
            );
            label = "finished before the kill".to_owned();
        }
        (Event::Kill { .. }, None) => {
            let next = s.migrate(&args);
            let doc: serde_json::Value =
                serde_json::from_str(&next.stdout).unwrap_or(serde_json::Value::Null);
            let state = doc["interrupted"]["database"]["state"]
                .as_str()
                .unwrap_or("none")
                .to_owned();
            match (next.code, state.as_str()) {
                (0, "consistent") => {
                    resumed = true;
                    label = "killed, continued".to_owned();
                }
                (0, "restored") => label = "killed, restored".to_owned(),
                (0, "unchanged") => label = "killed before a change".to_owned(),
                (0, "none") => label = "killed after the run".to_owned(),
                (7, _) if case.mode == Mode::NoTransaction => {
                    assert!(
                        next.stderr.contains("running no-transaction migration 3"),
                        "{what}: {}",
                        next.stderr
                    );
                    assert!(
                        belay_migrate::marker::exists(&s.db()),
                        "{what}: the marker stays until the operator decides"
                    );
                    part_way = true;
                    label = "killed, refused (exit 7)".to_owned();
                }
                (code, state) => panic!(
                    "{what}: the next run: exit {code}, {state}: {}",
                    next.stderr
                ),
            }
        }
    }
    if let Some(app) = app.take() {
        acknowledged.extend(app.stop());
    } else {
        // The quiet application writes again once the runs are over.
        acknowledged.extend(App::start(&s).stop());
    }
    let missing = lost(&s, &acknowledged);
    assert!(
        missing.is_empty(),
        "{what}: acknowledged rows lost: {missing:?}"
    );
    let version = count(&s.conn(), "SELECT max(version) FROM _migrate_history");
    if !part_way {
        assert_eq!(version, 4, "{what}: the runs did not complete");
    }
    check_whole(&s, version, part_way, &what);
    // No lock left behind.
    belay_migrate::lock::MigrationLock::acquire(&s.db(), Duration::ZERO)
        .unwrap_or_else(|e| panic!("{what}: the lock is still held: {e}"));
    if part_way {
        label = format!("{label}, part-way");
    }
    Outcome {
        label,
        resumed,
        rows: acknowledged.len(),
    }
}

/// The schema is at `version`, whole: each migration's table exists exactly when it is
/// recorded, with all its rows; migration 3's leftovers only when it is `part_way`.
fn check_whole(s: &Scratch, version: i64, part_way: bool, what: &str) {
    let conn = s.conn();
    let exists = |name: &str| {
        count(
            &conn,
            &format!("SELECT count(*) FROM sqlite_schema WHERE name = '{name}'"),
        ) == 1
    };
    assert_eq!(
        exists("t2"),
        version >= 2,
        "{what}: t2 at version {version}"
    );
    if version >= 2 {
        assert_eq!(
            count(&conn, "SELECT count(*) FROM t2"),
            T2_ROWS as i64,
            "{what}"
        );
    }
    if version >= 3 {
        assert_eq!(
            count(&conn, "SELECT count(*) FROM t3"),
            2 * T3_ROWS as i64,
            "{what}"
        );
    } else if !part_way {
        assert!(
            !exists("t3") && !exists("notes_body"),
            "{what}: migration 3's objects at version {version}"
        );
    }
    assert_eq!(
        exists("t4"),
        version >= 4,
        "{what}: t4 at version {version}"
    );
    let answer: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert!(
        answer == "ok" || part_way,
        "{what}: quick_check says {answer}"
    );
}
