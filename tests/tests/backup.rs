//! Backups: consistent under a concurrently committing process, verified (a flipped byte is
//! caught, and restore refuses it), safe on a full disk, whole and per-table restore, rotation,
//! and ids and table names that cannot escape the backup directory or inject SQL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use belay_migrate::backup::{self, Compression, CreateOptions, Reason, Retention};
use belay_migrate::{Error, lock::MigrationLock};
use migrate_tests::{Scratch, count, dump, example_bin, example_migrations};

fn options(compression: Compression) -> CreateOptions {
    CreateOptions {
        compression,
        reason: Reason::Manual,
        busy_timeout: Duration::from_secs(60),
        ..CreateOptions::default()
    }
}

/// A migrated example database with some rows in every table.
fn populated() -> Scratch {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["-q", "up"]).expect(0);
    s.conn()
        .execute_batch(
            "INSERT INTO users (id, email, name) VALUES (1, 'a@x', 'a'), (2, 'b@x', 'b'), (3, 'c@x', 'c');
             INSERT INTO projects VALUES (10, 1, 'p'), (11, 2, 'q'), (12, 3, 'r');
             INSERT INTO memberships VALUES (10, 2, 2), (11, 3, 3);
             INSERT INTO tasks (id, project_id, title) VALUES (100, 10, 't'), (101, 11, 'u'), (102, 12, 'v');",
        )
        .unwrap();
    s
}

fn backup_dir(s: &Scratch) -> std::path::PathBuf {
    backup::default_dir(&s.db())
}

fn take(s: &Scratch, compression: Compression) -> backup::Manifest {
    backup::create(&s.db(), &backup_dir(s), &options(compression), &mut |_| {}).unwrap()
}

fn consistent_under_a_writer(journal_mode: &str) {
    let s = Scratch::new();
    let conn = s.conn();
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = {journal_mode};
         CREATE TABLE left (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE right (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000)
         INSERT INTO left (v) SELECT hex(randomblob(24)) FROM n;
         INSERT INTO right (v) SELECT v FROM left;"
    ))
    .unwrap();
    drop(conn);
    let mut writer = Command::new(example_bin("writer"))
        .arg(s.db())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(writer.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    let mut steps = 0;
    let manifest = backup::create(
        &s.db(),
        &backup_dir(&s),
        &options(Compression::Zstd),
        &mut |_| steps += 1,
    );
    writer.kill().unwrap();
    writer.wait().unwrap();
    let manifest = manifest.unwrap();
    assert!(steps > 1, "the copy ran in several steps, with progress");
    backup::verify(&backup_dir(&s), &manifest.id, 2).unwrap();
    let copy = s.dir.path().join("copy.db");
    backup::restore_to(&copy, &backup_dir(&s), &manifest.id, Some(&s.db())).unwrap();
    let copy = rusqlite::Connection::open(&copy).unwrap();
    let left = count(&copy, "SELECT count(*) FROM left");
    assert_eq!(
        left,
        count(&copy, "SELECT count(*) FROM right"),
        "a torn snapshot"
    );
    assert!(
        left > 200_000,
        "the writer's first commit is in the snapshot"
    );
    assert_eq!(
        count(
            &copy,
            "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"
        ),
        1
    );
}

#[test]
fn backup_under_a_committing_process_is_a_consistent_snapshot_wal() {
    consistent_under_a_writer("wal");
}

#[test]
fn backup_under_a_committing_process_is_a_consistent_snapshot_rollback_journal() {
    consistent_under_a_writer("delete");
}

fn flip_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_flipped_byte_fails_verify_naming_the_file_and_restore_refuses_it() {
    for compression in [Compression::Zstd, Compression::None] {
        let s = populated();
        let manifest = take(&s, compression);
        let file = manifest.file_path(&backup_dir(&s));
        flip_byte(&file);
        let err = backup::verify(&backup_dir(&s), &manifest.id, 1).unwrap_err();
        assert!(matches!(err, Error::BackupCorrupt { .. }), "{err}");
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );

        s.conn().execute("DELETE FROM tasks", []).unwrap();
        let before = dump(&s.db());
        let run = s.migrate(&["restore", &manifest.id, "--yes"]).expect(6);
        assert!(run.stderr.contains("is not usable"), "{}", run.stderr);
        assert_eq!(dump(&s.db()), before, "the live database is unchanged");
        // No staged copy is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(backup_dir(&s))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_and_leaves_no_backup() {
    let s = populated();
    // Enough rows that the image outgrows the file-size limit below.
    s.conn()
        .execute_batch(
            "CREATE TABLE bulk AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000)
             SELECT x, randomblob(200) AS b FROM n;",
        )
        .unwrap();
    let before = dump(&s.db());
    // A child whose files may not exceed 1 MiB (ulimit -f counts 1024-byte blocks); SIGXFSZ
    // ignored, so writes fail with EFBIG as on a full disk instead of killing the process.
    let out = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 1024; exec \"$0\" \"$@\"")
        .arg(migrate_tests::migrate_bin())
        .arg("--db")
        .arg(s.db())
        .args(["backup", "create", "--plain"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
    assert!(
        stderr.contains("the disk is full") || stderr.contains("is the disk full?"),
        "{stderr}"
    );
    assert!(
        stderr.contains(".backups/"),
        "names where it was writing: {stderr}"
    );
    let dir = backup_dir(&s);
    assert!(backup::list(&dir).unwrap().is_empty());
    // (The audit journal is the migrations' record, from setting up the database.)
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != belay_migrate::audit::FILE)
        .collect();
    assert!(files.is_empty(), "nothing left behind: {files:?}");
    assert_eq!(dump(&s.db()), before);
}

