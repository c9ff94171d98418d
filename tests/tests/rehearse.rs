//! `migrate up --rehearse`: the run applied to a scratch copy first; for real only if the
//! rehearsal passed, and nothing left behind either way.

use belay_migrate::backup;
use migrate_tests::{Scratch, dump, example_migrations, fixture};

fn leftovers(s: &Scratch) -> Vec<String> {
    let dir = backup::default_dir(&s.db());
    std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("rehearsal"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_passing_rehearsal_is_followed_by_the_real_run() {
    let s = Scratch::with_migrations(&example_migrations()).with_legacy_data();
    let run = s.migrate(&["--json", "up", "--rehearse"]).expect(0);
    let doc = run.json();
    let steps = doc["steps"].as_array().unwrap().len();
    assert!(steps > 0);
    assert_eq!(doc["rehearsal"]["steps"].as_array().unwrap().len(), steps);
    assert!(
        run.stderr.contains("rehearsal on a scratch copy"),
        "{}",
        run.stderr
    );
    assert_eq!(leftovers(&s), Vec::<String>::new());
    // The real run took its own backup; the rehearsal took none and wrote no journal line.
    let dir = backup::default_dir(&s.db());
    assert_eq!(backup::list(&dir).unwrap().len(), 1);
    let journal = std::fs::read_to_string(belay_migrate::audit::path(&dir)).unwrap();
    assert_eq!(journal.lines().count(), 1);
}

#[test]
fn a_failing_rehearsal_leaves_the_database_untouched_exit_5() {
    let s = Scratch::with_migrations(&fixture("migrations_broken")).with_legacy_data();
    let before = dump(&s.db());
    let run = s
        .migrate(&["--json", "up", "--rehearse", "--per-migration"])
        .expect(5);
    assert_eq!(
        run.json()["error"]["report"]["database"]["state"],
        "unchanged"
    );
    assert!(
        run.stderr
            .contains("the rehearsal on a scratch copy failed"),
        "{}",
        run.stderr
    );
    assert_eq!(dump(&s.db()), before, "not even the bookkeeping tables");
    let dir = backup::default_dir(&s.db());
    assert!(
        backup::list(&dir).unwrap().is_empty(),
        "no real run, no backup"
    );
    assert_eq!(leftovers(&s), Vec::<String>::new());
}

#[test]
fn dry_run_and_rehearse_do_not_mix() {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up", "--rehearse", "--dry-run"]).expect(2);
}
