//! Each layout read as its own tool reads it (#31): how files group into a migration, in which
//! order they run, and what a file with no statement means. Fixtures are written here, one rule
//! each; the rules and the peer source each was read from are in docs/migrations.md.

use migrate_tests::{Scratch, count};

/// A scratch set in `format`: `files` as (path under migrations/, text), and a migrate.toml
/// naming the format.
fn set(format: &str, files: &[(&str, &str)]) -> (Scratch, String) {
    let s = Scratch::new();
    for (path, text) in files {
        let path = s.migrations().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let config = s.dir.path().join("migrate.toml");
    std::fs::write(&config, format!("format = \"{format}\"\n")).unwrap();
    (s, config.to_str().unwrap().to_owned())
}

fn history(s: &Scratch) -> Vec<(i64, String)> {
    let conn = s.conn();
    let mut stmt = conn
        .prepare("SELECT version, name FROM _migrate_history ORDER BY version")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// diesel orders versions as text: `2024-03-13_170000_add_price` (version `20240313`) comes
/// after `2024-03-06-170000_create_items` (`20240306170000`). Recorded padded to 14 digits, the
/// numbers keep that order through up, status and down.
#[test]
fn diesel_runs_mixed_length_versions_in_its_text_order() {
    let (s, config) = set(
        "diesel",
        &[
            (
                "2024-03-06-170000_create_items/up.sql",
                "CREATE TABLE items (id INTEGER PRIMARY KEY);",
            ),
            (
                "2024-03-06-170000_create_items/down.sql",
                "DROP TABLE items;",
            ),
            (
                "2024-03-13_170000_add_price/up.sql",
                "ALTER TABLE items ADD COLUMN price INTEGER;",
            ),
            (
                "2024-03-13_170000_add_price/down.sql",
                "ALTER TABLE items DROP COLUMN price;",
            ),
        ],
    );
    let status = s
        .migrate(&["--config", &config, "--json", "status"])
        .expect(0)
        .json();
    let pending: Vec<i64> = status["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(pending, [20240306170000, 20240313000000], "{status}");
    s.migrate(&["--config", &config, "up"]).expect(0);
    assert_eq!(
        history(&s),
        [
            (20240306170000, "create_items".to_owned()),
            (20240313000000, "170000_add_price".to_owned())
        ]
    );
    s.migrate(&["--config", &config, "down"]).expect(0);
    let conn = s.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM pragma_table_info('items') WHERE name = 'price'"
        ),
        0
    );
    assert_eq!(
        count(&conn, "SELECT max(version) FROM _migrate_history"),
        20240306170000
    );
}

/// `1` and `10` are two versions to diesel but pad to the same number here: refused, both
/// directories named, nothing created.
#[test]
fn diesel_versions_that_would_collide_here_are_refused_naming_both() {
    let (s, config) = set(
        "diesel",
        &[
            ("1_a/up.sql", "CREATE TABLE a (x);"),
            ("10_b/up.sql", "CREATE TABLE b (x);"),
        ],
    );
    let run = s.migrate(&["--config", &config, "up"]).expect(2);
    assert!(
        run.stderr.contains(
            "1_a: its version `1` and `10` of 10_b are both recorded here as 10000000000000"
        ),
        "{}",
        run.stderr
    );
    assert!(!s.db().exists() || count(&s.conn(), "SELECT count(*) FROM sqlite_schema") == 0);
}

/// diesel compares versions as text, so a 15-digit version sorts before a 14-digit one that is
/// smaller as a number: no numbering here keeps that, so it is refused, both files named.
#[test]
fn diesel_order_that_numbers_cannot_keep_is_refused_naming_both() {
    let (s, config) = set(
        "diesel",
        &[
            ("2024-03-06-170001_a/up.sql", "CREATE TABLE a (x);"),
            ("2024-03-06-1700001_b/up.sql", "CREATE TABLE b (x);"),
        ],
    );
    let run = s.migrate(&["--config", &config, "status"]).expect(2);
    assert!(
        run.stderr.contains(
            "2024-03-06-1700001_b/up.sql: diesel applies it before 2024-03-06-170001_a/up.sql"
        ),
        "{}",
        run.stderr
    );
}

/// golang-migrate pairs files by version number alone: an up file whose title ends in a dot
/// (`..up.sql`) goes with the down file of the same number; the up file names the migration.
#[test]
fn golang_migrate_pairs_by_version_number_only() {
    let (s, config) = set(
        "golang-migrate",
        &[
            (
                "20240813211251_passkey_backup_flags..up.sql",
                "CREATE TABLE passkeys (id INTEGER PRIMARY KEY, backup_eligible INTEGER);",
            ),
            (
                "20240813211251_passkey_backup_flags.down.sql",
                "DROP TABLE passkeys;",
            ),
        ],
    );
    s.migrate(&["--config", &config, "up"]).expect(0);
    assert_eq!(
        history(&s),
        [(20240813211251, "passkey_backup_flags.".to_owned())]
    );
    s.migrate(&["--config", &config, "down"]).expect(0);
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM sqlite_schema WHERE name = 'passkeys'"
        ),
        0
    );
    // Two up files of one version are still two claims on it.
    let (s, config) = set(
        "golang-migrate",
        &[("7_a.up.sql", "SELECT 1;"), ("7_b.up.sql", "SELECT 1;")],
    );
    let run = s.migrate(&["--config", &config, "status"]).expect(2);
    assert!(
        run.stderr
            .contains("version 7 is defined twice: by 7_a.up.sql and by 7_b.up.sql"),
        "{}",
        run.stderr
    );
}

