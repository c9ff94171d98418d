//! The safety crate's refusals and failure paths through its public API: tampered manifests,
//! damaged and missing backup files, unsafe paths beside the database, locked and foreign
//! files, and the verdicts SQLite's errors are read into. Each refusal leaves the files it
//! refused as they were.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use belay_guard::Error;
use belay_guard::backup::{
    self, Compression, CreateOptions, Current, Manifest, Reason, RestoreOptions, RestoreStep,
};
use belay_guard::database::{db, settle};
use belay_guard::files::{durable, journal, owned};
use belay_guard::integrity::{self, Depth, FindingKind, Obstacle, Options, Verdict};
use belay_guard::rusqlite::{self, Connection, OpenFlags, ffi};
use belay_guard::vocab::sql::quote_ident;
use belay_guard::vocab::verdict::{self, Stop};

/// A user id that is not the running user's (`nobody`).
const OTHER_USER: u32 = 65534;

/// A database at `dir/app.db` holding the rows 1, 2, 3 in `t`.
fn app_db(dir: &Path) -> PathBuf {
    let db = dir.join("app.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
        .unwrap();
    db
}

fn rows(db: &Path) -> Vec<i64> {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap()
        .prepare("SELECT x FROM t ORDER BY x")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn take(db: &Path, dir: &Path, compression: Compression, reason: Reason) -> Manifest {
    let options = CreateOptions {
        compression,
        reason,
        // As asked, whatever the data: these tests damage a file of a known format.
        min_ratio: None,
        ..CreateOptions::default()
    };
    backup::create(db, dir, &options, &mut |_| {}).unwrap()
}

/// Gives `path` to another user, or says it cannot (the tests run as root; elsewhere the
/// ownership checks cannot be set up, and the caller skips them).
fn give_away(path: &Path) -> bool {
    match std::os::unix::fs::lchown(path, Some(OTHER_USER), Some(OTHER_USER)) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("not root: ownership checks skipped");
            false
        }
        Err(e) => panic!("chown {}: {e}", path.display()),
    }
}

/// Sets a file's modification time a minute back, past the sweep's grace period.
fn age(path: &Path) {
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

fn corrupt_reason(e: &Error, expected_path: &Path) -> String {
    match e {
        Error::BackupCorrupt { path, reason } => {
            assert_eq!(path, expected_path, "{e}");
            reason.clone()
        }
        other => panic!("expected a corrupt backup, got {other}"),
    }
}

// ----- restores -----

/// An application that commits during every pre-restore backup makes a restore by hand give
/// up after three tries with `LockTimeout`, keep the application's rows, and leave no
/// pre-restore copy behind.
#[test]
fn a_restore_gives_up_when_the_application_commits_during_each_pre_restore_backup() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let manifest = take(&db, &backups, Compression::Zstd, Reason::Manual);
    let commits = AtomicUsize::new(0);
    let app = |step: &RestoreStep| {
        if let RestoreStep::Restoring { backup } = step {
            assert_eq!(backup, &manifest.id);
            let n = 10 + commits.fetch_add(1, Ordering::SeqCst) as i64;
            Connection::open(&db)
                .unwrap()
                .execute("INSERT INTO t VALUES (?1)", [n])
                .unwrap();
        }
    };
    let options = RestoreOptions {
        progress: Some(&app),
        ..RestoreOptions::new(Duration::from_secs(5))
    };
    assert_eq!(options.current, Current::BackUp);

    let e = backup::restore(&db, &backups, &manifest.id, &options, &mut ()).unwrap_err();
    match &e {
        Error::LockTimeout { path, holder, .. } => {
            assert_eq!(path, &db);
            assert!(holder.contains("committed during each of 3"), "{e}");
        }
        other => panic!("expected a lock timeout, got {other}"),
    }
    assert_eq!(commits.load(Ordering::SeqCst), 3);
    assert_eq!(rows(&db), vec![1, 2, 3, 10, 11, 12]);
    let left: Vec<String> = backup::list(&backups)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, vec![manifest.id]);
}

/// A plain backup restored into a new file is copied there whole (mode 0644 with no database
/// to take it from), and the backup itself stays as it was.
#[test]
fn a_plain_backup_restores_into_a_new_file_and_stays() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let manifest = take(&db, &backups, Compression::None, Reason::Manual);
    let before = std::fs::read(manifest.file_path(&backups)).unwrap();
    let to = dir.path().join("copy.db");

    let report = backup::restore_to(&to, &backups, &manifest.id, None).unwrap();
    assert_eq!(report.target, to);
    assert_eq!(report.bytes, manifest.byte_size);
    assert_eq!(rows(&to), vec![1, 2, 3]);
    let mode = std::fs::metadata(&to).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(std::fs::read(manifest.file_path(&backups)).unwrap(), before);
    backup::verify_checksum(&backups, &manifest).unwrap();
}

