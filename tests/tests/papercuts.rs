//! What a deploy script trips on in its first minutes: a closed pipe, `down` with nothing to
//! revert, a lock file that names a holder nobody is, a restored copy nobody else can read,
//! `latest` toggling back through a pre-restore copy, `status` of a file that is not there,
//! help that shows unset variables as empty, durations that do not say what they measure.
//! (The fresh-clone demo is run by .ci/run itself.)

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use migrate_tests::{Run, Scratch, count, migrate_bin, user_dump};

fn app() -> Scratch {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_notes.up.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
    )
    .unwrap();
    std::fs::write(
        s.migrations().join("0001_notes.down.sql"),
        "DROP TABLE notes;",
    )
    .unwrap();
    s
}

/// Runs `script` in bash with `pipefail`, `$M` being `migrate --db DB --migrations DIR`.
fn pipeline(s: &Scratch, script: &str) -> Run {
    let m = format!(
        "{} --db {} --migrations {}",
        migrate_bin().display(),
        s.db().display(),
        s.migrations().display()
    );
    Run::from(
        Command::new("bash")
            .args(["-c", &format!("set -o pipefail; M='{m}'; {script}")])
            .output()
            .unwrap(),
    )
}

/// A reader that stops early (`| head -c 1`) ends the output quietly: exit 0 through
/// `pipefail`, no panic, whatever the command printed, on stdout or stderr. The output here
/// is far larger than a pipe's buffer, so every run meets the closed pipe.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let s = app();
    let big = format!(
        "CREATE TABLE big (x);\n{}",
        "INSERT INTO big VALUES ('a line long enough to fill a pipe quickly, again and again');\n"
            .repeat(3000)
    );
    std::fs::write(s.migrations().join("0002_big.up.sql"), big).unwrap();
    for script in [
        "$M plan | head -c 1",
        "$M --json plan | head -c 1",
        "$M completions bash | head -c 1",
        "$M man | head -c 1",
        "$M --help | head -c 1",
    ] {
        for _ in 0..3 {
            let run = pipeline(&s, script);
            assert_eq!(run.code, 0, "{script}: {}", run.stderr);
            assert!(!run.stderr.contains("panicked"), "{script}: {}", run.stderr);
        }
    }
    // A closed stderr (progress lines, notes) is no reason to fail a migration.
    let run = pipeline(&s, "$M up 2>&-; echo \"exit $?\"");
    assert!(run.stdout.contains("exit 0"), "{run:?}");
    assert_eq!(count(&s.conn(), "SELECT count(*) FROM big"), 3000);
    // Nor a closed stdout.
    let run = pipeline(&s, "$M history >&-; echo \"exit $?\" >&2");
    assert!(run.stderr.contains("exit 0"), "{run:?}");
}

/// `down` with nothing applied is "nothing to do", exit 0, as `up` with nothing pending.
#[test]
fn down_with_nothing_applied_has_nothing_to_do() {
    let s = app();
    for args in [&["down"][..], &["down", "--steps", "3"]] {
        let run = s.migrate(args).expect(0);
        assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    }
    assert_eq!(
        s.migrate(&["--json", "down"]).expect(0).json()["steps"],
        serde_json::json!([])
    );
    s.migrate(&["-q", "up"]).expect(0);
    // Past what is applied is still a mistake worth saying.
    s.migrate(&["down", "--steps", "3"]).expect(2);
}

/// The lock file names a holder only while one holds it, and a waiter's message says how
/// long it waits at most.
#[test]
fn the_lock_file_names_a_holder_only_while_held_and_the_wait_says_its_timeout() {
    let s = app();
    s.migrate(&["-q", "up"]).expect(0);
    let lock_file = belay_migrate::lock::lock_path(&s.db());
    assert_eq!(std::fs::read_to_string(&lock_file).unwrap(), "");
    let held = belay_migrate::lock::MigrationLock::acquire(&s.db(), Duration::ZERO).unwrap();
    assert!(
        std::fs::read_to_string(&lock_file)
            .unwrap()
            .starts_with("pid ")
    );
    let run = s.migrate(&["--lock-timeout", "1", "down"]).expect(3);
    assert!(
        run.stderr
            .contains("waiting for the migration lock (up to 1 s, "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("held by pid {}", std::process::id())),
        "{}",
        run.stderr
    );
    drop(held);
    assert_eq!(std::fs::read_to_string(&lock_file).unwrap(), "");
}

