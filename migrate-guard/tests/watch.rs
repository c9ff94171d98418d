//! The watchman's parts on their own: the incremental check's passes (SQLite's verdict on a
//! page we damage, and on a database another connection holds locked), tasks deferred while a
//! migration run holds the lock, one watchman per database, and the health report's verdicts.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use belay_guard::Error;
use belay_guard::database::lock::MigrationLock;
use belay_guard::vocab::verdict::Verdict;
use belay_guard::watch::every::Every;
use belay_guard::watch::health::{self, Connection as Layer, Inputs, Status, Thresholds};
use belay_guard::watch::state::{State, Sweep};
use belay_guard::watch::{Config, Outcome, Task, Watchman, sweep};
use rusqlite::Connection;

/// A database with `tables` tables of 500 rows, each with an index.
fn database(dir: &Path, tables: usize) -> PathBuf {
    let db = dir.join("app.db");
    let conn = Connection::open(&db).unwrap();
    for t in 0..tables {
        conn.execute_batch(&format!(
            "CREATE TABLE t{t} (id INTEGER PRIMARY KEY, v TEXT);
             CREATE INDEX t{t}_v ON t{t}(v);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
               INSERT INTO t{t} (v) SELECT printf('row %d', x) FROM c;"
        ))
        .unwrap();
    }
    db
}

/// The first leaf page of `table`, and its bytes.
fn leaf(db: &Path, table: &str) -> (u64, Vec<u8>) {
    let conn = Connection::open(db).unwrap();
    let page: i64 = conn
        .query_row(
            "SELECT pageno FROM dbstat WHERE name = ?1 AND pagetype = 'leaf' ORDER BY pageno",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    let offset = (page as u64 - 1) * 4096;
    let mut f = std::fs::File::open(db).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut bytes = vec![0; 4096];
    f.read_exact(&mut bytes).unwrap();
    (offset, bytes)
}

fn write_at(db: &Path, offset: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

fn tick(db: &Path, sweep: &mut Sweep) -> sweep::Tick {
    sweep::tick(db, Duration::ZERO, Duration::from_millis(100), sweep).unwrap()
}

/// Ticks of a zero budget (one step each) until a pass ends.
fn pass(db: &Path, sweep: &mut Sweep) -> Vec<sweep::Tick> {
    let mut ticks = Vec::new();
    loop {
        let t = tick(db, sweep);
        let done = t.pass_complete;
        ticks.push(t);
        if done || ticks.len() > 100 {
            return ticks;
        }
    }
}

#[test]
fn a_pass_spreads_over_ticks_and_damage_stands_until_a_clean_pass() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 4);
    let mut sweep = Sweep::default();
    // A zero budget takes one step a tick: each table's structure, its index, its rows.
    let first = pass(&db, &mut sweep);
    assert_eq!(first.len(), 12, "{first:#?}");
    assert!(
        first
            .iter()
            .all(|t| t.steps == 1 && t.verdict == Verdict::Ok)
    );
    let coverages: Vec<f64> = first.iter().map(|t| t.coverage).collect();
    assert_eq!(coverages[2], 0.25);
    assert_eq!(coverages[5], 0.5);
    assert_eq!(coverages[11], 1.0);
    assert!(coverages.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(sweep.passes, 1);

    let (offset, good) = leaf(&db, "t2");
    let mut bad = good.clone();
    bad[8..24].fill(0xff);
    write_at(&db, offset, &bad);
    let second = pass(&db, &mut sweep);
    let found = second
        .iter()
        .position(|t| t.verdict == Verdict::Damaged)
        .expect("the damage found");
    assert_eq!(
        second[found].checked,
        vec!["t2".to_owned()],
        "SQLite's verdict on t2"
    );
    assert!(second[..found].iter().all(|t| t.verdict == Verdict::Ok));
    assert!(
        second[found..]
            .iter()
            .all(|t| t.verdict == Verdict::Damaged),
        "damage stands"
    );
    assert!(
        sweep.carried.iter().any(|f| f.contains("t2")),
        "{:?}",
        sweep.carried
    );

    // Mended: still damaged until a whole pass has found nothing.
    write_at(&db, offset, &good);
    let third = pass(&db, &mut sweep);
    let (last, before) = third.split_last().unwrap();
    assert!(before.iter().all(|t| t.verdict == Verdict::Damaged));
    assert_eq!(last.verdict, Verdict::Ok);
}

#[test]
fn a_large_table_is_checked_in_row_ranges_and_resumed_part_way() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT UNIQUE);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {})
           INSERT INTO big (v) SELECT printf('v%d', x) FROM c;",
        sweep::ROWS_PER_STEP * 3
    ))
    .unwrap();
    let mut sweep = Sweep::default();
    let ticks = pass(&db, &mut sweep);
    // Structure, the index, three ranges of rows.
    assert_eq!(ticks.len(), 5, "{ticks:#?}");
    // Resumed where it stopped: after three ticks, at the second range, then two more.
    let mut sweep = Sweep::default();
    for _ in 0..3 {
        tick(&db, &mut sweep);
    }
    assert_eq!(
        sweep.position.as_ref().unwrap().stage,
        belay_guard::integrity::Stage::Rows {
            from: sweep::ROWS_PER_STEP + 1
        }
    );
    let rest = pass(&db, &mut sweep);
    assert_eq!(rest.len(), 2);
    assert!(rest[1].pass_complete && rest[1].verdict == Verdict::Ok);
    drop(conn);
}

