//! The morning after a killed process: what it left is recovery, never damage; a lock is a
//! lock, a permission a permission; `--db` that is not a file, a lock timeout too long for
//! SQLite and a query that never ends are each refused or bounded; `restore latest` means the
//! newest backup once the restore holds the lock. (The random campaign of the same rules is
//! tests/tests/recovery_campaign.rs.)

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use belay_migrate::backup::{self, CreateOptions};
use migrate_tests::recovery::{as_reader, kill, kill_writer_inside_a_write, start_writer};
use migrate_tests::{Run, Scratch, count, sibling, user_dump};

/// A database at version 1 with 20,000 rows in `t` (what the writer rewrites), in `wal` mode
/// or not, and migration 2 pending.
fn app(wal: bool) -> Scratch {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_t.up.sql"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL);
         CREATE INDEX t_v ON t (v);",
    )
    .unwrap();
    s.migrate(&["-q", "up"]).expect(0);
    let conn = s.conn();
    if wal {
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
    }
    conn.execute_batch(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
           INSERT INTO t SELECT x, printf('row %06d %s', x, hex(randomblob(24))), x FROM c;",
    )
    .unwrap();
    drop(conn);
    std::fs::write(s.migrations().join("0002_u.up.sql"), "CREATE TABLE u (x);").unwrap();
    s
}

/// What SQLite gives back after its own recovery: the database and its journal copied and
/// opened by a connection that can write.
fn recovered(db: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    for suffix in ["", "-journal", "-wal"] {
        if sibling(db, suffix).exists() {
            std::fs::copy(sibling(db, suffix), sibling(&copy, suffix)).unwrap();
        }
    }
    user_dump(&copy)
}

fn files(db: &Path) -> Vec<Option<Vec<u8>>> {
    ["", "-journal", "-wal"]
        .iter()
        .map(|s| std::fs::read(sibling(db, s)).ok())
        .collect()
}

/// A hot journal is rolled back under the lock before anything reads the file: every reading
/// command says so and answers as SQLite's recovered file would, and `repair` finds nothing to
/// repair. (Before, `status`, `check` and `verify` exited 6 on the torn pages, `history` 1, and
/// `repair` rebuilt the database from a transaction that never committed.)
#[test]
fn a_journal_left_by_a_killed_writer_is_rolled_back_never_called_damage() {
    for command in [
        &["status"][..],
        &["check"],
        &["check", "--full"],
        &["verify"],
        &["history"],
        &["repair"],
        &["repair", "--dry-run"],
    ] {
        let s = app(false);
        assert!(
            kill_writer_inside_a_write(&s.db()),
            "no kill left a journal"
        );
        let truth = recovered(&s.db());
        let run = s.migrate(command).expect(0);
        assert!(
            run.stderr
                .contains("recovered: SQLite rolled back the rollback journal"),
            "{command:?}: {}",
            run.stderr
        );
        assert!(
            !sibling(&s.db(), "-journal").exists() || {
                std::fs::metadata(sibling(&s.db(), "-journal"))
                    .unwrap()
                    .len()
                    == 0
            }
        );
        assert_eq!(user_dump(&s.db()), truth, "{command:?} left other content");
        if command[0] == "repair" {
            assert!(
                run.stdout.contains("found nothing to repair"),
                "{}",
                run.stdout
            );
        }
    }
}

/// A user who may not write the database (or its directory) cannot roll the journal back: every
/// reading command says the recovery is pending and who will run it, exits 2, and changes no
/// byte; the next writer rolls it back and the data is SQLite's recovered data.
#[test]
fn a_reader_that_may_not_write_says_recovery_is_pending_and_changes_nothing() {
    let s = app(false);
    assert!(
        kill_writer_inside_a_write(&s.db()),
        "no kill left a journal"
    );
    let dir = s.db().parent().unwrap().to_path_buf();
    let before = files(&s.db());
    for command in [
        &["status"][..],
        &["--json", "check"],
        &["verify"],
        &["history"],
        &["repair", "--dry-run"],
        &["plan"],
    ] {
        let out = Run::from(as_reader(&dir, &s.db(), &s.migrations(), command));
        assert_eq!(out.code, 2, "{command:?}: {} {}", out.stdout, out.stderr);
        let said = out.stderr + &out.stdout;
        assert!(
            said.contains("recovery pending") || said.contains("recovery_pending"),
            "{command:?}: {said}"
        );
        assert_eq!(files(&s.db()), before, "{command:?} changed the files");
    }
    let check = Run::from(as_reader(
        &dir,
        &s.db(),
        &s.migrations(),
        &["--json", "check"],
    ));
    let doc = check.json();
    assert_eq!(doc["verdict"], "could_not_check");
    assert_eq!(doc["obstacle"], "recovery_pending");
    assert_eq!(doc["damage"], 0);
    // The one who can write rolls it back.
    let truth = recovered(&s.db());
    s.migrate(&["check"]).expect(0);
    assert_eq!(user_dump(&s.db()), truth);
}

