//! The library's API at its edges: sets built by hand and at compile time, the builder's
//! observers and hooks, and each request the engine refuses, with the error it names.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use belay_migrate::{
    DatabaseState, DownTarget, Error, Migration, Migrations, Migrator, Peer, Progress, Request,
    SchemaCheck, Script, TransactionMode, TransactionScope, WriteLock, source,
};
use migrate_tests::{Scratch, count, example_migrations};

fn migrator(s: &Scratch) -> Migrator {
    Migrator::new(source::read_dir(s.migrations()).unwrap())
}

/// What `embed_migrations!` emits, built here at run time (in a `static` it would be evaluated
/// by the compiler, out of the test's sight).
fn embedded() -> Migrations {
    let up = Script::from_static(
        "0001_t.up.sql",
        "CREATE TABLE t (id INTEGER PRIMARY KEY);",
        TransactionMode::Transactional,
    );
    let down = Script::from_static(
        "0001_t.down.sql",
        "DROP TABLE t;",
        TransactionMode::Transactional,
    );
    let items = vec![Migration::from_static(
        1,
        "t",
        "recorded-by-the-macro",
        up,
        Some(down),
        None,
    )];
    Migrations::from_static(Box::leak(items.into_boxed_slice()))
}

/// A set made at compile time keeps the checksum the macro computed, the scripts as given,
/// and answers lookups; the engine runs it up and back down.
#[test]
fn a_set_made_at_compile_time_runs_as_given() {
    let set = embedded();
    assert_eq!(set.len(), 1);
    assert!(!set.is_empty());
    assert_eq!(set.latest(), Some(1));
    let m = set.get(1).unwrap();
    assert_eq!(m.checksum(), "recorded-by-the-macro");
    assert_eq!(m.up().origin(), "0001_t.up.sql");
    assert_eq!(m.down().map(Script::sql), Some("DROP TABLE t;"));
    assert!(set.get(2).is_none());
    let names: Vec<&str> = (&set).into_iter().map(Migration::name).collect();
    assert_eq!(names, ["t"]);

    let s = Scratch::new();
    let m = Migrator::new(set.clone());
    assert_eq!(m.migrations().len(), 1);
    m.up(s.db()).unwrap();
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM _migrate_history WHERE checksum = 'recorded-by-the-macro'"
        ),
        1
    );
    m.run(s.db(), &Request::Down(DownTarget::To(0))).unwrap();
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM sqlite_schema WHERE name = 't'"
        ),
        0
    );
}

/// Two migrations with one version are refused, naming both files.
#[test]
fn a_set_with_a_version_twice_names_both_files() {
    let one = |origin: &str| Migration::new(3, "x", Script::parse(origin, "SELECT 1;").unwrap());
    let Err(Error::DuplicateVersion {
        version,
        first,
        second,
    }) = Migrations::new(vec![one("0003_a.up.sql"), one("0003_b.up.sql")])
    else {
        panic!("a duplicate version was accepted");
    };
    assert_eq!(version, 3);
    let mut files = [first, second];
    files.sort();
    assert_eq!(files, ["0003_a.up.sql", "0003_b.up.sql"]);
}

/// The progress observer hears each migration of a run, in order, and the commit.
#[test]
fn the_progress_observer_hears_each_migration() {
    let s = Scratch::with_migrations(&example_migrations());
    let heard = Arc::new(Mutex::new(Vec::new()));
    let mut m = migrator(&s);
    let sink = Arc::clone(&heard);
    m.on_progress(move |p| {
        let said = match p {
            Progress::Migration { version, .. } => format!("migration {version}"),
            Progress::Committing => "committing".to_owned(),
            _ => return,
        };
        sink.lock().unwrap().push(said);
    });
    assert!(format!("{m:?}").contains("Observer"));
    m.up(s.db()).unwrap();
    let heard = heard.lock().unwrap();
    let migrations: Vec<&String> = heard
        .iter()
        .filter(|h| h.starts_with("migration"))
        .collect();
    assert_eq!(
        migrations,
        [
            "migration 1",
            "migration 2",
            "migration 3",
            "migration 4",
            "migration 5",
            "migration 6"
        ]
    );
    assert!(heard.iter().any(|h| h == "committing"), "{heard:?}");
}