#[test]
fn a_locked_table_is_could_not_check_and_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 2);
    let holder = Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut sweep = Sweep::default();
    let t = tick(&db, &mut sweep);
    assert_ne!(t.verdict, Verdict::Ok, "a lock is never ok");
    assert_ne!(t.verdict, Verdict::Damaged, "a lock is never damage");
    assert_eq!(t.coverage, 0.0);
    holder.execute_batch("COMMIT").unwrap();
    let t = tick(&db, &mut sweep);
    assert_eq!(t.checked, vec!["t0".to_owned()]);
    assert_eq!(t.verdict, Verdict::Ok);
    assert!(sweep.unchecked.is_empty());
}

#[test]
fn a_damaged_schema_is_its_own_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("junk.db");
    std::fs::write(&db, vec![0x42; 8192]).unwrap();
    let t = tick(&db, &mut Sweep::default());
    assert_ne!(t.verdict, Verdict::Ok);
    assert_eq!(t.checked, vec!["sqlite_schema".to_owned()]);
    let missing = sweep::tick(
        &dir.path().join("none.db"),
        Duration::ZERO,
        Duration::ZERO,
        &mut Sweep::default(),
    );
    assert!(matches!(missing, Err(Error::NoDatabase { .. })));
}

fn config(db: &Path) -> Config {
    let mut config = Config::new(db, &dir_of(db));
    let every = |s| Some(Every::parse(s).unwrap());
    config.schedule.backup = every("1h");
    config.schedule.checkpoint = every("1h");
    config.schedule.check = every("1h");
    config.schedule.drill = every("1d");
    config
}

fn dir_of(db: &Path) -> PathBuf {
    db.with_extension("db.backups")
}

