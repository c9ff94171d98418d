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

/// Restores about `samples` of `points` (always the newest) into `scratch`, and asserts each is
/// the point asked for, holds a whole prefix of the acknowledged batches that never goes back,
/// and passes `integrity_check`. Returns the newest point's prefix.
fn restore_sample(
    catalog: &Catalog,
    points: &[archive::catalog::Point],
    samples: usize,
    scratch: &Path,
    acked: &[i64],
) -> i64 {
    let mut previous = 0;
    let step = (points.len() / samples).max(1);
    for (n, p) in points.iter().enumerate() {
        if n % step != 0 && n + 1 != points.len() {
            continue;
        }
        let to = scratch.join(format!("at-{}.db", p.id));
        let rebuilt = archive::rebuild::rebuild(catalog, p.id, &to, 0o600).unwrap();
        assert_eq!(rebuilt.point, *p);
        let k = assert_whole_prefix(&ids_in(&to), acked, &format!("point {}", p.id));
        assert!(
            k >= previous,
            "point {} went back from {previous} to {k}",
            p.id
        );
        previous = k;
        assert_eq!(integrity(&to), "ok");
    }
    previous
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
    // The newest point holds every acknowledged row.
    let newest = restore_sample(&catalog, &points, 25, tmp.path(), &acked);
    assert_eq!(newest, *acked.last().unwrap());
    let v = archive::verify::verify(&dir).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.restorable, points.len() as u64);
    let s = archive::status::summary(&db, &dir).unwrap();
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
        .unwrap_or_else(|| panic!("no gap: {r:?} {:?}", archive::status::summary(&db, &dir)));
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
    let s = archive::status::summary(&db, &dir).unwrap();
    assert_eq!(s.gaps.len(), 1);
    assert_eq!(s.gaps[0].after, Some(before_gap.id));
}

#[test]
fn a_damaged_or_missing_segment_is_reported_by_range_and_never_restored_through() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, dir, app, mut a) = started(tmp.path());
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
    let newest = restore_sample(&catalog, &points, 30, tmp.path(), &acked);
    assert_eq!(newest, *acked.last().unwrap());
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

/// A WAL database in `tmp`, its archive's directory, the application's connection, and an
/// archiver that has taken its base.
fn started(tmp: &Path) -> (PathBuf, PathBuf, Connection, Archiver) {
    let db = wal_db(tmp);
    let dir = archive::default_dir(&db);
    let app = Connection::open(&db).unwrap();
    let mut a = Archiver::start(&db, &dir, options()).unwrap();
    a.round().unwrap();
    (db, dir, app, a)
}

/// An archive of `segments` one-row segments after its base, the archiver stopped.
fn small_archive(tmp: &Path, segments: i64) -> (PathBuf, PathBuf) {
    let (db, dir, app, mut a) = started(tmp);
    for i in 1..=segments {
        app.execute("INSERT INTO t VALUES (?1, ?1, 'p')", [i])
            .unwrap();
        a.round().unwrap();
    }
    (db, dir)
}

fn write_index(g: &archive::catalog::Generation, entries: &[archive::catalog::Entry]) {
    let text: String = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(archive::catalog::index_path(&g.dir), text).unwrap();
}

/// What `verify` reports wrong (every reason), with the restorable count.
fn problem(dir: &Path) -> (String, u64) {
    let v = archive::verify::verify(dir).unwrap();
    assert!(!v.ok() && !v.problems.is_empty(), "{v:?}");
    let reasons: Vec<_> = v.problems.iter().map(|p| p.reason.as_str()).collect();
    (reasons.join("; "), v.restorable)
}

