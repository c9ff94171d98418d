//! `[database]` settings: applied, read back, and refused by name when SQLite did not take them.

use std::time::Duration;

use belay_guard::Error;
use belay_guard::database::lock::MigrationLock;
use belay_guard::database::settings::{self, JournalMode, Scope, Settings, Switch, Synchronous};
use rusqlite::Connection;

fn every() -> Settings {
    Settings {
        journal_mode: None,
        synchronous: Some(Synchronous::Normal),
        busy_timeout: Some(2500),
        wal_autocheckpoint: Some(500),
        journal_size_limit: Some(64 << 20),
        foreign_keys: Some(Switch::On),
        cache_size: Some(-16_384),
        mmap_size: Some(1 << 20),
    }
}

fn not_applied(e: &Error) -> (&str, &str, &str) {
    match e {
        Error::SettingNotApplied {
            setting,
            asked,
            got,
        } => (setting, asked, got),
        other => panic!("expected a setting not applied, got {other}"),
    }
}

#[test]
fn every_setting_is_applied_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("app.db")).unwrap();
    settings::apply(&conn, &every(), Scope::Every).unwrap();
    let have = settings::in_force(&conn).unwrap();
    assert_eq!(
        (
            have.synchronous,
            have.busy_timeout,
            have.wal_autocheckpoint,
            have.journal_size_limit,
            have.foreign_keys,
            have.cache_size,
            have.mmap_size
        ),
        (1, 2500, 500, 64 << 20, 1, -16_384, 1 << 20)
    );
    // Nothing asked, nothing changed.
    settings::apply(&conn, &Settings::default(), Scope::Every).unwrap();
    assert_eq!(settings::in_force(&conn).unwrap(), have);
}

#[test]
fn a_run_keeps_its_own_busy_timeout_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("app.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(60)).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    settings::apply(&conn, &every(), Scope::LeavingLocksAndKeys).unwrap();
    let have = settings::in_force(&conn).unwrap();
    assert_eq!((have.busy_timeout, have.foreign_keys), (60_000, 0));
    assert_eq!(have.synchronous, 1);
}

#[test]
fn what_sqlite_ignores_without_a_word_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("app.db")).unwrap();
    // Inside a transaction SQLite leaves foreign_keys as it was.
    conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN")
        .unwrap();
    let e = settings::apply(
        &conn,
        &Settings {
            foreign_keys: Some(Switch::On),
            ..Settings::default()
        },
        Scope::Every,
    )
    .unwrap_err();
    assert_eq!(not_applied(&e), ("foreign_keys", "1", "0"));
    assert_eq!(
        e.to_string(),
        "database setting foreign_keys = 1 did not take: SQLite has 0"
    );
    conn.execute_batch("COMMIT").unwrap();
    // Above SQLite's compile-time limit, mmap_size is cut down to it.
    let e = settings::apply(
        &conn,
        &Settings {
            mmap_size: Some(1 << 40),
            ..Settings::default()
        },
        Scope::Every,
    )
    .unwrap_err();
    let (setting, asked, got) = not_applied(&e);
    assert_eq!((setting, asked), ("mmap_size", "1099511627776"));
    assert!(got.parse::<i64>().unwrap() < 1 << 40, "{got}");
}

#[test]
fn the_journal_mode_changes_under_the_lock_or_names_what_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let conn = Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_millis(100)).unwrap();
    conn.execute_batch("CREATE TABLE t (x)").unwrap();
    let lock = MigrationLock::acquire(&db, Duration::from_secs(1)).unwrap();
    settings::apply_journal_mode(&conn, JournalMode::Wal, &lock).unwrap();
    assert_eq!(settings::in_force(&conn).unwrap().journal_mode, "wal");
    // Leaving WAL needs the other connections gone: SQLite keeps WAL and says so.
    let other = Connection::open(&db).unwrap();
    other
        .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
        .unwrap();
    let e = settings::apply_journal_mode(&conn, JournalMode::Delete, &lock);
    match e {
        Err(Error::SettingNotApplied { setting, got, .. }) => {
            assert_eq!((setting.as_str(), got.as_str()), ("journal_mode", "wal"));
        }
        Err(Error::Sqlite { context, .. }) => {
            assert_eq!(context, "setting journal_mode = delete");
        }
        Ok(()) => panic!("left WAL with another connection open"),
        Err(other) => panic!("{other}"),
    }
    drop(other);
    settings::apply_journal_mode(&conn, JournalMode::Delete, &lock).unwrap();
    assert_eq!(settings::in_force(&conn).unwrap().journal_mode, "delete");
    assert_eq!(JournalMode::Truncate.to_string(), "truncate");
}

#[test]
fn settings_read_from_a_document_refuse_unknown_names_and_values() {
    let s: Settings = serde_json::from_str(
        r#"{"journal_mode": "wal", "synchronous": "normal", "foreign_keys": "on", "busy_timeout": 5000}"#,
    )
    .unwrap();
    assert_eq!(s.journal_mode, Some(JournalMode::Wal));
    assert_eq!(s.synchronous, Some(Synchronous::Normal));
    let e = serde_json::from_str::<Settings>(r#"{"synchronous": "sometimes"}"#).unwrap_err();
    assert!(e.to_string().contains("sometimes"), "{e}");
    let e = serde_json::from_str::<Settings>(r#"{"journal": "wal"}"#).unwrap_err();
    assert!(e.to_string().contains("journal"), "{e}");
}

#[test]
fn every_mode_and_level_is_spelled_as_sqlite_spells_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE t (x)").unwrap();
    let lock = MigrationLock::acquire(&db, Duration::from_secs(1)).unwrap();
    for mode in [
        JournalMode::Truncate,
        JournalMode::Persist,
        JournalMode::Memory,
        JournalMode::Off,
        JournalMode::Delete,
    ] {
        settings::apply_journal_mode(&conn, mode, &lock).unwrap();
        assert_eq!(
            settings::in_force(&conn).unwrap().journal_mode,
            mode.as_str()
        );
    }
    for (level, number) in [
        (Synchronous::Off, 0),
        (Synchronous::Normal, 1),
        (Synchronous::Full, 2),
        (Synchronous::Extra, 3),
    ] {
        let asked = Settings {
            synchronous: Some(level),
            foreign_keys: Some(Switch::Off),
            ..Settings::default()
        };
        settings::apply(&conn, &asked, Scope::Every).unwrap();
        let have = settings::in_force(&conn).unwrap();
        assert_eq!((have.synchronous, have.foreign_keys), (number, 0));
    }
    let text = serde_json::to_string(&every()).unwrap();
    assert!(text.contains("\"synchronous\":\"normal\""), "{text}");
    assert!(!text.contains("journal_mode"), "{text}");
}

#[test]
fn a_file_that_is_not_a_database_is_named_in_sqlites_words() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.db");
    std::fs::write(&db, vec![b'x'; 4096]).unwrap();
    let conn = Connection::open(&db).unwrap();
    let e = settings::in_force(&conn).unwrap_err();
    assert!(
        e.to_string().starts_with("reading PRAGMA journal_mode"),
        "{e}"
    );
    let e = settings::apply(&conn, &every(), Scope::Every).unwrap_err();
    assert_eq!(
        e.to_string(),
        "setting synchronous = normal: file is not a database"
    );
    let lock = MigrationLock::acquire(&db, Duration::from_secs(1)).unwrap();
    let e = settings::apply_journal_mode(&conn, JournalMode::Wal, &lock).unwrap_err();
    assert!(
        e.to_string().starts_with("setting journal_mode = wal"),
        "{e}"
    );
}
