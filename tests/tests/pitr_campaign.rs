//! The point-in-time archive under attack, seeded: the application process commits throughout
//! while the archiver (`migrate archive run`, a real process) is SIGKILLed at random moments and
//! restarted, the application checkpoints in all four modes (a TRUNCATE with the archiver down
//! restarts the WAL unseen), and afterwards a segment is deleted or has a byte flipped. After
//! each trial:
//! - the newest point holds every row the application acknowledged (the last archiver round
//!   ran after it stopped), unless damage was injected after it;
//! - every point checked restores to exactly a prefix of the acknowledged commits, passes
//!   `integrity_check`, and matches its page hash (the restore checks it);
//! - every gap is reported by range, and a moment inside one is refused;
//! - a damaged or missing segment is reported by `archive verify` with a range covering its
//!   commits, and a restore through it is exit 6 and writes nothing.
//!
//! Small in CI (`MIGRATE_PITR_TRIALS`, default 3); `MIGRATE_PITR_TRIALS=1000 cargo test -p
//! migrate-tests --test pitr_campaign -- --nocapture` runs the full campaign.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use migrate_tests::corrupt::Rng;
use migrate_tests::live::{App, Journal, app_database};
use migrate_tests::{Run, Scratch, migrate_command};
use rusqlite::Connection;

fn migrate(s: &Scratch, cfg: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--config", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    s.migrate(&all)
}

