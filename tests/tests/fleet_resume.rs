//! Kill-and-resume trials of a fleet run: the fleet process is killed (SIGKILL, or SIGTERM,
//! after which the running databases finish) at a seeded random moment, then the same command
//! runs again. Afterwards every database is at the target (none skipped), each migration was
//! applied once (none twice: each migration appends one row to a ledger), each database's
//! history holds one row per version, and SQLite's `quick_check` says "ok".
//!
//! `MIGRATE_FLEET_TRIALS` (default 6, for CI) sets the number of trials; 100 is the full
//! campaign. `MIGRATE_FLEET_SEED` replays one.

use std::time::Duration;

use migrate_tests::count;
use migrate_tests::fleet::{Fleet, outcomes};
use rusqlite::Connection;

/// A small deterministic generator (xorshift), so that a seed replays a campaign.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fleet whose second migration does some work, so that kills land inside runs too.
fn fleet(tenants: usize) -> Fleet {
    let f = Fleet::new(tenants);
    f.write_migration(
        "0002_email.up.sql",
        "ALTER TABLE accounts ADD COLUMN email TEXT;\n\
         CREATE TABLE filler (n INTEGER, pad TEXT);\n\
         WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 3000)\n\
           INSERT INTO filler SELECT n, hex(randomblob(32)) FROM k;\n\
         INSERT INTO ledger VALUES ('v2');\n",
    );
    f
}

#[test]
fn a_killed_fleet_run_resumes_with_no_database_skipped_or_migrated_twice() {
    let trials = env_number("MIGRATE_FLEET_TRIALS", 6);
    let seed = env_number("MIGRATE_FLEET_SEED", 0).max(1) ^ 0x9e37_79b9_7f4a_7c15;
    let mut rng = Rng(seed);
    let tenants = 16;
    // Kills are spread over the time one whole run takes here, so that most land inside it.
    let calibration = fleet(tenants);
    let timed = std::time::Instant::now();
    calibration.up(&["--jobs", "2"]).expect(0);
    let whole_ms = u64::try_from(timed.elapsed().as_millis()).unwrap().max(20);
    let (mut killed_mid_run, mut by_term, mut resumed_notes) = (0, 0, 0);
    for trial in 0..trials {
        let f = fleet(tenants);
        let glob = f.glob();
        let journal = f.journal();
        let mut cmd = migrate_tests::migrate_command();
        cmd.current_dir(f.dir.path())
            .arg("--migrations")
            .arg(f.migrations())
            .args([
                "fleet",
                "up",
                "--jobs",
                "2",
                "--quiet",
                "--dbs",
                &glob,
                "--journal",
            ])
            .arg(&journal)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        // Half the kills at a moment within one run's time, half right after the k-th
        // database started (inside its run, nearly always).
        if rng.below(2) == 0 {
            std::thread::sleep(Duration::from_millis(rng.below(whole_ms)));
        } else {
            let k = 1 + usize::try_from(rng.below(tenants as u64)).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::fs::read_to_string(&journal)
                .unwrap_or_default()
                .matches("\"event\":\"started\"")
                .count()
                < k
                && std::time::Instant::now() < deadline
                && child.try_wait().unwrap().is_none()
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(rng.below(4)));
        }
        let term = rng.below(4) == 0;
        let signal = if term {
            by_term += 1;
            rustix::process::Signal::TERM
        } else {
            rustix::process::Signal::KILL
        };
        let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&child), signal);
        let status = child.wait().unwrap();
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        let started = text.matches("\"event\":\"started\"").count();
        let finished = text.matches("\"event\":\"finished\"").count();
        if started > finished {
            killed_mid_run += 1;
            assert!(
                !term,
                "trial {trial} (seed {seed}): SIGTERM left a database mid-run: {text}"
            );
        }

        // The same command again, to the end.
        let rerun = f.up(&["--jobs", "2"]);
        assert_eq!(
            rerun.code, 0,
            "trial {trial} (seed {seed}, first run {status}): {}\n{}",
            rerun.stdout, rerun.stderr
        );
        if rerun.stderr.contains("were mid-run") {
            resumed_notes += 1;
        }
        let rows = outcomes(&rerun);
        assert_eq!(rows.len(), tenants);
        let ran_again = rows.iter().filter(|(_, o)| o != "done_earlier").count();
        assert!(
            ran_again <= tenants - finished.min(tenants),
            "trial {trial}: {ran_again} ran again though {finished} had finished"
        );
        for i in 1..=tenants {
            let conn = Connection::open(f.tenant(i)).unwrap();
            let where_ = format!("trial {trial} (seed {seed}) t{i:02}.db");
            assert_eq!(
                count(&conn, "SELECT max(version) FROM _migrate_history"),
                2,
                "{where_}"
            );
            assert_eq!(
                count(&conn, "SELECT count(*) FROM _migrate_history"),
                2,
                "{where_}"
            );
            assert_eq!(
                count(&conn, "SELECT count(*) FROM ledger WHERE entry = 'v1'"),
                1,
                "{where_}: migration 1 applied twice"
            );
            assert_eq!(
                count(&conn, "SELECT count(*) FROM ledger WHERE entry = 'v2'"),
                1,
                "{where_}: migration 2 applied twice"
            );
            let verdict: String = conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(verdict, "ok", "{where_}");
        }
    }
    assert!(
        killed_mid_run > 0 || trials < 4,
        "no trial of {trials} killed a database mid-run (seed {seed})"
    );
    println!(
        "fleet resume: {trials} trial(s) of {tenants} databases (seed {seed}, kills within {whole_ms} ms): {killed_mid_run} killed with a database mid-run, {by_term} by SIGTERM, {resumed_notes} resumed past a mid-run note; 0 skipped, 0 applied twice"
    );
}
