//! `Tenants`: databases migrated lazily on first open, at most N at a time, each once.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use belay_migrate::rusqlite::functions::FunctionFlags;
use belay_migrate::{Migration, Migrations, Migrator, Script, Tenants};
use migrate_tests::count;

/// How many runs are inside their migration now, the most there ever were, and how many ran.
#[derive(Default)]
struct Probe {
    now: AtomicUsize,
    most: AtomicUsize,
    runs: AtomicUsize,
}

/// A migrator whose migration 1 calls `probe()`: it counts itself in, waits 40 ms, and out.
fn probed(probe: &Arc<Probe>) -> Migrator {
    probed_for(probe, Duration::from_millis(40))
}

/// [`probed`], with `probe()` taking `pause`.
fn probed_for(probe: &Arc<Probe>, pause: Duration) -> Migrator {
    let migrations = Migrations::new(vec![
        Migration::new(
            1,
            "ledger",
            Script::parse(
                "0001_ledger.up.sql",
                "CREATE TABLE ledger (entry TEXT);\nINSERT INTO ledger VALUES ('v1');\nSELECT probe();\n",
            )
            .unwrap(),
        ),
    ])
    .unwrap();
    let mut migrator = Migrator::new(migrations);
    let probe = Arc::clone(probe);
    migrator.on_connection(move |conn| {
        let probe = Arc::clone(&probe);
        conn.create_scalar_function("probe", 0, FunctionFlags::SQLITE_UTF8, move |_| {
            let now = probe.now.fetch_add(1, Ordering::SeqCst) + 1;
            probe.most.fetch_max(now, Ordering::SeqCst);
            probe.runs.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(pause);
            probe.now.fetch_sub(1, Ordering::SeqCst);
            Ok(0)
        })
    });
    migrator
}

#[test]
fn first_opens_migrate_at_most_n_at_once_and_each_database_once() {
    let dir = tempfile::tempdir().unwrap();
    let probe = Arc::new(Probe::default());
    let tenants = Tenants::new(probed(&probe), NonZeroUsize::new(2).unwrap());
    // 24 opens of 6 databases from 12 threads at once.
    std::thread::scope(|scope| {
        for t in 0..12 {
            let (tenants, dir) = (&tenants, dir.path());
            scope.spawn(move || {
                for k in 0..2 {
                    let db = dir.join(format!("tenant{}.db", (t + k) % 6));
                    let conn = tenants.open(&db).unwrap();
                    assert_eq!(count(&conn, "SELECT count(*) FROM ledger"), 1);
                }
            });
        }
    });
    assert_eq!(
        probe.most.load(Ordering::SeqCst),
        2,
        "2 at once, never more"
    );
    assert_eq!(probe.runs.load(Ordering::SeqCst), 6, "each database once");
    assert_eq!(tenants.known_current(), 6);
    // Known current: another open runs nothing, and `ensure` says so.
    assert!(
        tenants
            .ensure(dir.path().join("tenant0.db"))
            .unwrap()
            .is_none()
    );
    assert_eq!(probe.runs.load(Ordering::SeqCst), 6);
}

#[test]
fn separate_instances_as_separate_processes_apply_each_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let probe = Arc::new(Probe::default());
    let applied = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..6 {
            let (db, probe, applied) = (&db, &probe, &applied);
            scope.spawn(move || {
                // Each its own Tenants: only the migration lock keeps them apart.
                let tenants = Tenants::new(probed(probe), NonZeroUsize::new(1).unwrap());
                let report = tenants.ensure(db).unwrap().expect("a run");
                applied.fetch_add(report.steps.len(), Ordering::SeqCst);
            });
        }
    });
    assert_eq!(
        applied.into_inner(),
        1,
        "one run applied it, five found it done"
    );
    assert_eq!(probe.runs.load(Ordering::SeqCst), 1);
    let conn = belay_migrate::rusqlite::Connection::open(&db).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM ledger"), 1);
}

#[test]
fn a_failed_first_open_returns_the_error_and_the_next_open_tries_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    belay_migrate::rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE ledger (other INTEGER);")
        .unwrap();
    let probe = Arc::new(Probe::default());
    let tenants = Tenants::new(probed(&probe), NonZeroUsize::new(1).unwrap());
    let error = tenants.open(&db).unwrap_err();
    assert!(
        matches!(error, belay_migrate::Error::RunFailed { .. }),
        "{error}"
    );
    assert_eq!(tenants.known_current(), 0);
    belay_migrate::rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE ledger;")
        .unwrap();
    // Through a link and by its own name: the same database, migrated once.
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    tenants.open(&link).unwrap();
    tenants.open(&db).unwrap();
    assert_eq!(tenants.known_current(), 1);
    assert_eq!(probe.runs.load(Ordering::SeqCst), 1);
    // A path that can never be a database: its error, nothing cached.
    let error = tenants.open(dir.path()).unwrap_err();
    assert!(
        matches!(error, belay_migrate::Error::InvalidDatabase { .. }),
        "{error}"
    );
    assert!(tenants.open("no-such-dir/x/y.db").is_err());
    assert_eq!(tenants.known_current(), 1);
}

#[test]
fn waiting_for_a_turn_is_bounded_by_the_lock_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let probe = Arc::new(Probe::default());
    let mut migrator = probed_for(&probe, Duration::from_millis(800));
    migrator.lock_timeout(Duration::from_millis(150));
    let tenants = Tenants::new(migrator, NonZeroUsize::new(1).unwrap());
    std::thread::scope(|scope| {
        let first = scope.spawn(|| tenants.ensure(dir.path().join("slow.db")));
        while probe.now.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        // The one turn is taken: another database waits 150 ms, then says what held it.
        let error = tenants.ensure(dir.path().join("other.db")).unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(error, belay_migrate::Error::LockTimeout { .. }),
            "{text}"
        );
        assert!(text.contains("running at once"), "{text}");
        // The same database: waits for the run in this process, then says so.
        let error = tenants.ensure(dir.path().join("slow.db")).unwrap_err();
        assert!(error.to_string().contains("another thread"), "{error}");
        first.join().unwrap().unwrap();
    });
    assert!(
        tenants
            .ensure(dir.path().join("slow.db"))
            .unwrap()
            .is_none()
    );
}
