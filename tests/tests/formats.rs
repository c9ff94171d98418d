//! Every peer's layout read correctly: the same four migrations (a table with an index, a
//! foreign key with a trigger, an FTS5 table fed by triggers, a table rebuild) written the way
//! each tool's users write them, in tests/fixtures/formats/<tool>/. Each must give the schema
//! refinery's own runner gives (the oracle: a peer's code, not ours), keep the data through the
//! rebuild, and go back down and up again. Whatever a layout is not read as is refused by name.

use std::path::{Path, PathBuf};

use migrate_tests::{Scratch, copy_tree, count, workspace};
use rusqlite::Connection;

fn formats() -> PathBuf {
    workspace().join("tests/fixtures/formats")
}

/// The user-visible schema: every object but the tools' bookkeeping, in a stable order.
fn schema(db: &Path) -> Vec<(String, String, String)> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_schema
             WHERE name NOT LIKE '\\_migrate%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND name NOT IN ('refinery_schema_history', '_sqlx_migrations', 'schema_migrations',
                                'goose_db_version', '__diesel_schema_migrations',
                                'flyway_schema_history', 'gorp_migrations')
             ORDER BY type, name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The schema refinery's own runner makes from the refinery set.
fn oracle() -> Vec<(String, String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("refinery.db");
    let mut conn = Connection::open(&db).unwrap();
    let set = refinery::load_sql_migrations(formats().join("refinery")).unwrap();
    refinery::Runner::new(&set).run(&mut conn).unwrap();
    drop(conn);
    schema(&db)
}

fn scratch_with(format: &str) -> Scratch {
    let s = Scratch::new();
    copy_tree(&formats().join(format), &s.migrations());
    s
}

/// `migrate` with the flyway fixture's configuration (its placeholders) where needed.
fn migrate(s: &Scratch, format: &str, args: &[&str]) -> migrate_tests::Run {
    let config = formats().join("../formats-flyway.toml");
    let config = config.to_str().unwrap();
    let mut all: Vec<&str> = Vec::new();
    if format == "flyway" {
        all.extend(["--config", config]);
    }
    all.extend_from_slice(args);
    s.migrate(&all)
}

#[test]
fn every_layout_gives_the_schema_of_the_peers_own_runner_and_keeps_data_through_a_round_trip() {
    let expected = oracle();
    assert!(
        expected
            .iter()
            .any(|(_, name, _)| name == "posts_fts_insert"),
        "{expected:#?}"
    );
    for (format, first_of_last) in [
        ("sqlx", "0004"),
        ("refinery", "4"),
        ("flyway", "4"),
        ("diesel", "20240104120000"),
        ("golang-migrate", "3"),
        ("goose", "4"),
        ("sql-migrate", "4"),
        ("dbmate", "20240101120004"),
    ] {
        let s = scratch_with(format);
        let status = migrate(&s, format, &["--json", "status"]).expect(0).json();
        // sqlx's names are this tool's own: read (and said) as native.
        let said = if format == "sqlx" { "native" } else { format };
        assert_eq!(status["format"], said, "{status}");
        assert_eq!(
            status["pending"].as_array().unwrap().len(),
            4,
            "{format}: {status}"
        );

        // Up to the rebuild, then data, then the rebuild: the rows come through it.
        let last: i64 = first_of_last.parse().unwrap();
        let before_last = status["pending"][2]["version"].as_i64().unwrap();
        migrate(&s, format, &["up", "--to", &before_last.to_string()]).expect(0);
        s.conn()
            .execute_batch(
                "INSERT INTO users (id, email) VALUES (1, 'ada@example.com');
                 INSERT INTO posts (user_id, title, body) VALUES (1, 'engines', 'analytical engine notes');",
            )
            .unwrap();
        let up = migrate(&s, format, &["--json", "up"]).expect(0).json();
        assert_eq!(up["to_version"], last, "{format}: {up}");
        assert_eq!(schema(&s.db()), expected, "{format}");
        let conn = s.conn();
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM users WHERE name = '' AND email = 'ada@example.com'"
            ),
            1,
            "{format}"
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH 'analytical'"
            ),
            1,
            "{format}"
        );
        drop(conn);
        if format == "refinery" {
            continue; // refinery has no down migrations
        }
        migrate(&s, format, &["down", "--steps", "4"]).expect(0);
        assert_eq!(schema(&s.db()), Vec::new(), "{format}: down left objects");
        migrate(&s, format, &["up"]).expect(0);
        assert_eq!(schema(&s.db()), expected, "{format}: up again");
    }
}

#[test]
fn a_checksum_is_over_the_up_text_only_so_editing_a_down_section_is_not_a_change() {
    let s = scratch_with("goose");
    s.migrate(&["up"]).expect(0);
    let file = s.migrations().join("00002_posts.sql");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("DROP TABLE posts;", "DROP TABLE IF EXISTS posts;"),
    )
    .unwrap();
    let status = s.migrate(&["--json", "status"]).expect(0).json();
    assert_eq!(status["changed"].as_array().unwrap().len(), 0, "{status}");
    std::fs::write(
        &file,
        text.replace("updated_at TEXT", "updated_at TEXT, extra"),
    )
    .unwrap();
    let status = s.migrate(&["--json", "status"]).expect(0).json();
    assert_eq!(status["changed"][0]["version"], 2, "{status}");
}

