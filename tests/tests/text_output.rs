//! What the commands print for a person (no `--json`): the text of outcomes the rest of the
//! suite reads only as JSON documents, and usage errors in text and in JSON.

use migrate_tests::{Scratch, example_migrations, migrate_command};

fn migrated() -> Scratch {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up"]).expect(0);
    s
}

/// `accept-drift` names each object that changed outside migrations, and `status` showed the
/// same drift, with what to do about it, before it was accepted.
#[test]
fn accept_drift_and_status_name_each_object_that_changed() {
    let s = migrated();
    s.conn()
        .execute_batch("CREATE TABLE added_by_hand (id INTEGER PRIMARY KEY)")
        .unwrap();
    let status = s.migrate(&["status"]);
    assert!(
        status.stdout.contains(
            "schema drift: the schema was changed outside migrations since the last run:"
        ),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("added_by_hand"), "{}", status.stdout);
    assert!(
        status.stdout.contains("migrate accept-drift"),
        "{}",
        status.stdout
    );

    let accepted = s.migrate(&["accept-drift"]).expect(0);
    assert!(
        accepted
            .stdout
            .starts_with("accepted the current schema as the expected one:\n"),
        "{}",
        accepted.stdout
    );
    assert!(
        accepted.stdout.contains("added_by_hand"),
        "{}",
        accepted.stdout
    );
    let again = s.migrate(&["accept-drift"]).expect(0);
    assert!(again.stdout.starts_with("no drift"), "{}", again.stdout);
}

/// `backup list` says "no backups" when there are none, and `history` says "no attempts
/// recorded" on a database nothing ran on.
#[test]
fn empty_lists_say_so() {
    let s = Scratch::with_migrations(&example_migrations());
    s.conn().execute_batch("CREATE TABLE t (x)").unwrap();
    let list = s.migrate(&["backup", "list"]).expect(0);
    assert_eq!(list.stdout, "no backups\n");
    let history = s.migrate(&["history"]).expect(0);
    assert_eq!(history.stdout, "no attempts recorded\n");
}