/// Index lines that disagree with the segments they name, an unreadable `archive.json` or index,
/// and an archive path that is a file: each refused naming the file, never acted on.
#[test]
fn an_index_that_disagrees_with_its_segments_is_refused_by_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, dir) = small_archive(tmp.path(), 4);
    let catalog = Catalog::read(&dir).unwrap();
    let g = &catalog.generations[0];
    let good = g.segments.clone();

    let mut bad = good.clone();
    bad[1].file = "../../escape.seg".into();
    write_index(g, &bad);
    let (reason, restorable) = problem(&dir);
    assert!(reason.contains("not a segment of this archive"), "{reason}");
    assert_eq!(restorable, 2, "the base and the first segment");
    let tampered = Catalog::read(&dir).unwrap();
    let e = archive::rebuild::rebuild(&tampered, good[3].last, &tmp.path().join("x.db"), 0o600)
        .unwrap_err();
    assert!(e.to_string().contains("not a segment"), "{e}");

    let mut bad = good.clone();
    bad[2].first += 1;
    write_index(g, &bad);
    let (reason, _) = problem(&dir);
    assert!(reason.contains("belongs"), "{reason}");

    let mut bad = good.clone();
    bad[3].last += 1;
    write_index(g, &bad);
    let (reason, _) = problem(&dir);
    assert!(reason.contains("the index says"), "{reason}");
    write_index(g, &good);
    assert!(archive::verify::verify(&dir).unwrap().ok());

    // A base whose recorded page hash is not its pages'.
    let base_json = g.dir.join("base.json");
    let original = std::fs::read_to_string(&base_json).unwrap();
    let mut base: serde_json::Value = serde_json::from_str(&original).unwrap();
    base["hash"] = serde_json::Value::String("0".repeat(64));
    std::fs::write(&base_json, base.to_string()).unwrap();
    let v = archive::verify::verify(&dir).unwrap();
    assert!(!v.ok() && v.restorable == 0, "{v:?}");
    assert!(
        v.problems[0].reason.contains("the archive recorded"),
        "{v:?}"
    );
    let tampered = Catalog::read(&dir).unwrap();
    let at_base = tmp.path().join("base-point.db");
    let e = archive::rebuild::rebuild(&tampered, g.base.commit, &at_base, 0o600).unwrap_err();
    assert!(e.to_string().contains("has page hash"), "{e}");
    assert!(!at_base.exists());
    std::fs::write(&base_json, "{ not json").unwrap();
    let e = Catalog::read(&dir).unwrap_err();
    assert!(
        matches!(&e, Error::BackupCorrupt { path, .. } if path == &base_json),
        "{e}"
    );
    std::fs::write(&base_json, original).unwrap();

    // The identity file unreadable; the index a directory; the archive a file.
    let identity = dir.join("archive.json");
    let saved = std::fs::read(&identity).unwrap();
    std::fs::write(&identity, "[").unwrap();
    let e = Catalog::read(&dir).unwrap_err();
    assert!(
        e.to_string()
            .contains("not readable as the archive wrote it"),
        "{e}"
    );
    std::fs::write(&identity, saved).unwrap();
    let index = archive::catalog::index_path(&g.dir);
    std::fs::rename(&index, tmp.path().join("index.saved")).unwrap();
    std::fs::create_dir(&index).unwrap();
    assert!(matches!(Catalog::read(&dir), Err(Error::Io { .. })));
    std::fs::remove_dir(&index).unwrap();
    std::fs::rename(tmp.path().join("index.saved"), &index).unwrap();
    let file = tmp.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(Catalog::read(&file), Err(Error::Io { .. })));
    assert!(archive::verify::verify(&dir).unwrap().ok());

    // A restore point recorded where no archive is.
    let mark = archive::marks::Mark {
        version: 1,
        direction: "up".into(),
        within: Vec::new(),
        at: "2026-12-06T00:00:00Z".into(),
        before: None,
        next_salt: None,
        version_after: Some(1),
    };
    let e = archive::marks::record(&tmp.path().join("none"), &mark).unwrap_err();
    assert!(e.to_string().contains("there is no archive"), "{e}");
}

