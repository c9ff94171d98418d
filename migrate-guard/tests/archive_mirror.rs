//! The point-in-time archive copied to a store and pulled back (`archive::mirror`) on
//! `InMemory`: every point of the pulled copy rebuilds the same rows as the local archive,
//! across compactions that merged segments the store already held; incremental pushes; a
//! foreign identity refused; an index line whose segment is missing rejected, the chain ending
//! before it; a segment of other bytes refused on pull; prune keeping the newest generation.
//! (The same through a real S3 API and `restore --at`: tests/tests/remote_backup.rs.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use belay_guard::Error;
use belay_guard::archive::{self, Archiver, Catalog, Options, mirror};
use belay_guard::remote::Remote;
use object_store::memory::InMemory;
use rusqlite::Connection;

fn memory() -> Remote {
    Remote::over(Arc::new(InMemory::new()), "app", "memory://test").unwrap()
}

fn wal_db(dir: &Path) -> PathBuf {
    let db = dir.join("app.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT);",
        )
        .unwrap();
    db
}

fn ids_in(db: &Path) -> Vec<i64> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `rounds` archiver rounds, each after one committed row; pushing every `every` rounds.
fn archive_with_pushes(
    db: &Path,
    archiver: &mut Archiver,
    remote: &Remote,
    shipper: &mut mirror::Shipper,
    (rounds, every): (usize, usize),
) {
    let conn = Connection::open(db).unwrap();
    let next: i64 = conn
        .query_row("SELECT coalesce(max(id), 0) + 1 FROM t", [], |r| r.get(0))
        .unwrap();
    for i in 0..rounds {
        conn.execute(
            "INSERT INTO t(id, pad) VALUES (?1, ?2)",
            rusqlite::params![next + i as i64, "x".repeat(200 + i % 50)],
        )
        .unwrap();
        archiver.round().unwrap();
        if (i + 1) % every == 0 {
            shipper.push(remote, archiver.dir()).unwrap();
        }
    }
}

/// Every point of `local` rebuilt from `local` and from `pulled`: the same rows.
fn same_points(local: &Path, pulled: &Path, scratch: &Path) -> usize {
    let a = Catalog::read(local).unwrap();
    let b = Catalog::read(pulled).unwrap();
    let points: Vec<_> = a.generations.iter().flat_map(|g| g.points()).collect();
    let theirs: Vec<_> = b.generations.iter().flat_map(|g| g.points()).collect();
    assert_eq!(
        points, theirs,
        "the pulled copy holds exactly the local points"
    );
    for p in &points {
        let x = scratch.join(format!("a-{}.db", p.id));
        let y = scratch.join(format!("b-{}.db", p.id));
        archive::rebuild::rebuild(&a, p.id, &x, 0o600).unwrap();
        archive::rebuild::rebuild(&b, p.id, &y, 0o600).unwrap();
        assert_eq!(ids_in(&x), ids_in(&y), "point {}", p.id);
    }
    points.len()
}

#[test]
fn a_pulled_archive_restores_every_point_the_local_one_does_across_compactions() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let options = Options {
        compact_after: 4,
        snapshot_every: None,
        ..Options::default()
    };
    let mut archiver = Archiver::start(&db, &dir, options).unwrap();
    let remote = memory();
    let mut shipper = mirror::Shipper::new();
    // Pushes every third round while compaction merges every fourth segment: merged segments
    // reach over ones the store holds and ones it does not.
    archive_with_pushes(&db, &mut archiver, &remote, &mut shipper, (30, 3));
    let last = shipper.push(&remote, &dir).unwrap();
    let again = shipper.push(&remote, &dir).unwrap();
    assert_eq!(again.objects, 0, "nothing new: nothing pushed");
    let local = Catalog::read(&dir).unwrap();
    assert!(
        local.generations[0]
            .segments
            .iter()
            .any(|e| e.file.contains('-')),
        "no compaction happened"
    );
    let pulled_dir = tmp.path().join("pulled");
    let pulled = mirror::pull(&remote, &pulled_dir).unwrap();
    assert!(pulled.rejected.is_empty(), "{:?}", pulled.rejected);
    assert_eq!(pulled.generations, 1);
    let scratch = tempfile::tempdir().unwrap();
    let points = same_points(&dir, &pulled_dir, scratch.path());
    assert!(points >= 30, "{points} points for 30 commits");
    // A second pull reuses every file (each hash checked) and downloads nothing.
    assert_eq!(mirror::pull(&remote, &pulled_dir).unwrap().downloaded, 0);
    // A fresh shipper (a restarted archiver) lists the store and pushes nothing again.
    let fresh = mirror::Shipper::new().push(&remote, &dir).unwrap();
    assert_eq!(fresh.objects, 0, "{fresh:?} after {last:?}");
}

