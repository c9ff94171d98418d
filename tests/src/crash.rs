//! The crash harness: a child `migrate up` on a realistic database (a long data migration, a
//! no-transaction file, an index) is SIGKILLed at a seeded random moment, which lands in the
//! pre-flight check, the backup, the apply, the commit or a restore; then the next runs must
//! finish the job without restoring anything they cannot prove safe. What must hold after
//! every kill:
//!
//! - the database right after the kill is exactly its state at a whole version (pre-run,
//!   post-run, or a version in between for per-migration runs), or else the run's marker says
//!   it may have changed the database;
//! - no lock is left held;
//! - the next run continues from that version; where the kill left a no-transaction file half
//!   done or a restore cut short, it refuses with exit 7, changing nothing, and the operator's
//!   documented way out (`migrate restore <the marker's backup>`) clears it;
//! - in the end the run exits as an uninterrupted run would (0, or 5 for a run that fails),
//!   leaving exactly the post-run state, or for a failing run a whole version at or before its
//!   failing migration (the one it started from), and the attempts log shows the interruption
//!   whenever a marker was left.
//!
//! Half the seeds kill the recovering run too, at a random moment, before a third run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use belay_migrate::marker;
use rusqlite::Connection;

use crate::corrupt::Rng;
use crate::{count, migrate_bin, user_dump};

/// Which run is interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Migrations that succeed, in one transaction.
    Whole,
    /// The same, `--per-migration`.
    PerMigration,
    /// A run whose last migration's verify query fails after earlier ones committed
    /// (`--per-migration`): it restores its own pre-run backup (nobody else writes here) and
    /// exits 5.
    Failing,
}

/// A prepared database and its migrations, copied for each kill.
pub struct Template {
    dir: tempfile::TempDir,
    /// The user data before the run.
    pub before: String,
    /// The user data after an uninterrupted successful run.
    pub after: String,
    /// The user data at each whole version the runs pass through (1, the pre-run state, to 4).
    pub at_version: Vec<(i64, String)>,
    /// How long an uninterrupted run of each scenario takes.
    pub durations: [Duration; 3],
}

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_items.up.sql",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, qty INTEGER NOT NULL, note TEXT);",
    ),
    (
        "0002_reprice.up.sql",
        "-- A long data migration: a new column filled from every row, and a summary table.
         ALTER TABLE items ADD COLUMN price INTEGER NOT NULL DEFAULT 0;
         UPDATE items SET price = (id * 37) % 1000 + qty, note = coalesce(note, 'n') || '/repriced';
         CREATE TABLE totals AS SELECT qty, count(*) AS n, sum(price) AS total FROM items GROUP BY qty;",
    ),
    (
        "0002_reprice.verify.sql",
        "SELECT count(*) = 0 FROM items WHERE note NOT LIKE '%/repriced';",
    ),
    (
        "0003_archive.up.sql",
        "-- migrate:no-transaction
         CREATE TABLE archive (id INTEGER PRIMARY KEY, sku TEXT, price INTEGER);
         INSERT INTO archive SELECT id, sku, price FROM items WHERE id % 3 = 0;
         DELETE FROM items WHERE id % 3 = 0;
         INSERT INTO archive SELECT id + 1000000, sku, price FROM items WHERE id % 7 = 0;",
    ),
    (
        "0004_index.up.sql",
        "CREATE INDEX items_sku ON items (sku);",
    ),
];

/// The failing scenario's extra migration: its verify query fails after it commits.
const FAILING: (&str, &str, &str) = (
    "0005_bad.up.sql",
    "UPDATE items SET qty = -1 WHERE id = 1;",
    "SELECT count(*) = 0 FROM items WHERE qty < 0;",
);