/// A connection hook that fails stops the run before anything changes, naming the hook; the
/// builder's debug form counts the hooks instead of printing closures.
#[test]
fn a_failing_connection_hook_is_named_and_changes_nothing() {
    let s = Scratch::with_migrations(&example_migrations());
    let mut m = migrator(&s);
    m.on_connection(|_| Ok(()));
    m.on_connection(|_| Err(belay_migrate::rusqlite::Error::InvalidQuery));
    assert!(format!("{m:?}").contains("hooks: 2"), "{m:?}");
    let err = m.up(s.db()).unwrap_err();
    let Error::ConnectionSetup { what, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(what, "the application's connection hook #2");
    assert!(
        !s.db().exists()
            || count(
                &s.conn(),
                "SELECT count(*) FROM sqlite_schema WHERE name = 'users'"
            ) == 0
    );
}

/// Holding the write lock for the whole run cannot be combined with committing each
/// migration on its own: refused before anything is done.
#[test]
fn the_write_lock_and_one_commit_per_migration_are_incompatible() {
    let s = Scratch::with_migrations(&example_migrations());
    let mut m = migrator(&s);
    m.write_lock(WriteLock::WholeRun)
        .transaction_scope(TransactionScope::PerMigration);
    let err = m.up(s.db()).unwrap_err();
    assert!(matches!(err, Error::Incompatible { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("cannot also commit each migration"),
        "{err}"
    );
    assert!(!s.db().exists() || count(&s.conn(), "SELECT count(*) FROM sqlite_schema") == 0);
}

/// Requests about a database that is not there, or a version no file has, are refused with
/// the error that names what is missing; nothing is created.
#[test]
fn requests_about_what_is_not_there_are_refused() {
    let s = Scratch::with_migrations(&example_migrations());
    let m = migrator(&s);
    let adopt = m.adopt(s.db(), None, SchemaCheck::Required).unwrap_err();
    assert!(matches!(adopt, Error::NoDatabase { .. }), "{adopt}");
    let verify = m.verify(s.db()).unwrap_err();
    assert!(matches!(verify, Error::NoDatabase { .. }), "{verify}");
    assert!(
        m.fix_checksums(s.db(), None).unwrap().is_empty(),
        "no database: no checksum to fix"
    );
    assert!(!s.db().exists(), "nothing may be created");

    s.conn()
        .execute_batch("CREATE TABLE app (id INTEGER PRIMARY KEY)")
        .unwrap();
    let baseline = m.baseline(s.db(), 99).unwrap_err();
    assert!(
        baseline
            .to_string()
            .contains("cannot baseline at 99: there is no migration with that version"),
        "{baseline}"
    );
    let adopt = m
        .adopt(s.db(), Some(Peer::Goose), SchemaCheck::Required)
        .unwrap_err();
    assert!(
        adopt
            .to_string()
            .contains("no goose bookkeeping in this database (goose_db_version not found)"),
        "{adopt}"
    );
    let drift = m.accept_drift(s.db()).unwrap_err();
    assert!(
        drift.to_string().contains("no schema is recorded yet"),
        "{drift}"
    );
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE '_migrate%'"
        ),
        0,
        "a refused request records nothing"
    );
}

/// fix-checksums with nothing changed records nothing and says so by returning no versions.
#[test]
fn fix_checksums_with_nothing_changed_records_nothing() {
    let s = Scratch::with_migrations(&example_migrations());
    let m = migrator(&s);
    m.up(s.db()).unwrap();
    let attempts = count(&s.conn(), "SELECT count(*) FROM _migrate_attempts");
    assert!(m.fix_checksums(s.db(), None).unwrap().is_empty());
    assert_eq!(
        count(&s.conn(), "SELECT count(*) FROM _migrate_attempts"),
        attempts
    );
}

/// The library's restore by hand: `restore` backs the replaced state up first, and
/// `verify_checksum` accepts the backup it took and refuses one whose bytes changed.
#[test]
fn restore_by_hand_through_the_library() {
    let s = Scratch::with_migrations(&example_migrations());
    let m = migrator(&s);
    m.up(s.db()).unwrap();
    let dir = s.dir.path().join("backups");
    let taken = belay_migrate::backup::create(
        &s.db(),
        &dir,
        &belay_migrate::backup::CreateOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    belay_migrate::backup::verify_checksum(&dir, &taken).unwrap();
    s.conn()
        .execute_batch("CREATE TABLE later (id INTEGER)")
        .unwrap();

    let report =
        belay_migrate::backup::restore(&s.db(), &dir, &taken.id, Duration::from_secs(5)).unwrap();
    assert!(report.pre_restore.is_some(), "the replaced state is kept");
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM sqlite_schema WHERE name = 'later'"
        ),
        0
    );
    let report = belay_migrate::backup::restore_with(
        &s.db(),
        &dir,
        &taken.id,
        Duration::from_secs(5),
        belay_migrate::backup::Current::Discard,
    )
    .unwrap();
    assert!(report.pre_restore.is_none());

    let file = dir.join(&taken.file);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let err = belay_migrate::backup::verify_checksum(&dir, &taken).unwrap_err();
    assert!(err.to_string().contains(&taken.id), "{err}");
}

/// What a report says of the database, for each state a command can leave it in.
#[test]
fn each_database_state_says_what_happened() {
    let cases = [
        (DatabaseState::Migrated, "the database is migrated"),
        (
            DatabaseState::TablesRestored {
                backup: "b1".to_owned(),
                tables: vec!["users".to_owned(), "orders".to_owned()],
            },
            "users, orders",
        ),
        (
            DatabaseState::Repaired {
                ok: true,
                damaged_copy: "app.db.damaged".to_owned(),
            },
            "it passes its checks",
        ),
        (
            DatabaseState::Repaired {
                ok: false,
                damaged_copy: "app.db.damaged".to_owned(),
            },
            "damage remains",
        ),
    ];
    for (state, said) in cases {
        let text = state.to_string();
        assert!(text.contains(said), "{state:?}: {text}");
    }
}