#[test]
fn what_disagrees_is_rejected_and_another_databases_archive_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let options = Options {
        compact_after: 1000,
        snapshot_every: None,
        ..Options::default()
    };
    let mut archiver = Archiver::start(&db, &dir, options).unwrap();
    let remote = memory();
    let mut shipper = mirror::Shipper::new();
    archive_with_pushes(&db, &mut archiver, &remote, &mut shipper, (6, 1));
    let local = Catalog::read(&dir).unwrap();
    let g = &local.generations[0];
    let name = &g.base.generation;
    // The fourth segment's object goes: its index line no longer agrees with the listing.
    let fourth = &g.segments[3];
    remote
        .delete(&format!("archive/{name}/{}", fourth.file))
        .unwrap();
    let pulled_dir = tmp.path().join("pulled");
    let pulled = mirror::pull(&remote, &pulled_dir).unwrap();
    assert_eq!(pulled.rejected.len(), 1, "{:?}", pulled.rejected);
    assert!(
        pulled.rejected[0].contains(&fourth.file),
        "{:?}",
        pulled.rejected
    );
    let copy = Catalog::read(&pulled_dir).unwrap();
    assert_eq!(
        copy.last().unwrap().id,
        g.segments[2].last,
        "the chain ends before the segment it cannot prove"
    );
    assert_eq!(
        pulled.proven_until.map(|p| p.id),
        Some(g.segments[2].last),
        "and says the store names more than it proves"
    );
    // Index lines that contradict themselves are named and not used (none loops the pull).
    let mut backwards = g.segments[0].clone();
    (backwards.first, backwards.last) = (backwards.last + 1, backwards.last);
    let mut empty = g.segments[0].clone();
    empty.points.clear();
    (empty.first, empty.last) = (900, 901);
    for e in [&backwards, &empty] {
        remote
            .put_bytes(
                &format!("archive/{name}/index/{:016}-{:016}.json", e.first, e.last),
                serde_json::to_string(e).unwrap().as_bytes(),
            )
            .unwrap();
    }
    let odd = mirror::pull(&remote, &tmp.path().join("odd")).unwrap();
    assert_eq!(odd.rejected.len(), 3, "{:?}", odd.rejected);
    // Other bytes of the same size at the second segment's key: not used, the chain ends
    // before it, nothing of it left in the copy.
    let second = &g.segments[1];
    let k = format!("archive/{name}/{}", second.file);
    let mut bytes = remote.read_bytes(&k, 1 << 30).unwrap();
    bytes[0] ^= 1;
    remote.delete(&k).unwrap();
    remote.put_bytes(&k, &bytes).unwrap();
    let again = tmp.path().join("again");
    let pulled = mirror::pull(&remote, &again).unwrap();
    assert!(
        pulled
            .rejected
            .iter()
            .any(|r| r.contains(&second.file) && r.contains("SHA-256")),
        "{:?}",
        pulled.rejected
    );
    assert_eq!(pulled.proven_until.map(|p| p.id), Some(g.segments[0].last));
    assert!(!again.join(name).join(&second.file).exists());
    // The first copy, pulled again, still proves up to the third segment: its own copy of the
    // second hashes as recorded (a cache is trusted by its hash, and only by it).
    let pulled = mirror::pull(&remote, &pulled_dir).unwrap();
    assert_eq!(pulled.proven_until.map(|p| p.id), Some(g.segments[2].last));
    // Another database's archive under the same prefix: refused, never overwritten.
    let other = tempfile::tempdir().unwrap();
    let other_db = wal_db(other.path());
    let other_dir = archive::default_dir(&other_db);
    let mut other_archiver = Archiver::start(&other_db, &other_dir, Options::default()).unwrap();
    other_archiver.round().unwrap();
    let refused = mirror::Shipper::new()
        .push(&remote, &other_dir)
        .unwrap_err();
    assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
}