#[test]
fn restoring_one_table_brings_back_exactly_its_rows() {
    let s = populated();
    let manifest = take(&s, Compression::Zstd);
    let conn = s.conn();
    conn.execute_batch(
        "DELETE FROM tasks WHERE id = 101;
         UPDATE tasks SET title = 'changed' WHERE id = 100;
         INSERT INTO tasks (id, project_id, title) VALUES (103, 10, 'new');
         UPDATE users SET name = 'renamed' WHERE id = 1;",
    )
    .unwrap();
    let others = |s: &Scratch| -> String {
        dump(&s.db())
            .lines()
            // The restore's own record (`_migrate_attempts`) is the one other row it adds.
            .filter(|l| !l.starts_with("tasks:") && !l.starts_with("_migrate_attempts:"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let others_before = others(&s);
    let run = s
        .migrate(&[
            "--json",
            "restore",
            &manifest.id,
            "--table",
            "tasks",
            "--yes",
        ])
        .expect(0);
    assert_eq!(run.json()["tables"][0]["rows_after"], 3);
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT id, title FROM tasks ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [(100, "t".into()), (101, "u".into()), (102, "v".into())]
    );
    assert_eq!(others(&s), others_before, "nothing else changed");
}

#[test]
fn a_table_whose_schema_changed_is_refused() {
    let s = populated();
    let manifest = take(&s, Compression::Zstd);
    s.conn()
        .execute_batch("ALTER TABLE tasks ADD COLUMN notes TEXT; DELETE FROM tasks;")
        .unwrap();
    let before = dump(&s.db());
    let run = s
        .migrate(&["restore", &manifest.id, "--table", "tasks", "--yes"])
        .expect(4);
    assert!(
        run.stderr
            .contains("cannot restore table tasks: its schema differs from the backup's"),
        "{}",
        run.stderr
    );
    assert_eq!(dump(&s.db()), before);
}

#[test]
fn a_table_restore_that_would_orphan_rows_is_refused() {
    let s = populated();
    let manifest = take(&s, Compression::Zstd);
    // New project 13 of user 3, with a task; restoring projects would drop project 13.
    s.conn()
        .execute_batch(
            "INSERT INTO projects VALUES (13, 3, 'late');
             INSERT INTO tasks (id, project_id, title) VALUES (104, 13, 'orphan-to-be');",
        )
        .unwrap();
    let before = dump(&s.db());
    let run = s
        .migrate(&["restore", &manifest.id, "--table", "projects", "--yes"])
        .expect(4);
    assert!(
        run.stderr.contains("violating foreign keys"),
        "{}",
        run.stderr
    );
    assert_eq!(dump(&s.db()), before);
}

#[test]
fn whole_restore_and_restore_to_a_new_file() {
    let s = populated();
    let manifest = take(&s, Compression::Zstd);
    let snapshot = dump(&s.db());
    let user_snapshot = migrate_tests::user_dump(&s.db());
    s.conn()
        .execute_batch("DELETE FROM tasks; DROP TABLE memberships;")
        .unwrap();
    let restored = s
        .migrate(&["--json", "restore", "latest", "--yes"])
        .expect(0)
        .json();
    // The restore is recorded in the restored database: only `_migrate_attempts` differs.
    assert_eq!(migrate_tests::user_dump(&s.db()), user_snapshot);
    assert!(restored["pre_restore"].is_string(), "{restored}");
    let recorded: i64 = s
        .conn()
        .query_row(
            "SELECT count(*) FROM _migrate_attempts WHERE command = 'restore'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, 1);

    let copy = s.dir.path().join("copy.db");
    s.migrate(&["restore", &manifest.id, "--to", copy.to_str().unwrap()])
        .expect(0);
    assert_eq!(dump(&copy), snapshot);
    let run = s
        .migrate(&["restore", &manifest.id, "--to", copy.to_str().unwrap()])
        .expect(2);
    assert!(run.stderr.contains("exists"), "{}", run.stderr);
}

#[test]
fn restore_waits_for_the_migration_lock() {
    let s = populated();
    take(&s, Compression::Zstd);
    let _held = MigrationLock::acquire(&s.db(), Duration::ZERO).unwrap();
    s.migrate(&["--lock-timeout", "0.2", "restore", "--yes"])
        .expect(3);
}

#[test]
fn prune_keeps_exactly_what_the_policy_says() {
    let s = populated();
    let dir = backup_dir(&s);
    let real = take(&s, Compression::Zstd);
    // Backups at fixed dates: copies of a real one under rewritten manifests.
    let dates = [
        "2026-11-22T18:00:00.000Z",
        "2026-11-22T06:00:00.000Z",
        "2026-11-21T12:00:00.000Z",
        "2026-11-20T12:00:00.000Z",
        "2026-11-14T12:00:00.000Z",
        "2026-11-01T12:00:00.000Z",
    ];
    std::fs::remove_file(dir.join(format!("{}.json", real.id))).unwrap();
    let data = std::fs::read(real.file_path(&dir)).unwrap();
    std::fs::remove_file(real.file_path(&dir)).unwrap();
    for date in dates {
        let mut m = real.clone();
        m.id = date.replace([':', '.', '-'], "");
        m.created_at = date.to_owned();
        m.file = format!("{}.db.zst", m.id);
        std::fs::write(m.file_path(&dir), &data).unwrap();
        std::fs::write(dir.join(format!("{}.json", m.id)), m.to_json()).unwrap();
    }
    let policy = Retention {
        keep_last: 1,
        keep_daily: 2,
        keep_weekly: 2,
    };
    let deleted = backup::prune(&dir, &policy).unwrap();
    // Kept: the last one (22nd 18:00); the newest of each of the last 2 days (22nd 18:00, 21st);
    // the newest of each of the last 2 ISO weeks (W47: 22nd 18:00; W46: 14th).
    assert_eq!(
        deleted,
        [
            "20261101T120000000Z",
            "20261120T120000000Z",
            "20261122T060000000Z"
        ]
    );
    let kept: Vec<String> = backup::list(&dir)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        kept,
        [
            "20261114T120000000Z",
            "20261121T120000000Z",
            "20261122T180000000Z"
        ]
    );
    for id in &deleted {
        assert!(!dir.join(format!("{id}.db.zst")).exists());
    }
    backup::verify(&dir, "latest", 1).unwrap();
}

#[test]
fn ids_and_table_names_cannot_escape_or_inject() {
    let s = populated();
    take(&s, Compression::Zstd);
    let outside = s.dir.path().join("secret.json");
    std::fs::write(&outside, "{}").unwrap();
    for id in ["../secret", "/etc/passwd", "latest/../../secret", "a.json"] {
        let run = s.migrate(&["restore", id, "--yes"]).expect(2);
        assert!(
            run.stderr.contains("is not a backup id"),
            "{id}: {}",
            run.stderr
        );
    }
    let before = dump(&s.db());
    for table in [
        "users; DROP TABLE tasks; --",
        "tasks\" ; DELETE FROM users; --",
        "_migrate_history",
    ] {
        let run = s
            .migrate(&["restore", "latest", "--table", table, "--yes"])
            .expect(4);
        assert!(
            run.stderr.contains("cannot restore table"),
            "{table}: {}",
            run.stderr
        );
    }
    assert_eq!(dump(&s.db()), before);
    assert_eq!(count(&s.conn(), "SELECT count(*) FROM users"), 3);
}

#[test]
fn a_backup_of_a_damaged_database_is_refused_and_the_copy_rolled_back() {
    // A database whose b-tree is damaged: its backup matches its checksum (the damage was
    // there when it was taken), so only the integrity check can catch it, while the copy into
    // the live database is already under way.
    let s = populated();
    let damaged = s.dir.path().join("damaged.db");
    {
        let conn = rusqlite::Connection::open(&damaged).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000)
             INSERT INTO t SELECT x, randomblob(100) FROM n;",
        )
        .unwrap();
    }
    let mut bytes = std::fs::read(&damaged).unwrap();
    // The type byte of page 3 (a b-tree page of t): 0xff is no valid page type.
    bytes[2 * 4096] = 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    let dir = backup_dir(&s);
    let manifest =
        backup::create(&damaged, &dir, &options(Compression::Zstd), &mut |_| {}).unwrap();

    let before = dump(&s.db());
    let run = s.migrate(&["restore", &manifest.id, "--yes"]).expect(6);
    assert!(
        run.stderr.contains("fails its integrity check"),
        "{}",
        run.stderr
    );
    assert_eq!(dump(&s.db()), before, "the copy was rolled back");
    let check: String = s
        .conn()
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