/// dbmate applies files in the order of their names as text: `10_c.sql` before `2_b.sql`. The
/// numbers here would run 2 first, so the set is refused naming both; zero-padded names agree.
#[test]
fn dbmate_name_order_that_versions_contradict_is_refused_naming_both() {
    let file = |table: &str| {
        format!("-- migrate:up\nCREATE TABLE {table} (x);\n-- migrate:down\nDROP TABLE {table};\n")
    };
    let (s, config) = set(
        "dbmate",
        &[("2_b.sql", &file("b")), ("10_c.sql", &file("c"))],
    );
    let run = s.migrate(&["--config", &config, "up"]).expect(2);
    assert!(
        run.stderr
            .contains("10_c.sql: dbmate applies it before 2_b.sql"),
        "{}",
        run.stderr
    );
    let (s, config) = set(
        "dbmate",
        &[("02_b.sql", &file("b")), ("10_c.sql", &file("c"))],
    );
    s.migrate(&["--config", &config, "up"]).expect(0);
    assert_eq!(history(&s), [(2, "b".to_owned()), (10, "c".to_owned())]);
}

/// A file of comments only is what its tool applies as a no-op and records: in every layout it
/// is applied, recorded, and shown as "no statement" before it runs.
#[test]
fn a_comment_only_up_is_a_recorded_no_op_in_every_layout() {
    const NOTE: &str = "-- nothing to do on SQLite\n";
    let sets: [(&str, Vec<(&str, String)>); 9] = [
        ("native", vec![("0001_noop.up.sql", NOTE.to_owned())]),
        ("sqlx", vec![("0001_noop.sql", NOTE.to_owned())]),
        ("refinery", vec![("V1__noop.sql", NOTE.to_owned())]),
        ("flyway", vec![("V1__noop.sql", NOTE.to_owned())]),
        (
            "diesel",
            vec![("2024-01-01-000000_noop/up.sql", NOTE.to_owned())],
        ),
        ("golang-migrate", vec![("1_noop.up.sql", NOTE.to_owned())]),
        (
            "goose",
            vec![(
                "1_noop.sql",
                format!("-- +goose Up\n{NOTE}-- +goose Down\n"),
            )],
        ),
        (
            "sql-migrate",
            vec![(
                "1_noop.sql",
                format!("-- +migrate Up\n{NOTE}-- +migrate Down\n"),
            )],
        ),
        (
            "dbmate",
            vec![(
                "1_noop.sql",
                format!("-- migrate:up\n{NOTE}-- migrate:down\n"),
            )],
        ),
    ];
    for (format, files) in sets {
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let (s, config) = set(format, &files);
        let plan = s
            .migrate(&["--config", &config, "--json", "plan"])
            .expect(0)
            .json();
        assert_eq!(plan["steps"][0]["no_statement"], true, "{format}: {plan}");
        s.migrate(&["--config", &config, "up"]).expect(0);
        assert_eq!(history(&s).len(), 1, "{format}");
    }
}

