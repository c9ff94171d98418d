//! The point-in-time archive against the ground truth of a writer that logs each commit only
//! after COMMIT returned, with checkpoints from the application in all four modes beside it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use belay_guard::Error;
use belay_guard::archive::{self, Archiver, Catalog, Options};
use rusqlite::Connection;

fn wal_db(dir: &Path) -> PathBuf {
    let db = dir.join("app.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE t(id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, pad TEXT);
         CREATE INDEX t_batch ON t(batch);",
    )
    .unwrap();
    db
}

/// Commits batches of 1 to 3 rows (ids consecutive), logging each batch's last id after its
/// COMMIT returned; every few batches a checkpoint in one of the four modes.
struct Writer {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<i64>>>,
    handle: std::thread::JoinHandle<()>,
}

impl Writer {
    fn start(db: &Path, seed: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l, db) = (stop.clone(), log.clone(), db.to_path_buf());
        let handle = std::thread::spawn(move || {
            let conn = Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::from_millis(50)).unwrap();
            let mut x = seed | 1;
            let mut next = 1i64;
            let mut batch = 0i64;
            while !s.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let rows = 1 + (x % 3) as i64;
                batch += 1;
                let ok = (|| -> rusqlite::Result<()> {
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                    for i in 0..rows {
                        conn.execute(
                            "INSERT INTO t(id, batch, pad) VALUES (?1, ?2, ?3)",
                            rusqlite::params![next + i, batch, "x".repeat((x % 700) as usize)],
                        )?;
                    }
                    if x.is_multiple_of(5) {
                        conn.execute("UPDATE t SET pad = 'u' WHERE id = ?1", [next / 2 + 1])?;
                    }
                    conn.execute_batch("COMMIT")
                })();
                match ok {
                    Ok(()) => {
                        next += rows;
                        l.lock().unwrap().push(next - 1);
                    }
                    Err(_) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        batch -= 1;
                    }
                }
                if x.is_multiple_of(17) {
                    let mode = ["PASSIVE", "FULL", "RESTART", "TRUNCATE"][(x >> 8) as usize % 4];
                    let _ =
                        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()));
                }
                std::thread::sleep(Duration::from_micros(300));
            }
        });
        Self { stop, log, handle }
    }

    fn stop(self) -> Vec<i64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap();
        Arc::try_unwrap(self.log).unwrap().into_inner().unwrap()
    }
}

fn ids_in(db: &Path) -> Vec<i64> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn integrity(db: &Path) -> String {
    Connection::open(db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// The rows of a restored point: exactly ids 1..=k, where k ends a batch the writer committed.
fn assert_whole_prefix(ids: &[i64], acked: &[i64], what: &str) -> i64 {
    let k = ids.len() as i64;
    assert!(
        ids.iter().enumerate().all(|(i, &id)| id == i as i64 + 1),
        "{what}: not a prefix of the commits"
    );
    assert!(
        k == 0 || acked.contains(&k) || k > *acked.last().unwrap_or(&0),
        "{what}: ends inside a transaction (row {k})"
    );
    k
}

fn options() -> Options {
    Options {
        checkpoint_bytes: 64 << 10,
        ..Options::default()
    }
}

#[test]
fn every_point_restores_exactly_a_prefix_of_the_commits_beside_a_live_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let mut archiver = Archiver::start(&db, &dir, options()).unwrap();
    let writer = Writer::start(&db, 0x9e37_79b9);
    let mut checkpoints = 0;
    for _ in 0..60 {
        let round = archiver.round().unwrap();
        assert!(round.gap.is_none(), "{round:?}");
        checkpoints += usize::from(round.checkpointed);
        std::thread::sleep(Duration::from_millis(15));
    }
    let acked = writer.stop();
    archiver.round().unwrap();
    assert!(checkpoints > 0, "the archiver never checkpointed");
    assert!(
        acked.len() > 100,
        "the writer committed {} batches",
        acked.len()
    );

    let catalog = Catalog::read(&dir).unwrap();
    assert!(catalog.gaps.is_empty(), "{:?}", catalog.gaps);
    assert_eq!(catalog.generations.len(), 1);
    let points: Vec<_> = catalog.generations[0].points().collect();
    let mut previous = 0;
    let step = (points.len() / 25).max(1);
    for (n, p) in points.iter().enumerate() {
        if n % step != 0 && n + 1 != points.len() {
            continue;
        }
        let to = tmp.path().join(format!("at-{}.db", p.id));
        let rebuilt = archive::rebuild::rebuild(&catalog, p.id, &to, 0o600).unwrap();
        assert_eq!(rebuilt.point, *p);
        let ids = ids_in(&to);
        let k = assert_whole_prefix(&ids, &acked, &format!("point {}", p.id));
        assert!(
            k >= previous,
            "point {} went back from {previous} to {k}",
            p.id
        );
        previous = k;
        assert_eq!(integrity(&to), "ok");
    }
    // The newest point holds every acknowledged row.
    assert_eq!(previous, *acked.last().unwrap());
    let v = archive::verify::verify(&dir).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.restorable, points.len() as u64);
    let s = archive::status::status(&db, &dir).unwrap();
    assert!(s.following && s.unarchived_commits == 0, "{s:?}");
    assert_eq!(s.commits, points.len() as u64);
}

