//! The CLI's output pinned with insta snapshots: every command's human output and the main
//! error messages, with temporary paths, timings, sizes, timestamps, pids and host names
//! filtered out.

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("migrations");
        std::fs::create_dir(&to).unwrap();
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
        Self { dir }
    }

    fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join("migrations").join(name)
    }

    /// Runs `migrate` in the scratch directory (so `./migrations` is the default) and returns
    /// "exit N" followed by stdout and stderr.
    fn migrate(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .current_dir(self.dir.path())
            .env_remove("DATABASE_URL")
            .env("MIGRATE_DB", "app.db")
            .args(args)
            .output()
            .unwrap();
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({filters => vec![
            (r"\d{8}T\d{9}Z-[a-z-]+", "[BACKUP]"),
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]"),
            (r"\b\d+ ms\b", "[N] ms"),
            (r"pid \d+ on \S+", "pid [PID] on [HOST]"),
            (r"\b[0-9a-f]{64}\b", "[SHA256]"),
            (r"\b[0-9a-f]{12}\b", "[HASH]"),
            (r#""duration_ms": \d+"#, r#""duration_ms": [N]"#),
            (r"/tmp/\.tmp\w+", "[TMP]"),
            (r"\[\d\d:\d\d:\d\dZ\]", "[CLOCK]"),
            (r"\b\d+(\.\d+)? (B|KiB|MiB|GiB)\b", "[SIZE]"),
            (r"\b\d+(\.\d+)? s\b", "[N] s"),
            (r"\b\d+ bytes\b", "[N] bytes"),
            (r"waiting \d+ s", "waiting [N] s"),
        ]}, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

#[test]
fn status_of_a_fresh_database() {
    let env = Env::new();
    snapshot!("status_fresh", env.migrate(&["status"]));
}

#[test]
fn status_with_problems() {
    let env = Env::new();
    env.migrate(&["up", "--to", "3"]);
    std::fs::write(
        env.file("0002_create_projects.up.sql"),
        "CREATE TABLE projects (id INTEGER PRIMARY KEY);",
    )
    .unwrap();
    snapshot!("status_changed", env.migrate(&["-v", "status"]));
}

#[test]
fn status_json() {
    let env = Env::new();
    env.migrate(&["up", "--to", "2"]);
    snapshot!("status_json", env.migrate(&["--json", "status"]));
}

#[test]
fn plan_up_and_down() {
    let env = Env::new();
    env.migrate(&["up", "--to", "4"]);
    snapshot!("plan_up", env.migrate(&["plan"]));
    snapshot!("plan_down", env.migrate(&["plan", "--to", "3"]));
}

#[test]
fn up_and_down_output() {
    let env = Env::new();
    snapshot!("up", env.migrate(&["up"]));
    snapshot!("up_nothing_to_do", env.migrate(&["up"]));
    snapshot!("down_steps", env.migrate(&["down", "--steps", "2"]));
}

#[test]
fn error_messages() {
    let env = Env::new();
    env.migrate(&["up", "--to", "2"]);
    let edited = std::fs::read_to_string(env.file("0002_create_projects.up.sql")).unwrap();
    std::fs::write(
        env.file("0002_create_projects.up.sql"),
        format!("-- edited\n{edited}"),
    )
    .unwrap();
    snapshot!("error_changed", env.migrate(&["up"]));

    let env = Env::new();
    std::fs::write(
        env.file("0004_create_tasks.up.sql"),
        "CREATE TABLE tasks (\n  id INTEGER PRIMARY KEY,\n  title TEXT NOT NUL\n);",
    )
    .unwrap();
    snapshot!("error_syntax", env.migrate(&["up"]));

    let env = Env::new();
    std::fs::write(env.file("0007_x.down.sql"), "DROP TABLE x;").unwrap();
    snapshot!("error_invalid_file", env.migrate(&["status"]));

    let env = Env::new();
    env.migrate(&["up"]);
    snapshot!("down_latest", env.migrate(&["down"]));
    let env = Env::new();
    snapshot!("error_bad_target", env.migrate(&["up", "--to", "99"]));

    let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .current_dir(env.dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATE_DB")
        .arg("status")
        .output()
        .unwrap();
    snapshot!(
        "error_no_database",
        format!(
            "exit {}\n{}",
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr)
        )
    );
}

#[test]
fn lock_timeout_message() {
    let env = Env::new();
    let db = env.dir.path().join("app.db");
    let _held =
        belay_migrate::lock::MigrationLock::acquire(&db, std::time::Duration::ZERO).unwrap();
    snapshot!(
        "error_locked",
        env.migrate(&["--lock-timeout", "0.2", "up"])
    );
}

#[test]
fn history_lists_attempts_newest_first() {
    let env = Env::new();
    env.migrate(&["up", "--to", "2"]);
    env.migrate(&["up"]);
    snapshot!("history", env.migrate(&["history"]));
}

#[test]
fn new_creates_the_next_three_files() {
    let env = Env::new();
    snapshot!("new", env.migrate(&["new", "Add Email-Index"]));
    let up = std::fs::read_to_string(env.file("0007_add_email_index.up.sql")).unwrap();
    assert!(up.starts_with("-- 0007_add_email_index"));
    // Left unedited, it would apply as a no-op: `up` refuses it, naming the file.
    let up = env.migrate(&["up"]);
    assert!(up.starts_with("exit 2"), "{up}");
    assert!(
        up.contains("0007_add_email_index.up.sql: it is still the template `migrate new` wrote"),
        "{up}"
    );
    std::fs::write(
        env.file("0007_add_email_index.up.sql"),
        "CREATE INDEX users_email ON users (email);",
    )
    .unwrap();
    assert!(env.migrate(&["up"]).starts_with("exit 0"));
}

/// Every other command's human output, in the order an operator meets them.
#[test]
fn every_other_command() {
    let env = Env::new();
    env.migrate(&["up", "--to", "4"]);
    snapshot!("verify", env.migrate(&["verify"]));
    snapshot!("fix_checksums_nothing", env.migrate(&["fix-checksums"]));
    snapshot!("accept_drift_none", env.migrate(&["accept-drift"]));
    snapshot!("check", env.migrate(&["check"]));
    snapshot!("repair_healthy", env.migrate(&["repair", "--dry-run"]));
    snapshot!("backup_create", env.migrate(&["backup", "create"]));
    snapshot!("backup_list", env.migrate(&["backup", "list"]));
    snapshot!(
        "backup_verify",
        env.migrate(&["backup", "verify", "latest"])
    );
    snapshot!(
        "backup_prune",
        env.migrate(&["backup", "prune", "--keep-last", "5", "--dry-run"])
    );
    snapshot!(
        "restore",
        env.migrate(&["restore", "latest", "--yes", "--no-backup"])
    );
    snapshot!(
        "restore_table",
        env.migrate(&["restore", "latest", "--table", "roles", "--yes"])
    );
    snapshot!("baseline_refused", env.migrate(&["baseline", "4"]));
    snapshot!("adopt_nothing", env.migrate(&["adopt"]));
    snapshot!("config", env.migrate(&["config"]));
}
