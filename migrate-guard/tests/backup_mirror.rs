//! Backups copied to a remote store and back (`backup::mirror`) on `InMemory`: round trips
//! byte-identical, retried pushes accepted, foreign objects and manifests that disagree with
//! the listing refused, fetches that appear only with the right hash, prune exactly per policy.
//! (The same through a real S3 API and the CLI: tests/tests/remote_backup.rs.)

use std::path::Path;
use std::sync::Arc;

use belay_guard::Error;
use belay_guard::backup::{self, CreateOptions, Manifest, Reason, Retention, mirror};
use belay_guard::remote::{Put, Remote};
use object_store::memory::InMemory;
use rusqlite::Connection;

fn memory() -> Remote {
    Remote::over(Arc::new(InMemory::new()), "app", "memory://test").unwrap()
}

/// A database of a few hundred rows and one backup of it in `dir/app.db.backups`.
fn backed_up(dir: &Path) -> (std::path::PathBuf, Manifest) {
    let db = dir.join("app.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
         INSERT INTO t(v) SELECT hex(randomblob(40)) FROM n;",
    )
    .unwrap();
    drop(conn);
    let backups = backup::default_dir(&db);
    let manifest = backup::create(&db, &backups, &CreateOptions::default(), &mut |_| {}).unwrap();
    (backups, manifest)
}

#[test]
fn a_pushed_backup_comes_back_byte_identical_and_a_retry_is_accepted() {
    let scratch = tempfile::tempdir().unwrap();
    let (dir, manifest) = backed_up(scratch.path());
    let recorded = manifest.file_sha256.clone().expect("recorded at creation");
    let remote = memory();
    let pushed = mirror::push(&remote, &dir, &manifest).unwrap();
    assert_eq!(
        (pushed.file, pushed.bytes),
        (Put::Created, manifest.compressed_size)
    );
    assert_eq!(
        mirror::push(&remote, &dir, &manifest).unwrap().file,
        Put::AlreadyThere
    );
    let listing = mirror::list(&remote).unwrap();
    assert_eq!(listing.backups, vec![manifest.clone()]);
    assert!(listing.rejected.is_empty());
    // Fetched into an empty directory (the machine that lost its disk).
    let elsewhere = tempfile::tempdir().unwrap();
    let fetched = mirror::fetch(&remote, elsewhere.path(), "latest").unwrap();
    assert_eq!(fetched, manifest);
    assert_eq!(
        std::fs::read(fetched.file_path(elsewhere.path())).unwrap(),
        std::fs::read(manifest.file_path(&dir)).unwrap()
    );
    assert_eq!(
        mirror::verify(&remote, &manifest.id).unwrap().id,
        manifest.id
    );
    // The fetched copy verifies as any backup does (image SHA-256, then SQLite's check).
    backup::verify(elsewhere.path(), &manifest.id, 1).unwrap();
    // A second fetch finds it there and reads nothing.
    assert_eq!(
        mirror::fetch(&remote, elsewhere.path(), &manifest.id).unwrap(),
        manifest
    );
    assert_eq!(recorded.len(), 64);
}

#[test]
fn a_foreign_object_at_a_backups_key_is_refused_and_never_overwritten() {
    let scratch = tempfile::tempdir().unwrap();
    let (dir, manifest) = backed_up(scratch.path());
    let remote = memory();
    let file_key = mirror::key(&manifest.file_name());
    remote
        .put_bytes(&file_key, b"someone else's object")
        .unwrap();
    let refused = mirror::push(&remote, &dir, &manifest).unwrap_err();
    assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
    assert_eq!(
        remote.read_bytes(&file_key, 100).unwrap(),
        b"someone else's object"
    );
    // No manifest was written: the store holds no backup.
    assert!(mirror::list(&remote).unwrap().backups.is_empty());
}

#[test]
fn a_local_file_that_is_not_what_its_manifest_says_is_not_shipped() {
    let scratch = tempfile::tempdir().unwrap();
    let (dir, manifest) = backed_up(scratch.path());
    let path = manifest.file_path(&dir);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let remote = memory();
    let refused = mirror::push(&remote, &dir, &manifest).unwrap_err();
    assert!(matches!(refused, Error::BackupCorrupt { .. }), "{refused}");
    assert!(
        remote.list().unwrap().is_empty(),
        "nothing left in the store"
    );
}