#[test]
fn prune_removes_old_generations_and_keeps_the_newest() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let options = Options {
        snapshot_every: Some(Duration::from_millis(1)),
        ..Options::default()
    };
    let mut archiver = Archiver::start(&db, &dir, options).unwrap();
    let remote = memory();
    let mut shipper = mirror::Shipper::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(5));
        archive_with_pushes(&db, &mut archiver, &remote, &mut shipper, (2, 1));
    }
    let generations = Catalog::read(&dir).unwrap().generations;
    assert!(generations.len() >= 3, "{}", generations.len());
    // A cutoff before every base: nothing goes.
    assert!(mirror::prune(&remote, 0).unwrap().is_empty());
    // A cutoff after every base: all but the newest go, whole.
    let removed = mirror::prune(&remote, i64::MAX).unwrap();
    let names: Vec<String> = generations
        .iter()
        .map(|g| g.base.generation.clone())
        .collect();
    assert_eq!(removed, names[..names.len() - 1]);
    let left: Vec<String> = remote
        .list_in("archive")
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .collect();
    assert!(
        left.iter()
            .all(|k| !k.contains("gen-") || k.contains(names.last().unwrap())),
        "{left:?}"
    );
    let pulled = mirror::pull(&remote, &tmp.path().join("pulled")).unwrap();
    assert_eq!(pulled.generations, 1);
}

#[test]
fn an_archive_begun_again_for_the_same_database_is_refused_by_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let remote = memory();
    let mut archiver = Archiver::start(&db, &dir, Options::default()).unwrap();
    archive_with_pushes(
        &db,
        &mut archiver,
        &remote,
        &mut mirror::Shipper::new(),
        (2, 1),
    );
    drop(archiver);
    // The disk is replaced: the same path, a new archive whose commit ids start over.
    std::fs::remove_dir_all(&dir).unwrap();
    let mut again = Archiver::start(&db, &dir, Options::default()).unwrap();
    again.round().unwrap();
    let mut shipper = mirror::Shipper::new();
    let refused = shipper.push(&remote, &dir).unwrap_err();
    assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
    assert!(
        refused.to_string().contains("archive/archive.json"),
        "{refused}"
    );
    // And on every later push of that shipper: nothing of the new archive goes in.
    let before = remote.list().unwrap();
    again.round().unwrap();
    let refused = shipper.push(&remote, &dir).unwrap_err();
    assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
    assert_eq!(remote.list().unwrap(), before);
}

#[test]
fn a_generation_the_store_cannot_prove_to_its_end_is_followed_by_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let options = Options {
        snapshot_every: Some(Duration::from_millis(300)),
        compact_after: 1000,
        ..Options::default()
    };
    let mut archiver = Archiver::start(&db, &dir, options).unwrap();
    let remote = memory();
    let mut shipper = mirror::Shipper::new();
    for _ in 0..2 {
        archive_with_pushes(&db, &mut archiver, &remote, &mut shipper, (4, 1));
        std::thread::sleep(Duration::from_millis(400));
    }
    archive_with_pushes(&db, &mut archiver, &remote, &mut shipper, (1, 1));
    let local = Catalog::read(&dir).unwrap();
    let first = local
        .generations
        .iter()
        .find(|g| g.segments.len() >= 2)
        .expect("a generation with two segments");
    let later = local
        .generations
        .iter()
        .find(|g| g.base.commit > first.base.commit)
        .expect("a later generation");
    // Its last segment's object goes.
    let lost = first.segments.last().unwrap();
    remote
        .delete(&format!("archive/{}/{}", first.base.generation, lost.file))
        .unwrap();
    let pulled_dir = tmp.path().join("pulled");
    let pulled = mirror::pull(&remote, &pulled_dir).unwrap();
    assert_eq!(pulled.proven_until, None, "the newest generation is whole");
    let copy = Catalog::read(&pulled_dir).unwrap();
    let gap = copy
        .gaps
        .iter()
        .find(|g| g.before.commit == later.base.commit)
        .unwrap_or_else(|| panic!("no gap before {}: {:?}", later.base.commit, copy.gaps));
    // A moment of the lost commits falls in the gap: refused, never the state before it.
    let (_, lost_at) = *lost.points.last().unwrap();
    assert!(lost_at < gap.before.at_ms);
    if lost_at > gap.after.as_ref().unwrap().at_ms && lost_at < gap.before.at_ms {
        assert!(copy.at_time(lost_at).is_err(), "a lost moment restored");
    }
    assert!(gap.after.as_ref().unwrap().commit < lost.first);
}

