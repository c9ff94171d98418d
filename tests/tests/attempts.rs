//! Every attempt reaches the audit journal with an id of its own, even when recording it in the
//! database fails.

use migrate_tests::Scratch;

fn journal_ids(s: &Scratch) -> Vec<Option<i64>> {
    let path = belay_migrate::audit::path(&belay_migrate::backup::default_dir(&s.db()));
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

/// Every kind of attempt (baseline, a run, a failed run, fix-checksums, the recovery of an
/// interrupted run, down) goes through the one recorder: a row of `_migrate_attempts` and a
/// line of the audit journal each, with the same id, command and outcome, and no id twice.
#[test]
fn every_kind_of_attempt_reaches_the_table_and_the_journal_with_its_own_id() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    let write = |name: &str, sql: &str| std::fs::write(s.migrations().join(name), sql).unwrap();
    write("0001_a.up.sql", "CREATE TABLE a (x);");
    write("0001_a.down.sql", "DROP TABLE a;");
    write("0002_b.up.sql", "CREATE TABLE b (x);");
    write("0002_b.down.sql", "DROP TABLE b;");
    // An existing database whose schema is version 1, adopted.
    s.conn().execute_batch("CREATE TABLE a (x);").unwrap();
    s.migrate(&["baseline", "1"]).expect(0);
    s.migrate(&["up"]).expect(0);
    write("0003_bad.up.sql", "SELECT * FROM missing;");
    s.migrate(&["up"]).expect(5);
    std::fs::remove_file(s.migrations().join("0003_bad.up.sql")).unwrap();
    write("0002_b.up.sql", "-- reviewed\nCREATE TABLE b (x);");
    s.migrate(&["fix-checksums"]).expect(0);
    // A run that stopped before changing anything, found by the next one.
    let marker = belay_migrate::marker::RunMarker {
        holder: belay_migrate::Holder {
            pid: 999_999,
            host: "elsewhere".to_owned(),
            started_at: "2026-12-02T07:00:00Z".to_owned(),
        },
        command: belay_migrate::Command::Down,
        from_version: Some(2),
        versions: vec![2],
        backup_dir: belay_migrate::backup::default_dir(&s.db()),
        backup_id: None,
        phase: belay_migrate::marker::Phase::Checking,
        outside: None,
        token: None,
        recorded: false,
    };
    std::fs::write(
        belay_migrate::marker::path(&s.db()),
        serde_json::to_string(&marker).unwrap(),
    )
    .unwrap();
    s.migrate(&["down", "--steps", "1"]).expect(0);

    let table: Vec<(i64, String, String)> = s
        .conn()
        .prepare("SELECT id, command, outcome FROM _migrate_attempts ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let path = belay_migrate::audit::path(&belay_migrate::backup::default_dir(&s.db()));
    let journal: Vec<(i64, String, String)> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["attempt_id"].as_i64().expect("every line names its row"),
                v["command"].as_str().unwrap().to_owned(),
                v["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let kinds: Vec<(&str, &str)> = table
        .iter()
        .map(|(_, c, o)| (c.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("baseline", "success"),
            ("up", "success"),
            ("up", "failed"),
            ("fix-checksums", "success"),
            ("down", "interrupted"),
            ("down", "success"),
        ],
        "{table:?}"
    );
    assert_eq!(journal, table);
}

/// What changes the database outside a run is recorded too: a table restore and a repair that
/// changed something each get their row and their journal line (a healthy database's repair,
/// which changes nothing, gets neither).
#[test]
fn table_restores_and_repairs_are_recorded_in_the_table_and_the_journal() {
    use migrate_tests::corrupt::{self, Kind, Rng};
    let s = Scratch::new();
    corrupt::create_sample(&s.db());
    s.migrate(&["-q", "backup", "create"]).expect(0);
    s.migrate(&["repair"]).expect(0);
    let truth = corrupt::truth(&s.db());
    corrupt::inject(Kind::OrphanedForeignKeys, &s.db(), &truth, &mut Rng::new(5));
    s.migrate(&["repair"]).expect(0);
    s.migrate(&["restore", "latest", "--table", "customers", "--yes"])
        .expect(0);
    let in_table: Vec<String> = {
        let conn = s.conn();
        let mut stmt = conn
            .prepare("SELECT command FROM _migrate_attempts ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(in_table, ["repair", "restore-tables"]);
    let path = belay_migrate::audit::path(&belay_migrate::backup::default_dir(&s.db()));
    let journal: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["command"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(journal, ["repair", "restore-tables"]);
}