fn archiver(s: &Scratch, cfg: &Path) -> Child {
    migrate_command()
        .args(["--config", cfg.to_str().unwrap(), "--db"])
        .arg(s.db())
        .args(["-q", "archive", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, signal: rustix::process::Signal) {
    let _ = rustix::process::kill_process(rustix::process::Pid::from_child(child), signal);
}

fn notes(db: &Path) -> Vec<i64> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM notes ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Exactly the acknowledged rows up to the newest restored (one unacknowledged row may follow:
/// the application was stopped between its COMMIT and its print).
fn is_prefix(restored: &[i64], acked: &[i64]) -> bool {
    let top = restored.last().copied().unwrap_or(0);
    let max_acked = acked.last().copied().unwrap_or(0);
    let expected: Vec<i64> = acked.iter().copied().filter(|&id| id <= top).collect();
    let within: Vec<i64> = restored
        .iter()
        .copied()
        .filter(|&id| id <= max_acked)
        .collect();
    within == expected && restored.iter().filter(|&&id| id > max_acked).count() <= 1
}

fn restore(s: &Scratch, cfg: &Path, id: u64, name: &str) -> (Run, PathBuf) {
    let to = s.dir.path().join(name);
    let _ = std::fs::remove_file(&to);
    let run = migrate(
        s,
        cfg,
        &[
            "restore",
            "--at-commit",
            &id.to_string(),
            "--to",
            to.to_str().unwrap(),
        ],
    );
    (run, to)
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    None,
    Delete,
    Flip,
}

/// The trial's gaps, damage, and points.
fn trial(seed: u64) -> (usize, Damage, usize) {
    let mut rng = Rng::new(seed);
    let s = app_database(Journal::Wal, "", &[]);
    let cfg = s.dir.path().join("migrate.toml");
    std::fs::write(
        &cfg,
        "[archive]\ncheckpoint_bytes = \"128KiB\"\n[watch]\narchive = \"50ms\"\n",
    )
    .unwrap();
    let app = App::start(&s);
    let checkpointer = Connection::open(s.db()).unwrap();
    checkpointer
        .busy_timeout(Duration::from_millis(100))
        .unwrap();
    let mut running = Some(archiver(&s, &cfg));
    let mut events = Vec::new();
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(50 + rng.below(300) as u64));
        match rng.below(4) {
            0 => {
                if let Some(child) = running.take() {
                    signal(&child, rustix::process::Signal::KILL);
                    let mut child = child;
                    child.wait().unwrap();
                    events.push("kill");
                } else {
                    running = Some(archiver(&s, &cfg));
                    events.push("start");
                }
            }
            _ => {
                let mode = *rng.pick(&["PASSIVE", "FULL", "RESTART", "TRUNCATE"]);
                let _ =
                    checkpointer
                        .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()));
                events.push(mode);
            }
        }
    }
    let acked = app.stop();
    // The last round runs after the application stopped: the newest point must hold it all.
    if let Some(child) = running.take() {
        signal(&child, rustix::process::Signal::KILL);
        let mut child = child;
        child.wait().unwrap();
    }
    migrate(&s, &cfg, &["-q", "archive", "run", "--once"]).expect(0);
    let status = migrate(&s, &cfg, &["--json", "archive", "status"])
        .expect(0)
        .json();
    let points: Vec<u64> = status["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    let what = format!("seed {seed} ({events:?})");
    let (run, newest) = restore(&s, &cfg, *points.last().unwrap(), "newest.db");
    run.expect(0);
    let rows = notes(&newest);
    assert!(
        acked.iter().all(|id| rows.binary_search(id).is_ok()),
        "{what}: the newest point lacks acknowledged rows"
    );
    assert!(
        is_prefix(&rows, &acked),
        "{what}: the newest point is not a prefix"
    );
    for _ in 0..4 {
        let id = *rng.pick(&points);
        let (run, to) = restore(&s, &cfg, id, "sample.db");
        run.expect(0);
        assert!(
            is_prefix(&notes(&to), &acked),
            "{what}: commit {id} is not a prefix"
        );
    }
    let clock = belay_migrate::guard::vocab::clock::format_unix_millis;
    let parse = belay_migrate::guard::archive::catalog::parse_time;
    for gap in status["gaps"].as_array().unwrap() {
        assert!(gap["before"].as_u64().is_some(), "{what}: {gap}");
        let (Some(after), Some(before)) = (gap["after_at"].as_str(), gap["before_at"].as_str())
        else {
            continue;
        };
        let (after, before) = (parse(after).unwrap(), parse(before).unwrap());
        if before - after >= 2 {
            let inside = clock(after + 1);
            let r = migrate(&s, &cfg, &["restore", "--at", &inside, "--to", "x.db"]).expect(2);
            assert!(r.stderr.contains("falls in a gap"), "{what}: {}", r.stderr);
        }
    }

    // Damage after the fact: a segment deleted or a byte flipped.
    let damage = *rng.pick(&[Damage::None, Damage::Delete, Damage::Flip]);
    let dir = s.dir.path().join("app.db.archive");
    let mut segments: Vec<(PathBuf, serde_json::Value)> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let g = entry.unwrap().path();
        if !g.file_name().unwrap().to_string_lossy().starts_with("gen-") {
            continue;
        }
        let index = std::fs::read_to_string(g.join("segments.jsonl")).unwrap_or_default();
        for line in index.lines() {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            segments.push((g.join(e["file"].as_str().unwrap()), e));
        }
    }
    let gaps = status["gaps"].as_array().unwrap().len();
    if segments.is_empty() || matches!(damage, Damage::None) {
        migrate(&s, &cfg, &["archive", "verify"]).expect(0);
        return (gaps, Damage::None, points.len());
    }
    let (victim, entry) = rng.pick(&segments).clone();
    match damage {
        Damage::Delete => std::fs::remove_file(&victim).unwrap(),
        Damage::Flip => {
            let mut bytes = std::fs::read(&victim).unwrap();
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
            std::fs::write(&victim, bytes).unwrap();
        }
        Damage::None => unreachable!(),
    }
    let (first, last) = (
        entry["first"].as_u64().unwrap(),
        entry["last"].as_u64().unwrap(),
    );
    let v = migrate(&s, &cfg, &["--json", "archive", "verify"])
        .expect(6)
        .json();
    let covered = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["from"].as_u64().unwrap() <= first && p["to"].as_u64().unwrap() >= last);
    assert!(
        covered,
        "{what}: {damage:?} of commits {first}..={last} not reported: {v}"
    );
    let (run, to) = restore(&s, &cfg, last, "through.db");
    run.expect(6);
    assert!(!to.exists(), "{what}: a restore through damage left a file");
    if first > 1 {
        let (run, to) = restore(&s, &cfg, first - 1, "before.db");
        if run.code == 0 {
            assert!(is_prefix(&notes(&to), &acked), "{what}: before the damage");
        }
    }
    (gaps, damage, points.len())
}

#[test]
fn the_archive_loses_no_acknowledged_commit_and_reports_every_hole() {
    let trials: u64 = std::env::var("MIGRATE_PITR_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let base: u64 = std::env::var("MIGRATE_PITR_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let (mut gaps, mut damaged, mut points) = (0, 0, 0);
    for t in 0..trials {
        let (g, d, p) = trial(base + t);
        gaps += g;
        damaged += usize::from(!matches!(d, Damage::None));
        points += p;
    }
    println!(
        "pitr campaign: {trials} trial(s), {points} points, {gaps} gap(s) reported, {damaged} archive(s) damaged and reported; 0 acknowledged commits missing"
    );
}