/// Two generations pushed (the second begun by `snapshot_every`), and the catalog.
fn two_generations(tmp: &Path, remote: &Remote) -> (PathBuf, PathBuf, Catalog) {
    let db = wal_db(tmp);
    let dir = archive::default_dir(&db);
    let options = Options {
        snapshot_every: Some(Duration::from_millis(300)),
        compact_after: 1000,
        ..Options::default()
    };
    let mut archiver = Archiver::start(&db, &dir, options).unwrap();
    let mut shipper = mirror::Shipper::new();
    archive_with_pushes(&db, &mut archiver, remote, &mut shipper, (3, 1));
    std::thread::sleep(Duration::from_millis(400));
    archive_with_pushes(&db, &mut archiver, remote, &mut shipper, (3, 1));
    let catalog = Catalog::read(&dir).unwrap();
    assert!(catalog.generations.len() >= 2);
    (db, dir, catalog)
}

#[test]
fn every_object_that_disagrees_is_named_and_left_out_of_the_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = memory();
    let (_, _, catalog) = two_generations(tmp.path(), &remote);
    let g0 = &catalog.generations[0];
    let base_bytes = remote
        .read_bytes(
            &format!("archive/{}/base.db.zst", g0.base.generation),
            1 << 30,
        )
        .unwrap();
    let put = |k: &str, bytes: &[u8]| remote.put_bytes(&format!("archive/{k}"), bytes).unwrap();
    // A gap that is not one; generations without a base file, without base.json, whose
    // base.json names another generation, gives another size, or is not JSON; one that does not
    // come after the one before it; index lines with an odd name, not JSON, naming a segment
    // not there, or giving another size.
    put("gaps/0000000000000099.json", b"not a gap");
    put("gen-0000000000009001/base.json", b"{}");
    put("gen-0000000000009002/base.db.zst", &base_bytes);
    let mut other = g0.base.clone();
    other.generation = "gen-0000000000000000".into();
    put(
        "gen-0000000000009003/base.json",
        serde_json::to_string(&other).unwrap().as_bytes(),
    );
    put("gen-0000000000009003/base.db.zst", &base_bytes);
    let mut sized = g0.base.clone();
    sized.generation = "gen-0000000000009004".into();
    sized.bytes += 1;
    put(
        "gen-0000000000009004/base.json",
        serde_json::to_string(&sized).unwrap().as_bytes(),
    );
    put("gen-0000000000009004/base.db.zst", &base_bytes);
    put("gen-0000000000009005/base.json", b"not json");
    put("gen-0000000000009005/base.db.zst", &base_bytes);
    let mut early = g0.base.clone();
    early.generation = "gen-0000000000009006".into();
    put(
        "gen-0000000000009006/base.json",
        serde_json::to_string(&early).unwrap().as_bytes(),
    );
    put("gen-0000000000009006/base.db.zst", &base_bytes);
    let name = &g0.base.generation;
    put(&format!("{name}/index/odd.json"), b"{}");
    put(
        &format!("{name}/index/0000000000000070-0000000000000071.json"),
        b"not json",
    );
    let mut missing = g0.segments[0].clone();
    (missing.first, missing.last) = (80, 80);
    missing.points = vec![(80, 0)];
    missing.file = "0000000000000080.seg".into();
    let mut resized = missing.clone();
    (resized.first, resized.last, resized.points) = (81, 81, vec![(81, 0)]);
    resized.file = g0.segments[0].file.clone();
    resized.bytes += 1;
    for e in [&missing, &resized] {
        put(
            &format!("{name}/index/{:016}-{:016}.json", e.first, e.last),
            serde_json::to_string(e).unwrap().as_bytes(),
        );
    }
    // A copy holding a generation the store no longer has.
    let copy = tmp.path().join("copy");
    std::fs::create_dir_all(copy.join("gen-0000000000000777")).unwrap();
    let pulled = mirror::pull(&remote, &copy).unwrap();
    let said = pulled.rejected.join("\n");
    for expected in [
        "gaps/0000000000000099.json",
        "gen-0000000000009001: its base.db.zst is not in the store",
        "gen-0000000000009002: its base.json is not in the store",
        "names the generation gen-0000000000000000",
        "the store lists",
        "gen-0000000000009005/base.json",
        "does not come after the generation before it",
        "not an index name",
        "0000000000000070-0000000000000071.json",
        "which is not in the store",
        "0000000000000081-0000000000000081.json: says",
    ] {
        assert!(said.contains(expected), "{expected} not in:\n{said}");
    }
    assert!(!copy.join("gen-0000000000000777").exists());
    assert!(!copy.join("gen-0000000000009006").exists());
    // The real generations are whole.
    let points: usize = Catalog::read(&copy)
        .unwrap()
        .generations
        .iter()
        .map(|g| g.points().count())
        .sum();
    let local: usize = catalog.generations.iter().map(|g| g.points().count()).sum();
    assert_eq!(points, local);
}

