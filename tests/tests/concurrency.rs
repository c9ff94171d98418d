//! The migration lock: eight processes migrating one database at once apply every migration
//! exactly once and all succeed; a process killed while holding the lock does not block the
//! next run; a held lock makes a run wait and then exit 3 naming the holder.

use std::process::Stdio;
use std::time::{Duration, Instant};

use belay_migrate::lock::MigrationLock;
use migrate_tests::{Run, Scratch, count, example_migrations, fixture, migrate_command};

#[test]
fn eight_processes_at_once_apply_each_migration_once() {
    let s = Scratch::with_migrations(&example_migrations());
    let children: Vec<_> = (0..8)
        .map(|_| {
            migrate_command()
                .arg("--db")
                .arg(s.db())
                .arg("--migrations")
                .arg(s.migrations())
                .args(["--json", "up"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|c| Run::from(c.wait_with_output().unwrap()))
        .collect();
    let mut applied_by = Vec::new();
    for run in runs {
        let run = run.expect(0);
        let steps = run.json()["steps"].as_array().unwrap().len();
        applied_by.push(steps);
    }
    applied_by.sort();
    // One process applied all six; the seven others found nothing to do.
    assert_eq!(applied_by, [0, 0, 0, 0, 0, 0, 0, 6]);
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT count(*) FROM _migrate_history"), 6);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM _migrate_attempts WHERE outcome = 'success'"
        ),
        1
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM _migrate_attempts WHERE outcome <> 'success'"
        ),
        0
    );
}

#[test]
fn a_killed_lock_holder_does_not_block_the_next_run() {
    let s = Scratch::with_migrations(&fixture("migrations_slow"));
    let mut child = migrate_command()
        .arg("--db")
        .arg(s.db())
        .arg("--migrations")
        .arg(s.migrations())
        .arg("up")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child holds the lock (our own attempt times out immediately).
    let deadline = Instant::now() + Duration::from_secs(30);
    while MigrationLock::acquire(&s.db(), Duration::ZERO).is_ok() {
        assert!(Instant::now() < deadline, "the child never took the lock");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let run = s
        .migrate(&["--lock-timeout", "5", "--json", "up"])
        .expect(0);
    assert_eq!(run.json()["to_version"], 2);
    let conn = s.conn();
    assert_eq!(count(&conn, "SELECT count(*) FROM big"), 2_000_000);
    assert_eq!(count(&conn, "SELECT count(*) FROM seed"), 2);
}

#[test]
fn a_held_lock_times_out_with_exit_3_naming_the_holder() {
    let s = Scratch::with_migrations(&example_migrations());
    let _held = MigrationLock::acquire(&s.db(), Duration::ZERO).unwrap();
    let started = Instant::now();
    let run = s.migrate(&["--lock-timeout", "0.3", "up"]).expect(3);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        run.stderr
            .contains(&format!("held by pid {}", std::process::id())),
        "{}",
        run.stderr
    );
    // Nothing was applied.
    let conn = s.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sqlite_schema WHERE name = '_migrate_history'"
        ),
        0
    );
}