#[test]
fn a_goose_file_in_a_native_set_is_refused_by_name_never_run_whole() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(s.migrations().join("0001_a.up.sql"), "CREATE TABLE a (x);").unwrap();
    std::fs::write(
        s.migrations().join("0002_b.sql"),
        "-- +goose Up\nCREATE TABLE b (x);\n-- +goose Down\nDROP TABLE b;\n",
    )
    .unwrap();
    let run = s.migrate(&["up"]).expect(2);
    assert!(
        run.stderr
            .contains("0002_b.sql: looks like a goose migration"),
        "{}",
        run.stderr
    );
    assert!(!s.db().exists(), "the database was created");
    // Named as goose, the native file is the stranger.
    std::fs::write(s.dir.path().join("migrate.toml"), "format = \"goose\"\n").unwrap();
    let config = s.dir.path().join("migrate.toml");
    let run = s
        .migrate(&["--config", config.to_str().unwrap(), "up"])
        .expect(2);
    assert!(
        run.stderr
            .contains("0001_a.up.sql: line 1: a statement before the Up marker"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_empty_or_mistyped_directory_is_an_error_and_creates_nothing() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(s.migrations().join("README.md"), "notes").unwrap();
    let run = s.migrate(&["up"]).expect(2);
    assert!(run.stderr.contains("no migrations in"), "{}", run.stderr);
    assert!(!s.db().exists(), "the database was created");
    let run = migrate_tests::Run::from(
        migrate_tests::migrate_command()
            .arg("--db")
            .arg(s.db())
            .args(["--migrations", "/nonexistent/migratons", "up"])
            .output()
            .unwrap(),
    )
    .expect(2);
    assert!(
        run.stderr.contains("/nonexistent/migratons"),
        "{}",
        run.stderr
    );
    assert!(!s.db().exists(), "the database was created");
    // `new` starts an empty directory.
    s.migrate(&["new", "first"]).expect(0);
    s.migrate(&["new", "second"]).expect(0);
    assert!(s.migrations().join("0002_second.up.sql").exists());
}

#[test]
fn a_diesel_directory_is_read_and_a_stray_top_level_file_refused() {
    let s = scratch_with("diesel");
    std::fs::write(
        s.migrations().join("0005_extra.up.sql"),
        "CREATE TABLE e (x);",
    )
    .unwrap();
    let run = s.migrate(&["status"]).expect(2);
    assert!(
        run.stderr
            .contains("0005_extra.up.sql: looks like a top-level migration"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("read as diesel"), "{}", run.stderr);
}

#[test]
fn an_unknown_placeholder_names_the_file_and_line() {
    let s = scratch_with("flyway");
    let run = s.migrate(&["--json", "status"]);
    // Without the configuration Flyway's U files make the layout ambiguous.
    assert_eq!(run.code, 2, "{}", run.stderr);
    let config = s.dir.path().join("migrate.toml");
    std::fs::write(
        &config,
        "format = \"flyway\"\n[placeholders]\nother = \"x\"\n",
    )
    .unwrap();
    let run = s
        .migrate(&["--config", config.to_str().unwrap(), "up"])
        .expect(2);
    assert!(
        run.stderr.contains(
            "V3__posts_search.sql: line 1: unknown placeholder ${fts_table} (known: other)"
        ),
        "{}",
        run.stderr
    );
}

/// A `${name}` token SQLite rejects in a set read as refinery (which has no placeholders) is
/// most likely a Flyway placeholder: the failure says so and names the settings.
#[test]
fn a_flyway_placeholder_in_a_refinery_set_is_named_as_such() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("V1__users.sql"),
        "CREATE TABLE ${schema}_users (id INTEGER PRIMARY KEY);",
    )
    .unwrap();
    let run = s.migrate(&["up"]).expect(5);
    assert!(
        run.stderr
            .contains("`${...}` looks like a Flyway placeholder")
            && run.stderr.contains("format = \"flyway\"")
            && run.stderr.contains("[placeholders]"),
        "{}",
        run.stderr
    );
}

/// `embed_migrations!` reads every layout as the directory reader does (it checks the set on
/// an empty database at compile time, the goose file that opens its own transaction included).
#[test]
fn embedded_sets_of_every_layout_equal_what_the_directory_reader_reads() {
    use belay_migrate::Migrations;
    static GOOSE: Migrations = belay_macros::embed_migrations!("fixtures/formats/goose");
    static DIESEL: Migrations = belay_macros::embed_migrations!("fixtures/formats/diesel");
    static DBMATE: Migrations = belay_macros::embed_migrations!("fixtures/formats/dbmate");
    static GOLANG: Migrations = belay_macros::embed_migrations!("fixtures/formats/golang-migrate");
    for (embedded, dir) in [
        (&GOOSE, "goose"),
        (&DIESEL, "diesel"),
        (&DBMATE, "dbmate"),
        (&GOLANG, "golang-migrate"),
    ] {
        let read = belay_migrate::source::read_dir(formats().join(dir)).unwrap();
        let summary = |set: &Migrations| -> Vec<(i64, String, String, Option<String>)> {
            set.iter()
                .map(|m| {
                    (
                        m.version(),
                        m.checksum().to_owned(),
                        m.up().sql().to_owned(),
                        m.down().map(|d| d.sql().to_owned()),
                    )
                })
                .collect()
        };
        assert_eq!(summary(embedded), summary(&read), "{dir}");
        let conn = Connection::open_in_memory().unwrap();
        belay_migrate::Migrator::new(embedded.clone())
            .run_on(&conn, &belay_migrate::Request::up())
            .unwrap();
    }
}
