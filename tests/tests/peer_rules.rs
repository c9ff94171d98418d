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

/// Runs `migrate --config <config> <command>` on `s`, which must refuse the set (exit 2, nothing
/// done) saying `said`.
fn refused(s: &Scratch, config: &str, command: &str, said: &str) {
    let run = s.migrate(&["--config", config, command]).expect(2);
    assert!(run.stderr.contains(said), "{}", run.stderr);
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
    refused(
        &s,
        &config,
        "up",
        "1_a: its version `1` and `10` of 10_b are both recorded here as 10000000000000",
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
    refused(
        &s,
        &config,
        "status",
        "2024-03-06-1700001_b/up.sql: diesel applies it before 2024-03-06-170001_a/up.sql",
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
    refused(
        &s,
        &config,
        "status",
        "version 7 is defined twice: by 7_a.up.sql and by 7_b.up.sql",
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
    refused(
        &s,
        &config,
        "up",
        "10_c.sql: dbmate applies it before 2_b.sql",
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
    refused(
        &s,
        &config,
        "status",
        "set format = \"sqlx\" in migrate.toml",
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

/// dbmate's release binary from npm (installed by tests/peers/install-dbmate.sh).
fn dbmate() -> std::path::PathBuf {
    let out = std::process::Command::new("bash")
        .arg(migrate_tests::workspace().join("tests/peers/install-dbmate.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The files dbmate applies to `db` from `dir`, in its order (its "Applying:" lines), or its
/// error.
fn dbmate_up(dir: &std::path::Path, db: &std::path::Path) -> Result<Vec<String>, String> {
    let out = std::process::Command::new(dbmate())
        .arg("--url")
        .arg(format!("sqlite:{}", db.display()))
        .arg("--migrations-dir")
        .arg(dir)
        .args(["--no-dump-schema", "up"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Applying: "))
        .map(str::to_owned)
        .collect())
}

/// dbmate itself is the oracle (on demand, and in .ci/run: needs npm the first time):
/// zero-padded names apply in the same order with the same schema, a marker without the space
/// and a comment-only section included; where dbmate's name order contradicts the numbers
/// (`10_c.sql` before `2_b.sql`, which dbmate really does) the set is refused here; a file
/// without a down block dbmate refuses too.
/// `cargo test -p migrate-tests --test peer_rules -- --ignored`
#[test]
#[ignore = "needs npm the first time: installs dbmate"]
fn dbmate_itself_applies_the_fixtures_as_described() {
    let file = |table: &str| {
        format!("-- migrate:up\nCREATE TABLE {table} (x);\n-- migrate:down\nDROP TABLE {table};\n")
    };
    let agreeing = [
        ("02_b.sql", file("b")),
        ("10_c.sql", file("c")),
        (
            "11_noop.sql",
            "--migrate:up\n-- nothing on SQLite\n--migrate:down\n".to_owned(),
        ),
    ];
    let files: Vec<(&str, &str)> = agreeing.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let (s, config) = set("dbmate", &files);
    let theirs_db = s.dir.path().join("dbmate.db");
    let order = dbmate_up(&s.migrations(), &theirs_db).unwrap();
    assert_eq!(order, ["02_b.sql", "10_c.sql", "11_noop.sql"]);
    s.migrate(&["--config", &config, "up"]).expect(0);
    let ours: Vec<String> = history(&s)
        .iter()
        .map(|(v, name)| format!("{v:02}_{name}.sql"))
        .collect();
    assert_eq!(ours, order);
    let user_schema = |db: &std::path::Path| -> Vec<String> {
        rusqlite::Connection::open(db)
            .unwrap()
            .prepare("SELECT sql FROM sqlite_schema WHERE name IN ('b', 'c') ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(user_schema(&s.db()), user_schema(&theirs_db));

    let contradicting = [("2_b.sql", file("b")), ("10_c.sql", file("c"))];
    let files: Vec<(&str, &str)> = contradicting
        .iter()
        .map(|(p, t)| (*p, t.as_str()))
        .collect();
    let (s, config) = set("dbmate", &files);
    let order = dbmate_up(&s.migrations(), &s.dir.path().join("dbmate.db")).unwrap();
    assert_eq!(order, ["10_c.sql", "2_b.sql"]);
    refused(
        &s,
        &config,
        "up",
        "10_c.sql: dbmate applies it before 2_b.sql",
    );

    let (s, config) = set(
        "dbmate",
        &[("1_a.sql", "-- migrate:up\nCREATE TABLE a (x);\n")],
    );
    let theirs = dbmate_up(&s.migrations(), &s.dir.path().join("dbmate.db")).unwrap_err();
    assert!(theirs.contains("define a down block"), "{theirs}");
    refused(&s, &config, "up", "no `-- migrate:down` section");
}

/// Runs a peer's own program from its crate under tests/peers (built on first use; needs
/// crates.io): its stdout, or its stderr as the error.
fn peer_program(manifest: &str, args: &[&std::path::Path]) -> Result<String, String> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--release", "--manifest-path"])
        .arg(migrate_tests::workspace().join(manifest))
        .arg("--")
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The tables and columns a database holds, bookkeeping aside.
fn tables(db: &std::path::Path) -> Vec<(String, String)> {
    rusqlite::Connection::open(db)
        .unwrap()
        .prepare(
            "SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE '\\_%' ESCAPE '\\'
               AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY 1, p.cid",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// diesel's own harness is the oracle (on demand: builds diesel from crates.io, a few
/// minutes the first time): the text order of mixed-length versions, the zero-byte refusal,
/// a comment-only up.sql applied, and metadata.toml's default, each as diesel does it.
/// `cargo test -p migrate-tests --test peer_rules -- --ignored`
#[test]
#[ignore = "needs crates.io the first time: builds diesel"]
fn diesel_itself_applies_the_fixtures_as_described() {
    const DIESEL: &str = "tests/peers/diesel/Cargo.toml";
    let ordered = [
        (
            "2024-03-06-170000_create_items/up.sql",
            "CREATE TABLE items (id INTEGER PRIMARY KEY);",
        ),
        (
            "2024-03-13_170000_add_price/up.sql",
            "ALTER TABLE items ADD COLUMN price INTEGER;",
        ),
        (
            "2024-03-14-000000_note/up.sql",
            "-- nothing to do on SQLite\n",
        ),
        ("2024-03-15-000000_vacuum/up.sql", "VACUUM;"),
        ("2024-03-15-000000_vacuum/metadata.toml", "# maintenance\n"),
    ];
    let (s, config) = set("diesel", &ordered);
    let theirs_db = s.dir.path().join("diesel.db");
    let theirs = peer_program(DIESEL, &[&s.migrations(), &theirs_db]).unwrap();
    assert_eq!(
        theirs.lines().collect::<Vec<_>>(),
        [
            "20240306170000",
            "20240313",
            "20240314000000",
            "20240315000000"
        ]
    );
    s.migrate(&["--config", &config, "up"]).expect(0);
    assert_eq!(
        history(&s).iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        [
            20240306170000,
            20240313000000,
            20240314000000,
            20240315000000
        ]
    );
    assert_eq!(tables(&s.db()), tables(&theirs_db));

    // Inside a transaction when metadata.toml says so: diesel fails, and so does the run here.
    let (s, config) = set(
        "diesel",
        &[
            ("2024-03-15-000000_vacuum/up.sql", "VACUUM;"),
            (
                "2024-03-15-000000_vacuum/metadata.toml",
                "run_in_transaction = true\n",
            ),
        ],
    );
    let theirs = peer_program(DIESEL, &[&s.migrations(), &s.dir.path().join("d.db")]);
    assert!(
        theirs
            .unwrap_err()
            .contains("cannot VACUUM from within a transaction")
    );
    s.migrate(&["--config", &config, "up"]).expect(5);

    // A zero-byte up.sql: diesel refuses to run it, and it is refused here.
    let (s, config) = set("diesel", &[("2024-03-16-000000_empty/up.sql", "")]);
    let theirs = peer_program(DIESEL, &[&s.migrations(), &s.dir.path().join("d.db")]);
    assert!(
        theirs
            .unwrap_err()
            .contains("Attempted to run an empty migration")
    );
    s.migrate(&["--config", &config, "up"]).expect(2);
}

/// sqlx's own migrator is the oracle (on demand: builds sqlx from crates.io): an up and a down
/// file of one version with different descriptions are one migration to sqlx, and a
/// comment-only and a zero-byte file are applied and recorded.
/// `cargo test -p migrate-tests --test peer_rules -- --ignored`
#[test]
#[ignore = "needs crates.io the first time: builds sqlx"]
fn sqlx_itself_applies_the_fixtures_as_described() {
    let files = [
        ("0001_create_items.up.sql", "CREATE TABLE items (x);"),
        ("0001_create_item_table.down.sql", "DROP TABLE items;"),
        ("0002_note.sql", "-- Add migration script here\n"),
        ("0003_empty.sql", ""),
    ];
    let (s, config) = set("sqlx", &files);
    let theirs_db = s.dir.path().join("sqlx.db");
    peer_program(
        "tests/peers/Cargo.toml",
        &[std::path::Path::new("sqlx"), &s.migrations(), &theirs_db],
    )
    .unwrap();
    let theirs: Vec<i64> = rusqlite::Connection::open(&theirs_db)
        .unwrap()
        .prepare("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    s.migrate(&["--config", &config, "up"]).expect(0);
    assert_eq!(
        history(&s).iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        theirs
    );
    assert_eq!(theirs, [1, 2, 3]);
    assert_eq!(tables(&s.db()), tables(&theirs_db));
}
