//! What `--db` may name. Directories, devices, FIFOs, read-only connections, missing
//! directories, in-memory names and URIs are refused with a message naming the path and the
//! reason, before anything is created or backed up; `sqlite:` URLs are percent-decoded; a
//! request that fails validation creates no file.

use migrate_tests::{Scratch, migrate_command};

fn scratch() -> Scratch {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(s.migrations().join("0001_a.up.sql"), "CREATE TABLE a (x);").unwrap();
    s
}

/// Runs `migrate --migrations <dir> ARGS` in the scratch directory with `env` set.
fn migrate_in(s: &Scratch, env: &[(&str, &str)], args: &[&str]) -> migrate_tests::Run {
    let mut cmd = migrate_command();
    cmd.current_dir(s.db().parent().unwrap())
        .arg("--migrations")
        .arg(s.migrations())
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    migrate_tests::Run::from(cmd.output().unwrap())
}

/// Every file in the scratch directory but the migrations.
fn created(s: &Scratch) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(s.db().parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "migrations")
        .collect();
    names.sort();
    names
}

/// Environment, arguments, and what the refusal must say.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
    &'static str,
);

#[test]
fn what_is_not_a_database_file_is_refused_before_anything_is_created() {
    let s = scratch();
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
    let before = created(&s);
    let cases: [Case; 8] = [
        (&[], &["--db", "/dev/null", "up"], "a character device"),
        (&[], &["--db", "d.db", "up"], "a directory"),
        (&[], &["--db", "fifo.db", "up"], "a FIFO"),
        (
            &[],
            &["--db", "missing/app.db", "up"],
            "directory does not exist",
        ),
        (&[], &["--db", ":memory:", "up"], "in-memory"),
        (&[("MIGRATE_DB", "")], &["up"], "is empty"),
        (&[("MIGRATE_DB", "file:app.db")], &["up"], "is a URI"),
        (
            &[],
            &["--db", "new.db", "up", "--to", "99"],
            "no migration with version 99",
        ),
    ];
    for (env, args, said) in cases {
        let run = migrate_in(&s, env, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(said), "{args:?}: {}", run.stderr);
        assert_eq!(created(&s), before, "{args:?} created files");
    }
    assert!(!std::path::Path::new("/dev/null.migrate-lock").exists());
}

#[test]
fn a_sqlite_url_is_percent_decoded() {
    let s = scratch();
    migrate_in(&s, &[("DATABASE_URL", "sqlite:my%20app.db")], &["-q", "up"]).expect(0);
    assert!(s.db().parent().unwrap().join("my app.db").is_file());
}

