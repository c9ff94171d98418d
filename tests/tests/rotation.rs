//! Backups do not pile up: after every run that took a pre-migrate backup and succeeded, the
//! configured policy (`[backup] keep_*` in migrate.toml) deletes older pre-migrate backups;
//! manual backups and the backup of a failed run are never touched. `backup list` shows sizes
//! and totals.

use migrate_tests::{Scratch, migrate_command};

fn reasons(s: &Scratch) -> Vec<String> {
    let doc = s.migrate(&["--json", "backup", "list"]).expect(0).json();
    doc["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["reason"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn runs_rotate_their_own_backups_by_the_configured_policy_and_nothing_else() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    let dir = s.db().parent().unwrap().to_path_buf();
    std::fs::write(
        dir.join("migrate.toml"),
        "[backup]\nkeep_last = 2\nkeep_daily = 0\nkeep_weekly = 0\n",
    )
    .unwrap();
    let migrate = |args: &[&str]| {
        let out = migrate_command()
            .current_dir(&dir)
            .arg("--db")
            .arg(s.db())
            .arg("--migrations")
            .arg(s.migrations())
            .args(args)
            .output()
            .unwrap();
        migrate_tests::Run::from(out)
    };
    std::fs::write(s.migrations().join("0001_a.up.sql"), "CREATE TABLE a (x);").unwrap();
    migrate(&["-q", "up"]).expect(0);
    migrate(&["-q", "backup", "create"]).expect(0);
    for v in 2..=5 {
        std::fs::write(
            s.migrations().join(format!("{v:04}_t.up.sql")),
            format!("CREATE TABLE t{v} (x);"),
        )
        .unwrap();
        let run = migrate(&["up"]).expect(0);
        if v >= 4 {
            assert!(run.stdout.contains("rotated out 1 older"), "{}", run.stdout);
        }
    }
    assert_eq!(reasons(&s), ["manual", "pre-migrate", "pre-migrate"]);
    // A failed run keeps every backup: its own may be what the operator restores by hand.
    std::fs::write(
        s.migrations().join("0006_bad.up.sql"),
        "SELECT * FROM missing;",
    )
    .unwrap();
    migrate(&["up"]).expect(5);
    assert_eq!(
        reasons(&s),
        ["manual", "pre-migrate", "pre-migrate", "pre-migrate"]
    );
    let list = migrate(&["backup", "list"]).expect(0);
    assert!(list.stdout.starts_with("ID "), "{}", list.stdout);
    assert!(
        list.stdout.contains("4 backup(s): "),
        "a total line: {}",
        list.stdout
    );
}