#[test]
fn backups_and_checkpoints_wait_for_a_migration_run_and_one_watchman_per_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    let mut watchman = Watchman::start(config(&db)).unwrap();
    let second = Watchman::start(config(&db)).unwrap_err();
    match second {
        Error::LockTimeout { path, holder, .. } => {
            assert!(path.ends_with("app.db.migrate-watch"), "{}", path.display());
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        watchman.due(SystemTime::now()),
        vec![Task::Backup, Task::Drill, Task::Check, Task::Checkpoint]
    );

    let run = MigrationLock::acquire(&db, Duration::ZERO).unwrap();
    for task in [Task::Backup, Task::Checkpoint] {
        match watchman.run(task) {
            Outcome::Deferred(why) => assert!(why.contains("migration run"), "{why}"),
            other => panic!("{task:?} ran under a migration run: {other:?}"),
        }
    }
    assert!(watchman.due(SystemTime::now()).contains(&Task::Backup));
    // Reading tasks go on beside the run.
    assert!(matches!(watchman.run(Task::Check), Outcome::Done(_)));
    match watchman.run(Task::Drill) {
        Outcome::Done(d) => assert!(d.contains("no backup"), "{d}"),
        other => panic!("{other:?}"),
    }
    drop(run);
    assert!(matches!(watchman.run(Task::Backup), Outcome::Done(_)));
    match watchman.run(Task::Checkpoint) {
        Outcome::Done(d) => assert!(d.contains("not in WAL mode"), "{d}"),
        other => panic!("{other:?}"),
    }
    match watchman.run(Task::Drill) {
        Outcome::Done(d) => assert!(d.contains("matches the manifest"), "{d}"),
        other => panic!("{other:?}"),
    }
    assert!(watchman.due(SystemTime::now()).is_empty());
    let next = watchman.next_due().unwrap();
    assert!(next > SystemTime::now() + Duration::from_secs(3000));
    let state = State::read(&dir_of(&db)).unwrap();
    assert_eq!(state.counters.backups_total, 1);
    assert_eq!(state.counters.checkpoints_total, 1);
    assert!(state.drill.unwrap().ok);
    let journal = std::fs::read_to_string(dir_of(&db).join("audit.jsonl")).unwrap();
    assert_eq!(
        journal
            .lines()
            .filter(|l| l.contains("\"watch_task\""))
            .count(),
        5,
        "deferred tasks are not recorded as run:\n{journal}"
    );
}

#[test]
fn a_state_file_that_is_not_one_is_set_aside_and_another_databases_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    std::fs::create_dir_all(dir_of(&db)).unwrap();
    std::fs::write(dir_of(&db).join("watch-state.json"), "{\"tasks\": 7}").unwrap();
    let unread = report(&db, Inputs::default());
    assert_eq!(unread.status, Status::Degraded);
    assert_eq!(unread.reasons[0].kind, "state_unreadable");
    let watchman = Watchman::start(config(&db)).unwrap();
    let kept: Vec<String> = std::fs::read_dir(dir_of(&db))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("watch-state.json.unreadable-"))
        .collect();
    assert_eq!(kept.len(), 1, "set aside, not deleted");
    drop(watchman);

    // The same backup directory named for a second database.
    let mut watchman = Watchman::start(config(&db)).unwrap();
    watchman.run(Task::Check);
    drop(watchman);
    let other = dir.path().join("other.db");
    std::fs::copy(&db, &other).unwrap();
    let mut shared = config(&other);
    shared.dir = dir_of(&db);
    let e = Watchman::start(shared).unwrap_err().to_string();
    assert!(e.contains("is the watch state of"), "{e}");
    assert!(
        e.contains("give each database its own backup directory"),
        "{e}"
    );
    let foreign = health::health(&other, &dir_of(&db), Inputs::default());
    assert_eq!(foreign.reasons[0].kind, "state_foreign");
    assert!(
        foreign.last_check.is_none(),
        "not the other database's check"
    );
    assert!(matches!(
        Watchman::start(config(&dir.path().join("none.db"))),
        Err(Error::NoDatabase { .. })
    ));
}

#[test]
fn a_table_dropped_part_way_is_no_damage_and_the_pass_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 3);
    let mut sweep = Sweep::default();
    for _ in 0..4 {
        tick(&db, &mut sweep);
    }
    assert_eq!(sweep.position.as_ref().unwrap().table, "t1");
    Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE t1")
        .unwrap();
    let rest = pass(&db, &mut sweep);
    assert!(rest.iter().all(|t| t.verdict == Verdict::Ok), "{rest:#?}");
    assert!(rest.last().unwrap().pass_complete);
    assert!(sweep.unchecked.is_empty());
}

