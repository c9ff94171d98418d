//! Every attempt reaches the audit journal with an id of its own, even when recording it in the
//! database fails.

use migrate_tests::Scratch;

fn journal_ids(s: &Scratch) -> Vec<Option<i64>> {
    let path = migrate_core::audit::path(&migrate_core::backup::default_dir(&s.db()));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["attempt_id"].as_i64())
        .collect()
}

#[test]
fn a_failure_whose_recording_is_blocked_does_not_lend_its_id_to_the_next_run() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(s.migrations().join("0001_a.up.sql"), "CREATE TABLE a (x);").unwrap();
    s.migrate(&["-q", "up"]).expect(0);
    std::fs::write(
        s.migrations().join("0002_bad.up.sql"),
        "SELECT * FROM missing;",
    )
    .unwrap();
    // A reader holding its snapshot (rollback journal): the run's statements fail and roll
    // back, and the COMMIT recording the failure cannot get the exclusive lock in time.
    let reader = s.conn();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM a;")
        .unwrap();
    let run = s.migrate(&["--lock-timeout", "1", "up"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    // The next run fails the same way, this time recorded.
    s.migrate(&["up"]).expect(5);
    let ids = journal_ids(&s);
    let named: Vec<i64> = ids.iter().flatten().copied().collect();
    let mut unique = named.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        named.len(),
        unique.len(),
        "an id appears twice in the journal: {ids:?}"
    );
    assert_eq!(ids.len(), 3, "{ids:?}");
}