#[test]
fn a_restart_unseen_is_a_gap_by_range_unless_nothing_was_missed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let app = Connection::open(&db).unwrap();
    app.execute("INSERT INTO t VALUES (1, 1, 'a')", []).unwrap();
    let mut a = Archiver::start(&db, &dir, options()).unwrap();
    a.round().unwrap();
    drop(a);
    // Only a checkpoint while stopped: nothing missed, the archive goes on.
    app.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    app.execute("INSERT INTO t VALUES (2, 2, 'b')", []).unwrap();
    let mut a = Archiver::start(&db, &dir, options()).unwrap();
    let r = a.round().unwrap();
    assert!(r.gap.is_none() && r.generation.is_none(), "{r:?}");
    assert_eq!(r.commits, 1);
    let before_gap = a.last().unwrap();
    drop(a);
    // A commit checkpointed away unseen (on a page the next WAL does not rewrite): a gap, by
    // range, and a new generation.
    app.execute("INSERT INTO t VALUES (3, 3, 'c')", []).unwrap();
    app.execute_batch("CREATE TABLE u(x); INSERT INTO u VALUES ('unseen')")
        .unwrap();
    app.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    app.execute("INSERT INTO t VALUES (4, 4, 'd')", []).unwrap();
    let mut a = Archiver::start(&db, &dir, options()).unwrap();
    let r = a.round().unwrap();
    let gap = r
        .gap
        .clone()
        .unwrap_or_else(|| panic!("no gap: {r:?} {:?}", archive::status::status(&db, &dir)));
    assert_eq!(gap.after.unwrap().commit, before_gap.id);
    assert!(gap.reason.contains("restarted"), "{}", gap.reason);
    let catalog = Catalog::read(&dir).unwrap();
    assert_eq!(catalog.gaps.len(), 1);
    assert_eq!(catalog.generations.len(), 2);
    let newest = catalog.last().unwrap();
    let to = tmp.path().join("newest.db");
    archive::rebuild::rebuild(&catalog, newest.id, &to, 0o600).unwrap();
    assert_eq!(ids_in(&to), [1, 2, 3, 4]);
    // A moment inside the gap is refused, naming it.
    let inside = gap.before.at_ms - 1;
    if inside > before_gap.at_ms {
        assert!(matches!(
            catalog.at_time(inside),
            Err(archive::catalog::Located::InGap(_))
        ));
    }
    assert_eq!(catalog.at_time(before_gap.at_ms).unwrap().id, before_gap.id);
    let s = archive::status::status(&db, &dir).unwrap();
    assert_eq!(s.gaps.len(), 1);
    assert_eq!(s.gaps[0].after, Some(before_gap.id));
}