#[test]
fn health_never_checkpoints_and_a_locked_database_is_busy_not_failing() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    let wal = db.with_extension("db-wal");

    // A fresh WAL with frames and no other connection: health and a check tick leave it.
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0; INSERT INTO t0 (v) VALUES ('x');")
        .unwrap();
    // The writer closes without checkpointing, so frames stay in the WAL.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .unwrap();
    drop(conn);
    let frames = std::fs::metadata(&wal).unwrap().len();
    assert!(frames > 0);
    let h = report(&db, Inputs::default());
    assert_eq!(h.wal_bytes, frames);
    tick(&db, &mut Sweep::default());
    assert_eq!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        frames,
        "health and the check left the WAL as it was"
    );

    // Rollback mode, a writer holding the lock: busy (degraded), not unreadable (failing).
    let rollback = dir.path().join("rollback.db");
    let holder = Connection::open(&rollback).unwrap();
    holder
        .execute_batch("CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
        .unwrap();
    let locked = report(&rollback, Inputs::default());
    assert_eq!(locked.status, Status::Degraded, "{:?}", locked.reasons);
    assert_eq!(locked.reasons[0].kind, "busy");
    holder.execute_batch("COMMIT").unwrap();
}

#[test]
fn the_applications_state_is_found_far_back_in_a_long_journal() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    let backups = dir_of(&db);
    std::fs::create_dir_all(&backups).unwrap();
    let degraded = serde_json::json!({
        "database": db.display().to_string(),
        "event": "connection_state",
        "at": "2026-12-06T00:00:01.000Z",
        "state": "degraded",
        "reason": {"kind": "disk_full", "detail": "database or disk is full"},
        "since": "2026-12-06T00:00:01.000Z",
        "host": belay_guard::vocab::holder::host_name(),
        "pid": std::process::id(),
    });
    let mut journal = format!("{degraded}\n");
    let filler = serde_json::json!({"database": db.display().to_string(), "event": "watch_task", "task": "check", "detail": "x".repeat(200)});
    for _ in 0..8000 {
        journal.push_str(&format!("{filler}\n"));
    }
    assert!(journal.len() > 1_500_000);
    std::fs::write(backups.join("audit.jsonl"), journal).unwrap();
    let h = report(&db, Inputs::default());
    assert_eq!(h.status, Status::Failing, "{:?}", h.reasons);
    assert_eq!(h.connection.unwrap().reason.as_deref(), Some("disk_full"));
}

fn report(db: &Path, inputs: Inputs) -> health::Health {
    health::health(db, &dir_of(db), inputs)
}

#[test]
fn health_judges_each_fact_and_never_says_ok_about_what_it_could_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    let plain = report(&db, Inputs::default());
    assert_eq!(plain.status, Status::Ok, "{:?}", plain.reasons);
    assert!(
        plain.metrics["migrate_schema_version"].is_nan(),
        "unknown, not 0"
    );
    assert!(plain.metrics["migrate_backup_age_seconds"].is_nan());

    let strict = report(
        &db,
        Inputs {
            thresholds: Thresholds {
                rpo: Some(Duration::from_secs(60)),
                wal_limit: None,
                disk_low: Some(u64::MAX),
                check_stale: Some(Duration::from_secs(60)),
                archive_lag: None,
            },
            ..Inputs::default()
        },
    );
    assert_eq!(strict.status, Status::Degraded);
    let kinds: Vec<&str> = strict.reasons.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec!["disk_low", "check_stale", "rpo_exceeded"]);

    // The WAL past its limit.
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
         INSERT INTO t0 (v) SELECT v FROM t0;",
    )
    .unwrap();
    let wal = report(
        &db,
        Inputs {
            thresholds: Thresholds {
                wal_limit: Some(1024),
                ..Thresholds::default()
            },
            ..Inputs::default()
        },
    );
    assert_eq!(wal.reasons[0].kind, "wal_over_limit", "{:?}", wal.reasons);
    assert!(wal.metrics["migrate_wal_bytes"] > 1024.0);
    drop(conn);

    // A connection layer refusing writes in this process: failing.
    let layer = report(
        &db,
        Inputs {
            connection: Some(Layer {
                state: "degraded".into(),
                reason: Some("disk_full".into()),
                since: Some("2026-12-06T00:00:00.000Z".into()),
                source: "this process".into(),
            }),
            ..Inputs::default()
        },
    );
    assert_eq!(layer.status, Status::Failing);
    assert_eq!(layer.metrics["migrate_degraded"], 1.0);

    // Not a database: failing, never ok.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x42; 8192]).unwrap();
    let bad = report(&junk, Inputs::default());
    assert_eq!(bad.status, Status::Failing);
    assert_eq!(bad.reasons[0].kind, "unreadable");
    let none = report(&dir.path().join("none.db"), Inputs::default());
    assert_eq!(none.status, Status::Failing);
}