/// An application holding the database with `locking_mode = EXCLUSIVE` is a lock: exit 3 after
/// the lock timeout for every command, never 6; `check` says so in its verdict.
#[test]
fn an_exclusive_mode_holder_is_a_lock_never_damage() {
    for wal in [false, true] {
        let s = app(wal);
        let holder = start_writer(&s.db(), true);
        for command in [
            &["--lock-timeout", "1", "status"][..],
            &["--lock-timeout", "1", "check"],
            &["--lock-timeout", "1", "verify"],
            &["--lock-timeout", "1", "history"],
            &["--lock-timeout", "1", "up"],
            &["--lock-timeout", "1", "down"],
            &["--lock-timeout", "1", "repair"],
            &["--lock-timeout", "1", "backup", "create"],
        ] {
            let started = Instant::now();
            let run = s.migrate(command);
            assert_eq!(
                run.code, 3,
                "wal {wal} {command:?}: {} {}",
                run.stdout, run.stderr
            );
            assert!(
                (run.stdout.clone() + &run.stderr).contains("locked"),
                "{command:?}: {}",
                run.stderr
            );
            assert!(started.elapsed() < Duration::from_secs(10), "{command:?}");
        }
        let doc = s
            .migrate(&["--lock-timeout", "1", "--json", "check"])
            .json();
        assert_eq!(
            (doc["verdict"].as_str(), doc["obstacle"].as_str()),
            (Some("could_not_check"), Some("locked"))
        );
        kill(holder);
        s.migrate(&["check"]).expect(0);
    }
}

/// A WAL database in a directory its reader cannot write (SQLite cannot make the `-shm` it
/// needs): an access problem, exit 2, never 6.
#[test]
fn a_wal_database_in_a_read_only_directory_is_an_access_problem() {
    let s = app(true);
    let dir = s.db().parent().unwrap().to_path_buf();
    for command in [&["status"][..], &["check"], &["verify"]] {
        let run = Run::from(as_reader(&dir, &s.db(), &s.migrations(), command));
        assert_eq!(run.code, 2, "{command:?}: {} {}", run.stdout, run.stderr);
        assert!(
            (run.stdout + &run.stderr).contains("access denied"),
            "{command:?}"
        );
    }
}

