//! `[database]` in migrate.toml: the journal mode set under the migration lock by `up` (with
//! or without pending migrations), the run connection's settings applied and read back, and
//! what SQLite would ignore refused by name before anything is written.

use migrate_tests::{Scratch, count, example_migrations};
use rusqlite::Connection;

fn with_config(s: &Scratch, database: &str) -> String {
    let path = s.dir.path().join("migrate.toml");
    std::fs::write(&path, format!("[database]\n{database}")).unwrap();
    path.display().to_string()
}

fn journal_mode(s: &Scratch) -> String {
    Connection::open(s.db())
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_journal_mode_is_set_by_up_under_the_lock_even_with_nothing_pending() {
    let s = Scratch::with_migrations(&example_migrations());
    let config = with_config(
        &s,
        "journal_mode = \"wal\"\nsynchronous = \"normal\"\ncache_size = -8192\n",
    );
    s.migrate(&["--config", &config, "up"]).expect(0);
    assert_eq!(journal_mode(&s), "wal");
    assert!(count(&s.conn(), "SELECT count(*) FROM _migrate_history") > 0);

    let status = s
        .migrate(&["--config", &config, "wal", "status"])
        .expect(0)
        .stdout;
    assert!(status.contains("configured ([database]): "), "{status}");
    assert!(status.contains("journal_mode = \"wal\""), "{status}");
    assert!(!status.contains("differs"), "{status}");

    // Nothing pending, another mode configured: the run still takes the lock and sets it.
    let config = with_config(&s, "journal_mode = \"delete\"\n");
    let status = s
        .migrate(&["--config", &config, "wal", "status"])
        .expect(0)
        .stdout;
    assert!(status.contains("the journal mode differs"), "{status}");
    let run = s.migrate(&["--config", &config, "up"]).expect(0);
    assert!(
        run.stdout.contains("nothing to do") || run.stdout.contains("up to date"),
        "{}",
        run.stdout
    );
    assert_eq!(journal_mode(&s), "delete");
    let status = s
        .migrate(&["--config", &config, "wal", "status"])
        .expect(0)
        .stdout;
    assert!(!status.contains("differs"), "{status}");
    let doc = s.migrate(&["--json", "wal", "status"]).expect(0).json();
    assert_eq!(doc["configured"], serde_json::json!({}));
    let status = s.migrate(&["wal", "status"]).expect(0).stdout;
    assert!(status.contains("configured: nothing"), "{status}");

    // `migrate config` shows where each came from.
    let doc = s
        .migrate(&["--config", &config, "--json", "config"])
        .expect(0)
        .json();
    let text = doc.to_string();
    assert!(text.contains("database.journal_mode"), "{text}");
    assert!(text.contains("[database] journal_mode"), "{text}");
}

#[test]
fn a_value_sqlite_would_ignore_is_refused_by_name_and_nothing_is_written() {
    let s = Scratch::with_migrations(&example_migrations());
    // Above SQLite's compile-time limit: it would map less and say nothing.
    let config = with_config(&s, "mmap_size = 1099511627776\n");
    let run = s.migrate(&["--config", &config, "up"]).expect(2);
    assert!(
        run.stderr
            .contains("database setting mmap_size = 1099511627776 did not take: SQLite has"),
        "{}",
        run.stderr
    );
    // Nothing migrated.
    let tables = count(
        &s.conn(),
        "SELECT count(*) FROM sqlite_schema WHERE name LIKE '_migrate%'",
    );
    assert_eq!(tables, 0);
    let doc = s
        .migrate(&["--config", &config, "--json", "up"])
        .expect(2)
        .json();
    assert_eq!(doc["error"]["kind"], "usage");
}

#[test]
fn a_bad_setting_in_the_file_is_refused_with_its_line() {
    let s = Scratch::with_migrations(&example_migrations());
    let config = with_config(&s, "journal_mode = \"wal\"\nsynchronous = \"sometimes\"\n");
    let run = s.migrate(&["--config", &config, "up"]).expect(2);
    assert!(run.stderr.contains("line 3"), "{}", run.stderr);
    assert!(run.stderr.contains("sometimes"), "{}", run.stderr);
    assert!(!s.db().exists());
}