/// A restore under a write lock another connection lets go of within the timeout waits for
/// it, then restores.
#[test]
fn a_restore_waits_out_a_short_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let manifest = take(&db, &backups, Compression::Zstd, Reason::Manual);
    let app = Connection::open(&db).unwrap();
    app.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (4);")
        .unwrap();
    let (locked, go) = std::sync::mpsc::channel();
    let release = std::thread::spawn(move || {
        locked.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        app.execute_batch("COMMIT").unwrap();
    });
    go.recv().unwrap();
    let restored = backup::restore_locked(
        &db,
        &backups,
        &manifest,
        Duration::from_secs(10),
        backup::Proof::Accepted,
    )
    .unwrap();
    release.join().unwrap();
    assert_eq!(restored.map(|r| r.id), Some(manifest.id));
    assert_eq!(rows(&db), vec![1, 2, 3]);
}

/// A table restore is refused, changing nothing, for a table the backup does not have and for
/// a table with triggers.
#[test]
fn table_restores_refuse_a_table_missing_from_the_backup_or_with_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let manifest = take(&db, &backups, Compression::Zstd, Reason::Manual);
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE later (y); INSERT INTO later VALUES (1);
             CREATE TABLE audit (n);
             CREATE TRIGGER t_audit AFTER DELETE ON t BEGIN INSERT INTO audit VALUES (old.x); END;
             DELETE FROM t WHERE x = 3;",
        )
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    let timeout = Duration::from_secs(5);
    let refused = |table: &str| match backup::restore_tables(
        &db,
        &backups,
        (&manifest.id, &[table.to_owned()]),
        timeout,
        &mut (),
    )
    .unwrap_err()
    {
        Error::TableRestoreRefused { table: t, reason } => {
            assert_eq!(t, table);
            reason
        }
        other => panic!("expected a refusal, got {other}"),
    };
    assert_eq!(refused("later"), "there is no such table in the backup");
    assert!(refused("t").starts_with("it has triggers"));
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert_eq!(rows(&db), vec![1, 2]);
}

/// Removing a backup deletes its file before its manifest: a file already gone is no error,
/// and a file that cannot be removed keeps the manifest, so it reads as broken, never lost.
#[test]
fn removing_a_backup_takes_its_file_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let gone = take(&db, &backups, Compression::Zstd, Reason::Manual);
    std::fs::remove_file(gone.file_path(&backups)).unwrap();
    backup::remove(&backups, &gone).unwrap();
    assert!(backup::list(&backups).unwrap().is_empty());

    let stuck = take(&db, &backups, Compression::None, Reason::Manual);
    let file = stuck.file_path(&backups);
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    std::fs::write(file.join("inside"), "x").unwrap();
    let e = backup::remove(&backups, &stuck).unwrap_err();
    assert!(matches!(&e, Error::Io { path, .. } if path == &file), "{e}");
    assert_eq!(backup::list(&backups).unwrap(), vec![stuck]);
}

// ----- manifests -----

/// Every kind of tampering with a manifest is refused by name, listed among the rejected,
/// never among the backups.
#[test]
fn a_tampered_manifest_is_refused_saying_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let plain = take(&db, &backups, Compression::None, Reason::Manual);
    let path = backups.join(format!("{}.json", plain.id));
    let original: serde_json::Value = serde_json::from_str(&plain.to_json()).unwrap();
    let cases: [(&str, serde_json::Value, &str); 6] = [
        ("id", "../escape".into(), "`../escape` is not a backup id"),
        ("file", "other.db".into(), "stored plain is"),
        ("page_size", 1000.into(), "1000 is not an SQLite page size"),
        ("byte_size", (plain.byte_size + 1).into(), "are not the"),
        (
            "sha256",
            "not-hex".into(),
            "`not-hex` is not a SHA-256 in hex",
        ),
        (
            "compressed_size",
            (plain.byte_size - 1).into(),
            "a plain backup of",
        ),
    ];
    for (field, value, expected) in cases {
        let mut edited = original.clone();
        edited[field] = value;
        std::fs::write(&path, edited.to_string()).unwrap();
        let e = Manifest::read(&path).unwrap_err();
        assert!(corrupt_reason(&e, &path).contains(expected), "{field}: {e}");
        assert!(backup::list(&backups).unwrap().is_empty(), "{field}");
        let rejected = backup::rejected(&backups).unwrap();
        assert_eq!(rejected.len(), 1, "{field}");
        assert!(
            rejected[0].reason.contains(expected),
            "{field}: {rejected:?}"
        );
    }

    std::fs::write(&path, "{ not json").unwrap();
    let e = backup::find(&backups, &plain.id).unwrap_err();
    assert!(
        corrupt_reason(&e, &path).starts_with("not a backup manifest"),
        "{e}"
    );

    // A sound manifest under another backup's name points at a file it does not describe.
    std::fs::write(&path, plain.to_json()).unwrap();
    let renamed = backups.join("20000101T000000000Z-manual.json");
    std::fs::rename(&path, &renamed).unwrap();
    let e = Manifest::read(&renamed).unwrap_err();
    assert!(
        corrupt_reason(&e, &renamed).contains(&format!("should be named {}.json", plain.id)),
        "{e}"
    );

    let e = Manifest::read(&path).unwrap_err();
    match &e {
        Error::Io { path: p, source } => {
            assert_eq!(p, &path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, got {other}"),
    }
}

/// A scheduled backup carries its reason in its id and manifest, and may be `latest`; a
/// directory holding only pre-restore copies has no `latest`.
#[test]
fn latest_is_never_a_pre_restore_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let pre = take(&db, &backups, Compression::Zstd, Reason::PreRestore);
    let e = backup::find(&backups, "latest").unwrap_err();
    match &e {
        Error::NoSuchBackup { dir, id, reason } => {
            assert_eq!(dir, &backups);
            assert_eq!(id, "latest");
            assert!(reason.contains("but pre-restore copies"), "{e}");
        }
        other => panic!("expected no such backup, got {other}"),
    }
    assert_eq!(backup::find(&backups, &pre.id).unwrap(), pre);

    let scheduled = take(&db, &backups, Compression::Zstd, Reason::Scheduled);
    assert!(scheduled.id.ends_with("-scheduled"), "{}", scheduled.id);
    assert!(scheduled.to_json().contains("\"reason\": \"scheduled\""));
    assert_eq!(backup::find(&backups, "latest").unwrap(), scheduled);
}