#[test]
fn a_damaged_or_missing_segment_is_reported_by_range_and_never_restored_through() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let app = Connection::open(&db).unwrap();
    let mut a = Archiver::start(&db, &dir, options()).unwrap();
    a.round().unwrap();
    for i in 1..=4 {
        app.execute("INSERT INTO t VALUES (?1, ?1, 'p')", [i])
            .unwrap();
        a.round().unwrap();
    }
    drop(a);
    let catalog = Catalog::read(&dir).unwrap();
    let g = &catalog.generations[0];
    assert_eq!(g.segments.len(), 4);
    let second = &g.segments[1];
    let path = g.dir.join(&second.file);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let v = archive::verify::verify(&dir).unwrap();
    assert!(!v.ok());
    assert_eq!(v.problems.len(), 1, "{v:?}");
    assert_eq!(
        (v.problems[0].from, v.problems[0].to),
        (second.first, g.last().id)
    );
    assert!(
        v.problems[0].reason.contains("SHA-256"),
        "{}",
        v.problems[0].reason
    );
    assert_eq!(v.newest, Some(g.segments[0].last));
    assert!(v.newest_ok);
    // Before the damage restores; through it is refused and leaves nothing.
    let ok = tmp.path().join("ok.db");
    archive::rebuild::rebuild(&catalog, g.segments[0].last, &ok, 0o600).unwrap();
    assert_eq!(ids_in(&ok), [1]);
    let bad = tmp.path().join("bad.db");
    let e = archive::rebuild::rebuild(&catalog, g.last().id, &bad, 0o600).unwrap_err();
    assert!(matches!(e, Error::BackupCorrupt { .. }), "{e}");
    assert!(!bad.exists());
    // A deleted segment likewise; the next archiver starts a new generation after the last
    // point it can restore, and says so.
    std::fs::remove_file(g.dir.join(&g.segments[3].file)).unwrap();
    let mut a = Archiver::start(&db, &dir, options()).unwrap();
    let r = a.round().unwrap();
    let gap = r.gap.expect("a gap");
    assert_eq!(gap.after.unwrap().commit, g.segments[0].last);
    assert!(gap.reason.contains("cannot be read back"), "{}", gap.reason);
}

#[test]
fn refusals_say_why_and_archive_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let rollback = tmp.path().join("rb.db");
    Connection::open(&rollback)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let e = Archiver::start(&rollback, &tmp.path().join("rb.archive"), options())
        .err()
        .unwrap();
    assert!(e.to_string().contains("journal_mode = wal"), "{e}");
    assert!(!tmp.path().join("rb.archive").join("archive.json").exists());

    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let first = Archiver::start(&db, &dir, options()).unwrap();
    let e = Archiver::start(&db, &dir, options()).err().unwrap();
    assert!(matches!(e, Error::LockTimeout { .. }), "{e}");
    drop(first);
    let other = tmp.path().join("other.db");
    std::fs::copy(&db, &other).unwrap();
    let e = Archiver::start(&other, &dir, options()).err().unwrap();
    assert!(e.to_string().contains("belongs to"), "{e}");
    let catalog = Catalog::read(&dir).unwrap();
    let e = archive::rebuild::rebuild(&catalog, 99, &tmp.path().join("x.db"), 0o600).unwrap_err();
    assert!(e.to_string().contains("no commit 99"), "{e}");
    let e = Archiver::start(&tmp.path().join("absent.db"), &dir, options())
        .err()
        .unwrap();
    assert!(matches!(e, Error::NoDatabase { .. }), "{e}");
}

/// The `.seg` files of a generation directory, listed in its index or not.
fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    names
}