#[test]
fn health_reads_the_applications_last_connection_state_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    let backups = dir_of(&db);
    std::fs::create_dir_all(&backups).unwrap();
    let line = |pid: u32, state: &str| {
        serde_json::json!({
            "database": db.display().to_string(),
            "event": "connection_state",
            "at": "2026-12-06T00:00:01.000Z",
            "state": state,
            "reason": {"kind": "disk_low", "free": 1, "threshold": 2},
            "since": "2026-12-06T00:00:01.000Z",
            "host": belay_guard::vocab::holder::host_name(),
            "pid": pid,
        })
        .to_string()
    };
    // A live process (this one) that recorded itself degraded: failing, and the source named.
    std::fs::write(
        backups.join("audit.jsonl"),
        format!(
            "{}\n{}\n",
            line(std::process::id(), "writable"),
            line(std::process::id(), "degraded")
        ),
    )
    .unwrap();
    let live = report(&db, Inputs::default());
    assert_eq!(live.status, Status::Failing);
    let c = live.connection.unwrap();
    assert_eq!(c.reason.as_deref(), Some("disk_low"));
    assert!(
        c.source.contains(&format!("pid {}", std::process::id())),
        "{}",
        c.source
    );
    // A process gone from this host says nothing of the database now.
    std::fs::write(
        backups.join("audit.jsonl"),
        format!("{}\n", line(u32::MAX - 1, "degraded")),
    )
    .unwrap();
    let gone = report(&db, Inputs::default());
    assert_eq!(gone.status, Status::Ok, "{:?}", gone.reasons);
    assert!(gone.connection.is_none());
}