/// Compaction never merges a damaged segment, and a failed index rewrite leaves the index and
/// the files as they were (the merged file removed); then it merges and every point restores.
#[test]
fn compaction_that_cannot_finish_leaves_the_archive_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, dir) = small_archive(tmp.path(), 5);
    let g = Catalog::read(&dir).unwrap().generations.remove(0);
    let merged_files = |g: &archive::catalog::Generation| {
        segment_files(&g.dir)
            .into_iter()
            .filter(|f| f.contains('-'))
            .count()
    };

    let victim = g.dir.join(&g.segments[2].file);
    let healthy = std::fs::read(&victim).unwrap();
    let mut bytes = healthy.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&victim, &bytes).unwrap();
    assert!(archive::compact::compact(&g, 1 << 30).unwrap().is_empty());
    assert_eq!(merged_files(&g), 0);
    std::fs::write(&victim, &healthy).unwrap();

    let index = archive::catalog::index_path(&g.dir);
    let saved = std::fs::read(&index).unwrap();
    std::fs::remove_file(&index).unwrap();
    std::fs::create_dir(&index).unwrap();
    let e = archive::compact::compact(&g, 1 << 30).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert_eq!(merged_files(&g), 0, "the merged file is removed");
    std::fs::remove_dir(&index).unwrap();
    std::fs::write(&index, &saved).unwrap();

    // A torn line whose rewrite fails is kept, and said.
    std::fs::write(&index, [&saved[..], b"{\"torn"].concat()).unwrap();
    let mut torn = archive::catalog::Generation::read(&g.dir).unwrap();
    assert_eq!(torn.torn, 1);
    assert!(
        archive::compact::compact(&torn, 1 << 30)
            .unwrap()
            .is_empty()
    );
    std::fs::remove_file(&index).unwrap();
    std::fs::create_dir(&index).unwrap();
    assert!(matches!(torn.drop_torn(), Err(Error::Io { .. })));
    assert_eq!(torn.torn, 1);
    std::fs::remove_dir(&index).unwrap();
    std::fs::write(&index, &saved).unwrap();

    let retired = archive::compact::compact(&g, 1 << 30).unwrap();
    assert_eq!(retired.len(), 5);
    let catalog = Catalog::read(&dir).unwrap();
    assert_eq!(catalog.generations[0].segments.len(), 1);
    let points: Vec<_> = catalog.generations[0].points().collect();
    let acked: Vec<i64> = (1..=5).collect();
    assert_eq!(
        restore_sample(&catalog, &points, points.len(), tmp.path(), &acked),
        5
    );
    assert!(archive::verify::verify(&dir).unwrap().ok());
}

/// A base rebuilt into damage that still matches every hash the archive recorded (an adversary
/// who rewrote base.json too): SQLite's check is the last word, and nothing is written. A base
/// that is gone or not what its SHA-256 says, and a target that exists, are refused likewise.
#[test]
fn a_base_whose_hashes_agree_but_sqlite_does_not_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, dir) = small_archive(tmp.path(), 1);
    let catalog = Catalog::read(&dir).unwrap();
    let g = &catalog.generations[0];
    let base_path = g.dir.join("base.db.zst");
    let original = std::fs::read(&base_path).unwrap();

    let to = tmp.path().join("exists.db");
    std::fs::write(&to, "mine").unwrap();
    let e = archive::rebuild::rebuild(&catalog, g.base.commit, &to, 0o600).unwrap_err();
    assert!(matches!(e, Error::TargetExists { .. }), "{e}");
    assert_eq!(std::fs::read(&to).unwrap(), b"mine");

    let to = tmp.path().join("out.db");
    std::fs::remove_file(&base_path).unwrap();
    let e = archive::rebuild::rebuild(&catalog, g.base.commit, &to, 0o600).unwrap_err();
    assert!(e.to_string().contains("cannot be read"), "{e}");
    let mut flipped = original.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x55;
    std::fs::write(&base_path, &flipped).unwrap();
    let e = archive::rebuild::rebuild(&catalog, g.base.commit, &to, 0o600).unwrap_err();
    assert!(matches!(e, Error::BackupCorrupt { .. }), "{e}");
    assert!(!to.exists());

    // Damage inside the table's page, and every hash rewritten to match it.
    let mut pages = zstd::decode_all(&original[..]).unwrap();
    let page_size = g.base.page_size as usize;
    let leaf = page_size; // page 2: the table t
    pages[leaf] = 0x0d;
    pages[leaf + 3..leaf + 5].copy_from_slice(&[0xff, 0xff]);
    let count = (pages.len() / page_size) as u32;
    let hash = archive::pagehash::hash_of(g.base.page_size, count, |pgno, buf| {
        let at = (pgno as usize - 1) * page_size;
        buf.copy_from_slice(&pages[at..at + page_size]);
        true
    });
    let packed = zstd::encode_all(&pages[..], 1).unwrap();
    std::fs::write(&base_path, &packed).unwrap();
    let base_json = g.dir.join("base.json");
    let mut base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base_json).unwrap()).unwrap();
    base["hash"] = hash.into();
    base["sha256"] = sha_hex(&packed).into();
    base["bytes"] = (packed.len() as u64).into();
    std::fs::write(&base_json, base.to_string()).unwrap();
    let forged = Catalog::read(&dir).unwrap();
    let e = archive::rebuild::rebuild(&forged, g.base.commit, &to, 0o600).unwrap_err();
    assert!(e.to_string().contains("quick_check says"), "{e}");
    assert!(!to.exists());
}