/// A read-only connection handed to `run_on` is refused before the lock, the pre-flight and
/// the backup: no backup directory appears. With nothing pending it is fine.
#[test]
fn a_read_only_connection_is_refused_before_any_backup() {
    let s = scratch();
    s.migrate(&["-q", "up"]).expect(0);
    std::fs::write(s.migrations().join("0002_b.up.sql"), "CREATE TABLE b (x);").unwrap();
    let backups = belay_migrate::backup::default_dir(&s.db());
    std::fs::remove_dir_all(&backups).unwrap();
    let conn =
        rusqlite::Connection::open_with_flags(s.db(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let migrator =
        belay_migrate::Migrator::new(belay_migrate::source::read_dir(s.migrations()).unwrap());
    let e = migrator
        .run_on(&conn, &belay_migrate::Request::up())
        .unwrap_err();
    assert!(
        matches!(e, belay_migrate::Error::InvalidDatabase { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("read-only"), "{e}");
    assert!(!backups.exists(), "a backup was taken for nothing");
    let up_to_1 = belay_migrate::Request::Up { to: Some(1) };
    migrator.run_on(&conn, &up_to_1).unwrap();
}

/// An application holding SQLite's write lock for longer than the run's lock timeout: the run
/// exits 3 (not 5: no migration failed), says who holds it, changes nothing, and records the
/// attempt in the audit journal (the database's table would need the same lock).
#[test]
fn a_writer_holding_the_write_lock_is_a_lock_timeout() {
    let s = scratch();
    s.migrate(&["-q", "up"]).expect(0);
    std::fs::write(s.migrations().join("0002_b.up.sql"), "CREATE TABLE b (x);").unwrap();
    let app = s.conn();
    app.execute_batch("BEGIN IMMEDIATE; INSERT INTO a VALUES (1);")
        .unwrap();
    let run = s.migrate(&["up", "--lock-timeout", "1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("SQLite's write lock"), "{}", run.stderr);
    app.execute_batch("COMMIT").unwrap();
    let tables: i64 = app
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'b'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
    let journal = std::fs::read_to_string(belay_migrate::audit::path(
        &belay_migrate::backup::default_dir(&s.db()),
    ))
    .unwrap();
    assert!(
        journal.lines().last().unwrap().contains("write lock"),
        "{journal}"
    );
    assert!(!belay_migrate::marker::exists(&s.db()));
    s.migrate(&["-q", "up"]).expect(0);
}

/// Careless spellings an operator makes: a file suffix in capitals is read (never skipped for
/// its case), and `restore --table USERS` finds the table SQLite calls `users`.
#[test]
fn suffixes_and_table_names_are_matched_as_their_owners_match_them() {
    let s = scratch();
    std::fs::write(
        s.migrations().join("0002_USERS.UP.SQL"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann');",
    )
    .unwrap();
    let doc = s.migrate(&["--json", "up"]).expect(0).json();
    assert_eq!(doc["to_version"], 2, "{doc}");
    let backup = s.migrate(&["--json", "backup", "create"]).expect(0).json();
    let id = backup["id"].as_str().unwrap().to_owned();
    s.conn().execute("DELETE FROM users", []).unwrap();
    s.migrate(&["check", "--table", "USERS"]).expect(0);
    s.migrate(&["restore", &id, "--table", "USERS", "--yes"])
        .expect(0);
    let rows: i64 = s
        .conn()
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

/// `new` after the largest version there can be: refused, nothing written.
#[test]
fn new_refuses_to_go_past_the_largest_version() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("9223372036854775807_last.up.sql"),
        "SELECT 1;",
    )
    .unwrap();
    let run = s.migrate(&["new", "next"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("largest there can be"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_dir(s.migrations()).unwrap().count(), 1);
}

/// The main commands (up, status, verify, check, history, backup create and list, restore
/// `--to`, repair, down) with the database named four ways: a bare relative name, `./name`, an
/// absolute path, and a symbolic link to it. Each form works, and all of them share one lock,
/// one marker and one backup directory (the real file's).
#[test]
fn every_way_of_naming_the_database_reaches_the_same_file_and_backups() {
    let s = scratch();
    let dir = s.db().parent().unwrap().to_path_buf();
    std::os::unix::fs::symlink(s.db(), dir.join("link.db")).unwrap();
    let absolute = s.db().display().to_string();
    let mut seen = 0;
    for (i, form) in ["app.db", "./app.db", absolute.as_str(), "link.db"]
        .into_iter()
        .enumerate()
    {
        let run = |args: &[&str]| {
            let mut all = vec!["--db", form];
            all.extend_from_slice(args);
            let run = migrate_in(&s, &[], &all);
            assert_eq!(run.code, 0, "{form} {args:?}: {}", run.stderr);
            run
        };
        std::fs::write(
            s.migrations().join(format!("{:04}_t{i}.up.sql", i + 2)),
            format!("CREATE TABLE t{i} (x);"),
        )
        .unwrap();
        std::fs::write(
            s.migrations().join(format!("{:04}_t{i}.down.sql", i + 2)),
            format!("DROP TABLE t{i};"),
        )
        .unwrap();
        run(&["-q", "up"]);
        run(&["status"]);
        run(&["verify"]);
        run(&["check"]);
        run(&["history"]);
        run(&["backup", "create"]);
        let list = run(&["--json", "backup", "list"]);
        let listed = list.json()["backups"].as_array().unwrap().len();
        // Every form sees every backup taken so far, its own included: one directory.
        assert!(
            listed > seen,
            "{form}: {listed} backups listed, {seen} before"
        );
        seen = listed;
        let to = format!("copy-{i}.db");
        run(&["restore", "latest", "--to", &to]);
        assert!(dir.join(&to).is_file(), "{form}");
        run(&["repair"]);
        run(&["-q", "down", "--steps", "1"]);
        run(&["-q", "up"]);
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".backups") || n.contains(".migrate-lock"))
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        ["app.db.backups", "app.db.migrate-lock"],
        "one set beside the real file"
    );
}

/// Each refusal is its own typed error with its own exit code (no catch-all mapped to "usage"
/// whatever happened): a missing backup, a taken `--to` target, an unknown table, options that
/// do not go together, a missing database for a command that reads one.
#[test]
fn refusals_are_typed_and_keep_their_exit_codes() {
    let s = scratch();
    s.migrate(&["-q", "up"]).expect(0);
    s.migrate(&["-q", "backup", "create"]).expect(0);
    std::fs::write(s.db().parent().unwrap().join("taken.db"), "").unwrap();
    let taken = s
        .db()
        .parent()
        .unwrap()
        .join("taken.db")
        .display()
        .to_string();
    std::fs::write(
        s.migrations().join("0002_outside.up.sql"),
        "-- migrate:no-transaction\nCREATE TABLE o (x);",
    )
    .unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["restore", "20990101T000000000Z-manual", "--yes"],
            "there is no backup",
        ),
        (
            &["restore", "latest", "--to", &taken],
            "exists; a restore into another file",
        ),
        (&["check", "--table", "nope"], "there is no table `nope`"),
        (&["up", "--exclusive"], "runs outside any transaction"),
        (
            &["--db", "missing.db", "backup", "create"],
            "there is no database at",
        ),
    ];
    for (args, said) in cases {
        let run = if args[0] == "--db" {
            migrate_in(&s, &[], args)
        } else {
            s.migrate(args)
        };
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(said), "{args:?}: {}", run.stderr);
    }
}

/// `db = ""` in migrate.toml is refused like any empty name (it used to migrate an in-memory
/// database and report success), naming where the name came from.
#[test]
fn an_empty_db_in_the_configuration_is_refused() {
    let s = scratch();
    std::fs::write(s.db().parent().unwrap().join("migrate.toml"), "db = \"\"\n").unwrap();
    let run = migrate_in(&s, &[], &["up"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("`db` in migrate.toml is empty"),
        "{}",
        run.stderr
    );
}

/// The rusqlite belay-migrate is built on is re-exported, so an application opens the
/// connection it hands to `run_on` without naming a version of its own.
#[test]
fn the_start_up_call_takes_a_connection_opened_through_the_reexport() {
    let s = scratch();
    let conn = belay_migrate::rusqlite::Connection::open(s.db()).unwrap();
    let migrator =
        belay_migrate::Migrator::new(belay_migrate::source::read_dir(s.migrations()).unwrap());
    let report = migrator
        .run_on(&conn, &belay_migrate::Request::up())
        .unwrap();
    assert_eq!(report.to_version, Some(1));
}