/// A zero-byte up file: the native layout refuses it (nobody wrote the migration), diesel too
/// (as diesel does); the section layouts have no Up marker in it, which their own tools refuse
/// too; the other one-file-a-script layouts apply it as the empty script their tools run.
#[test]
fn a_zero_byte_up_is_read_as_each_layout_reads_it() {
    for (format, file, refused) in [
        ("native", "0001_x.up.sql", Some("it is empty (zero bytes)")),
        (
            "goose",
            "1_x.sql",
            Some("no Up section: expected `-- +goose Up`"),
        ),
        (
            "sql-migrate",
            "1_x.sql",
            Some("no Up section: expected `-- +migrate Up`"),
        ),
        (
            "dbmate",
            "1_x.sql",
            Some("no Up section: expected `-- migrate:up`"),
        ),
        (
            "diesel",
            "2024-01-01-000000_x/up.sql",
            Some("diesel refuses to run too (\"Attempted to run an empty migration.\")"),
        ),
        ("golang-migrate", "1_x.up.sql", None),
        ("sqlx", "0001_x.sql", None),
        ("refinery", "V1__x.sql", None),
        ("flyway", "V1__x.sql", None),
    ] {
        let (s, config) = set(format, &[(file, "")]);
        match refused {
            Some(said) => {
                let run = s.migrate(&["--config", &config, "up"]).expect(2);
                assert!(run.stderr.contains(said), "{format}: {}", run.stderr);
            }
            None => {
                s.migrate(&["--config", &config, "up"]).expect(0);
                assert_eq!(history(&s).len(), 1, "{format}");
            }
        }
    }
}

/// A database diesel migrated records `20240313` for `2024-03-13_170000_add_price`: adopted as
/// the version this reader gives the directory (20240313000000), so nothing is pending and the
/// order stays diesel's.
#[test]
fn a_diesel_database_with_short_versions_is_adopted_in_diesels_order() {
    let (s, config) = set(
        "diesel",
        &[
            (
                "2024-03-06-170000_create_items/up.sql",
                "CREATE TABLE items (id INTEGER PRIMARY KEY);",
            ),
            (
                "2024-03-13_170000_add_price/up.sql",
                "ALTER TABLE items ADD COLUMN price INTEGER;",
            ),
        ],
    );
    s.conn()
        .execute_batch(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER);
             CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
             INSERT INTO __diesel_schema_migrations (version) VALUES ('20240306170000'), ('20240313');",
        )
        .unwrap();
    s.migrate(&["--config", &config, "adopt"]).expect(0);
    let status = s
        .migrate(&["--config", &config, "--json", "status"])
        .expect(0)
        .json();
    assert_eq!(status["pending"].as_array().unwrap().len(), 0, "{status}");
    assert_eq!(
        history(&s).iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        [20240306170000, 20240313000000]
    );
}