// ----- the backup directory -----

/// A backup directory that does not exist holds no backup; a file where it should be is an
/// I/O error naming it, for listing and sweeping alike.
#[test]
fn a_missing_directory_is_empty_and_a_file_in_its_place_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none");
    assert!(backup::list(&missing).unwrap().is_empty());
    assert!(backup::rejected(&missing).unwrap().is_empty());
    assert_eq!(backup::sweep(&missing).unwrap(), backup::Swept::default());

    let file = dir.path().join("file");
    std::fs::write(&file, "not a directory").unwrap();
    for e in [
        backup::list(&file).unwrap_err(),
        backup::sweep(&file).unwrap_err(),
    ] {
        match &e {
            Error::Io { path, source } => {
                assert_eq!(path, &file);
                assert_eq!(source.kind(), std::io::ErrorKind::NotADirectory);
            }
            other => panic!("expected an I/O error, got {other}"),
        }
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
}

/// A directory named like a manifest is rejected with the reason it cannot be read.
#[test]
fn a_manifest_that_cannot_be_read_is_rejected_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("20260101T000000000Z-manual.json");
    std::fs::create_dir(&odd).unwrap();
    assert!(backup::list(dir.path()).unwrap().is_empty());
    let rejected = backup::rejected(dir.path()).unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].path, odd);
    assert!(
        rejected[0].reason.starts_with(&odd.display().to_string())
            && rejected[0].reason.contains("directory"),
        "{rejected:?}"
    );
}

/// The sweep removes a dead process's rehearsal directory with everything in it (counting its
/// bytes), and keeps what only looks like one, pid 0's, and another user's staging file.
#[test]
fn the_sweep_removes_dead_rehearsal_trees_and_keeps_what_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join(".rehearsal-999999999.db.backups");
    std::fs::create_dir_all(tree.join("inner")).unwrap();
    std::fs::write(tree.join("a.db.zst"), vec![0u8; 100]).unwrap();
    std::fs::write(tree.join("inner").join("b.json"), vec![0u8; 23]).unwrap();
    let pid_zero = dir.path().join(".rehearsal-0.db");
    std::fs::write(&pid_zero, "x").unwrap();
    let lookalike = dir.path().join(".rehearsal-999999999-notes");
    std::fs::write(&lookalike, "x").unwrap();
    let foreign = dir.path().join(".someone-else.db.zst.tmp");
    std::fs::write(&foreign, vec![0u8; 10]).unwrap();
    age(&foreign);
    let owned_by_other = give_away(&foreign);

    let swept = backup::sweep(dir.path()).unwrap();
    assert_eq!(swept.removed, vec![tree.clone()]);
    assert_eq!(swept.bytes, 123);
    assert!(!tree.exists());
    assert!(pid_zero.exists() && lookalike.exists());
    if owned_by_other {
        assert!(foreign.exists(), "another user's file is not swept");
    }
}

// ----- verification -----