#[test]
fn stepwise_takes_whole_tables_whole_and_follows_a_schema_changing_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shapes.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
         INSERT INTO kv VALUES ('a', '1'), ('b', '2');
         CREATE TABLE r (id INTEGER PRIMARY KEY, v TEXT);
         CREATE INDEX r_v ON r(v);
         INSERT INTO r (v) VALUES ('x'), ('y');",
    )
    .unwrap();
    let stepper = belay_guard::integrity::Stepper::open(&db, Duration::from_secs(1)).unwrap();
    use belay_guard::integrity::Stage;
    // WITHOUT ROWID: one step, SQLite's own integrity_check(T).
    let whole = stepper.step("kv", &Stage::Structure, 100);
    assert_eq!(whole.next, None);
    assert!(whole.what.contains("integrity_check(kv)"), "{}", whole.what);
    assert!(whole.findings.is_empty());
    // An index dropped between steps: its step is skipped, the rows go on.
    conn.execute_batch("DROP INDEX r_v").unwrap();
    let gone = stepper.step("r", &Stage::Index { n: 0 }, 100);
    assert!(gone.findings.is_empty());
    assert_eq!(gone.next, Some(Stage::Rows { from: 1 }));
    // Emptied between steps: no rows left to check.
    conn.execute_batch("DELETE FROM r").unwrap();
    let empty = stepper.step("r", &Stage::Rows { from: 1 }, 100);
    assert_eq!(empty.next, None);
    assert!(empty.findings.is_empty());
    // Locked (rollback mode, a writer's exclusive lock): an obstacle, never damage.
    let holder = Connection::open(&db).unwrap();
    holder
        .execute_batch("BEGIN EXCLUSIVE; INSERT INTO r (v) VALUES ('z');")
        .unwrap();
    let stepper = belay_guard::integrity::Stepper::open(&db, Duration::from_millis(50));
    assert!(stepper.is_err(), "the schema cannot be read under the lock");
    holder.execute_batch("ROLLBACK").unwrap();
    let stepper = belay_guard::integrity::Stepper::open(&db, Duration::from_millis(50)).unwrap();
    holder
        .execute_batch("BEGIN EXCLUSIVE; INSERT INTO r (v) VALUES ('z');")
        .unwrap();
    let blocked = stepper.step("r", &Stage::Rows { from: 1 }, 100);
    assert!(
        blocked
            .findings
            .iter()
            .all(|f| f.obstacle.is_some() && !f.is_damage()),
        "{:?}",
        blocked.findings
    );
    assert!(!blocked.findings.is_empty());
    holder.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn a_watchman_whose_tasks_fail_records_each_failure_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    // The backup directory is a file: backups, drills and every record fail.
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, "a file").unwrap();
    let mut config = config(&db);
    config.dir = blocked.join("backups");
    let mut watchman = Watchman::start(config).unwrap();
    assert!(matches!(watchman.run(Task::Backup), Outcome::Failed(_)));
    assert!(matches!(watchman.run(Task::Drill), Outcome::Failed(_)));
    assert_eq!(watchman.state().counters.backup_errors_total, 1);
    assert_eq!(watchman.state().counters.drill_errors_total, 1);
    assert!(!watchman.state().drill.as_ref().unwrap().ok);
    let (report, alerts) = watchman.evaluate(watchman.inputs());
    assert_eq!(report.status, Status::Degraded, "{:?}", report.reasons);
    let kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, vec!["backup_failed", "drill_failed"]);
    drop(watchman);

    // A database that turned to junk under a watchman: the check says so, the checkpoint
    // fails, each counted.
    let mut watchman = Watchman::start(self::config(&db)).unwrap();
    std::fs::write(&db, vec![0x42; 8192]).unwrap();
    match watchman.run(Task::Check) {
        Outcome::Failed(d) | Outcome::Done(d) => assert!(!d.starts_with("ok"), "{d}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(watchman.run(Task::Checkpoint), Outcome::Failed(_)));
    assert_eq!(watchman.state().counters.checkpoint_errors_total, 1);
}

#[test]
fn a_checkpoint_held_back_by_a_reader_is_counted_as_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    let writer = Connection::open(&db).unwrap();
    writer
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;")
        .unwrap();
    let reader = Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    reader
        .query_row("SELECT count(*) FROM t0", [], |r| r.get::<_, i64>(0))
        .unwrap();
    writer
        .execute_batch("INSERT INTO t0 (v) SELECT v FROM t0")
        .unwrap();
    let mut watchman = Watchman::start(config(&db)).unwrap();
    match watchman.run(Task::Checkpoint) {
        Outcome::Done(d) => assert!(d.contains("left") && d.contains("held back by"), "{d}"),
        other => panic!("{other:?}"),
    }
    assert!(watchman.state().checkpoint_blocked_since.is_some());
    let (report, _) = watchman.evaluate(watchman.inputs());
    assert!(report.checkpoint.last.is_some());
    reader.execute_batch("COMMIT").unwrap();
    watchman.run(Task::Checkpoint);
    assert!(watchman.state().checkpoint_blocked_since.is_none());
}

