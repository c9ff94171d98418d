//! `migrate fleet plan|up|status`: many databases, each under its own net, a journal to resume
//! from, canary stages and an error budget, exit codes as ../shared/SPEC.md says.

use migrate_tests::fleet::{Fleet, outcomes, touched, version};
use migrate_tests::live::{App, lost_in};
use migrate_tests::{Run, count, migrate_command, sibling};
use rusqlite::Connection;

#[test]
fn a_fleet_run_migrates_every_database_under_its_net_and_a_rerun_opens_none() {
    let f = Fleet::new(5);
    let glob = f.glob();
    let plan = f.fleet(&["plan", "--dbs", &glob]).expect(0);
    assert!(
        plan.stdout
            .contains("t03.db: at version none, would apply 1, 2"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("5 with migrations to apply"),
        "{}",
        plan.stdout
    );

    let run = f.up(&["--jobs", "3"]).expect(0);
    let doc = run.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["summary"]["counts"]["migrated"], 5);
    for row in doc["databases"].as_array().unwrap() {
        assert_eq!(row["applied"], 2, "{row}");
        assert!(row["backup_id"].as_str().unwrap().ends_with("pre-migrate"));
    }
    for i in 1..=5 {
        assert_eq!(version(&f.tenant(i)), 2);
        assert!(sibling(&f.tenant(i), ".backups").is_dir());
    }

    // The same command again: every database is done, none is opened.
    let again = f.up(&[]).expect(0);
    assert!(outcomes(&again).iter().all(|(_, o)| o == "done_earlier"));

    let status = f.fleet(&["status", "--dbs", &glob]).expect(0);
    assert!(
        status
            .stdout
            .contains("t01.db: version 2, 0 pending; journal: migrated"),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("fleet status: 5 database(s): 5 at version 2"),
        "{}",
        status.stdout
    );
    let plan = f.plan(&format!("{glob} --json")).expect(0);
    assert_eq!(
        plan.json()["databases"][0]["pending"],
        serde_json::json!([])
    );
}

#[test]
fn a_canary_failure_stops_the_rollout_with_exactly_the_canary_databases_touched() {
    let f = Fleet::new(8);
    f.poison(3);
    let before: Vec<Vec<u8>> = (4..=8)
        .map(|i| std::fs::read(f.tenant(i)).unwrap())
        .collect();
    let run = f
        .up(&["--canary", "3", "--jobs", "2", "--max-failures", "5"])
        .expect(5);
    let outcomes = outcomes(&run);
    assert_eq!(outcomes[0].1, "migrated");
    assert_eq!(outcomes[1].1, "migrated");
    assert_eq!(outcomes[2], ("t03.db".to_owned(), "failed".to_owned()));
    for (name, outcome) in &outcomes[3..] {
        assert_eq!(outcome, "not_started", "{name}");
    }
    let doc = run.json();
    assert_eq!(
        doc["summary"]["stopped"],
        "not started: the canary stage failed"
    );
    assert_eq!(doc["summary"]["failures"][0]["exit_code"], 5);
    assert_eq!(doc["error"]["kind"], "migration_failed");
    assert_eq!(
        doc["error"]["message"],
        "6 of 8 database(s) did not finish; each row says why"
    );
    // The failed canary is back at its pre-run state; the rest were never opened.
    let conn = Connection::open(f.tenant(3)).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM ledger"), 0);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM pragma_table_info('ledger') WHERE name = 'other'"
        ),
        1
    );
    for (i, bytes) in (4..=8).zip(before) {
        assert_eq!(
            std::fs::read(f.tenant(i)).unwrap(),
            bytes,
            "t{i:02}.db changed"
        );
        assert!(!touched(&f.tenant(i)), "t{i:02}.db was touched");
    }
    // Text: the failure with its database and error, and how to resume.
    let glob = f.glob();
    let text = f.fleet(&["up", "--dbs", &glob, "--canary", "3"]).expect(5);
    assert!(text.stdout.contains("failed (exit 5): "), "{}", text.stdout);
    assert!(text.stdout.contains("t03.db"), "{}", text.stdout);
    assert!(
        text.stdout.contains("run the same command again to resume"),
        "{}",
        text.stdout
    );
}