/// A backup file replaced by a directory, or removed, is not usable: verify says which, naming
/// the file, and a restore from it leaves the database as it was.
#[test]
fn a_backup_file_that_is_gone_or_not_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let manifest = take(&db, &backups, Compression::Zstd, Reason::Manual);
    let file = manifest.file_path(&backups);
    std::fs::remove_file(&file).unwrap();
    let e = backup::verify(&backups, &manifest.id, 1).unwrap_err();
    assert_eq!(corrupt_reason(&e, &file), "the backup file is missing");

    std::fs::create_dir(&file).unwrap();
    let e = backup::verify(&backups, &manifest.id, 1).unwrap_err();
    assert_eq!(corrupt_reason(&e, &file), "it is not a regular file");

    Connection::open(&db)
        .unwrap()
        .execute_batch("INSERT INTO t VALUES (4)")
        .unwrap();
    let options = RestoreOptions {
        current: Current::Discard,
        ..RestoreOptions::new(Duration::from_secs(5))
    };
    let e = backup::restore(&db, &backups, &manifest.id, &options, &mut ()).unwrap_err();
    corrupt_reason(&e, &file);
    assert_eq!(rows(&db), vec![1, 2, 3, 4]);
}

/// A compressed backup damaged in place (same size), in its frame header or in its middle, is
/// corrupt to verify, to the checksum check and to a restore, and the database is untouched.
#[test]
fn a_damaged_compressed_backup_is_corrupt_and_restores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t (x INTEGER, pad BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
             INSERT INTO t SELECT i, randomblob(200) FROM n;",
        )
        .unwrap();
    let backups = backup::default_dir(&db);
    let manifest = take(&db, &backups, Compression::Zstd, Reason::Manual);
    let file = manifest.file_path(&backups);
    let pristine = std::fs::read(&file).unwrap();
    let len = pristine.len();
    let before = std::fs::read(&db).unwrap();
    // The frame's magic number, or the middle: the decoder itself fails (the frame carries
    // zstd's content checksum, checked as it decodes), before any hash is compared.
    for damaged in [0..4, len / 4..len / 2] {
        let mut bytes = pristine.clone();
        bytes[damaged.clone()].fill(0xAB);
        std::fs::write(&file, &bytes).unwrap();

        let e = backup::verify(&backups, &manifest.id, 1).unwrap_err();
        let reason = corrupt_reason(&e, &file);
        assert!(
            !reason.contains("does not match the manifest"),
            "{damaged:?}: {e}"
        );
        let e = backup::verify_checksum(&backups, &manifest).unwrap_err();
        corrupt_reason(&e, &file);
        let e = backup::verify_written(&backups, &manifest).unwrap_err();
        corrupt_reason(&e, &file);

        let options = RestoreOptions {
            current: Current::Discard,
            ..RestoreOptions::new(Duration::from_secs(5))
        };
        let e = backup::restore(&db, &backups, &manifest.id, &options, &mut ()).unwrap_err();
        corrupt_reason(&e, &file);
        assert_eq!(std::fs::read(&db).unwrap(), before, "{damaged:?}");
        // No staged image is left behind.
        let hidden: Vec<_> = std::fs::read_dir(&backups)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{damaged:?}: {hidden:?}");
    }
}

/// A compressed backup just written is verified by decoding it whole (zstd's own content
/// checksum): other content with a checksum of its own is told by its length; a frame without
/// a checksum (as an earlier version wrote) is hashed whole against the manifest instead.
#[test]
fn a_compressed_backup_just_written_reads_back_whole_or_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let manifest = take(&db, &backups, Compression::Zstd, Reason::Manual);
    backup::verify_written(&backups, &manifest).unwrap();
    let file = manifest.file_path(&backups);
    let image = std::fs::read(&db).unwrap();

    // The same image without a checksum: hashed, and found to match.
    let plain_frame = zstd::stream::encode_all(&image[..], 1).unwrap();
    std::fs::write(&file, &plain_frame).unwrap();
    backup::verify_written(&backups, &manifest).unwrap();

    // Another image without a checksum: hashed, and refused.
    let mut other = image.clone();
    other.truncate(image.len() - 512);
    std::fs::write(&file, zstd::stream::encode_all(&other[..], 1).unwrap()).unwrap();
    let e = backup::verify_written(&backups, &manifest).unwrap_err();
    assert_eq!(
        corrupt_reason(&e, &file),
        "its content does not match the manifest just written"
    );

    // Another image with a checksum: decodes whole, but is not the file the manifest was
    // written for (its size differs).
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    encoder.include_checksum(true).unwrap();
    std::io::Write::write_all(&mut encoder, &other).unwrap();
    let substitute = encoder.finish().unwrap();
    std::fs::write(&file, &substitute).unwrap();
    let e = backup::verify_written(&backups, &manifest).unwrap_err();
    assert_eq!(
        corrupt_reason(&e, &file),
        format!(
            "it holds {} bytes, its manifest says {}",
            substitute.len(),
            manifest.compressed_size
        )
    );
    // The same, claimed at that size: told by the length it decodes to.
    let mut claimed = manifest.clone();
    claimed.compressed_size = substitute.len() as u64;
    let e = backup::verify_written(&backups, &claimed).unwrap_err();
    assert!(
        corrupt_reason(&e, &file).starts_with(&format!("it decodes to {} bytes", other.len())),
        "{e}"
    );
}