#[test]
fn manifests_that_disagree_with_the_listing_are_rejected_and_never_acted_on() {
    let scratch = tempfile::tempdir().unwrap();
    let (dir, manifest) = backed_up(scratch.path());
    let remote = memory();
    mirror::push(&remote, &dir, &manifest).unwrap();
    let plant = |id: &str, edit: &dyn Fn(&mut Manifest)| {
        let mut m = manifest.clone();
        m.id = id.to_owned();
        m.file = m.file_name();
        edit(&mut m);
        remote
            .put_bytes(&mirror::key(&format!("{id}.json")), m.to_json().as_bytes())
            .unwrap();
    };
    // Its file is missing; the listing gives another size; no file hash; not its own name.
    plant("20200101T000000000Z-manual", &|_| {});
    plant("20200102T000000000Z-manual", &|m| m.compressed_size += 1);
    remote
        .put_bytes(
            &mirror::key("20200102T000000000Z-manual.db.zst"),
            &std::fs::read(manifest.file_path(&dir)).unwrap(),
        )
        .unwrap();
    plant("20200103T000000000Z-manual", &|m| m.file_sha256 = None);
    remote
        .put_bytes(
            &mirror::key("20200103T000000000Z-manual.db.zst"),
            &std::fs::read(manifest.file_path(&dir)).unwrap(),
        )
        .unwrap();
    remote
        .put_bytes(
            &mirror::key("20200104T000000000Z-manual.json"),
            b"{not json",
        )
        .unwrap();
    let listing = mirror::list(&remote).unwrap();
    assert_eq!(listing.backups, vec![manifest.clone()]);
    let mut reasons: Vec<String> = listing
        .rejected
        .iter()
        .map(|r| format!("{}: {}", r.path.display(), r.reason))
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 4, "{reasons:#?}");
    assert!(reasons[0].contains("is not in the store"), "{}", reasons[0]);
    assert!(reasons[1].contains("the manifest says"), "{}", reasons[1]);
    assert!(reasons[2].contains("file_sha256"), "{}", reasons[2]);
    assert!(
        reasons[3].contains("not a backup manifest"),
        "{}",
        reasons[3]
    );
    assert!(
        reasons[0].starts_with("memory://test/backups/20200101T000000000Z-manual.json"),
        "{}",
        reasons[0]
    );
    // A policy that keeps nothing deletes only the usable backup; the rejected stay.
    let before = remote.list().unwrap().len();
    let deleted = mirror::prune(
        &remote,
        &Retention {
            keep_last: 0,
            keep_daily: 0,
            keep_weekly: 0,
        },
    )
    .unwrap();
    assert_eq!(deleted, vec![manifest.id.clone()]);
    assert_eq!(remote.list().unwrap().len(), before - 2);
    // Nor can a rejected one be fetched.
    let refused = mirror::fetch(&remote, scratch.path(), "20200102T000000000Z-manual");
    assert!(
        matches!(refused, Err(Error::NoSuchBackup { .. })),
        "{refused:?}"
    );
}

#[test]
fn a_fetch_appears_only_with_the_right_hash() {
    let scratch = tempfile::tempdir().unwrap();
    let (dir, manifest) = backed_up(scratch.path());
    let remote = memory();
    mirror::push(&remote, &dir, &manifest).unwrap();
    // The object replaced by other bytes of the same size (bit rot in the store).
    let file_key = mirror::key(&manifest.file_name());
    let mut bytes = remote.read_bytes(&file_key, 1 << 30).unwrap();
    bytes[10] ^= 1;
    remote.delete(&file_key).unwrap();
    remote.put_bytes(&file_key, &bytes).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let refused = mirror::fetch(&remote, elsewhere.path(), &manifest.id).unwrap_err();
    assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
    let left: Vec<_> = std::fs::read_dir(elsewhere.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "nothing in the cache: {left:?}");
    let refused = mirror::verify(&remote, &manifest.id).unwrap_err();
    assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
}

