//! Embedded migrations and the start-up call: many processes or threads starting at once apply
//! every migration exactly once and all succeed; the embedded set equals what the directory
//! reader and include_dir give; a failure says whether the database kept its old version.

use std::process::Stdio;
use std::sync::Barrier;

use belay_migrate::{Backups, DatabaseState, Migrations, Migrator, TransactionScope, source};
use migrate_tests::{Run, Scratch, count, example_bin, example_migrations, fixture};

static EMBEDDED: Migrations = belay_macros::embed_migrations!("../migrations");
static INCLUDED: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../migrations");

fn checksums(set: &Migrations) -> Vec<(i64, String, String)> {
    set.iter()
        .map(|m| (m.version(), m.name().to_owned(), m.checksum().to_owned()))
        .collect()
}

#[test]
fn sixteen_processes_starting_at_once_apply_each_migration_once() {
    let app = example_bin("app_startup");
    let s = Scratch::new();
    let children: Vec<_> = (0..16)
        .map(|_| {
            std::process::Command::new(&app)
                .arg(s.db())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied: Vec<u64> = children
        .into_iter()
        .map(|c| {
            let run = Run::from(c.wait_with_output().unwrap()).expect(0);
            run.json()["applied"].as_u64().unwrap()
        })
        .collect();
    applied.sort();
    assert_eq!(applied, [[0u64; 15].as_slice(), &[6]].concat());
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_history"), 6);
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_attempts"), 1);
}

#[test]
fn sixteen_threads_starting_at_once_apply_each_migration_once() {
    let s = Scratch::new();
    let barrier = Barrier::new(16);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    Migrator::new(EMBEDDED.clone()).up(s.db())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut applied: Vec<usize> = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|e| panic!("a thread failed: {e}"))
                .steps
                .len()
        })
        .collect();
    applied.sort();
    assert_eq!(applied, [[0usize; 15].as_slice(), &[6]].concat());
}

#[test]
fn embedded_equals_the_directory_and_include_dir() {
    let from_dir = source::read_dir(example_migrations()).unwrap();
    let from_include_dir = source::from_include_dir(&INCLUDED).unwrap();
    assert_eq!(checksums(&EMBEDDED), checksums(&from_dir));
    assert_eq!(checksums(&from_include_dir), checksums(&from_dir));
    // Migrating with either records the same checksums, so they can be mixed across builds.
    let s = Scratch::new();
    Migrator::new(EMBEDDED.clone()).up(s.db()).unwrap();
    let again = Migrator::new(from_dir).up(s.db()).unwrap();
    assert!(again.steps.is_empty());
}

#[test]
fn a_failed_start_says_whether_the_database_kept_its_version() {
    let broken = source::read_dir(fixture("migrations_broken")).unwrap();
    let s = Scratch::new();
    let error = Migrator::new(broken.clone()).up(s.db()).unwrap_err();
    assert_eq!(error.database_state(), DatabaseState::Unchanged);

    let mut per_migration = Migrator::new(broken);
    per_migration.transaction_scope(TransactionScope::PerMigration);
    // A database that was empty is emptied again: nothing of the run's is left.
    let s = Scratch::new();
    let error = per_migration.up(s.db()).unwrap_err();
    assert_eq!(error.database_state(), DatabaseState::Emptied);

    // Without the net, what committed stays, and the error says at which version.
    per_migration.backups(Backups::Skip);
    let s = Scratch::new();
    let error = per_migration.up(s.db()).unwrap_err();
    assert_eq!(
        error.database_state(),
        DatabaseState::PartiallyApplied { version: Some(2) }
    );
}

#[test]
fn the_start_up_call_on_an_open_connection_with_nothing_pending_writes_nothing() {
    let s = Scratch::new();
    let migrator = Migrator::new(EMBEDDED.clone());
    migrator.up(s.db()).unwrap();
    let conn = s.conn();
    let report = migrator
        .run_on(&conn, &belay_migrate::Request::up())
        .unwrap();
    assert!(report.steps.is_empty());
    assert_eq!(report.attempt_id, None);
    assert_eq!(conn.total_changes(), 0, "no row written");
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_attempts"), 1);
}
