//! A directory of tenant databases and their migrations, for the fleet tests.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::{Run, count, migrate_command, sibling};

/// A directory of tenant databases and the migrations for them.
pub struct Fleet {
    pub dir: tempfile::TempDir,
}

impl Fleet {
    /// `n` tenants `t01.db`.. holding a table with a row each, and two migrations.
    pub fn new(n: usize) -> Self {
        let fleet = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(fleet.tenants()).unwrap();
        std::fs::create_dir_all(fleet.migrations()).unwrap();
        for i in 1..=n {
            let conn = Connection::open(fleet.tenant(i)).unwrap();
            conn.execute_batch(&format!(
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts VALUES (1, 'tenant {i}');"
            ))
            .unwrap();
        }
        fleet.write_migration(
            "0001_ledger.up.sql",
            "CREATE TABLE ledger (entry TEXT NOT NULL);\nINSERT INTO ledger VALUES ('v1');\n",
        );
        fleet.write_migration(
            "0002_email.up.sql",
            "ALTER TABLE accounts ADD COLUMN email TEXT;\nINSERT INTO ledger VALUES ('v2');\n",
        );
        fleet
    }

    pub fn tenants(&self) -> PathBuf {
        self.dir.path().join("tenants")
    }

    pub fn tenant(&self, i: usize) -> PathBuf {
        self.tenants().join(format!("t{i:02}.db"))
    }

    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.path().join("fleet.journal")
    }

    pub fn write_migration(&self, name: &str, sql: &str) {
        std::fs::write(self.migrations().join(name), sql).unwrap();
    }

    pub fn glob(&self) -> String {
        format!("{}/*.db", self.tenants().display())
    }

    /// `migrate --migrations M fleet <args> --journal J` in the fleet's directory.
    pub fn fleet(&self, args: &[&str]) -> Run {
        let mut cmd = migrate_command();
        cmd.current_dir(self.dir.path())
            .arg("--migrations")
            .arg(self.migrations())
            .arg("fleet")
            .args(args);
        if args.first().is_some_and(|verb| *verb != "plan") {
            cmd.arg("--journal").arg(self.journal());
        }
        Run::from(cmd.output().unwrap())
    }

    /// `migrate fleet plan --dbs GLOB` (the pattern's words split at spaces, for extra flags).
    pub fn plan(&self, glob: &str) -> Run {
        let mut cmd = migrate_command();
        cmd.current_dir(self.dir.path())
            .arg("--migrations")
            .arg(self.migrations())
            .args(["fleet", "plan", "--dbs"])
            .args(glob.split(' '));
        Run::from(cmd.output().unwrap())
    }

    pub fn up(&self, extra: &[&str]) -> Run {
        let glob = self.glob();
        let mut args = vec!["up", "--dbs", &glob, "--json"];
        args.extend_from_slice(extra);
        self.fleet(&args)
    }

    /// Makes tenant `i` fail migration 1 (its table exists): rolled back, exit 5.
    pub fn poison(&self, i: usize) {
        Connection::open(self.tenant(i))
            .unwrap()
            .execute_batch("CREATE TABLE ledger (other INTEGER);")
            .unwrap();
    }
}

/// Each row's outcome, by database file name.
pub fn outcomes(run: &Run) -> Vec<(String, String)> {
    run.json()["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let db = PathBuf::from(r["db"].as_str().unwrap());
            (
                db.file_name().unwrap().to_string_lossy().into_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub fn version(db: &Path) -> i64 {
    count(
        &Connection::open(db).unwrap(),
        "SELECT coalesce(max(version), 0) FROM _migrate_history",
    )
}

/// Whether anything of this tool's was ever beside `db` (a lock file, backups): a database the
/// fleet never touched has none.
pub fn touched(db: &Path) -> bool {
    sibling(db, ".migrate-lock").exists() || sibling(db, ".backups").exists()
}