#[test]
fn a_local_backup_of_the_same_id_with_another_image_is_not_taken_for_the_remote_one() {
    let scratch = tempfile::tempdir().unwrap();
    let (dir, manifest) = backed_up(scratch.path());
    let remote = memory();
    mirror::push(&remote, &dir, &manifest).unwrap();
    let mut other = manifest.clone();
    other.sha256 = "0".repeat(64);
    std::fs::write(dir.join(format!("{}.json", manifest.id)), other.to_json()).unwrap();
    let refused = mirror::fetch(&remote, &dir, &manifest.id).unwrap_err();
    assert!(matches!(refused, Error::RemoteMismatch { .. }), "{refused}");
}

#[test]
fn prune_deletes_exactly_what_the_policy_says() {
    let scratch = tempfile::tempdir().unwrap();
    let (dir, manifest) = backed_up(scratch.path());
    let remote = memory();
    // Twelve backups over three weeks, each a copy of the one file under its own id.
    let bytes = std::fs::read(manifest.file_path(&dir)).unwrap();
    let mut all = Vec::new();
    for i in 0..12u32 {
        let day = 1 + i * 2;
        let created_at = format!("2026-03-{day:02}T10:00:00.000Z");
        let mut m = manifest.clone();
        m.id = backup::new_id(&created_at, Reason::Scheduled.as_str());
        m.created_at = created_at;
        m.reason = Reason::Scheduled;
        m.file = m.file_name();
        remote
            .put_bytes(&mirror::key(&m.file_name()), &bytes)
            .unwrap();
        remote
            .put_bytes(
                &mirror::key(&format!("{}.json", m.id)),
                m.to_json().as_bytes(),
            )
            .unwrap();
        all.push(m);
    }
    let policy = Retention {
        keep_last: 2,
        keep_daily: 4,
        keep_weekly: 2,
    };
    // Worked out by hand: the newest two (days 23, 21); the newest of the last four days that
    // have one (23, 21, 19, 17); the newest of the last two ISO weeks (Monday 16 to Sunday 22
    // March: 21; from Monday 23: 23). Kept: 17, 19, 21, 23; the other eight go.
    let kept_days = [17u32, 19, 21, 23];
    let expected: Vec<String> = all
        .iter()
        .filter(|m| {
            let day: u32 = m.created_at[8..10].parse().unwrap();
            !kept_days.contains(&day)
        })
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(mirror::prune(&remote, &policy).unwrap(), expected);
    let left: Vec<String> = mirror::list(&remote)
        .unwrap()
        .backups
        .iter()
        .map(|m| m.created_at[8..10].to_owned())
        .collect();
    assert_eq!(left, ["17", "19", "21", "23"]);
    // Every file of a deleted backup went with its manifest.
    assert_eq!(remote.list().unwrap().len(), 8);
}

#[test]
fn a_backup_still_only_here_stays_pending_until_copied_or_gone() {
    use belay_guard::backup::offsite::{Kind, Shipping};
    let scratch = tempfile::tempdir().unwrap();
    let (dir, manifest) = backed_up(scratch.path());
    let remote = memory();
    let refused = Error::Remote {
        url: "memory://test".into(),
        key: String::new(),
        reason: "down".into(),
    };
    Shipping::of(&remote, Kind::Backup, &manifest.id, Some(&refused))
        .record(&dir)
        .unwrap();
    // Another backup's copy succeeds: this one is still pending, and health would say so.
    Shipping::of(&remote, Kind::Backup, "20990101T000000000Z-manual", None)
        .record(&dir)
        .unwrap();
    let last = Shipping::last(&dir, Kind::Backup).unwrap().unwrap();
    assert_eq!(last.pending, vec![manifest.id.clone()]);
    assert!(last.problem().unwrap().contains(&manifest.id));
    // Removed here (rotated out): it can never be copied, so it is no longer pending.
    backup::remove(&dir, &manifest).unwrap();
    Shipping::of(&remote, Kind::Backup, "20990102T000000000Z-manual", None)
        .record(&dir)
        .unwrap();
    let last = Shipping::last(&dir, Kind::Backup).unwrap().unwrap();
    assert!(
        last.pending.is_empty() && last.problem().is_none(),
        "{last:?}"
    );
}
