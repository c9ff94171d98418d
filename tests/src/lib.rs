//! Helpers shared by the workspace tests: fixtures, a full database dump for before/after
//! comparisons, and running the `migrate` binary.

pub mod campaign;
pub mod contention;
pub mod corrupt;
pub mod crash;
pub mod differential;
pub mod fleet;
pub mod live;
pub mod moto;
pub mod recovery;
pub mod tmpfs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use tempfile::TempDir;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fixture directory under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The example app's migrations (`migrations/` at the workspace root).
pub fn example_migrations() -> PathBuf {
    workspace().join("migrations")
}

/// A scratch directory holding a copy of a migrations directory, so tests can edit files.
pub struct Scratch {
    pub dir: TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A scratch directory with `migrations/` copied from `from`.
    pub fn with_migrations(from: &Path) -> Self {
        let scratch = Self::new();
        let to = scratch.migrations();
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
        scratch
    }

    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("app.db")
    }

    /// Runs `migrate --db <db> --migrations <migrations> args...`.
    pub fn migrate(&self, args: &[&str]) -> Run {
        let mut cmd = migrate_command();
        cmd.arg("--db")
            .arg(self.db())
            .arg("--migrations")
            .arg(self.migrations())
            .args(args);
        Run::from(cmd.output().unwrap())
    }

    /// Adds a table with rows that existed before migrations were adopted: data a failed run
    /// must leave untouched.
    pub fn with_legacy_data(self) -> Self {
        self.conn()
            .execute_batch(
                "CREATE TABLE legacy (id INTEGER PRIMARY KEY, v TEXT);
                 INSERT INTO legacy VALUES (1, 'kept'), (2, 'also kept');",
            )
            .unwrap();
        self
    }

    /// Asserts that a run left the database part-way, at `version`, and said so.
    pub fn assert_left_at(&self, run: &Run, version: i64) {
        let said = format!("left partly migrated, at version {version}");
        assert!(run.stderr.contains(&said), "{}", run.stderr);
        assert_eq!(
            count(&self.conn(), "SELECT max(version) FROM _migrate_history"),
            version
        );
    }

    /// A connection to the scratch database.
    pub fn conn(&self) -> Connection {
        Connection::open(self.db()).unwrap()
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// A finished `migrate` process.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// The `migrate` binary, built once per test process (a no-op when it is up to date), so that
/// these tests never run a stale binary even when run alone with `-p migrate-tests`.
pub fn migrate_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build(&["-p", "belay-cli", "--bin", "migrate"], "migrate"))
}

/// An example program of this crate, built first (a no-op when it is up to date).
pub fn example_bin(name: &str) -> PathBuf {
    build(
        &["-p", "migrate-tests", "--example", name],
        &format!("examples/{name}"),
    )
}

fn build(args: &[&str], artifact: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--quiet"])
        .args(args)
        .current_dir(workspace())
        .status()
        .expect("running cargo build");
    assert!(status.success(), "cargo build {args:?} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    target.join("debug").join(artifact)
}

/// A command running the `migrate` binary with a clean environment for database variables.
pub fn migrate_command() -> Command {
    let mut cmd = Command::new(migrate_bin());
    for variable in [
        "MIGRATE_DB",
        "DATABASE_URL",
        "MIGRATE_MIGRATIONS",
        "MIGRATE_BACKUP_DIR",
        "MIGRATE_BACKUP_URL",
        "MIGRATE_CONFIG",
        "MIGRATE_JSON",
        "MIGRATE_LOCK_TIMEOUT",
        "MIGRATE_QUIET",
        "MIGRATE_VERBOSE",
    ] {
        cmd.env_remove(variable);
    }
    cmd
}

/// Every table's schema and rows, in a stable order: two databases with equal dumps hold the
/// same schema and the same data.
pub fn dump(db: &Path) -> String {
    let conn = Connection::open(db).unwrap();
    let mut out = String::new();
    let mut schema = conn
        .prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
        .unwrap();
    let objects: Vec<(String, String, String)> = schema
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (kind, name, sql) in &objects {
        let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push_str(&format!("{kind} {name}: {sql}\n"));
    }
    for (kind, name, _) in &objects {
        if kind != "table" || name.starts_with("sqlite_") {
            continue;
        }
        let quoted = belay_migrate::sql::quote_ident(name);
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {quoted} ORDER BY 1, 2"))
            .or_else(|_| conn.prepare(&format!("SELECT * FROM {quoted} ORDER BY 1")))
            .unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let values: Vec<String> = (0..columns)
                .map(|i| match row.get_ref(i).unwrap() {
                    ValueRef::Null => "NULL".to_owned(),
                    ValueRef::Integer(v) => v.to_string(),
                    ValueRef::Real(v) => v.to_string(),
                    ValueRef::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
                    ValueRef::Blob(b) => format!("x'{}'", belay_migrate::checksum::hex(b)),
                })
                .collect();
            out.push_str(&format!("{name}: {}\n", values.join("|")));
        }
    }
    out
}

/// [`dump`] without the bookkeeping tables (`_migrate_*`), for comparing user-visible state
/// across a run that records its attempt.
pub fn user_dump(db: &Path) -> String {
    dump(db)
        .lines()
        .filter(|l| !l.contains("_migrate_"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A query returning one integer.
pub fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// `path` with `suffix` appended to its file name (`app.db` + `-wal`).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Copies the directory `from` with everything under it to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