fn sha_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The application's last connection closing checkpoints the WAL away and deletes it: with
/// commits the archive never saw, the next round records a gap; the runs' restore points file
/// that cannot be read is an error naming it.
#[test]
fn a_wal_deleted_with_unseen_commits_is_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, dir) = small_archive(tmp.path(), 1);
    {
        let app = Connection::open(&db).unwrap();
        app.execute("INSERT INTO t VALUES (100, 100, 'unseen')", [])
            .unwrap();
    }
    assert!(!archive::walfile::wal_path(&db).exists());
    let mut a = Archiver::start(&db, &dir, options()).unwrap();
    let r = a.round().unwrap();
    let gap = r.gap.expect("a gap");
    assert!(gap.reason.contains("checkpointed away"), "{}", gap.reason);
    let catalog = Catalog::read(&dir).unwrap();
    let to = tmp.path().join("newest.db");
    archive::rebuild::rebuild(&catalog, catalog.last().unwrap().id, &to, 0o600).unwrap();
    assert_eq!(ids_in(&to), [1, 100]);

    std::fs::create_dir(archive::marks::path(&dir)).unwrap();
    match archive::marks::read(&dir) {
        Err(Error::Io { path, .. }) => assert_eq!(path, archive::marks::path(&dir)),
        other => panic!("{other:?}"),
    }
}

/// A round whose index line cannot be written keeps nothing of it (its segment removed), and
/// the next round ships those commits once the index can be written again: no gap, no point
/// lost.
#[test]
fn a_round_that_cannot_write_its_index_line_is_shipped_again_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, dir, app, mut a) = started(tmp.path());
    app.execute("INSERT INTO t VALUES (1, 1, 'a')", []).unwrap();
    a.round().unwrap();
    let g = Catalog::read(&dir).unwrap().generations.remove(0);
    let index = archive::catalog::index_path(&g.dir);
    let saved = std::fs::read(&index).unwrap();
    std::fs::remove_file(&index).unwrap();
    std::fs::create_dir(&index).unwrap();
    app.execute("INSERT INTO t VALUES (2, 2, 'b')", []).unwrap();
    assert!(matches!(a.round(), Err(Error::Io { .. })));
    assert_eq!(
        segment_files(&g.dir).len(),
        1,
        "the failed round's segment is removed"
    );
    std::fs::remove_dir(&index).unwrap();
    std::fs::write(&index, saved).unwrap();
    let r = a.round().unwrap();
    assert!(r.gap.is_none() && r.commits == 1, "{r:?}");
    let catalog = Catalog::read(&dir).unwrap();
    let to = tmp.path().join("newest.db");
    archive::rebuild::rebuild(&catalog, catalog.last().unwrap().id, &to, 0o600).unwrap();
    assert_eq!(ids_in(&to), [1, 2]);
}

/// Restore points the archive cannot place (no WAL position at all, or a WAL it never saw) are
/// refused by version, saying why, and give no version to any point.
#[test]
fn restore_points_the_archive_cannot_place_are_refused_by_version() {
    let tmp = tempfile::tempdir().unwrap();
    let (_db, dir) = small_archive(tmp.path(), 2);
    let mark = |version: i64, before, next_salt, version_after| archive::marks::Mark {
        version,
        direction: "up".into(),
        within: Vec::new(),
        at: "2026-12-06T00:00:00Z".into(),
        before,
        next_salt,
        version_after,
    };
    let unseen = archive::walfile::Position {
        salt: [9, 9],
        frame: 0,
        checksum: [0, 0],
    };
    archive::marks::record(&dir, &mark(7, None, None, Some(7))).unwrap();
    archive::marks::record(&dir, &mark(8, Some(unseen), Some([8, 8]), None)).unwrap();
    let catalog = Catalog::read(&dir).unwrap();
    for version in [7, 8] {
        let e = archive::marks::resolve(&catalog, version).unwrap_err();
        assert!(
            e.to_string().contains("does not hold the WAL position"),
            "{version}: {e}"
        );
    }
    assert!(archive::marks::versions(&catalog).unwrap().is_empty());
}