#[test]
fn health_reads_the_watchmans_record_of_checks_backups_and_drills() {
    use belay_guard::watch::state::{CheckState, DrillState, TaskRun};
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    let run = |ok, detail: &str| TaskRun {
        at: "2020-01-01T00:00:00.000Z".into(),
        at_unix: 1_577_836_800.0,
        ok,
        detail: detail.into(),
        duration_ms: 1,
    };
    let state = State {
        check: Some(CheckState {
            at: "2020-01-01T00:00:00.000Z".into(),
            at_unix: 1_577_836_800.0,
            verdict: "could_not_check".into(),
            depth: "full".into(),
            checked: vec!["t0".into()],
            findings: vec![],
            coverage: 0.0,
            overran: false,
        }),
        tasks: [("backup".to_owned(), run(false, "disk full"))].into(),
        drill: Some(DrillState {
            at: "2020-01-01T00:00:00.000Z".into(),
            at_unix: 1_577_836_800.0,
            ok: false,
            backup: Some("x".into()),
            detail: "checksum".into(),
        }),
        ..State::default()
    };
    state.write(&dir_of(&db)).unwrap();
    let h = report(
        &db,
        Inputs {
            thresholds: Thresholds {
                check_stale: Some(Duration::from_secs(60)),
                ..Thresholds::default()
            },
            ..Inputs::default()
        },
    );
    let kinds: Vec<&str> = h.reasons.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        vec![
            "check_incomplete",
            "check_stale",
            "backup_failed",
            "drill_failed"
        ]
    );
    assert_eq!(h.status, Status::Degraded);
    assert_eq!(h.metrics["migrate_last_check_ok"], 0.0);
    assert_eq!(h.metrics["migrate_last_drill_ok"], 0.0);

    // The connection layer of this process, in both states.
    use belay_guard::connect::State as LayerState;
    use belay_guard::vocab::degraded::Reason;
    let writable = Layer::of(&LayerState::Writable);
    assert_eq!(writable.state, "writable");
    let degraded = Layer::of(&LayerState::Degraded {
        reason: Reason::DiskFull {
            detail: "database or disk is full".into(),
        },
        since: "2026-12-06T00:00:00.000Z".into(),
    });
    assert_eq!(degraded.state, "degraded");
    assert!(degraded.reason.unwrap().contains("full"));
}

#[test]
fn archiving_under_the_watchman_ships_beside_a_run_checkpoints_only_without_one_and_drills_a_point()
{
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    let app = Connection::open(&db).unwrap();
    app.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    let archive = dir.path().join("app.db.archive");
    let mut config = config(&db);
    archived(&mut config, &archive);
    let mut watchman = Watchman::start(config).unwrap();
    assert_eq!(watchman.due(SystemTime::now())[0], Task::Archive);
    match watchman.run(Task::Archive) {
        Outcome::Done(d) => assert!(d.contains("began gen-"), "{d}"),
        other => panic!("{other:?}"),
    }
    // Beside a migration run: commits are shipped, the checkpoint waits.
    let run = MigrationLock::acquire(&db, Duration::ZERO).unwrap();
    app.execute("INSERT INTO t0 (v) VALUES ('during the run')", [])
        .unwrap();
    match watchman.run(Task::Archive) {
        Outcome::Done(d) => assert!(d.starts_with("1 commit(s) archived"), "{d}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        watchman.run(Task::Checkpoint),
        Outcome::Deferred(_)
    ));
    drop(run);
    app.execute("INSERT INTO t0 (v) VALUES ('after')", [])
        .unwrap();
    match watchman.run(Task::Checkpoint) {
        Outcome::Done(d) => assert!(d.contains("checkpointed"), "{d}"),
        other => panic!("{other:?}"),
    }
    // The WAL restarts at the next commit, under the archiver's reader: no gap.
    app.execute("INSERT INTO t0 (v) VALUES ('restarted')", [])
        .unwrap();
    assert!(matches!(watchman.run(Task::Archive), Outcome::Done(_)));
    assert!(matches!(watchman.run(Task::Backup), Outcome::Done(_)));
    match watchman.run(Task::Drill) {
        Outcome::Done(d) => assert!(
            d.contains("of the archive") && d.contains("page hash matches"),
            "{d}"
        ),
        other => panic!("{other:?}"),
    }
    let (report, alerts) = watchman.evaluate(watchman.inputs());
    assert!(alerts.is_empty(), "{alerts:?}");
    let a = report.archive.expect("the archive in the report");
    assert_eq!((a.commits, a.gaps_total, a.unarchived_bytes), (4, 0, 0));
    assert_eq!(report.metrics["migrate_archive_gaps_total"], 0.0);
    let catalog = belay_guard::archive::Catalog::read(&archive).unwrap();
    let to = dir.path().join("newest.db");
    belay_guard::archive::rebuild::rebuild(&catalog, catalog.last().unwrap().id, &to, 0o600)
        .unwrap();
    let rows: i64 = Connection::open(&to)
        .unwrap()
        .query_row("SELECT count(*) FROM t0", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 503);

    // Unarchived commits older than the limit: archive_lag fires.
    drop(watchman);
    app.execute("INSERT INTO t0 (v) VALUES ('waiting')", [])
        .unwrap();
    let inputs = Inputs {
        thresholds: Thresholds {
            archive_lag: Some(Duration::from_millis(1)),
            ..Thresholds::default()
        },
        archive: Some(archive),
        ..Inputs::default()
    };
    std::thread::sleep(Duration::from_millis(20));
    let h = health::health(&db, &dir_of(&db), inputs);
    let kinds: Vec<&str> = h.reasons.iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&"archive_lag"), "{kinds:?}");
    assert!(h.metrics["migrate_archive_unarchived_bytes"] > 0.0);
}

