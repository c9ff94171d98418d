//! Migrations that need more than SQLite: a loadable extension (`extensions = [...]` in
//! migrate.toml) and a function the application registers (`Migrator::on_connection`). Without
//! them the run fails cleanly (exit 5, nothing applied); with them it applies.

use std::path::{Path, PathBuf};
use std::process::Command;

use belay_migrate::{Migrator, source};
use migrate_tests::{Scratch, count};

/// A loadable extension adding `half(x)`, compiled here against the bundled SQLite's header.
fn half_extension(dir: &Path) -> PathBuf {
    let include = env!("MIGRATE_TESTS_SQLITE_INCLUDE");
    let source = dir.join("half.c");
    std::fs::write(
        &source,
        r#"#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1
static void half(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    sqlite3_result_double(ctx, sqlite3_value_double(argv[0]) / 2.0);
}
int sqlite3_half_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
    (void)err;
    SQLITE_EXTENSION_INIT2(api);
    return sqlite3_create_function(db, "half", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, 0, half, 0, 0);
}
"#,
    )
    .unwrap();
    let library = dir.join("half.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg("-I")
        .arg(include)
        .arg(&source)
        .status()
        .expect("a C compiler (cc) to build the test extension");
    assert!(built.success(), "compiling the test extension failed");
    library
}

fn with_migration(sql: &str) -> Scratch {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(s.migrations().join("0001_t.up.sql"), sql).unwrap();
    s
}

#[test]
fn an_extension_named_in_the_configuration_is_loaded_before_migrations_run() {
    let s = with_migration("CREATE TABLE t AS SELECT half(10) AS v;");
    let run = s.migrate(&["up"]).expect(5);
    assert!(
        run.stderr.contains("no such function: half"),
        "{}",
        run.stderr
    );
    // The failure says what the set needs and where to say it.
    assert!(
        run.stderr
            .contains("`half` is not a function of this connection")
            && run.stderr.contains("Migrator::extension")
            && run
                .stderr
                .contains("`extensions = [\"path/to/extension\"]` in migrate.toml"),
        "{}",
        run.stderr
    );
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM sqlite_schema WHERE name = 't'"
        ),
        0
    );

    let library = half_extension(s.dir.path());
    let config = s.dir.path().join("migrate.toml");
    std::fs::write(&config, "extensions = [\"half.so\"]\n").unwrap();
    s.migrate(&["--config", config.to_str().unwrap(), "up"])
        .expect(0);
    assert_eq!(count(&s.conn(), "SELECT CAST(v AS INTEGER) FROM t"), 5);
    assert!(library.exists());

    // A missing extension is a configuration error naming it, before anything runs.
    let s = with_migration("CREATE TABLE t AS SELECT half(10) AS v;");
    let config = s.dir.path().join("migrate.toml");
    std::fs::write(&config, "extensions = [\"missing.so\"]\n").unwrap();
    let run = s
        .migrate(&["--config", config.to_str().unwrap(), "up"])
        .expect(2);
    assert!(run.stderr.contains("loading extension"), "{}", run.stderr);
    assert!(run.stderr.contains("missing.so"), "{}", run.stderr);
}

/// Paths in a configuration file are relative to it, also when it is named without a directory
/// (`--config sp.toml`): an extension named `half` is then `./half`, found beside the file, not
/// looked up on the library path.
#[test]
fn a_configuration_named_without_a_directory_finds_its_extension_beside_it() {
    let s = with_migration("CREATE TABLE t AS SELECT half(10) AS v;");
    half_extension(s.dir.path());
    std::fs::write(s.dir.path().join("sp.toml"), "extensions = [\"half\"]\n").unwrap();
    let run = migrate_tests::Run::from(
        migrate_tests::migrate_command()
            .current_dir(s.dir.path())
            .args([
                "--db",
                "app.db",
                "--migrations",
                "migrations",
                "--config",
                "sp.toml",
                "up",
            ])
            .output()
            .unwrap(),
    )
    .expect(0);
    assert!(run.stdout.contains("applied 1 t"), "{}", run.stdout);
    assert_eq!(count(&s.conn(), "SELECT CAST(v AS INTEGER) FROM t"), 5);
}

#[test]
fn the_applications_functions_are_registered_by_its_hook() {
    let s = with_migration(
        "CREATE TABLE tags (name TEXT, slug TEXT);\nINSERT INTO tags VALUES ('Hello World', slugify('Hello World'));",
    );
    let migrations = source::read_dir(s.migrations()).unwrap();
    let err = Migrator::new(migrations.clone()).up(s.db()).unwrap_err();
    assert!(
        err.to_string().contains("no such function: slugify"),
        "{err}"
    );

    let mut migrator = Migrator::new(migrations);
    migrator.on_connection(|conn| {
        conn.create_scalar_function(
            "slugify",
            1,
            rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| Ok(ctx.get::<String>(0)?.to_lowercase().replace(' ', "-")),
        )
    });
    migrator.up(s.db()).unwrap();
    let slug: String = s
        .conn()
        .query_row("SELECT slug FROM tags", [], |r| r.get(0))
        .unwrap();
    assert_eq!(slug, "hello-world");
}
