//! The example's migration 5 rebuilds `users`, a parent table with ON DELETE CASCADE children,
//! by SQLite's 12-step procedure. Every child row survives, in both directions, and no
//! reference dangles.

use migrate_tests::{Scratch, count, example_migrations};

#[test]
fn rebuilding_a_parent_table_keeps_every_child_row() {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up", "--to", "4"]).expect(0);
    {
        let conn = s.conn();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             INSERT INTO users (id, email, name) VALUES (1, 'Ann@Example.com', 'Ann'), (2, 'bob@example.com', NULL);
             INSERT INTO projects VALUES (10, 1, 'roadmap'), (11, 2, 'garden'), (12, 2, 'taxes');
             INSERT INTO memberships VALUES (10, 2, 2), (11, 1, 3);
             INSERT INTO tasks (id, project_id, title) VALUES (100, 10, 'plan'), (101, 11, 'dig'), (102, 12, 'file');",
        )
        .unwrap();
    }
    let children = |s: &Scratch| {
        let conn = s.conn();
        (
            count(&conn, "SELECT count(*) FROM projects"),
            count(&conn, "SELECT count(*) FROM memberships"),
            count(&conn, "SELECT count(*) FROM tasks"),
            count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        )
    };
    assert_eq!(children(&s), (3, 2, 3, 0));

    s.migrate(&["up"]).expect(0);
    assert_eq!(children(&s), (3, 2, 3, 0));
    let conn = s.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM users WHERE email = 'ann@example.com'"
        ),
        1
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM users WHERE id = 2 AND name = 'bob'"
        ),
        1
    );
    // The rebuilt table is the one the children reference, with enforcement working.
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    assert!(
        conn.execute("INSERT INTO projects VALUES (13, 99, 'orphan')", [])
            .is_err()
    );
    drop(conn);

    s.migrate(&["down", "--to", "4"]).expect(0);
    assert_eq!(children(&s), (3, 2, 3, 0));
}

#[test]
fn a_run_that_leaves_dangling_references_is_rolled_back() {
    let s = at_4_with_a_project();
    // A careless rebuild that forgets to copy the rows.
    replace_migration_5(
        &s,
        "CREATE TABLE new_users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, created_at TEXT);
         DROP TABLE users;
         ALTER TABLE new_users RENAME TO users;",
    );
    let run = s.migrate(&["up"]).expect(5);
    assert!(
        run.stderr
            .contains("the run introduced 1 foreign-key violation(s): projects[rowid 10] -> users"),
        "{}",
        run.stderr
    );
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT count(*) FROM users"), 1);
    assert_eq!(count(&conn, "SELECT max(version) FROM _migrate_history"), 4);
}

/// The example migrated, and project 11 an orphan the application left (enforcement off).
fn migrated_with_an_orphan() -> Scratch {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up"]).expect(0);
    s.conn()
        .execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO users (id, email, name) VALUES (1, 'a@x', 'a');
             INSERT INTO projects VALUES (10, 1, 'p'), (11, 99, 'orphan');",
        )
        .unwrap();
    s
}

#[test]
fn violations_that_were_there_before_do_not_fail_a_run() {
    let s = migrated_with_an_orphan();
    std::fs::write(
        s.migrations().join("0099_labels.up.sql"),
        "CREATE TABLE labels (id INTEGER PRIMARY KEY, project_id INTEGER REFERENCES projects (id));
         INSERT INTO labels VALUES (1, 10);",
    )
    .unwrap();
    s.migrate(&["up"]).expect(0);
    assert_eq!(count(&s.conn(), "SELECT count(*) FROM projects"), 2);
    // One the run adds on top of it still fails it.
    std::fs::write(
        s.migrations().join("0100_more.up.sql"),
        "INSERT INTO labels VALUES (2, 77);",
    )
    .unwrap();
    let run = s.migrate(&["up"]).expect(5);
    assert!(
        run.stderr.contains("introduced 1 foreign-key violation(s)"),
        "{}",
        run.stderr
    );
}