fn archived(config: &mut Config, archive: &Path) {
    config.schedule.archive = Some(Every::parse("1s").unwrap());
    config.thresholds.archive_lag = Some(Duration::from_secs(60));
    config.archive = Some(belay_guard::watch::watchman::ArchiveConfig {
        dir: archive.to_path_buf(),
        options: belay_guard::archive::Options::default(),
        retention: Some(Duration::from_secs(3600)),
    });
}

#[test]
fn the_watchmans_archive_rounds_are_quiet_when_idle_and_say_gaps_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), 1);
    let app = Connection::open(&db).unwrap();
    app.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    let archive = dir.path().join("app.db.archive");
    let mut cfg = config(&db);
    archived(&mut cfg, &archive);
    let mut watchman = Watchman::start(cfg).unwrap();
    assert!(matches!(watchman.run(Task::Archive), Outcome::Done(_)));
    // Nothing committed since: a quiet round.
    match watchman.run(Task::Archive) {
        Outcome::Quiet(d) => assert!(d.contains("0 commit(s)"), "{d}"),
        other => panic!("{other:?}"),
    }
    // Commits while no watchman ran, then the WAL emptied: the next round records a gap by
    // range, and health raises archive_gap.
    drop(watchman);
    app.execute("INSERT INTO t0 (v) VALUES ('unseen')", [])
        .unwrap();
    app.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    app.execute("INSERT INTO t0 (v) VALUES ('after')", [])
        .unwrap();
    let (outcome, report) = one_archive_round(&db, &archive);
    assert!(
        matches!(&outcome, Outcome::Done(d) if d.contains("gap after commit")),
        "{outcome:?}"
    );
    let kinds: Vec<&str> = report.reasons.iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&"archive_gap"), "{kinds:?}");
    assert_eq!(report.metrics["migrate_archive_gaps_total"], 1.0);

    // An archive that cannot be opened: the round fails saying so, health says unreadable.
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, "a file").unwrap();
    let (outcome, report) = one_archive_round(&db, &blocked.join("archive"));
    assert!(
        matches!(&outcome, Outcome::Failed(d) if d.contains("the archiver could not start")),
        "{outcome:?}"
    );
    let kinds: Vec<&str> = report.reasons.iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&"archive_unreadable"), "{kinds:?}");
}

/// A new watchman archiving `db` into `archive`: one round's outcome and the health after it.
fn one_archive_round(db: &Path, archive: &Path) -> (Outcome, health::Health) {
    let mut cfg = config(db);
    archived(&mut cfg, archive);
    let mut watchman = Watchman::start(cfg).unwrap();
    let outcome = watchman.run(Task::Archive);
    let (report, _) = watchman.evaluate(watchman.inputs());
    (outcome, report)
}