/// A plain backup whose bytes changed after it was written fails the re-read of its checksum.
#[test]
fn a_plain_backup_changed_after_writing_fails_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    let backups = backup::default_dir(&db);
    let manifest = take(&db, &backups, Compression::None, Reason::Manual);
    backup::verify_checksum(&backups, &manifest).unwrap();
    let file = manifest.file_path(&backups);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&file, &bytes).unwrap();
    let e = backup::verify_checksum(&backups, &manifest).unwrap_err();
    assert_eq!(
        corrupt_reason(&e, &file),
        "its content does not match the manifest just written"
    );
    let e = backup::verify_written(&backups, &manifest).unwrap_err();
    assert_eq!(
        corrupt_reason(&e, &file),
        "its content does not match the manifest just written"
    );
}

/// A database of 64 KiB pages (stored as 1 in the header) is backed up and verified.
#[test]
fn a_database_of_the_largest_pages_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big-pages.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA page_size = 65536; CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let backups = backup::default_dir(&db);
    let manifest = take(&db, &backups, Compression::Zstd, Reason::Manual);
    assert_eq!(manifest.page_size, 65536);
    let verified = backup::verify(&backups, &manifest.id, 2).unwrap();
    assert_eq!(verified.bytes, 65536 * manifest.page_count);
    assert_eq!(verified.check, "a full check on 2 connections");
}

// ----- files beside the database -----

/// `open_file` names a file that cannot be opened, and refuses one owned by another user
/// without writing to it.
#[test]
fn owned_files_refuse_the_missing_and_other_users_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let e = owned::open_file(&missing, std::fs::OpenOptions::new().read(true)).unwrap_err();
    match &e {
        Error::Io { path, source } => {
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, got {other}"),
    }

    let theirs = dir.path().join("theirs");
    std::fs::write(&theirs, "theirs").unwrap();
    if !give_away(&theirs) {
        return;
    }
    let e = owned::open_file(&theirs, std::fs::OpenOptions::new().append(true)).unwrap_err();
    match &e {
        Error::UnsafePath { path, reason } => {
            assert_eq!(path, &theirs);
            assert_eq!(
                reason,
                &format!("owned by user {OTHER_USER}, not by the user running the tool")
            );
        }
        other => panic!("expected an unsafe path, got {other}"),
    }
    assert!(e.to_string().contains("nothing was written there"), "{e}");
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "theirs");
}

/// The backup directory must exist, be a directory of the running user's, and be writable by
/// nobody else: each failure says which.
#[test]
fn backup_directories_are_checked_for_what_they_are_and_whose() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let e = owned::check_dir(&missing).unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, source } if path == &missing && source.kind() == std::io::ErrorKind::NotFound),
        "{e}"
    );

    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let e = owned::check_dir(&file).unwrap_err();
    assert!(
        matches!(&e, Error::UnsafePath { path, reason } if path == &file && reason == "not a directory"),
        "{e}"
    );

    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o770)).unwrap();
    let e = owned::check_dir(&shared).unwrap_err();
    assert!(
        e.to_string()
            .contains("writable by its group (mode 770): backups hold all the data"),
        "{e}"
    );

    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    if give_away(&theirs) {
        let e = owned::check_dir(&theirs).unwrap_err();
        assert!(
            matches!(&e, Error::UnsafePath { reason, .. } if reason.starts_with(&format!("owned by user {OTHER_USER}"))),
            "{e}"
        );
        // Nothing is created in a directory that is not ours.
        assert!(durable::create_dir(&theirs).is_err());
        assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);
    }
}

/// Durable writes name what failed: a directory under a file, a file that exists already, a
/// rename into a missing directory (whose staged file is then removed), a directory to sync
/// that is gone.
#[test]
fn durable_writes_report_what_failed_and_leave_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "keep").unwrap();

    let under = file.join("backups");
    let e = durable::create_dir(&under).unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, .. } if path == &under),
        "{e}"
    );

    let e = durable::create_private(&file).unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, source } if path == &file && source.kind() == std::io::ErrorKind::AlreadyExists),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");

    let (staged, mut out) = durable::Staged::create(dir.path().join(".x.tmp")).unwrap();
    std::io::Write::write_all(&mut out, b"whole").unwrap();
    drop(out);
    let staged_path = staged.path().to_path_buf();
    let nowhere = dir.path().join("gone").join("x");
    let e = staged.publish(&nowhere).unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, source } if path == &nowhere && source.kind() == std::io::ErrorKind::NotFound),
        "{e}"
    );
    assert!(!staged_path.exists(), "the staged file is removed");

    let e = durable::write_atomically(&nowhere, "text").unwrap_err();
    assert!(matches!(&e, Error::Io { .. }), "{e}");
    assert!(!nowhere.exists());

    let e = durable::sync_dir(&nowhere).unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, .. } if path == &dir.path().join("gone")),
        "{e}"
    );
}