/// A column added with a reference whose default has no parent (SQLite allows it while the
/// run holds foreign-key enforcement off) leaves every row dangling: the check before COMMIT
/// sees the table's constraints changed, finds them, and the run is rolled back. A plain
/// column added to the parent in the same run changes none of its keys and is not what fails.
#[test]
fn a_column_added_with_a_dangling_default_is_rolled_back() {
    let s = at_4_with_a_project();
    replace_migration_5(
        &s,
        "ALTER TABLE users ADD COLUMN nickname TEXT;
         ALTER TABLE projects ADD COLUMN reviewer INTEGER REFERENCES users (id) DEFAULT 999;",
    );
    let run = s.migrate(&["up"]).expect(5);
    assert!(
        run.stderr
            .contains("the run introduced 1 foreign-key violation(s): projects[rowid 10] -> users"),
        "{}",
        run.stderr
    );
    assert_eq!(
        count(&s.conn(), "SELECT max(version) FROM _migrate_history"),
        4
    );
}

/// The example migrated to version 4, with a user and a project that references it.
fn at_4_with_a_project() -> Scratch {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up", "--to", "4"]).expect(0);
    s.conn()
        .execute_batch(
            "INSERT INTO users (id, email, name) VALUES (1, 'a@x', 'a');
             INSERT INTO projects VALUES (10, 1, 'p');",
        )
        .unwrap();
    s
}

/// Migration 5 becomes `up_sql`, without a verify query.
fn replace_migration_5(s: &Scratch, up_sql: &str) {
    std::fs::write(
        s.migrations().join("0005_users_require_name.up.sql"),
        up_sql,
    )
    .unwrap();
    std::fs::remove_file(s.migrations().join("0005_users_require_name.verify.sql")).unwrap();
}

/// Without counting beforehand, the run learns from its backup which violations stood before
/// it, and from each committed unit what changed since: an orphan the application left stays
/// tolerated through units that rewrite its table, and one a later unit puts back after an
/// earlier unit removed it is new, although the backup holds the same row.
#[test]
fn violations_before_the_run_are_told_from_new_ones_unit_by_unit() {
    let s = migrated_with_an_orphan();
    let write = |name: &str, sql: &str| std::fs::write(s.migrations().join(name), sql).unwrap();
    write(
        "0099_labels.up.sql",
        "CREATE TABLE labels (id INTEGER PRIMARY KEY, project_id INTEGER REFERENCES projects (id));
         INSERT INTO labels VALUES (1, 10);",
    );
    // A rebuild of the orphan's own table that keeps its row ids.
    write(
        "0100_rebuild.up.sql",
        "CREATE TABLE projects_new AS SELECT * FROM projects;
         UPDATE projects SET id = id;",
    );
    write("0101_tidy.up.sql", "DELETE FROM projects WHERE id = 11;");
    write(
        "0102_again.up.sql",
        "INSERT INTO projects VALUES (11, 99, 'orphan');",
    );
    // In one transaction the run as a whole leaves the orphan as it found it.
    let copy = s.dir.path().join("copy.db");
    std::fs::copy(s.db(), &copy).unwrap();
    let whole = migrate_tests::migrate_command()
        .arg("--db")
        .arg(&copy)
        .arg("--migrations")
        .arg(s.migrations())
        .arg("up")
        .output()
        .unwrap();
    assert_eq!(whole.status.code(), Some(0), "{whole:?}");
    let run = s.migrate(&["up", "--per-migration"]).expect(5);
    assert!(
        run.stderr
            .contains("introduced 1 foreign-key violation(s): projects[rowid 11] -> users"),
        "{}",
        run.stderr
    );
    // Nobody else wrote since the backup: the run put the database back as it found it.
    assert!(run.stderr.contains("restored"), "{}", run.stderr);
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT max(version) FROM _migrate_history"), 6);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM projects WHERE id = 11"),
        1
    );
    drop(conn);
    // The backup image read to tell them apart is gone.
    let leftovers: Vec<_> = std::fs::read_dir(s.db().with_extension("db.backups"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
