//! `migrate verify` changes nothing and says whether a run would be refused (exit 4) or the
//! database is damaged (exit 6); `migrate fix-checksums` accepts edited files after review.

use migrate_tests::{Scratch, count, dump, example_migrations};

fn migrated() -> Scratch {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up"]).expect(0);
    s
}

fn edit_first_migration(s: &Scratch) {
    let path = s.migrations().join("0001_create_users.up.sql");
    let mut sql = std::fs::read_to_string(&path).unwrap();
    sql.push_str("\n-- reviewed: a comment added after the fact\n");
    std::fs::write(path, sql).unwrap();
}

#[test]
fn a_sound_database_verifies_and_nothing_changes() {
    let s = migrated();
    let before = dump(&s.db());
    let run = s.migrate(&["verify"]).expect(0);
    assert!(run.stdout.contains("ok: version"), "{}", run.stdout);
    let doc = s.migrate(&["--json", "verify"]).expect(0).json();
    assert_eq!(doc["integrity"]["ok"], true);
    assert_eq!(doc["status"]["problems"], serde_json::json!([]));
    assert_eq!(dump(&s.db()), before);
}

#[test]
fn an_edited_file_is_refused_until_its_checksum_is_fixed() {
    let s = migrated();
    edit_first_migration(&s);
    let run = s.migrate(&["verify"]).expect(4);
    assert!(
        run.stdout.contains("refused by validation"),
        "{}",
        run.stdout
    );
    s.migrate(&["fix-checksums", "--version", "2"]).expect(2);
    let run = s.migrate(&["fix-checksums"]).expect(0);
    assert!(
        run.stdout
            .contains("accepted the edited file of 1 create_users"),
        "{}",
        run.stdout
    );
    s.migrate(&["verify"]).expect(0);
    s.migrate(&["fix-checksums"]).expect(0);
    let conn = s.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM _migrate_attempts WHERE command = 'fix-checksums' AND versions = '1'"
        ),
        1
    );
    let journal = std::fs::read_to_string(belay_migrate::audit::path(
        &belay_migrate::backup::default_dir(&s.db()),
    ))
    .unwrap();
    assert!(
        journal
            .lines()
            .last()
            .unwrap()
            .contains("\"fix-checksums\"")
    );
}

#[test]
fn a_damaged_database_fails_verification_with_exit_6() {
    let s = migrated();
    // Rows written before a NOT NULL column existed in the definition: a constraint finding.
    let conn = s.conn();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
         INSERT INTO t VALUES (1, 'a');
         PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = replace(sql, 'NOT NULL', 'NOT NULL, w TEXT NOT NULL') WHERE name = 't';",
    )
    .unwrap();
    drop(conn);
    let run = s.migrate(&["verify"]).expect(6);
    assert!(run.stdout.contains("integrity:"), "{}", run.stdout);
}