/// A journal that is a link to a file elsewhere is refused, and the file it points at is not
/// appended to.
#[test]
fn the_journal_is_never_appended_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("app.db.backups");
    durable::create_dir(&backups).unwrap();
    let elsewhere = dir.path().join("precious");
    std::fs::write(&elsewhere, "keep\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, journal::path(&backups)).unwrap();
    let e = journal::append(&backups, &serde_json::json!({"n": 1})).unwrap_err();
    assert!(
        matches!(&e, Error::UnsafePath { path, .. } if path == &journal::path(&backups)),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep\n");
}

// ----- what is at the database's path -----

/// What is not a regular file is named for what it is (a character device, a socket, a block
/// device where there is one), and a path through a file is an I/O error.
#[test]
fn what_is_at_the_database_path_is_named() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let invalid = |path: &Path| match db::regular_file(path).unwrap_err() {
        Error::InvalidDatabase { path: p, reason } => {
            assert_eq!(p, path);
            reason
        }
        other => panic!("expected an invalid database, got {other}"),
    };
    assert_eq!(
        invalid(Path::new("/dev/null")),
        "a character device, not a database file"
    );
    let socket = dir.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    assert_eq!(invalid(&socket), "a socket, not a database file");
    let block = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .find(|e| e.file_type().is_ok_and(|t| t.is_block_device()));
    if let Some(block) = block {
        assert_eq!(
            invalid(&block.path()),
            "a block device, not a database file"
        );
    }

    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let through = file.join("app.db");
    for e in [
        db::regular_file(&through).unwrap_err(),
        db::check_target(&through).unwrap_err(),
    ] {
        assert!(
            matches!(&e, Error::Io { path, source } if path == &through && source.kind() == std::io::ErrorKind::NotADirectory),
            "{e}"
        );
    }
    let e = db::check_target(dir.path()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidDatabase { reason, .. } if reason == "a directory, not a database file"),
        "{e}"
    );
    assert!(!db::looks_like_database(&dir.path().join("missing")));
}

/// Reading the columns of a file SQLite refuses gives SQLite's `SQLITE_NOTADB`.
#[test]
fn stored_columns_of_a_file_that_is_not_a_database_is_sqlites_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let conn = Connection::open_with_flags(&garbage, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let e = db::stored_columns(&conn, "main", "t").unwrap_err();
    assert_eq!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase)
    );
    assert_eq!(verdict::classify(&e), Stop::Damage);
}

/// The leftovers a settle finishes are named for an operator.
#[test]
fn leftovers_are_named() {
    assert_eq!(
        settle::Leftover::Wal.to_string(),
        "the WAL index a killed process left"
    );
    assert_eq!(
        settle::Leftover::Journal.to_string(),
        "the rollback journal a killed process left"
    );
}

// ----- checks -----

/// A text file is not a database: the check gives no verdict, and says why.
#[test]
fn a_text_file_is_not_checked_and_not_called_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.db");
    let body: String = (1..500).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&text, &body).unwrap();
    let report = integrity::check(&text, &Options::new(Depth::Quick)).unwrap();
    assert_eq!(report.verdict, Verdict::CouldNotCheck);
    assert_eq!(report.obstacle, Some(Obstacle::NotADatabase));
    assert_eq!(report.damage, 0);
    assert_eq!(report.findings[0].kind, FindingKind::Unchecked);
    assert_eq!(std::fs::read_to_string(&text).unwrap(), body);
}

/// A quick check of named tables on two connections checks those tables and says ok.
#[test]
fn a_quick_parallel_check_of_named_tables_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE u (y); CREATE INDEX u_y ON u (y); INSERT INTO u VALUES (1);")
        .unwrap();
    let options = Options {
        tables: vec!["T".to_owned(), "u".to_owned()],
        workers: 2,
        ..Options::new(Depth::Quick)
    };
    let report = integrity::check(&db, &options).unwrap();
    assert_eq!(report.verdict, Verdict::Ok, "{:?}", report.findings);
    assert_eq!(report.workers, 2);
    assert_eq!(report.tables, Some(vec!["T".to_owned(), "u".to_owned()]));
}

/// A quick check of named tables finds their damage on two connections as on one (the
/// parallel plan once left the named tables' b-trees out at quick depth, and said ok).
#[test]
fn a_quick_check_of_a_named_damaged_table_is_damaged_on_any_number_of_connections() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t (a, b); INSERT INTO t VALUES ('MARKERMARKERMARKER', 'tail');
             CREATE TABLE u (y); INSERT INTO u VALUES (1);",
        )
        .unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    let at = bytes
        .windows(18)
        .position(|w| w == b"MARKERMARKERMARKER")
        .unwrap();
    assert_eq!(&bytes[at - 3..at], &[3, 49, 21]);
    bytes[at - 1] = 133;
    std::fs::write(&db, &bytes).unwrap();
    for workers in [1, 2] {
        let options = Options {
            tables: vec!["t".to_owned()],
            workers,
            ..Options::new(Depth::Quick)
        };
        let report = integrity::check(&db, &options).unwrap();
        assert_eq!(
            report.verdict,
            Verdict::Damaged,
            "{workers} worker(s): {:?}",
            report.findings
        );
        let only_u = Options {
            tables: vec!["u".to_owned()],
            workers,
            ..Options::new(Depth::Quick)
        };
        let report = integrity::check(&db, &only_u).unwrap();
        assert_eq!(
            report.verdict,
            Verdict::Ok,
            "{workers}: {:?}",
            report.findings
        );
    }
}

