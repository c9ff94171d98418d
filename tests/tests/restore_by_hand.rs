//! A restore by hand replaces the database: it is confirmed first (on a terminal, by typing
//! `yes`; elsewhere only with `--yes`), the state it replaces is backed up (`pre-restore`,
//! unless `--no-backup`), and it is recorded in `_migrate_attempts` and the audit journal. A row
//! written a minute before is therefore never lost without a copy.

use migrate_tests::{Scratch, count};

fn database_with_a_backup() -> (Scratch, String) {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_notes.up.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
    )
    .unwrap();
    s.migrate(&["-q", "up"]).expect(0);
    let doc = s.migrate(&["--json", "backup", "create"]).expect(0).json();
    s.conn()
        .execute(
            "INSERT INTO notes (body) VALUES ('written a minute ago')",
            [],
        )
        .unwrap();
    (s, doc["id"].as_str().unwrap().to_owned())
}

fn later_row(s: &Scratch) -> i64 {
    count(
        &s.conn(),
        "SELECT count(*) FROM notes WHERE body = 'written a minute ago'",
    )
}

#[test]
fn off_a_terminal_a_restore_needs_yes_and_changes_nothing_without_it() {
    let (s, id) = database_with_a_backup();
    let run = s.migrate(&["restore", &id]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert!(run.stderr.contains(&id), "names the backup: {}", run.stderr);
    assert_eq!(later_row(&s), 1);
}

#[test]
fn the_replaced_state_is_backed_up_and_the_restore_recorded() {
    let (s, id) = database_with_a_backup();
    let doc = s
        .migrate(&["--json", "restore", &id, "--yes"])
        .expect(0)
        .json();
    assert_eq!(later_row(&s), 0, "restored to the backup");
    let pre = doc["pre_restore"]
        .as_str()
        .expect("a pre-restore backup")
        .to_owned();
    // The row written before the restore is in the pre-restore backup: restoring it brings the
    // row back.
    s.migrate(&["-q", "restore", &pre, "--yes"]).expect(0);
    assert_eq!(later_row(&s), 1);
    let recorded = count(
        &s.conn(),
        "SELECT count(*) FROM _migrate_attempts WHERE command = 'restore' AND outcome = 'success'",
    );
    assert_eq!(
        recorded, 1,
        "the second restore's row (the first's went with it)"
    );
    let journal = std::fs::read_to_string(belay_migrate::audit::path(
        &belay_migrate::backup::default_dir(&s.db()),
    ))
    .unwrap();
    let restores = journal
        .lines()
        .filter(|l| l.contains("\"command\":\"restore\""))
        .count();
    assert_eq!(restores, 2, "both restores reach the journal: {journal}");
}

#[test]
fn no_backup_replaces_without_a_copy() {
    let (s, id) = database_with_a_backup();
    let doc = s
        .migrate(&["--json", "restore", &id, "--yes", "--no-backup"])
        .expect(0)
        .json();
    assert!(doc["pre_restore"].is_null(), "{doc}");
    let list = s.migrate(&["--json", "backup", "list"]).expect(0).json();
    assert!(
        list["backups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["reason"] != "pre-restore"),
        "{list}"
    );
}

/// On a terminal (a pty from util-linux `script`), the restore asks, naming the database and
/// the backup; `yes` restores, anything else restores nothing (exit 2).
#[test]
fn on_a_terminal_the_restore_asks_first() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: util-linux `script` (a pty) is not installed");
        return;
    }
    let (s, id) = database_with_a_backup();
    let on_a_terminal = |answer: &str| {
        use std::io::Write;
        let command = format!(
            "{} --db {} restore {id}",
            migrate_tests::migrate_bin().display(),
            s.db().display()
        );
        let mut child = std::process::Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .env_remove("MIGRATE_DB")
            .env_remove("DATABASE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{answer}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, shown) = on_a_terminal("no");
    assert_eq!(code, Some(2), "{shown}");
    assert!(shown.contains(&format!("with backup {id}")), "{shown}");
    assert!(shown.contains("Type yes to restore"), "{shown}");
    assert_eq!(later_row(&s), 1, "nothing restored");
    let (code, shown) = on_a_terminal("yes");
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(later_row(&s), 0, "restored");
}