impl Template {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        std::fs::create_dir_all(base.join("migrations")).unwrap();
        for (name, sql) in MIGRATIONS {
            std::fs::write(base.join("migrations").join(name), sql).unwrap();
        }
        let db = base.join("app.db");
        // Version 1 applied, then data: what the pending migrations work on.
        let mut first = Command::new(migrate_bin());
        first
            .arg("--db")
            .arg(&db)
            .arg("--migrations")
            .arg(base.join("migrations"))
            .args(["up", "--to", "1"]);
        assert!(first.status().unwrap().success());
        Connection::open(&db)
            .unwrap()
            .execute_batch(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 60000)
                 INSERT INTO items (id, sku, qty, note)
                   SELECT x, 'SKU-' || printf('%06d', x), x % 17, CASE WHEN x % 5 = 0 THEN 'gift' END FROM n;",
            )
            .unwrap();
        let before = user_dump(&db);
        let mut template = Template {
            dir,
            at_version: vec![(1, before.clone())],
            before,
            after: String::new(),
            durations: [Duration::ZERO; 3],
        };
        for version in 2..=4 {
            let trial = template.copy(Scenario::Whole, "at-version");
            let out = trial
                .up()
                .args(["--to", &version.to_string()])
                .output()
                .unwrap();
            assert!(out.status.success(), "up --to {version}");
            template.at_version.push((version, user_dump(&trial.db())));
        }
        for (i, scenario) in [Scenario::Whole, Scenario::PerMigration, Scenario::Failing]
            .into_iter()
            .enumerate()
        {
            let trial = template.copy(scenario, "clean");
            let started = Instant::now();
            let out = trial.up().output().unwrap();
            template.durations[i] = started.elapsed();
            let expected = if scenario == Scenario::Failing { 5 } else { 0 };
            assert_eq!(
                out.status.code(),
                Some(expected),
                "{scenario:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if scenario == Scenario::Whole {
                template.after = user_dump(&trial.db());
            }
        }
        template
    }

    /// A fresh copy of the base database and migrations for `scenario`.
    pub fn copy(&self, scenario: Scenario, name: &str) -> Trial {
        let root = self.dir.path().join(name);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("migrations")).unwrap();
        let base = self.dir.path().join("base");
        std::fs::copy(base.join("app.db"), root.join("app.db")).unwrap();
        for (file, _) in MIGRATIONS {
            std::fs::copy(
                base.join("migrations").join(file),
                root.join("migrations").join(file),
            )
            .unwrap();
        }
        if scenario == Scenario::Failing {
            std::fs::write(root.join("migrations").join(FAILING.0), FAILING.1).unwrap();
            std::fs::write(
                root.join("migrations").join("0005_bad.verify.sql"),
                FAILING.2,
            )
            .unwrap();
        }
        Trial { root, scenario }
    }
}

impl Default for Template {
    fn default() -> Self {
        Self::new()
    }
}

/// One database being migrated, killed and recovered.
pub struct Trial {
    root: PathBuf,
    pub scenario: Scenario,
}

impl Trial {
    pub fn db(&self) -> PathBuf {
        self.root.join("app.db")
    }

    /// `migrate up` for this trial's scenario.
    pub fn up(&self) -> Command {
        let mut cmd = Command::new(migrate_bin());
        cmd.arg("--db")
            .arg(self.db())
            .arg("--migrations")
            .arg(self.root.join("migrations"))
            .arg("up")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if self.scenario != Scenario::Whole {
            cmd.arg("--per-migration");
        }
        cmd
    }

    /// The exit code of an uninterrupted run.
    pub fn expected_code(&self) -> i32 {
        if self.scenario == Scenario::Failing {
            5
        } else {
            0
        }
    }
}

/// What one kill showed.
#[derive(Debug, Clone)]
pub struct Kill {
    pub seed: u64,
    pub scenario: Scenario,
    pub delay: Duration,
    /// The child had already exited when the kill came.
    pub finished_first: bool,
    /// The marker's phase after the kill, if one was left.
    pub phase: Option<marker::Phase>,
    /// The state right after the kill: "pre", "post" or "mixed".
    pub state_after_kill: &'static str,
}

/// Runs `up`, kills it after `delay` (unless it finished), and says whether it had finished.
fn run_and_kill(trial: &Trial, delay: Duration) -> bool {
    let mut child = trial.up().spawn().unwrap();
    let deadline = Instant::now() + delay;
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(Duration::from_micros(500)));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    false
}

/// Whether someone holds the migration lock of `db`.
fn lock_held(db: &Path) -> bool {
    let path = belay_migrate::lock::lock_path(db);
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(file) => match file.try_lock() {
            Ok(()) => false,
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(std::fs::TryLockError::Error(e)) => panic!("{e}"),
        },
        Err(_) => false,
    }
}