/// A full check of a database with a virtual table (which holds no records of its own) is ok,
/// and a record whose header claims more than its cell holds is damage in its table, at
/// either depth.
#[test]
fn a_full_check_skips_virtual_tables_and_finds_a_damaged_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t (a, b);
             INSERT INTO t VALUES ('MARKERMARKERMARKER', 'tail');
             CREATE VIRTUAL TABLE r USING rtree(id, x0, x1);
             INSERT INTO r VALUES (1, 0, 1);",
        )
        .unwrap();
    let sound = integrity::check(&db, &Options::new(Depth::Full)).unwrap();
    assert_eq!(sound.verdict, Verdict::Ok, "{:?}", sound.findings);

    // The record's header: its length (3), then the serial types of 'MARKER…' (18 bytes of
    // text: 49) and 'tail' (21). 'tail' is made 60 bytes long, past the cell's end.
    let mut bytes = std::fs::read(&db).unwrap();
    let at = bytes
        .windows(18)
        .position(|w| w == b"MARKERMARKERMARKER")
        .unwrap();
    assert_eq!(&bytes[at - 3..at], &[3, 49, 21]);
    bytes[at - 1] = 133;
    std::fs::write(&db, &bytes).unwrap();
    for depth in [Depth::Quick, Depth::Full] {
        let report = integrity::check(&db, &Options::new(depth)).unwrap();
        assert_eq!(report.verdict, Verdict::Damaged, "{:?}", report.findings);
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.table.as_deref() == Some("t") && f.is_damage()),
            "{depth:?}: {:?}",
            report.findings
        );
    }
}

// ----- SQLite's answers -----

/// Each obstacle has a short name and a sentence saying what would clear it.
#[test]
fn every_obstacle_is_named_and_explained() {
    let all = [
        (Obstacle::Locked, "locked", "another connection"),
        (Obstacle::RecoveryPending, "recovery pending", "roll back"),
        (Obstacle::AccessDenied, "access denied", "permissions"),
        (Obstacle::NotADatabase, "not a database", "header string"),
        (Obstacle::TimedOut, "timed out", "time budget"),
        (Obstacle::Io, "I/O error", "operating system"),
        (Obstacle::Unknown, "no answer", "does not classify"),
    ];
    for (obstacle, name, explained) in all {
        assert_eq!(obstacle.to_string(), name);
        assert!(obstacle.explain().contains(explained), "{obstacle:?}");
    }
}

