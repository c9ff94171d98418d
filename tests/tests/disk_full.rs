//! A real full disk (a small tmpfs): a run whose backup cannot fit is refused before it
//! starts, and a backup that runs out of room mid-way fails naming the disk, leaving the
//! database as it was and no partial backup behind.

use migrate_tests::tmpfs::Tmpfs;
use migrate_tests::{Scratch, count, example_migrations, user_dump};

/// A database of about 2 MB with rows that do not compress much.
fn large(s: &Scratch) {
    s.conn()
        .execute_batch(
            "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
             INSERT INTO blobs (b) SELECT randomblob(4000) FROM n;",
        )
        .unwrap();
}

/// The backup directory's disk has less room than the database: `up` is refused before
/// anything is written, naming the directory and both sizes.
#[test]
fn a_run_whose_backup_cannot_fit_is_refused_before_it_starts() {
    let s = Scratch::with_migrations(&example_migrations());
    large(&s);
    let disk = Tmpfs::mount(&s.dir.path().join("small"), 256 * 1024);
    let before = user_dump(&s.db());
    let dir = disk.path().join("backups");
    let run = s
        .migrate(&["--backup-dir", dir.to_str().unwrap(), "up"])
        .expect(1);
    assert!(
        run.stderr.contains(&disk.path().display().to_string()),
        "{}",
        run.stderr
    );
    assert_eq!(user_dump(&s.db()), before, "the database must be untouched");
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM sqlite_schema WHERE name = 'users'"
        ),
        0
    );
}

/// `backup create` onto a disk that fills while it writes fails with the disk named and
/// leaves no partial backup (nor its manifest) behind; the database is untouched.
#[test]
fn a_backup_that_fills_the_disk_leaves_nothing_behind() {
    let s = Scratch::with_migrations(&example_migrations());
    large(&s);
    let disk = Tmpfs::mount(&s.dir.path().join("small"), 512 * 1024);
    let dir = disk.path().join("backups");
    let before = user_dump(&s.db());
    let run = s
        .migrate(&[
            "--backup-dir",
            dir.to_str().unwrap(),
            "backup",
            "create",
            "--plain",
        ])
        .expect(1);
    assert!(
        run.stderr.contains("disk is full") || run.stderr.contains("No space left"),
        "{}",
        run.stderr
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().ends_with(".db")
                && !n.to_string_lossy().ends_with(".json")),
        "{left:?}"
    );
    assert_eq!(user_dump(&s.db()), before);
}

/// The audit journal's disk fills: the run still succeeds, and its journal line waits in the
/// spool beside the database; once there is room, the next attempt's line follows it into the
/// journal, in order, and the spool is gone. No entry lost.
#[test]
fn journal_lines_wait_in_the_spool_while_the_journals_disk_is_full() {
    let s = Scratch::with_migrations(&example_migrations());
    let disk = Tmpfs::mount(&s.dir.path().join("small"), 64 * 1024);
    let dir = disk.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let filler = disk.path().join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 1 << 20]);
    let dir_arg = dir.to_str().unwrap();
    s.migrate(&["--backup-dir", dir_arg, "up", "--to", "2", "--no-backup"])
        .expect(0);
    let spool = belay_migrate::guard::files::spool::path(&s.db());
    let waiting = belay_migrate::guard::files::spool::waiting(&spool).unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(waiting[0].contains("\"command\":\"up\""), "{}", waiting[0]);
    assert!(spool.exists());

    std::fs::remove_file(&filler).unwrap();
    s.migrate(&["--backup-dir", dir_arg, "up", "--no-backup"])
        .expect(0);
    assert!(!spool.exists());
    let journal = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{journal}");
    assert_eq!(lines[0]["to_version"], 2);
    assert!(lines[1]["to_version"].as_i64().unwrap() > 2, "{journal}");
    assert_eq!(
        count(&s.conn(), "SELECT count(*) FROM _migrate_attempts"),
        2
    );
}