/// Runs `up` until it exits as an uninterrupted run would. A run that refuses to recover
/// (exit 7: a no-transaction file or a restore cut short) must have changed nothing; then the
/// operator's way out is taken: restoring the marker's backup by hand. Returns the last exit
/// code and its stderr.
fn finish(trial: &Trial, seed: u64) -> (i32, String) {
    for _ in 0..4 {
        let before = user_dump(&trial.db());
        let left = marker::read(&trial.db()).unwrap();
        let out = trial.up().output().unwrap();
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if code != 7 {
            return (code, stderr);
        }
        assert_eq!(
            user_dump(&trial.db()),
            before,
            "seed {seed}: a refusing run changed the data: {stderr}"
        );
        let backup = left.and_then(|m| m.backup_id).unwrap_or_else(|| {
            panic!("seed {seed}: exit 7 without a marker naming a backup: {stderr}")
        });
        assert!(
            stderr.contains(&format!("migrate restore {backup}")),
            "{stderr}"
        );
        let restored = Command::new(migrate_bin())
            .arg("--db")
            .arg(trial.db())
            .args(["restore", &backup, "--yes"])
            .output()
            .unwrap();
        assert!(
            restored.status.success(),
            "seed {seed}: restore by hand failed"
        );
    }
    panic!("seed {seed}: still refusing after four runs");
}

/// One kill (two for odd seeds), checked as the module describes. Panics on a violation.
pub fn kill(template: &Template, seed: u64) -> Kill {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5eed);
    let scenario = *rng.pick(&[Scenario::Whole, Scenario::PerMigration, Scenario::Failing]);
    let index = match scenario {
        Scenario::Whole => 0,
        Scenario::PerMigration => 1,
        Scenario::Failing => 2,
    };
    let span = template.durations[index].as_micros() as u64 * 11 / 10;
    let delay = Duration::from_micros(rng.next_u64() % span.max(1));
    let trial = template.copy(scenario, &format!("kill-{seed}"));
    let finished_first = run_and_kill(&trial, delay);
    assert!(!lock_held(&trial.db()), "seed {seed}: lock left held");
    let phase = marker::read(&trial.db()).unwrap().map(|m| m.phase);
    let now = user_dump(&trial.db());
    let state_after_kill = if now == template.before {
        "pre"
    } else if now == template.after {
        "post"
    } else if template.at_version.iter().any(|(_, dump)| *dump == now) {
        "between"
    } else {
        "mixed"
    };
    if state_after_kill == "mixed" {
        assert!(
            phase.is_some_and(marker::Phase::may_have_changed),
            "seed {seed} ({scenario:?}, killed after {delay:?}): a mixed state with marker {phase:?}"
        );
    }
    if seed % 2 == 1 && phase.is_some() {
        // Kill the recovery too, somewhere in its restore or re-run.
        let again = Duration::from_micros(rng.next_u64() % span.max(1));
        run_and_kill(&trial, again);
        assert!(
            !lock_held(&trial.db()),
            "seed {seed}: lock left held (second kill)"
        );
    }
    let (code, stderr) = finish(&trial, seed);
    assert_eq!(
        code,
        trial.expected_code(),
        "seed {seed} ({scenario:?}, killed after {delay:?} in {phase:?}): {stderr}"
    );
    let now = user_dump(&trial.db());
    match scenario {
        Scenario::Failing => {
            // Back at the whole version the last run started from, which its history names.
            let version = count(
                &Connection::open(trial.db()).unwrap(),
                "SELECT max(version) FROM _migrate_history",
            );
            assert!(
                template
                    .at_version
                    .iter()
                    .any(|(v, dump)| *v == version && *dump == now),
                "seed {seed} ({scenario:?}, killed after {delay:?} in {phase:?}): not the state of version {version}"
            );
        }
        _ => assert!(
            now == template.after,
            "seed {seed} ({scenario:?}, killed after {delay:?} in {phase:?}): data differs from the expected state"
        ),
    }
    assert!(!marker::exists(&trial.db()), "seed {seed}: marker left");
    if phase.is_some() {
        // The audit journal, beside the backups, outlives a restore by hand.
        let journal = std::fs::read_to_string(belay_migrate::audit::path(
            &belay_migrate::backup::default_dir(&trial.db()),
        ))
        .unwrap_or_default();
        assert!(
            journal.contains("\"outcome\":\"interrupted\""),
            "seed {seed}: interruption not recorded"
        );
    }
    let _ = std::fs::remove_dir_all(&trial.root);
    Kill {
        seed,
        scenario,
        delay,
        finished_first,
        phase,
        state_after_kill,
    }
}