/// refinery's own runner is the oracle: it walks sub-directories, orders by number (2 before
/// 10), takes `U` files as up migrations, and reads what we read. The schema and the order of
/// its history are ours.
#[test]
fn refinery_reads_sub_directories_and_orders_by_number_as_refinery_does() {
    let files = [
        (
            "V1__items.sql",
            "CREATE TABLE items (id INTEGER PRIMARY KEY);",
        ),
        (
            "2024/V2__prices.sql",
            "ALTER TABLE items ADD COLUMN price INTEGER;",
        ),
        (
            "2024/later/U10__price_index.sql",
            "CREATE INDEX items_price ON items (price);",
        ),
        ("V3__name.sql", "ALTER TABLE items ADD COLUMN name TEXT;"),
        ("README.md", "not a migration"),
    ];
    let (s, config) = set("refinery", &files);
    s.migrate(&["--config", &config, "up"]).expect(0);
    let ours: Vec<(i64, String)> = history(&s);

    let theirs_dir = tempfile::tempdir().unwrap();
    let db = theirs_dir.path().join("refinery.db");
    let mut conn = rusqlite::Connection::open(&db).unwrap();
    let set = refinery::load_sql_migrations(s.migrations()).unwrap();
    refinery::Runner::new(&set).run(&mut conn).unwrap();
    let theirs: Vec<(i64, String)> = conn
        .prepare("SELECT version, name FROM refinery_schema_history ORDER BY applied_on, version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ours, theirs);
    assert_eq!(
        ours.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        [1, 2, 3, 10]
    );
    let schema = |db: &std::path::Path| -> Vec<String> {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.prepare(
            "SELECT sql FROM sqlite_schema WHERE name IN ('items', 'items_price') ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    assert_eq!(schema(&s.db()), schema(&db));
}

/// A file refinery would skip with a warning (a `-` in its name, a lower-case prefix) never ran
/// under refinery, so it is refused by name here, not applied.
#[test]
fn a_file_refinery_would_skip_is_refused_by_name() {
    for (file, said) in [
        ("V2__add-users.sql", "letters, digits and `_`"),
        ("v2__users.sql", "upper-case V or U"),
    ] {
        let (s, config) = set(
            "refinery",
            &[
                ("V1__a.sql", "CREATE TABLE a (x);"),
                (file, "CREATE TABLE users (x);"),
            ],
        );
        let run = s.migrate(&["--config", &config, "up"]).expect(2);
        assert!(
            run.stderr
                .contains(&format!("{file}: refinery skips this file"))
                && run.stderr.contains(said),
            "{file}: {}",
            run.stderr
        );
        assert!(!s.db().exists());
    }
}

/// sqlx links an up and a down file by version alone; so does its layout here (format =
/// "sqlx"). The native layout asks for one name, and says how to read the set as sqlx's.
#[test]
fn sqlx_pairs_by_version_and_the_native_layout_points_at_it() {
    let files = [
        ("0001_create_items.up.sql", "CREATE TABLE items (x);"),
        ("0001_create_item_table.down.sql", "DROP TABLE items;"),
    ];
    let (s, config) = set("sqlx", &files);
    s.migrate(&["--config", &config, "up"]).expect(0);
    assert_eq!(history(&s), [(1, "create_items".to_owned())]);
    s.migrate(&["--config", &config, "down"]).expect(0);

    let (s, config) = set("native", &files);
    let run = s.migrate(&["--config", &config, "status"]).expect(2);
    assert!(
        run.stderr.contains("set format = \"sqlx\" in migrate.toml"),
        "{}",
        run.stderr
    );
}

/// diesel's metadata.toml: a file that does not set `run_in_transaction` leaves diesel's
/// default for the field, false, so the migration runs outside a transaction (a VACUUM, which
/// SQLite refuses inside one, goes through); `run_in_transaction = true` keeps it inside.
#[test]
fn a_diesel_metadata_file_without_the_key_runs_outside_a_transaction() {
    for (metadata, code) in [("# maintenance\n", 0), ("run_in_transaction = true\n", 5)] {
        let (s, config) = set(
            "diesel",
            &[
                ("2024-01-01-000000_items/up.sql", "CREATE TABLE items (x);"),
                ("2024-01-02-000000_vacuum/up.sql", "VACUUM;"),
                ("2024-01-02-000000_vacuum/metadata.toml", metadata),
            ],
        );
        let run = s.migrate(&["--config", &config, "up"]).expect(code);
        if code != 0 {
            assert!(
                run.stderr
                    .contains("cannot VACUUM from within a transaction"),
                "{}",
                run.stderr
            );
        }
    }
}

/// Flyway's versions: `_` is `.`, trailing zero parts do not count. `V1_0` is version 1 (and
/// a second version 1 beside it is refused naming both, as Flyway refuses it); `V1_1` has a
/// part a whole number cannot hold and is refused by name; a lower-case `v` Flyway skips.
#[test]
fn flyway_versions_are_read_as_flyway_reads_them() {
    let (s, config) = set(
        "flyway",
        &[
            ("V1_0__items.sql", "CREATE TABLE items (x);"),
            ("V2.0.0__more.sql", "CREATE TABLE more (x);"),
        ],
    );
    s.migrate(&["--config", &config, "up"]).expect(0);
    assert_eq!(
        history(&s),
        [(1, "items".to_owned()), (2, "more".to_owned())]
    );
    for (files, said) in [
        (
            [("V1__a.sql", "SELECT 1;"), ("V01__b.sql", "SELECT 1;")],
            "version 1 is defined twice: by V01__b.sql and by V1__a.sql",
        ),
        (
            [("V1__a.sql", "SELECT 1;"), ("V1_1__b.sql", "SELECT 1;")],
            "V1_1__b.sql: dotted version 1_1 (Flyway's 1.1)",
        ),
        (
            [("V1__a.sql", "SELECT 1;"), ("v2__b.sql", "SELECT 1;")],
            "v2__b.sql: Flyway skips this file",
        ),
    ] {
        let (s, config) = set("flyway", &files);
        let run = s.migrate(&["--config", &config, "status"]).expect(2);
        assert!(run.stderr.contains(said), "{}", run.stderr);
    }
}

/// A database Flyway migrated with `V1.0__items.sql` records version `1.0`: adopted as
/// version 1, the version this reader gives the file.
#[test]
fn a_flyway_database_with_a_trailing_zero_version_is_adopted() {
    let (s, config) = set(
        "flyway",
        &[
            ("V1.0__items.sql", "CREATE TABLE items (x);"),
            ("V2__more.sql", "CREATE TABLE more (x);"),
        ],
    );
    s.conn()
        .execute_batch(
            "CREATE TABLE items (x);
             CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL PRIMARY KEY, version VARCHAR(50), description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INT, installed_by VARCHAR(100) NOT NULL, installed_on TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')), execution_time INT NOT NULL, success BOOLEAN NOT NULL);
             INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
               VALUES (1, '1.0', 'items', 'SQL', 'V1.0__items.sql', 1, 'ops', 1, 1);",
        )
        .unwrap();
    s.migrate(&["--config", &config, "adopt"]).expect(0);
    s.migrate(&["--config", &config, "up"]).expect(0);
    assert_eq!(
        history(&s).iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        [1, 2]
    );
}