/// Errors SQLite really gives are read by their codes: a write lock held by another
/// connection is `Locked`, a file that is not a database is damage, a write on a read-only
/// connection or a file that cannot be opened is `AccessDenied`, an interrupted statement
/// `TimedOut`.
#[test]
fn sqlites_real_errors_are_classified_by_code() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path());

    let holder = Connection::open(&db).unwrap();
    holder
        .execute_batch("BEGIN EXCLUSIVE; INSERT INTO t VALUES (9);")
        .unwrap();
    let reader = Connection::open(&db).unwrap();
    reader.busy_timeout(Duration::ZERO).unwrap();
    let busy = reader
        .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
        .unwrap_err();
    assert_eq!(
        busy.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy)
    );
    assert_eq!(verdict::classify(&busy), Stop::Obstacle(Obstacle::Locked));
    assert_eq!(verdict::message(&busy), "database is locked");
    holder.execute_batch("ROLLBACK").unwrap();

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let notadb = Connection::open(&garbage)
        .unwrap()
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_err();
    assert_eq!(verdict::classify(&notadb), Stop::Damage);

    let read_only = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let denied = read_only
        .execute("INSERT INTO t VALUES (10)", [])
        .unwrap_err();
    assert_eq!(
        verdict::classify(&denied),
        Stop::Obstacle(Obstacle::AccessDenied)
    );
    assert_eq!(
        verdict::message(&denied),
        "attempt to write a readonly database"
    );

    let cannot_open = Connection::open_with_flags(
        dir.path().join("absent.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap_err();
    assert_eq!(
        verdict::classify(&cannot_open),
        Stop::Obstacle(Obstacle::AccessDenied)
    );

    let mut interrupted_conn = Connection::open(&db).unwrap();
    interrupted_conn.progress_handler(1, Some(|| true)).unwrap();
    let interrupted = interrupted_conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
        .unwrap_err();
    assert_eq!(
        verdict::classify(&interrupted),
        Stop::Obstacle(Obstacle::TimedOut)
    );
    assert_eq!(rows(&db), vec![1, 2, 3]);
}

/// The codes that are hard to provoke on purpose are read as documented: a pending recovery
/// (by extended code, and `SQLITE_PROTOCOL`), I/O, damage of any flavour, and anything else
/// unknown; an extended code is shown beside SQLite's message.
#[test]
fn extended_codes_are_classified_and_shown() {
    let failure = |code: i32, message: Option<&str>| {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), message.map(str::to_owned))
    };
    let cases = [
        (
            ffi::SQLITE_READONLY_ROLLBACK,
            Stop::Obstacle(Obstacle::RecoveryPending),
        ),
        (
            ffi::SQLITE_READONLY_RECOVERY,
            Stop::Obstacle(Obstacle::RecoveryPending),
        ),
        (
            ffi::SQLITE_READONLY_CANTINIT,
            Stop::Obstacle(Obstacle::RecoveryPending),
        ),
        (
            ffi::SQLITE_BUSY_RECOVERY,
            Stop::Obstacle(Obstacle::RecoveryPending),
        ),
        (
            ffi::SQLITE_PROTOCOL,
            Stop::Obstacle(Obstacle::RecoveryPending),
        ),
        (
            ffi::SQLITE_READONLY_DIRECTORY,
            Stop::Obstacle(Obstacle::AccessDenied),
        ),
        (
            ffi::SQLITE_LOCKED_SHAREDCACHE,
            Stop::Obstacle(Obstacle::Locked),
        ),
        (ffi::SQLITE_PERM, Stop::Obstacle(Obstacle::AccessDenied)),
        (ffi::SQLITE_AUTH, Stop::Obstacle(Obstacle::AccessDenied)),
        (ffi::SQLITE_IOERR_READ, Stop::Obstacle(Obstacle::Io)),
        (ffi::SQLITE_IOERR_SHORT_READ, Stop::Obstacle(Obstacle::Io)),
        (ffi::SQLITE_CORRUPT_INDEX, Stop::Damage),
        (ffi::SQLITE_NOTADB, Stop::Damage),
        (ffi::SQLITE_NOMEM, Stop::Obstacle(Obstacle::Unknown)),
        (ffi::SQLITE_MISUSE, Stop::Obstacle(Obstacle::Unknown)),
    ];
    for (code, expected) in cases {
        assert_eq!(
            verdict::classify(&failure(code, None)),
            expected,
            "code {code}"
        );
    }
    assert_eq!(
        verdict::classify(&rusqlite::Error::QueryReturnedNoRows),
        Stop::Obstacle(Obstacle::Unknown)
    );

    let rollback = failure(
        ffi::SQLITE_READONLY_ROLLBACK,
        Some("attempt to write a readonly database"),
    );
    assert_eq!(
        verdict::message(&rollback),
        format!(
            "attempt to write a readonly database (code {})",
            ffi::SQLITE_READONLY_ROLLBACK
        )
    );
    assert_eq!(
        verdict::message(&failure(ffi::SQLITE_BUSY, Some("database is locked"))),
        "database is locked"
    );
    assert_eq!(
        verdict::message(&rusqlite::Error::QueryReturnedNoRows),
        rusqlite::Error::QueryReturnedNoRows.to_string()
    );
}

// ----- the error type -----

/// `Debug` prints what `Display` does, and an I/O error for lack of room says so (a write to
/// /dev/full gives the real `ENOSPC`); other I/O errors add nothing.
#[test]
fn errors_print_one_message_and_name_a_full_disk() {
    let full = std::fs::write("/dev/full", b"x").unwrap_err();
    assert_eq!(full.raw_os_error(), Some(28));
    let e = Error::Io {
        path: PathBuf::from("/backups/x.db.zst"),
        source: full,
    };
    assert_eq!(format!("{e:?}"), e.to_string());
    assert!(
        e.to_string().starts_with("/backups/x.db.zst: ")
            && e.to_string()
                .ends_with(" (the disk is full, or a file-size limit was reached)"),
        "{e}"
    );
    let too_big = std::io::Error::from_raw_os_error(27);
    assert_eq!(
        belay_guard::storage_hint(&too_big),
        " (the disk is full, or a file-size limit was reached)"
    );
    let storage_full = std::io::Error::from(std::io::ErrorKind::StorageFull);
    assert!(!belay_guard::storage_hint(&storage_full).is_empty());
    let not_found = std::io::Error::from(std::io::ErrorKind::NotFound);
    assert_eq!(belay_guard::storage_hint(&not_found), "");
}

/// A quoted identifier stays one identifier, however hostile the name: SQLite creates and
/// reads a table by it, and nothing else is dropped.
#[test]
fn hostile_names_stay_one_identifier() {
    let name = r#"t"; DROP TABLE keep; --"#;
    assert_eq!(quote_ident(name), r#""t""; DROP TABLE keep; --""#);
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE keep (x)").unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE {0} (x); INSERT INTO {0} VALUES (1);",
        quote_ident(name)
    ))
    .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, vec!["keep".to_owned(), name.to_owned()]);
}