/// A database restored `--to` a new file gets the database's mode (a restored database is a
/// database); the backups stay 0600.
#[test]
fn a_restore_to_a_new_file_has_the_databases_mode() {
    let s = app();
    s.migrate(&["-q", "up"]).expect(0);
    s.migrate(&["-q", "backup", "create"]).expect(0);
    let dir = s.db().parent().unwrap().to_path_buf();
    for mode in [0o644, 0o640] {
        std::fs::set_permissions(s.db(), std::fs::Permissions::from_mode(mode)).unwrap();
        let to = dir.join(format!("copy-{mode:o}.db"));
        s.migrate(&["-q", "restore", "latest", "--to", to.to_str().unwrap()])
            .expect(0);
        let got = std::fs::metadata(&to).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "restored {to:?}");
    }
    for entry in std::fs::read_dir(belay_migrate::backup::default_dir(&s.db())).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{:?}", entry.path());
        }
    }
}

/// `latest` is the newest backup of the database as it was: a pre-restore copy is listed and
/// restorable by its id, never `latest`, so a second `restore latest` does not undo the first.
#[test]
fn latest_is_never_the_copy_a_restore_just_made() {
    let s = app();
    s.migrate(&["-q", "up"]).expect(0);
    s.conn()
        .execute_batch("INSERT INTO notes (body) VALUES ('kept in the backup');")
        .unwrap();
    s.migrate(&["-q", "backup", "create"]).expect(0);
    let backed_up = user_dump(&s.db());
    s.conn()
        .execute_batch("INSERT INTO notes (body) VALUES ('a mistake');")
        .unwrap();
    let mistaken = user_dump(&s.db());
    let first = s
        .migrate(&["--json", "restore", "latest", "--yes"])
        .expect(0)
        .json();
    assert_eq!(user_dump(&s.db()), backed_up);
    let pre_restore = first["pre_restore"].as_str().unwrap().to_owned();
    let second = s
        .migrate(&["--json", "restore", "latest", "--yes"])
        .expect(0)
        .json();
    assert_eq!(
        second["id"], first["id"],
        "latest moved to the pre-restore copy"
    );
    assert_eq!(
        user_dump(&s.db()),
        backed_up,
        "a second restore latest toggled back"
    );
    // The pre-restore copy is listed, and restorable by its id.
    let list = s.migrate(&["--json", "backup", "list"]).expect(0).json();
    assert!(
        list["backups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == pre_restore.as_str() && b["reason"] == "pre-restore")
    );
    s.migrate(&["-q", "restore", &pre_restore, "--yes"])
        .expect(0);
    assert_eq!(user_dump(&s.db()), mistaken);
}

/// `status` of a file that does not exist says so (text and JSON), creates nothing, and still
/// lists what `up` would apply.
#[test]
fn status_of_a_missing_file_says_so_and_creates_nothing() {
    let s = app();
    let run = s.migrate(&["status"]).expect(0);
    assert!(
        run.stdout
            .contains("does not exist yet (`up` creates it; nothing was created)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("pending: 1"), "{}", run.stdout);
    let doc = s.migrate(&["--json", "status"]).expect(0).json();
    assert_eq!(doc["database_exists"], false);
    assert_eq!(doc["pending"][0]["version"], 1);
    let listing: Vec<_> = std::fs::read_dir(s.db().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listing, ["migrations"]);
    s.migrate(&["-q", "up"]).expect(0);
    assert_eq!(
        s.migrate(&["--json", "status"]).expect(0).json()["database_exists"],
        true
    );
}

/// Help names each variable without a value: `[env: MIGRATE_JSON]`, never `[env: MIGRATE_JSON=]`
/// (which reads as set to empty), whether or not it is set.
#[test]
fn help_shows_variables_and_defaults_honestly() {
    for set in [false, true] {
        let mut cmd = migrate_tests::migrate_command();
        cmd.arg("--help");
        if set {
            cmd.env("MIGRATE_MIGRATIONS", "/somewhere/else");
        }
        let run = Run::from(cmd.output().unwrap()).expect(0);
        assert!(!run.stdout.contains("=]"), "{}", run.stdout);
        assert!(!run.stdout.contains("/somewhere/else"), "{}", run.stdout);
        assert!(
            run.stdout.contains("[env: MIGRATE_MIGRATIONS]"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("[default: `lock_timeout` in migrate.toml, else 60]"),
            "{}",
            run.stdout
        );
    }
}

/// Each duration says which span it measures: the migrations' own time and the whole run's
/// in `up`'s output, from start to record in `history`.
#[test]
fn durations_name_their_span() {
    let s = app();
    let run = s.migrate(&["up"]).expect(0);
    assert!(
        run.stdout
            .contains("applied 1 notes (its script and verify queries: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 migration(s) applied in "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("the whole run took ")
            && run
                .stdout
                .contains("(lock, checks, backup, migrations, commit, record)"),
        "{}",
        run.stdout
    );
    let history = s.migrate(&["history"]).expect(0);
    assert!(
        history.stdout.contains(" ms from start to record"),
        "{}",
        history.stdout
    );
}