#[test]
fn scheduled_snapshots_and_compaction_keep_every_point_and_leave_no_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let options = Options {
        checkpoint_bytes: 64 << 10,
        snapshot_every: Some(Duration::from_millis(400)),
        compact_after: 4,
        compact_bytes: 64 << 10,
        ..Options::default()
    };
    let mut archiver = Archiver::start(&db, &dir, options).unwrap();
    let writer = Writer::start(&db, 0x51ed_270b);
    let (mut began, mut compacted) = (0, 0);
    for _ in 0..80 {
        let round = archiver.round().unwrap();
        assert!(round.gap.is_none(), "{round:?}");
        began += usize::from(round.generation.is_some());
        compacted += round.compacted;
        std::thread::sleep(Duration::from_millis(15));
    }
    let acked = writer.stop();
    archiver.round().unwrap();
    assert!(began >= 3, "{began} generation(s) begun");
    assert!(compacted > 0, "nothing was compacted");

    let catalog = Catalog::read(&dir).unwrap();
    assert!(catalog.gaps.is_empty(), "{:?}", catalog.gaps);
    assert!(catalog.generations.len() >= 3);
    let merged = catalog
        .generations
        .iter()
        .flat_map(|g| &g.segments)
        .filter(|e| e.file.contains('-'))
        .count();
    assert!(merged > 0, "no merged segment in the index");
    // No line spans a WAL restart: restore points find their commit by WAL.
    for g in &catalog.generations {
        assert!(g.segments.iter().all(|e| e.from.salt == e.to.salt));
    }
    // The files merged away wait for readers of the old index; the index never lists them.
    let unlisted = |g: &archive::catalog::Generation| {
        segment_files(&g.dir)
            .into_iter()
            .filter(|f| !g.segments.iter().any(|e| &e.file == f))
            .count()
    };
    assert!(catalog.generations.iter().map(unlisted).sum::<usize>() > 0);

    // Every point of every generation, ids consecutive across them, restores a prefix that
    // never goes back; the newest holds every acknowledged row.
    let points: Vec<_> = catalog
        .generations
        .iter()
        .flat_map(|g| g.points())
        .collect();
    assert!(points.windows(2).all(|w| w[1].id == w[0].id + 1));
    let mut previous = 0;
    let step = (points.len() / 30).max(1);
    for (n, p) in points.iter().enumerate() {
        if n % step != 0 && n + 1 != points.len() {
            continue;
        }
        let to = tmp.path().join(format!("at-{}.db", p.id));
        archive::rebuild::rebuild(&catalog, p.id, &to, 0o600).unwrap();
        let k = assert_whole_prefix(&ids_in(&to), &acked, &format!("point {}", p.id));
        assert!(
            k >= previous,
            "point {} went back from {previous} to {k}",
            p.id
        );
        previous = k;
        assert_eq!(integrity(&to), "ok");
    }
    assert_eq!(previous, *acked.last().unwrap());
    let v = archive::verify::verify(&dir).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.restorable, points.len() as u64);

    // A new archiver follows on without a gap and clears what was merged away.
    drop(archiver);
    let archiver = Archiver::start(&db, &dir, options).unwrap();
    let catalog = Catalog::read(&dir).unwrap();
    assert_eq!(catalog.generations.iter().map(unlisted).sum::<usize>(), 0);

    // Retention removes whole generations past it, never the newest.
    let newest = catalog.generations.last().unwrap().base.generation.clone();
    let removed = archiver.prune(Duration::from_millis(1)).unwrap();
    assert_eq!(removed.len(), catalog.generations.len() - 1);
    let catalog = Catalog::read(&dir).unwrap();
    assert_eq!(catalog.generations.len(), 1);
    assert_eq!(catalog.generations[0].base.generation, newest);
    let last = catalog.last().unwrap();
    let to = tmp.path().join("newest.db");
    archive::rebuild::rebuild(&catalog, last.id, &to, 0o600).unwrap();
    assert_eq!(ids_in(&to).len() as i64, *acked.last().unwrap());
    assert!(catalog.gaps.is_empty());
}

#[test]
fn a_line_torn_by_a_crash_is_dropped_and_the_archive_goes_on_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let app = Connection::open(&db).unwrap();
    let insert = |from: i64, to: i64| {
        for id in from..=to {
            app.execute("INSERT INTO t(id, batch, pad) VALUES (?1, 1, 'p')", [id])
                .unwrap();
        }
    };
    let mut archiver = Archiver::start(&db, &dir, options()).unwrap();
    archiver.round().unwrap();
    insert(1, 5);
    archiver.round().unwrap();
    drop(archiver);
    let gdir = Catalog::read(&dir).unwrap().generations[0].dir.clone();
    let index = gdir.join("segments.jsonl");
    let mut text = std::fs::read_to_string(&index).unwrap();
    text.push_str("{\"file\":\"00000000000000");
    std::fs::write(&index, text).unwrap();
    assert_eq!(Catalog::read(&dir).unwrap().generations[0].torn, 1);

    insert(6, 9);
    let mut archiver = Archiver::start(&db, &dir, options()).unwrap();
    let round = archiver.round().unwrap();
    assert!(
        round.gap.is_none() && round.generation.is_none(),
        "{round:?}"
    );
    insert(10, 12);
    archiver.round().unwrap();
    let catalog = Catalog::read(&dir).unwrap();
    assert_eq!(catalog.generations.len(), 1);
    assert_eq!(catalog.generations[0].torn, 0);
    assert!(catalog.gaps.is_empty());
    let to = tmp.path().join("newest.db");
    archive::rebuild::rebuild(&catalog, catalog.last().unwrap().id, &to, 0o600).unwrap();
    assert_eq!(ids_in(&to), (1..=12).collect::<Vec<_>>());
    assert!(archive::verify::verify(&dir).unwrap().ok());
}