#[test]
fn a_damaged_local_generation_stops_there_and_the_later_ones_still_go() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = memory();
    let db = wal_db(tmp.path());
    let dir = archive::default_dir(&db);
    let options = Options {
        snapshot_every: Some(Duration::from_millis(300)),
        compact_after: 1000,
        ..Options::default()
    };
    let mut archiver = Archiver::start(&db, &dir, options).unwrap();
    // Archived here, nothing pushed yet.
    let mut idle = mirror::Shipper::new();
    archive_with_pushes(&db, &mut archiver, &remote, &mut idle, (2, 1000));
    std::thread::sleep(Duration::from_millis(400));
    archive_with_pushes(&db, &mut archiver, &remote, &mut idle, (2, 1000));
    let catalog = Catalog::read(&dir).unwrap();
    let (g0, last) = (&catalog.generations[0], catalog.generations.last().unwrap());
    // The first generation's first segment is damaged here.
    let seg = g0.dir.join(&g0.segments[0].file);
    let mut bytes = std::fs::read(&seg).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let mut shipper = mirror::Shipper::new();
    let refused = shipper.push(&remote, &dir).unwrap_err();
    assert!(matches!(refused, Error::BackupCorrupt { .. }), "{refused}");
    let keys: Vec<String> = remote.list().unwrap().into_iter().map(|l| l.key).collect();
    assert!(
        !keys.iter().any(|k| k.ends_with(&g0.segments[0].file)),
        "the damaged segment is not in the store: {keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("archive/{}/index/", last.base.generation))),
        "the later generation went: {keys:?}"
    );
    // Followed round after round: the failure is recorded for health, and tries wait.
    let backups = tmp.path().join("app.db.backups");
    let round = mirror::Following {
        change: mirror::Change::Changed,
        cutoff_ms: Some(0),
        record_in: &backups,
    };
    assert!(shipper.follow(&remote, &dir, round).is_err());
    let waited = shipper.follow(&remote, &dir, round).unwrap();
    assert_eq!(waited.objects, 0, "a try waits after a failure");
    let record = belay_guard::backup::offsite::Shipping::last(
        &backups,
        belay_guard::backup::offsite::Kind::Archive,
    )
    .unwrap()
    .unwrap();
    assert!(
        record.problem().unwrap().contains("the archive"),
        "{record:?}"
    );
    // Mended here: the next shipper's first round copies it and says so.
    bytes[middle] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let mut mended = mirror::Shipper::new();
    let shipped = mended
        .follow(
            &remote,
            &dir,
            mirror::Following {
                change: mirror::Change::Unchanged,
                cutoff_ms: Some(0),
                record_in: &backups,
            },
        )
        .unwrap();
    assert!(shipped.objects > 0);
    let record = belay_guard::backup::offsite::Shipping::last(
        &backups,
        belay_guard::backup::offsite::Kind::Archive,
    )
    .unwrap()
    .unwrap();
    assert!(record.problem().is_none(), "{record:?}");
    // Unchanged rounds after that push nothing.
    let quiet = mended
        .follow(
            &remote,
            &dir,
            mirror::Following {
                change: mirror::Change::Unchanged,
                cutoff_ms: None,
                record_in: &backups,
            },
        )
        .unwrap();
    assert_eq!(quiet.objects, 0);
}
