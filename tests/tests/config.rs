//! `migrate.toml`: found in the working directory or named by `--config`, paths relative to
//! the file, command-line options winning over it, typos refused with the file and line.

use belay_migrate::backup;
use migrate_tests::{Run, Scratch, count, example_migrations, migrate_command};

fn run_in(dir: &std::path::Path, args: &[&str]) -> Run {
    Run::from(
        migrate_command()
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap(),
    )
}

/// The setting `name` of `migrate --json config`'s document.
fn setting(doc: &serde_json::Value, name: &str) -> serde_json::Value {
    doc["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name}: {doc}"))
        .clone()
}

#[test]
fn the_file_in_the_working_directory_supplies_database_and_migrations() {
    let s = Scratch::with_migrations(&example_migrations());
    std::fs::write(
        s.dir.path().join("migrate.toml"),
        "db = 'data/app.db'\nmigrations = 'migrations'\nlock_timeout = 5\n",
    )
    .unwrap();
    std::fs::create_dir(s.dir.path().join("data")).unwrap();
    run_in(s.dir.path(), &["-q", "up"]).expect(0);
    let db = s.dir.path().join("data/app.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_history"), 6);
    // From elsewhere, --config names the file; its paths stay relative to it.
    let elsewhere = tempfile::tempdir().unwrap();
    let config = s.dir.path().join("migrate.toml");
    let status = run_in(
        elsewhere.path(),
        &["--json", "--config", config.to_str().unwrap(), "status"],
    )
    .expect(0)
    .json();
    assert_eq!(status["current_version"], 6);
    // --db wins over the file.
    let other = elsewhere.path().join("other.db");
    let status = run_in(
        elsewhere.path(),
        &[
            "--json",
            "--config",
            config.to_str().unwrap(),
            "--db",
            other.to_str().unwrap(),
            "status",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(status["current_version"], serde_json::Value::Null);
}

#[test]
fn backup_policy_comes_from_the_file() {
    let s = Scratch::with_migrations(&example_migrations());
    std::fs::write(
        s.dir.path().join("migrate.toml"),
        "db = 'app.db'\n[backup]\ncompression = 'none'\nkeep_last = 2\nkeep_daily = 0\nkeep_weekly = 0\n",
    )
    .unwrap();
    run_in(s.dir.path(), &["-q", "up"]).expect(0);
    for _ in 0..4 {
        run_in(s.dir.path(), &["-q", "backup", "create"]).expect(0);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let dir = backup::default_dir(&s.db());
    assert!(
        backup::list(&dir)
            .unwrap()
            .iter()
            .all(|m| m.compression == backup::Compression::None)
    );
    let pruned = run_in(s.dir.path(), &["--json", "backup", "prune"])
        .expect(0)
        .json();
    assert_eq!(pruned["deleted"].as_array().unwrap().len(), 2);
    assert_eq!(backup::list(&dir).unwrap().len(), 2);
    // A flag wins over the file.
    let pruned = run_in(
        s.dir.path(),
        &["--json", "backup", "prune", "--keep-last", "1"],
    )
    .expect(0)
    .json();
    assert_eq!(pruned["deleted"].as_array().unwrap().len(), 1);
}

#[test]
fn a_typo_in_the_file_is_a_usage_error_naming_file_and_line() {
    let s = Scratch::with_migrations(&example_migrations());
    std::fs::write(
        s.dir.path().join("migrate.toml"),
        "db = 'app.db'\nlock_timout = 5\n",
    )
    .unwrap();
    let run = run_in(s.dir.path(), &["status"]).expect(2);
    assert!(
        run.stderr.contains("invalid configuration migrate.toml"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);
    let run = run_in(s.dir.path(), &["--config", "nope.toml", "status"]).expect(2);
    assert!(
        run.stderr.contains("cannot read configuration nope.toml"),
        "{}",
        run.stderr
    );
}

/// Every global option has its `MIGRATE_*` variable; a flag wins over it, and it wins over the
/// file. `migrate config` shows each effective setting and where it came from.
#[test]
fn every_global_option_has_an_environment_variable_and_config_says_where_each_came_from() {
    let s = Scratch::with_migrations(&example_migrations());
    let dir = s.dir.path();
    std::fs::write(
        dir.join("other.toml"),
        "lock_timeout = 5\nverify = 'full'\n",
    )
    .unwrap();
    let env_run = |extra: &[(&str, &str)], args: &[&str]| {
        let mut cmd = migrate_command();
        cmd.current_dir(dir)
            .env("MIGRATE_DB", dir.join("env.db"))
            .env("MIGRATE_MIGRATIONS", s.migrations())
            .env("MIGRATE_BACKUP_DIR", dir.join("env-backups"))
            .env("MIGRATE_CONFIG", dir.join("other.toml"))
            .env("MIGRATE_LOCK_TIMEOUT", "9");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Run::from(cmd.args(args).output().unwrap())
    };
    // Quiet and JSON from the environment too.
    let quiet = env_run(&[("MIGRATE_QUIET", "1")], &["up"]).expect(0);
    assert!(quiet.stdout.is_empty(), "{}", quiet.stdout);
    assert!(dir.join("env.db").exists());
    assert!(
        dir.join("env-backups").is_dir(),
        "the backup went elsewhere"
    );
    let doc = env_run(&[("MIGRATE_JSON", "true")], &["config"])
        .expect(0)
        .json();
    for (name, from, source) in [
        ("database", "environment", "MIGRATE_DB"),
        ("migrations", "environment", "MIGRATE_MIGRATIONS"),
        ("backup_dir", "environment", "MIGRATE_BACKUP_DIR"),
        ("lock_timeout", "environment", "MIGRATE_LOCK_TIMEOUT"),
        ("json", "environment", "MIGRATE_JSON"),
        ("verify", "file", "verify"),
        ("exclusive", "default", "default"),
    ] {
        let s = setting(&doc, name);
        assert_eq!(
            (s["from"].as_str(), s["source"].as_str()),
            (Some(from), Some(source)),
            "{name}: {s}"
        );
    }
    assert_eq!(setting(&doc, "lock_timeout")["value"], 9.0);
    assert!(
        doc["file"].as_str().unwrap().ends_with("other.toml"),
        "{doc}"
    );
    // A flag wins over its variable.
    let doc = env_run(&[], &["--json", "--lock-timeout", "3", "config"])
        .expect(0)
        .json();
    let timeout = setting(&doc, "lock_timeout");
    assert_eq!(
        (timeout["from"].as_str(), timeout["value"].as_f64()),
        (Some("flag"), Some(3.0))
    );
    // Text, for people.
    let text = env_run(&[], &["config"]).expect(0);
    assert!(
        text.stdout.contains("lock_timeout")
            && text.stdout.contains("(environment MIGRATE_LOCK_TIMEOUT)"),
        "{}",
        text.stdout
    );
}

/// Settings only the file made are shown as from the file, with the key; a database that
/// cannot be resolved and a layout that cannot be read are shown with why, not as errors;
/// a flag is shown as a flag in the text for people.
#[test]
fn config_shows_file_settings_and_what_could_not_be_resolved() {
    let s = Scratch::new();
    let dir = s.dir.path();
    std::fs::create_dir_all(dir.join("sql")).unwrap();
    std::fs::write(
        dir.join("migrate.toml"),
        "migrations = 'sql'\nformat = 'goose'\nextensions = ['ext/vector.so']\n",
    )
    .unwrap();
    let doc = run_in(dir, &["--json", "config"]).expect(0).json();
    let migrations = setting(&doc, "migrations");
    assert_eq!(migrations["from"], "file", "{migrations}");
    assert_eq!(migrations["source"], "migrations", "{migrations}");
    assert!(migrations["value"].as_str().unwrap().ends_with("sql"));
    let format = setting(&doc, "format");
    assert_eq!(
        (format["value"].as_str(), format["from"].as_str()),
        (Some("goose"), Some("file")),
        "{format}"
    );
    let extensions = setting(&doc, "extensions");
    assert_eq!(extensions["from"], "file", "{extensions}");
    assert!(
        extensions["value"][0]
            .as_str()
            .unwrap()
            .ends_with("ext/vector.so"),
        "{extensions}"
    );
    let database = setting(&doc, "database");
    assert!(database["value"].is_null(), "{database}");
    assert!(
        database["source"].as_str().unwrap().contains("database"),
        "the reason it could not be resolved: {database}"
    );

    // Without a layout named, one that cannot be read says why.
    std::fs::write(dir.join("migrate.toml"), "migrations = 'missing'\n").unwrap();
    let doc = run_in(dir, &["--json", "config"]).expect(0).json();
    let format = setting(&doc, "format");
    assert!(format["value"].is_null(), "{format}");
    assert!(
        format["source"].as_str().unwrap().contains("missing"),
        "{format}"
    );

    let text = run_in(dir, &["--lock-timeout", "3", "config"]).expect(0);
    assert!(
        text.stdout.contains("(flag --lock-timeout)"),
        "{}",
        text.stdout
    );
}