/// With the write lock held for the whole run, an application that keeps its own write
/// transaction open past the lock timeout makes the run stop with a lock timeout naming it;
/// nothing of the run is applied.
#[test]
fn the_whole_run_lock_waits_at_most_the_lock_timeout() {
    let s = Scratch::with_migrations(&example_migrations());
    s.conn()
        .execute_batch("CREATE TABLE app (id INTEGER PRIMARY KEY)")
        .unwrap();
    let writer = s.conn();
    writer
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO app VALUES (1);")
        .unwrap();
    let mut m = migrator(&s);
    m.write_lock(WriteLock::WholeRun)
        .lock_timeout(Duration::from_millis(300));
    let err = m.up(s.db()).unwrap_err();
    let Error::LockTimeout { holder, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(holder, "another connection holding SQLite's write lock");
    writer.execute_batch("COMMIT").unwrap();
    assert_eq!(
        count(
            &s.conn(),
            "SELECT count(*) FROM sqlite_schema WHERE name = 'users'"
        ),
        0
    );
    assert_eq!(count(&s.conn(), "SELECT count(*) FROM app"), 1);
}

/// The library's refusal lists each problem on a line of its own.
#[test]
fn a_refusal_lists_each_problem() {
    let s = Scratch::with_migrations(&example_migrations());
    migrator(&s)
        .run(s.db(), &Request::Up { to: Some(5) })
        .unwrap();
    for entry in std::fs::read_dir(s.migrations()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("0002_") || name.starts_with("0003_") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let err = migrator(&s).up(s.db()).unwrap_err();
    let Error::Refused { problems } = &err else {
        panic!("{err}");
    };
    assert_eq!(problems.len(), 2);
    assert_eq!(err.to_string().matches("\n  - ").count(), 2, "{err}");
}

/// Each error of the safety crate becomes the engine's error of the same name, field for
/// field, so that a caller matches one enum whichever layer failed.
#[test]
fn the_safety_crates_errors_keep_their_names_and_fields() {
    use belay_migrate::guard::Error as G;
    let said = |e: Error| e.to_string();
    let reason = || "why".to_owned();
    assert!(matches!(
        Error::from(G::RepairStep { reason: reason() }),
        Error::RepairStep { reason } if reason == "why"
    ));
    assert!(matches!(
        Error::from(G::Internal { reason: reason() }),
        Error::Internal { reason } if reason == "why"
    ));
    assert!(matches!(
        Error::from(G::InvalidRequest { reason: reason() }),
        Error::InvalidRequest { reason } if reason == "why"
    ));
    let table = Error::from(G::TableRestoreRefused {
        table: "users".to_owned(),
        reason: reason(),
    });
    assert!(said(table).contains("users"));
    let exists = Error::from(G::TargetExists {
        path: "copy.db".into(),
        reason: reason(),
    });
    assert!(matches!(&exists, Error::TargetExists { .. }), "{exists}");
    assert!(said(exists).contains("copy.db"));
}

static DIESEL: include_dir::Dir<'_> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/fixtures/formats/diesel");
static GOOSE: include_dir::Dir<'_> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/fixtures/formats/goose");

/// A layout embedded with `include_dir` (diesel's one directory per migration, goose's one
/// file) is the same set as the directory read from disk: versions, names and checksums.
#[test]
fn an_embedded_layout_is_the_set_read_from_disk() {
    let shape = |m: &Migrations| {
        m.iter()
            .map(|m| {
                (
                    m.version(),
                    m.name().to_owned(),
                    m.checksum().to_owned(),
                    m.down().map(|d| d.sql().to_owned()),
                )
            })
            .collect::<Vec<_>>()
    };
    for (embedded, dir) in [(&DIESEL, "diesel"), (&GOOSE, "goose")] {
        let from_disk = source::read_dir(
            migrate_tests::workspace()
                .join("tests/fixtures/formats")
                .join(dir),
        )
        .unwrap();
        let embedded = source::from_include_dir(embedded).unwrap();
        assert_eq!(embedded.len(), 4, "{dir}");
        assert_eq!(shape(&embedded), shape(&from_disk), "{dir}");
    }
}

/// A migration file whose name is not UTF-8 is refused, naming it; other files with such
/// names are left aside, as every layout leaves aside what is not a migration.
#[cfg(unix)]
#[test]
fn a_migration_file_named_in_bytes_that_are_not_utf8_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::with_migrations(&example_migrations());
    let odd = std::ffi::OsStr::from_bytes(b"notes-\xff.txt");
    std::fs::write(s.migrations().join(odd), "not a migration").unwrap();
    assert_eq!(source::read_dir(s.migrations()).unwrap().len(), 6);
    let bad = std::ffi::OsStr::from_bytes(b"0007_caf\xe9.up.sql");
    std::fs::write(s.migrations().join(bad), "SELECT 1;").unwrap();
    let err = source::read_dir(s.migrations()).unwrap_err();
    let Error::InvalidFile { file, reason } = &err else {
        panic!("{err}");
    };
    assert!(file.starts_with("0007_caf"), "{file}");
    assert_eq!(reason, "file name is not valid UTF-8");
}