/// `--db` naming a directory, a FIFO or a device: every command exits 2 at once naming what it
/// is, creating nothing (a FIFO used to block `status` and `verify` forever, `/dev/null` read
/// as an empty database).
#[test]
fn a_db_that_is_not_a_regular_file_is_refused_by_every_command() {
    let s = app(false);
    let dir = s.db().parent().unwrap().to_path_buf();
    std::fs::create_dir(dir.join("d.db")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("fifo.db"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    for (db, said) in [
        ("d.db", "a directory"),
        ("fifo.db", "a FIFO"),
        ("/dev/null", "a character device"),
    ] {
        let db = dir.join(db);
        for command in [
            &["status"][..],
            &["verify"],
            &["check"],
            &["history"],
            &["plan"],
            &["up"],
            &["down"],
            &["repair"],
            &["backup", "create"],
            &["restore", "latest", "--yes"],
            &["baseline", "1"],
        ] {
            let mut child = migrate_tests::migrate_command()
                .arg("--db")
                .arg(&db)
                .arg("--migrations")
                .arg(s.migrations())
                .args(command)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let started = Instant::now();
            while child.try_wait().unwrap().is_none() {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "{db:?} {command:?} hangs"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            let run = Run::from(child.wait_with_output().unwrap());
            assert_eq!(run.code, 2, "{db:?} {command:?}: {}", run.stderr);
            assert!(
                run.stderr.contains(said),
                "{db:?} {command:?}: {}",
                run.stderr
            );
        }
    }
    assert_eq!(listing(), before, "something was created");
    assert!(!Path::new("/dev/null.migrate-lock").exists());
    assert!(!Path::new("/dev/null.backups").exists());
}

/// A lock timeout longer than SQLite's busy timeout can hold (2^31 - 1 ms) is refused, from
/// the flag, the environment or the file, before anything is created; the library clamps it.
#[test]
fn a_lock_timeout_beyond_sqlites_is_refused_not_a_panic() {
    let s = app(false);
    let fresh = s.db().parent().unwrap().join("new.db");
    for (env, args) in [
        (None, &["--lock-timeout", "2147484", "up"][..]),
        (Some("3000000"), &["up"][..]),
        (None, &["--lock-timeout", "1e300", "status"][..]),
    ] {
        let mut cmd = migrate_tests::migrate_command();
        cmd.arg("--db")
            .arg(&fresh)
            .arg("--migrations")
            .arg(s.migrations())
            .args(args);
        if let Some(v) = env {
            cmd.env("MIGRATE_LOCK_TIMEOUT", v);
        }
        let run = Run::from(cmd.output().unwrap());
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("at most 2147483 seconds"),
            "{}",
            run.stderr
        );
        assert!(!fresh.exists(), "{args:?} created the database");
    }
    // The longest accepted one works.
    s.migrate(&["--lock-timeout", "2147483", "-q", "up"])
        .expect(0);
    // The library takes any Duration: clamped, never a panic.
    let migrator =
        belay_migrate::Migrator::new(belay_migrate::source::read_dir(s.migrations()).unwrap())
            .with_lock_timeout(Duration::from_secs(u64::MAX / 4));
    migrator.status(s.db()).unwrap();
    migrator
        .run(s.db(), &belay_migrate::Request::Up { to: None })
        .unwrap();
}

/// A verify query that never ends no longer holds the migration lock until someone kills the
/// run: past `check_timeout` it is interrupted, the run fails and is rolled back (exit 5). The
/// migrations themselves run unbounded unless `migration_timeout` is set.
#[test]
fn verify_queries_and_migrations_run_within_their_budgets() {
    let s = app(false);
    std::fs::write(
        s.migrations().join("0002_u.verify.sql"),
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000)
         SELECT count(*) = 1000000000 FROM n;",
    )
    .unwrap();
    let config = s.db().parent().unwrap().join("migrate.toml");
    std::fs::write(&config, "check_timeout = 1\n").unwrap();
    let before = user_dump(&s.db());
    let started = Instant::now();
    let run = s
        .migrate(&["--config", config.to_str().unwrap(), "up"])
        .expect(5);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        run.stderr.contains(
            "the verify query of migration 2 at 0002_u.verify.sql:1 ran past its time budget of 1.0 s"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the database is unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(user_dump(&s.db()), before);
    assert!(
        !belay_migrate::lock::lock_path(&s.db()).exists() || {
            belay_migrate::lock::MigrationLock::acquire(&s.db(), Duration::ZERO).is_ok()
        }
    );
    // A migration of its own that runs too long, with a budget for migrations.
    std::fs::remove_file(s.migrations().join("0002_u.verify.sql")).unwrap();
    std::fs::write(
        s.migrations().join("0002_u.up.sql"),
        "CREATE TABLE u (x);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000)
         INSERT INTO u SELECT x FROM n;",
    )
    .unwrap();
    std::fs::write(&config, "migration_timeout = 1\n").unwrap();
    let run = s
        .migrate(&["--config", config.to_str().unwrap(), "up"])
        .expect(5);
    assert!(
        run.stderr
            .contains("migration 2 (0002_u.up.sql) ran past its time budget of 1.0 s"),
        "{}",
        run.stderr
    );
    assert_eq!(user_dump(&s.db()), before);
    // A budget that is not a number of seconds is a configuration error naming the key.
    std::fs::write(&config, "check_timeout = -3\n").unwrap();
    let run = s
        .migrate(&["--config", config.to_str().unwrap(), "up"])
        .expect(2);
    assert!(run.stderr.contains("check_timeout = -3"), "{}", run.stderr);
}

/// `restore latest` resolves `latest` once it holds the lock: a run that finished while it
/// waited took a newer backup, and that is the one restored.
#[test]
fn restore_latest_means_the_newest_backup_once_the_lock_is_held() {
    let s = app(false);
    let dir = backup::default_dir(&s.db());
    let old = backup::create(&s.db(), &dir, &CreateOptions::default(), &mut |_| {}).unwrap();
    let lock =
        belay_migrate::lock::MigrationLock::acquire(&s.db(), Duration::from_secs(5)).unwrap();
    let waiting = migrate_tests::live::spawn_migrate(&s, &["--json", "restore", "latest", "--yes"]);
    std::thread::sleep(Duration::from_millis(500));
    // What a run holding the lock does meanwhile: a change, and a newer backup of it.
    s.conn()
        .execute_batch("DELETE FROM t WHERE id > 10000;")
        .unwrap();
    let newer = backup::create(&s.db(), &dir, &CreateOptions::default(), &mut |_| {}).unwrap();
    assert_ne!(old.id, newer.id);
    drop(lock);
    let run = Run::from(waiting.wait_with_output().unwrap()).expect(0);
    assert_eq!(run.json()["id"], newer.id.as_str());
    assert_eq!(count(&s.conn(), "SELECT count(*) FROM t"), 10_000);
}

/// `repair` by a user who may not write says so and changes nothing; and on a database SQLite
/// calls ok after a kill it never rebuilds (the campaign draws the same at random).
#[test]
fn repair_never_acts_without_a_verdict_of_damage() {
    let s = app(true);
    assert!(kill_writer_inside_a_write(&s.db()));
    let truth = recovered(&s.db());
    let doc = s.migrate(&["--json", "repair"]).expect(0).json();
    assert_eq!(doc["actions"], serde_json::json!([]));
    assert_eq!(doc["damaged_copy"], serde_json::Value::Null);
    assert_eq!(user_dump(&s.db()), truth);
    let s = app(false);
    assert!(kill_writer_inside_a_write(&s.db()));
    let dir = s.db().parent().unwrap().to_path_buf();
    let before = files(&s.db());
    let run = Run::from(as_reader(&dir, &s.db(), &s.migrations(), &["repair"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(files(&s.db()), before);
}