#[test]
fn the_error_budget_tolerates_k_failures_and_stops_at_the_next() {
    let f = Fleet::new(6);
    f.poison(2);
    f.poison(4);
    let run = f.up(&["--jobs", "1", "--max-failures", "1"]).expect(5);
    let got: Vec<String> = outcomes(&run).into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        got,
        [
            "migrated",
            "failed",
            "migrated",
            "failed",
            "not_started",
            "not_started"
        ]
    );
    assert!(
        run.json()["summary"]["stopped"]
            .as_str()
            .unwrap()
            .contains("--max-failures 1")
    );
    // Default budget 0: the first failure stops it.
    let g = Fleet::new(3);
    g.poison(1);
    let run = g.up(&["--jobs", "1"]).expect(5);
    let got: Vec<String> = outcomes(&run).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["failed", "not_started", "not_started"]);
    // Fixed, and resumed with the same journal: the failed one runs again, the rest follow.
    Connection::open(g.tenant(1))
        .unwrap()
        .execute_batch("DROP TABLE ledger;")
        .unwrap();
    let run = g.up(&["--jobs", "1"]).expect(0);
    assert_eq!(run.json()["summary"]["counts"]["migrated"], 3);
}

#[test]
fn a_locked_database_is_reported_as_locked_and_the_others_migrate() {
    let f = Fleet::new(3);
    let held = belay_migrate::lock::MigrationLock::acquire(
        &std::fs::canonicalize(f.tenant(2)).unwrap(),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let run = f
        .up(&["--lock-timeout", "0.3", "--max-failures", "3"])
        .expect(3);
    let got: Vec<String> = outcomes(&run).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["migrated", "locked", "migrated"]);
    assert_eq!(run.json()["databases"][1]["exit_code"], 3);
    drop(held);
    let run = f.up(&[]).expect(0);
    let got: Vec<String> = outcomes(&run).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["done_earlier", "migrated", "done_earlier"]);
}