/// A failed run's error is shown under its attempt in `history`, indented line by line.
#[test]
fn history_shows_the_error_of_a_failed_attempt() {
    let s = Scratch::with_migrations(&example_migrations());
    std::fs::write(
        s.migrations().join("0007_broken.up.sql"),
        "CREATE TABLE broken (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    .unwrap();
    s.migrate(&["up"]).expect(5);
    let history = s.migrate(&["history"]).expect(0);
    assert!(
        history.stdout.contains("    error: ") && history.stdout.contains("no_such_table"),
        "{}",
        history.stdout
    );
}

/// `baseline --force` says the schema comparison was skipped.
#[test]
fn a_forced_baseline_says_the_schema_check_was_skipped() {
    let s = Scratch::with_migrations(&example_migrations());
    s.conn()
        .execute_batch("CREATE TABLE unrelated (id INTEGER)")
        .unwrap();
    let run = s.migrate(&["baseline", "2", "--force"]).expect(0);
    assert!(
        run.stdout.contains("(schema check skipped with --force)"),
        "{}",
        run.stdout
    );
}

/// A database another tool migrated: `status` names the tool and its table, and says how to
/// take it over.
#[test]
fn status_names_the_tool_that_migrated_the_database() {
    let s = Scratch::with_migrations(&example_migrations());
    s.conn()
        .execute_batch(
            "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')));
             INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (1, 1);",
        )
        .unwrap();
    let status = s.migrate(&["status"]);
    assert!(
        status.stdout.contains(
            "migrated by goose (goose_db_version is here): run `migrate adopt` to take it over"
        ),
        "{}",
        status.stdout
    );
}

/// `plan` on an up-to-date database says there is nothing to do and at which version; a
/// migration without a statement is said to run nothing.
#[test]
fn plan_says_nothing_to_do_and_names_empty_migrations() {
    let s = migrated();
    let plan = s.migrate(&["plan"]).expect(0);
    assert_eq!(plan.stdout, "nothing to do: the database is at version 6\n");
    std::fs::write(
        s.migrations().join("0007_placeholder.up.sql"),
        "-- nothing yet\n",
    )
    .unwrap();
    let plan = s.migrate(&["plan"]).expect(0);
    assert!(
        plan.stdout
            .contains("no statement: recorded as applied, runs nothing"),
        "{}",
        plan.stdout
    );
    let status = s.migrate(&["status"]);
    assert!(
        status
            .stdout
            .contains("(no statement: recorded as applied, runs nothing)"),
        "{}",
        status.stdout
    );
}

/// `migrate new` refuses a name that is not one, in a directory of another tool's layout, and
/// where the directory cannot be made; it writes nothing in each case.
#[test]
fn new_refuses_what_it_cannot_write() {
    let s = Scratch::with_migrations(&example_migrations());
    let before = std::fs::read_dir(s.migrations()).unwrap().count();
    let bad = s.migrate(&["new", "!!!"]).expect(2);
    assert!(
        bad.stderr.contains("`!!!` is not a usable migration name"),
        "{}",
        bad.stderr
    );
    assert_eq!(std::fs::read_dir(s.migrations()).unwrap().count(), before);

    let goose = Scratch::new();
    std::fs::create_dir_all(goose.migrations()).unwrap();
    std::fs::write(
        goose.migrations().join("00001_users.sql"),
        "-- +goose Up\nCREATE TABLE users (id INTEGER);\n-- +goose Down\nDROP TABLE users;\n",
    )
    .unwrap();
    let refused = goose.migrate(&["new", "more"]).expect(2);
    assert!(
        refused.stderr.contains("is read as goose")
            && refused
                .stderr
                .contains("write the next goose migration by hand"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_dir(goose.migrations()).unwrap().count(), 1);

    let blocked = Scratch::new();
    std::fs::write(blocked.dir.path().join("not-a-dir"), "a file").unwrap();
    let run = migrate_command()
        .arg("--migrations")
        .arg(blocked.dir.path().join("not-a-dir").join("migrations"))
        .args(["new", "first"])
        .output()
        .unwrap();
    let run = migrate_tests::Run::from(run).expect(1);
    assert!(run.stderr.contains("not-a-dir"), "{}", run.stderr);
}

/// A negative lock timeout is a usage error naming every place it can come from.
#[test]
fn a_negative_lock_timeout_is_refused() {
    let s = Scratch::with_migrations(&example_migrations());
    let run = migrate_command()
        .env("MIGRATE_LOCK_TIMEOUT", "-1")
        .arg("--db")
        .arg(s.db())
        .arg("--migrations")
        .arg(s.migrations())
        .arg("up")
        .output()
        .unwrap();
    let run = migrate_tests::Run::from(run).expect(2);
    assert!(
        run.stderr
            .contains("lock timeout -1: expected a number of seconds"),
        "{}",
        run.stderr
    );
    assert!(!s.db().exists(), "nothing may be created");
}

/// A command line clap refuses, with `MIGRATE_JSON` set to a true value, also prints the
/// error document on stdout; set to a false value, stdout stays empty.
#[test]
fn usage_errors_follow_migrate_json() {
    for (value, json) in [("1", true), ("yes", true), ("false", false), ("0", false)] {
        let run = migrate_command()
            .env("MIGRATE_JSON", value)
            .arg("no-such-command")
            .output()
            .unwrap();
        let run = migrate_tests::Run::from(run).expect(2);
        assert!(run.stderr.contains("no-such-command"), "{}", run.stderr);
        if json {
            let doc = run.json();
            assert_eq!(doc["error"]["exit_code"], 2, "{doc}");
        } else {
            assert_eq!(run.stdout, "", "MIGRATE_JSON={value}");
        }
    }
}

/// A verify query that does not return exactly 1 fails the migration, and the error shows
/// what it returned, whatever its type; the database stays as it was.
#[test]
fn a_failed_verify_query_shows_what_it_returned() {
    for (query, shown) in [
        ("SELECT 0.5;", "0.5"),
        ("SELECT x'0102';", "a blob of 2 bytes"),
        ("SELECT NULL;", "NULL"),
        ("SELECT 'no';", "'no'"),
        ("SELECT 1 UNION ALL SELECT 1;", "2 rows"),
    ] {
        let s = Scratch::with_migrations(&example_migrations());
        std::fs::write(
            s.migrations().join("0002_create_projects.verify.sql"),
            query,
        )
        .unwrap();
        let run = s.migrate(&["up"]).expect(5);
        assert!(run.stderr.contains(shown), "{query}: {}", run.stderr);
        assert!(
            !s.db().exists() || {
                let n: i64 = s
                    .conn()
                    .query_row(
                        "SELECT count(*) FROM sqlite_schema WHERE name = 'users'",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                n == 0
            }
        );
    }
}

/// A failed statement is shown on one line, cut at 200 characters; one that needs a
/// virtual-table module the connection lacks says how to provide it.
#[test]
fn a_failed_statement_is_shown_short_and_with_what_it_needs() {
    let s = Scratch::with_migrations(&example_migrations());
    let names: Vec<String> = (0..60).map(|i| format!("column_{i}")).collect();
    let create = format!("CREATE TABLE wide ({} INTEGER);", names.join(" INTEGER, "));
    let insert = format!(
        "INSERT INTO wide ({}, no_such_column) VALUES (1);",
        names.join(", ")
    );
    std::fs::write(
        s.migrations().join("0007_wide.up.sql"),
        format!("{create}\n{insert}\n"),
    )
    .unwrap();
    let run = s.migrate(&["up"]).expect(5);
    let statement = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("statement: INSERT INTO wide"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(statement.ends_with('…'), "{statement}");
    assert!(statement.chars().count() < 230, "{statement}");

    let s = Scratch::with_migrations(&example_migrations());
    std::fs::write(
        s.migrations().join("0007_search.up.sql"),
        "CREATE VIRTUAL TABLE search USING no_such_module(body);\n",
    )
    .unwrap();
    let run = s.migrate(&["up"]).expect(5);
    assert!(
        run.stderr
            .contains("`no_such_module` is not a virtual-table module of this connection"),
        "{}",
        run.stderr
    );
}
