//! Progress on stderr while a run works: a bar (with the elapsed time, the migrations done and
//! the statements' rate) on a terminal, timestamped lines in a pipe (a deploy log), nothing with
//! `-q` or `--json`; stdout keeps only the result. Waiting for the lock names the holder.

use std::process::Command;

use belay_migrate::lock::MigrationLock;
use migrate_tests::{Scratch, example_migrations, migrate_bin};

/// `migrate` on a pseudo-terminal (util-linux `script`): what the terminal showed.
fn on_a_terminal(s: &Scratch, args: &str) -> String {
    let command = format!(
        "{} --db {} --migrations {} {args}",
        migrate_bin().display(),
        s.db().display(),
        s.migrations().display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("MIGRATE_DB")
        .env_remove("DATABASE_URL")
        .output()
        .expect("util-linux `script`, for a pseudo-terminal");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A migration slow enough to be watched: many single-row INSERTs.
fn with_a_slow_migration() -> Scratch {
    let s = Scratch::with_migrations(&example_migrations());
    let mut sql = String::from("CREATE TABLE events (n INTEGER);\n");
    for n in 0..150_000 {
        sql.push_str(&format!("INSERT INTO events VALUES ({n});\n"));
    }
    std::fs::write(s.migrations().join("0007_events.up.sql"), sql).unwrap();
    s
}

#[test]
fn in_a_pipe_progress_is_timestamped_lines_on_stderr_and_stdout_keeps_the_result() {
    let s = Scratch::with_migrations(&example_migrations());
    // A new database has nothing to check or back up; the second run has.
    s.migrate(&["up", "--to", "1"]).expect(0);
    let run = s.migrate(&["up"]).expect(0);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(lines.len() >= 7, "{}", run.stderr);
    for line in &lines {
        assert!(
            line.len() > 11 && line.as_bytes()[0] == b'[' && &line[9..11] == "Z]",
            "not a timestamped line: {line:?}"
        );
        assert!(
            !line.contains('\u{1b}'),
            "terminal codes in a pipe: {line:?}"
        );
    }
    assert!(
        run.stderr
            .contains("] checking the database and taking the pre-run backup")
    );
    assert!(
        run.stderr.contains("] migration 2/5: 3 create_roles"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("] checking before COMMIT and committing")
    );
    assert!(!run.stdout.contains("] migration"), "{}", run.stdout);

    // Nothing with -q or --json; nothing when there is nothing to do.
    let s = Scratch::with_migrations(&example_migrations());
    assert_eq!(s.migrate(&["-q", "up", "--to", "2"]).expect(0).stderr, "");
    assert_eq!(
        s.migrate(&["--json", "up", "--to", "4"]).expect(0).stderr,
        ""
    );
    s.migrate(&["up"]).expect(0);
    assert_eq!(s.migrate(&["up"]).expect(0).stderr, "");
}

#[test]
fn waiting_for_the_lock_names_its_holder() {
    let s = Scratch::with_migrations(&example_migrations());
    let _held = MigrationLock::acquire(&s.db(), std::time::Duration::ZERO).unwrap();
    let run = s.migrate(&["--lock-timeout", "1.5", "up"]).expect(3);
    let waiting: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("so far), held by pid "))
        .collect();
    // Told at once, and again after a second, each time with the limit.
    assert_eq!(waiting.len(), 2, "{}", run.stderr);
    assert!(
        waiting[0].contains("] waiting for the migration lock (up to 1.5 s, 0.0 s so far)"),
        "{}",
        run.stderr
    );
}

#[test]
fn on_a_terminal_progress_is_a_bar_with_the_statements_rate() {
    let s = with_a_slow_migration();
    let shown = on_a_terminal(&s, "up");
    assert!(shown.contains("migrations, ETA"), "no bar: {shown}");
    assert!(shown.contains('\u{1b}'), "no terminal codes: {shown}");
    assert!(
        shown.contains("statements in"),
        "no statement count: {shown}"
    );
    assert!(shown.contains("/s)"), "no rate: {shown}");
    assert!(
        !shown.contains("Z] migration"),
        "log lines on a terminal: {shown}"
    );
    // The result is there once the bar is gone.
    assert!(shown.contains("applied 7 events"), "{shown}");
    // With -q, a terminal shows no bar either.
    let s = with_a_slow_migration();
    let quiet = on_a_terminal(&s, "-q up");
    assert!(!quiet.contains("migrations, ETA"), "{quiet}");
}

#[test]
fn a_restore_by_hand_says_what_it_is_doing() {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["-q", "up"]).expect(0);
    s.migrate(&["-q", "backup", "create"]).expect(0);
    let run = s.migrate(&["restore", "latest", "--yes"]).expect(0);
    let backing_up = run
        .stderr
        .find("] backing up the state being replaced (pre-restore)")
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let restoring = run
        .stderr
        .find("] verifying and restoring backup ")
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(backing_up < restoring, "{}", run.stderr);
    assert!(run.stdout.starts_with("restored backup "), "{}", run.stdout);
}

/// `backup create` on a terminal shows the pages copied as it goes, ending at 100%, and the
/// result after it.
#[test]
fn a_backup_on_a_terminal_shows_the_pages_copied() {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up"]).expect(0);
    let shown = on_a_terminal(&s, "backup create");
    assert!(shown.contains("copying "), "{shown}");
    assert!(shown.contains("pages (100%)"), "{shown}");
    assert!(shown.contains("created backup "), "{shown}");
}