#[test]
fn a_second_fleet_run_on_the_same_journal_waits_for_the_first() {
    let f = Fleet::new(1);
    let held = belay_migrate::lock::MigrationLock::acquire(
        &f.journal(),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let run = f.up(&["--lock-timeout", "0.2"]).expect(3);
    assert!(run.stderr.contains("fleet.journal"), "{}", run.stderr);
    assert!(!touched(&f.tenant(1)));
    drop(held);
}

#[test]
fn a_list_names_databases_by_line_and_a_bad_line_is_refused_before_anything_runs() {
    let f = Fleet::new(3);
    let list = f.dir.path().join("tenants.txt");
    std::fs::write(
        &list,
        "# the tenants\ntenants/t01.db\n\ntenants/t03.db\r\ntenants/t01.db\n",
    )
    .unwrap();
    let run = migrate_command()
        .arg("--migrations")
        .arg(f.migrations())
        .args(["fleet", "up", "--json", "--list"])
        .arg(&list)
        .output()
        .unwrap();
    let run = Run::from(run).expect(0);
    let got: Vec<String> = outcomes(&run).into_iter().map(|(n, _)| n).collect();
    assert_eq!(got, ["t01.db", "t03.db"]);
    // The default journal is beside the list.
    assert!(sibling(&list, ".fleet-journal").is_file());
    assert!(!touched(&f.tenant(2)));

    std::fs::write(&list, "tenants/t02.db\ntenants/t09.db\n").unwrap();
    let run = Run::from(
        migrate_command()
            .arg("--migrations")
            .arg(f.migrations())
            .args(["fleet", "up", "--list"])
            .arg(&list)
            .output()
            .unwrap(),
    )
    .expect(2);
    assert!(run.stderr.contains("tenants.txt line 2"), "{}", run.stderr);
    assert!(run.stderr.contains("t09.db"), "{}", run.stderr);
    assert!(!touched(&f.tenant(2)));

    // A FIFO is never a database; an empty list names none; an unreadable list says so.
    let fifo = f.tenants().join("pipe.db");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let run = f.up(&[]).expect(2);
    assert!(
        run.stderr.contains("is not a regular file"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(&fifo).unwrap();
    for (text, said) in [
        ("# nothing\n", "names no database"),
        ("", "names no database"),
    ] {
        std::fs::write(&list, text).unwrap();
        let run = f
            .fleet(&["status", "--list", list.to_str().unwrap()])
            .expect(2);
        assert!(run.stderr.contains(said), "{}", run.stderr);
    }
    let run = f
        .fleet(&["status", "--list", "/nonexistent/list"])
        .expect(2);
    assert!(run.stderr.contains("cannot be read"), "{}", run.stderr);
    let run = f.fleet(&["plan", "--dbs", "/nonexistent/*.db"]).expect(2);
    assert!(
        run.stderr.contains("matches no database file"),
        "{}",
        run.stderr
    );
    let run = f.fleet(&["plan", "--dbs", "tenants/[.db"]).expect(2);
    assert!(
        run.stderr.contains("--dbs `tenants/[.db`"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_journal_refuses_other_migrations_and_a_foreign_line_and_drops_a_torn_one() {
    let f = Fleet::new(2);
    f.up(&[]).expect(0);
    f.write_migration("0003_more.up.sql", "INSERT INTO ledger VALUES ('v3');\n");
    let run = f.up(&[]).expect(2);
    assert!(run.stderr.contains("other migrations"), "{}", run.stderr);
    assert!(run.stderr.contains("--journal"), "{}", run.stderr);
    assert_eq!(version(&f.tenant(1)), 2, "nothing ran");
    // `fleet status` still shows that journal's outcomes, saying whose they are.
    let status = f.fleet(&["status", "--dbs", &f.glob()]).expect(0);
    assert!(
        status.stderr.contains("was written for other migrations"),
        "{}",
        status.stderr
    );
    assert!(
        status.stdout.contains("1 pending; journal: migrated"),
        "{}",
        status.stdout
    );
    std::fs::remove_file(f.migrations().join("0003_more.up.sql")).unwrap();

    // A line cut short by a kill is dropped, and the journal goes on after it: a new tenant
    // runs, and its lines start on their own.
    let mut text = std::fs::read_to_string(f.journal()).unwrap();
    text.push_str("{\"event\":\"finished\",\"db\":\"/x");
    std::fs::write(f.journal(), &text).unwrap();
    Connection::open(f.tenant(3))
        .unwrap()
        .execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    let run = f.up(&[]).expect(0);
    let got: Vec<String> = outcomes(&run).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["done_earlier", "done_earlier", "migrated"]);
    let after = std::fs::read_to_string(f.journal()).unwrap();
    assert!(!after.contains("\"/x"), "{after}");
    for line in after.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    // A database restored by hand since to its pre-migrate backup is not taken on the
    // journal's word: it runs again.
    let restore = migrate_command()
        .arg("--db")
        .arg(f.tenant(2))
        .arg("--migrations")
        .arg(f.migrations())
        .args(["restore", "latest", "--yes"])
        .output()
        .unwrap();
    Run::from(restore).expect(0);
    assert_eq!(version(&f.tenant(2)), 0);
    let run = f.up(&[]).expect(0);
    let got: Vec<String> = outcomes(&run).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["done_earlier", "migrated", "done_earlier"]);
    let after = std::fs::read_to_string(f.journal()).unwrap();

    // A line that is not ours is refused with its number.
    let mut lines: Vec<&str> = after.lines().collect();
    lines.insert(1, "not json");
    std::fs::write(f.journal(), lines.join("\n") + "\n").unwrap();
    let run = f.up(&[]).expect(2);
    assert!(
        run.stderr.contains("fleet.journal line 2"),
        "{}",
        run.stderr
    );
    let run = f.fleet(&["status", "--dbs", &f.glob()]).expect(2);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);

    // A journal that does not start with its fleet line, another format, and bytes that are
    // not text: refused.
    for (text, said) in [
        (
            "{\"event\":\"started\",\"db\":\"/x\"}\n",
            "must be the first",
        ),
        (
            "{\"event\":\"fleet\",\"format\":9,\"migrations\":\"x\",\"target\":null}\n",
            "format 9",
        ),
        ("{\"event\":\"fleet\",\"format\":1}\n", "line 1"),
        ("a list, not a journal", "is not a fleet journal"),
    ] {
        std::fs::write(f.journal(), text).unwrap();
        let run = f.up(&[]).expect(2);
        assert!(run.stderr.contains(said), "{said}: {}", run.stderr);
    }
    std::fs::write(f.journal(), [0xff, 0xfe, b'\n']).unwrap();
    let run = f.up(&[]).expect(2);
    assert!(run.stderr.contains("not UTF-8"), "{}", run.stderr);
}

#[test]
fn a_fleet_refuses_one_backup_or_archive_directory_for_every_database() {
    let f = Fleet::new(1);
    let glob = f.glob();
    let run = f
        .fleet(&["up", "--dbs", &glob, "--backup-dir", "/tmp/shared"])
        .expect(2);
    assert!(run.stderr.contains("beside it"), "{}", run.stderr);
    let config = f.dir.path().join("migrate.toml");
    std::fs::write(&config, "[archive]\ndir = \"shared-archive\"\n").unwrap();
    let run = f.fleet(&["up", "--dbs", &glob]).expect(2);
    assert!(
        run.stderr.contains("[archive] dir or url"),
        "{}",
        run.stderr
    );
    assert!(!touched(&f.tenant(1)));
    // One store for every tenant's backups: refused too, nothing touched.
    std::fs::remove_file(&config).unwrap();
    let run = f
        .fleet(&["up", "--dbs", &glob, "--backup-url", "file:///tmp/shared"])
        .expect(2);
    assert!(run.stderr.contains("--backup-url"), "{}", run.stderr);
    assert!(!touched(&f.tenant(1)));
    // `[archive]` without a directory: each database archives beside itself.
    std::fs::write(&config, "[archive]\nretention = \"7d\"\n").unwrap();
    f.fleet(&["up", "--dbs", &glob]).expect(0);
    assert_eq!(version(&f.tenant(1)), 2);
}

#[test]
fn status_and_plan_name_what_they_cannot_read_and_what_would_be_refused() {
    let f = Fleet::new(2);
    std::fs::write(
        f.tenant(2),
        b"this is not a database, just text of some length......",
    )
    .unwrap();
    let glob = f.glob();
    let status = f.fleet(&["status", "--dbs", &glob]);
    assert_ne!(status.code, 0, "{}", status.stdout);
    assert!(
        status.stdout.contains("t02.db: unreadable (exit"),
        "{}",
        status.stdout
    );
    let plan = f.fleet(&["plan", "--dbs", &glob]);
    assert_ne!(plan.code, 0);
    assert!(
        plan.stdout.contains("t02.db: refused (exit"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("1 refused"), "{}", plan.stdout);
    // A database migrated and then its applied file edited: refused (exit 4) in the plan.
    std::fs::remove_file(f.tenant(2)).unwrap();
    f.up(&[]).expect(0);
    f.write_migration(
        "0001_ledger.up.sql",
        "CREATE TABLE ledger (entry TEXT);\nINSERT INTO ledger VALUES ('v1');\n",
    );
    let plan = f.plan(&glob).expect(4);
    assert!(plan.stdout.contains("refused (exit 4)"), "{}", plan.stdout);
}

#[test]
fn a_glob_never_takes_backups_the_journal_or_hidden_files_for_tenants() {
    let f = Fleet::new(2);
    // Plain backups are `.db` files inside `<db>.backups`; a pattern over every directory
    // would match them.
    let plain = f.tenants().join("t01.db.backups");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::copy(f.tenant(1), plain.join("20260101T000000000Z-manual.db")).unwrap();
    std::fs::copy(f.tenant(1), f.tenants().join(".hidden.db")).unwrap();
    let journal = f.tenants().join("rollout.db");
    let all = format!("{}/**/*.db", f.tenants().display());
    let up = || {
        Run::from(
            migrate_command()
                .arg("--migrations")
                .arg(f.migrations())
                .args(["--json", "fleet", "up", "--dbs", &all, "--journal"])
                .arg(&journal)
                .output()
                .unwrap(),
        )
        .expect(0)
    };
    let got: Vec<String> = outcomes(&up()).into_iter().map(|(n, _)| n).collect();
    assert_eq!(got, ["t01.db", "t02.db"]);
    // Resumed: the journal itself (matched by the pattern now that it exists) is no tenant.
    let run = up();
    assert_eq!(outcomes(&run).len(), 2);
}

#[test]
fn a_list_takes_names_as_written_and_refuses_bytes_that_are_not_text() {
    let f = Fleet::new(1);
    std::fs::copy(f.tenant(1), f.tenants().join(" spaced.db")).unwrap();
    let list = f.dir.path().join("tenants.txt");
    std::fs::write(&list, "tenants/ spaced.db\r\n").unwrap();
    let run = f
        .fleet(&["status", "--list", list.to_str().unwrap(), "--json"])
        .expect(0);
    let got: Vec<String> = outcomes_of_status(&run);
    assert_eq!(got, [" spaced.db"]);
    std::fs::write(&list, b"tenants/t01.db\n\xff\xfe.db\n").unwrap();
    let run = f
        .fleet(&["status", "--list", list.to_str().unwrap()])
        .expect(2);
    assert!(
        run.stderr.contains("tenants.txt line 2: not UTF-8"),
        "{}",
        run.stderr
    );
}

/// The file names of a `fleet status --json`'s rows.
fn outcomes_of_status(run: &Run) -> Vec<String> {
    run.json()["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            std::path::Path::new(r["db"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn on_a_terminal_the_fleet_shows_a_bar_over_the_databases_then_the_summary() {
    let f = Fleet::new(24);
    f.poison(24);
    let command = format!(
        "{} --migrations {} fleet up --dbs '{}' --journal {}",
        migrate_tests::migrate_bin().display(),
        f.migrations().display(),
        f.glob(),
        f.journal().display()
    );
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("MIGRATE_JSON")
        .env_remove("MIGRATE_QUIET")
        .output()
        .expect("util-linux `script`, for a pseudo-terminal");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{terminal}");
    assert!(terminal.contains("/24 databases"), "no bar: {terminal}");
    assert!(terminal.contains("1 failed"), "{terminal}");
    assert!(
        terminal.contains("fleet: 24 database(s): 23 migrated, 1 failed"),
        "{terminal}"
    );
}

#[test]
fn without_journal_flag_a_glob_rollout_keeps_its_journal_in_the_current_directory() {
    let f = Fleet::new(1);
    let run = Run::from(
        migrate_command()
            .current_dir(f.dir.path())
            .arg("--migrations")
            .arg(f.migrations())
            .args(["fleet", "up", "--dbs", "tenants/*.db"])
            .output()
            .unwrap(),
    )
    .expect(0);
    assert!(
        run.stdout.contains("journal: migrate.fleet-journal"),
        "{}",
        run.stdout
    );
    assert!(f.dir.path().join("migrate.fleet-journal").is_file());
}

/// The journal on a real full disk (a tmpfs of two pages: the lock file's and the journal's):
/// once a line cannot be written, no new database starts, the document says why (exit 1), and
/// what ran is in its rows.
#[test]
fn a_journal_on_a_full_disk_stops_the_rollout_and_says_so() {
    let f = Fleet::new(16);
    let disk = migrate_tests::tmpfs::Tmpfs::mount(&f.dir.path().join("small"), 8 * 1024);
    let journal = disk.path().join("fleet.journal");
    let run = Run::from(
        migrate_command()
            .arg("--migrations")
            .arg(f.migrations())
            .args([
                "--json",
                "fleet",
                "up",
                "--jobs",
                "1",
                "--dbs",
                &f.glob(),
                "--journal",
            ])
            .arg(&journal)
            .output()
            .unwrap(),
    )
    .expect(1);
    let doc = run.json();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the fleet journal could not be written"),
        "{message}"
    );
    assert!(message.contains("fleet.journal"), "{message}");
    let got: Vec<String> = outcomes(&run).into_iter().map(|(_, o)| o).collect();
    let migrated = got.iter().filter(|o| *o == "migrated").count();
    assert!((1..16).contains(&migrated), "{got:?}");
    assert!(
        got[migrated..].iter().all(|o| o == "not_started"),
        "{got:?}"
    );
    assert_eq!(
        doc["summary"]["stopped"],
        "not started: the fleet journal could not be written"
    );
    for i in 1..=16 {
        let expected = if i <= migrated { 2 } else { 0 };
        if expected == 0 {
            assert!(!touched(&f.tenant(i)), "t{i:02}.db was touched");
        } else {
            assert_eq!(version(&f.tenant(i)), expected);
        }
    }
    drop(disk);
}

/// A journal path planted as a symbolic link (to a file the rollout must not write) is refused
/// before any database is touched; the link's target is left as it was.
#[test]
fn a_planted_link_as_journal_is_refused_and_its_target_untouched() {
    let f = Fleet::new(2);
    let target = f.dir.path().join("precious.txt");
    std::fs::write(&target, "keep me").unwrap();
    std::os::unix::fs::symlink(&target, f.journal()).unwrap();
    // Exit 1: a file the tool keeps that it cannot trust (docs/cli.md's exit codes).
    let run = f.up(&[]).expect(1);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert!(!touched(&f.tenant(1)) && !touched(&f.tenant(2)));
}

#[test]
fn live_applications_keep_every_committed_row_through_a_rollout_and_its_failure() {
    let f = Fleet::new(5);
    // Live applications on tenant 2 (WAL) and tenant 4 (rollback journal), which also fails
    // its first migration and is rolled back.
    for (i, mode) in [(2, "WAL"), (4, "DELETE")] {
        Connection::open(f.tenant(i))
            .unwrap()
            .execute_batch(&format!(
                "PRAGMA journal_mode = {mode};
                 CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
            ))
            .unwrap();
    }
    f.poison(4);
    let apps: Vec<App> = [2, 4]
        .iter()
        .map(|&i| App::start_on(&f.tenant(i)))
        .collect();
    let run = f.up(&["--max-failures", "1"]).expect(5);
    let acked: Vec<Vec<i64>> = apps.into_iter().map(App::stop).collect();
    let outcome = outcomes(&run);
    assert!(
        outcome.contains(&("t02.db".to_owned(), "migrated".to_owned())),
        "{outcome:?}"
    );
    assert!(
        outcome.contains(&("t04.db".to_owned(), "failed".to_owned())),
        "{outcome:?}"
    );
    assert_eq!((version(&f.tenant(2)), version(&f.tenant(4))), (2, 0));
    for (i, ids) in [2, 4].iter().zip(&acked) {
        assert!(
            ids.len() > 1,
            "tenant {i}'s application committed {} rows",
            ids.len()
        );
        let lost = lost_in(&f.tenant(*i), ids);
        assert!(lost.is_empty(), "tenant {i} lost committed rows {lost:?}");
        let check: String = Connection::open(f.tenant(*i))
            .unwrap()
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
