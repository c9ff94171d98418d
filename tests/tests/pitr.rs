//! Point-in-time recovery through the CLI, against the ground truth of the application process
//! (each id printed only after its COMMIT returned): `migrate archive run` beside it and two
//! migration runs; then restores to commits, to times and to versions, each checked against
//! what the application had committed by then, the archive verified, and a restore over the
//! live database.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use migrate_tests::live::{App, Journal, app_database};
use migrate_tests::{Run, Scratch, migrate_command};
use rusqlite::Connection;

fn config(s: &Scratch, extra: &str) -> PathBuf {
    let path = s.dir.path().join("migrate.toml");
    std::fs::write(
        &path,
        format!(
            "[archive]\ncheckpoint_bytes = \"256KiB\"\n{extra}\n[watch]\narchive = \"100ms\"\n"
        ),
    )
    .unwrap();
    path
}

fn migrate(s: &Scratch, cfg: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--config", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    s.migrate(&all)
}

fn spawn_archiver(s: &Scratch, cfg: &Path) -> Child {
    migrate_command()
        .args(["--config", cfg.to_str().unwrap(), "--db"])
        .arg(s.db())
        .args(["--json", "archive", "run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stop(child: Child) -> Run {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    Run::from(child.wait_with_output().unwrap())
}

fn notes(db: &Path) -> Vec<i64> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM notes ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn version(db: &Path) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row("SELECT max(version) FROM _migrate_history", [], |r| {
            r.get(0)
        })
        .unwrap()
}

fn integrity(db: &Path) -> String {
    Connection::open(db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// The restored rows are exactly the acknowledged rows up to the newest one restored (an
/// unacknowledged row may only come after every acknowledged one: the application was
/// stopped between its COMMIT and its print).
fn assert_prefix(restored: &[i64], acked: &[i64], what: &str) {
    let top = restored.last().copied().unwrap_or(0);
    let expected: Vec<i64> = acked.iter().copied().filter(|&id| id <= top).collect();
    let max_acked = acked.last().copied().unwrap_or(0);
    let restored_acked: Vec<i64> = restored
        .iter()
        .copied()
        .filter(|&id| id <= max_acked)
        .collect();
    assert_eq!(
        restored_acked, expected,
        "{what}: not the acknowledged prefix"
    );
    assert!(
        restored.iter().filter(|&&id| id > max_acked).count() <= 1,
        "{what}: rows nobody acknowledged"
    );
}

#[test]
fn restores_to_commits_times_and_versions_hold_exactly_what_was_committed_by_then() {
    let s = app_database(
        Journal::Wal,
        "",
        &[
            (
                "0002_tags.up.sql",
                "CREATE TABLE tags (id INTEGER PRIMARY KEY, note INTEGER);",
            ),
            (
                "0003_fill.up.sql",
                &migrate_tests::live::fill_table("big", 20_000),
            ),
            ("0004_more.up.sql", "CREATE TABLE more (x);"),
        ],
    );
    let cfg = config(&s, "");
    let archiver = spawn_archiver(&s, &cfg);
    let app = App::start(&s);
    std::thread::sleep(Duration::from_millis(700));
    migrate(&s, &cfg, &["-q", "up", "--to", "2"]).expect(0);
    std::thread::sleep(Duration::from_millis(500));
    // 3 and 4 in one transaction: 4 has no state of its own just before it.
    migrate(&s, &cfg, &["-q", "up"]).expect(0);
    std::thread::sleep(Duration::from_millis(700));
    let acked = app.stop();
    std::thread::sleep(Duration::from_millis(500));
    let run = stop(archiver);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("gap"), "{}", run.stderr);
    assert!(
        acked.len() > 50,
        "the application committed {}",
        acked.len()
    );

    let status = migrate(&s, &cfg, &["--json", "archive", "status"])
        .expect(0)
        .json();
    assert_eq!(status["gaps"].as_array().unwrap().len(), 0, "{status}");
    let points = status["points"].as_array().unwrap().clone();
    assert!(points.len() > 50, "{} points", points.len());

    // Commits: a spread of them, and the newest (which has every acknowledged row).
    let mut previous = 0;
    let step = (points.len() / 12).max(1);
    for (n, p) in points.iter().enumerate() {
        if n % step != 0 && n + 1 != points.len() {
            continue;
        }
        let id = p["id"].as_u64().unwrap().to_string();
        let to = s.dir.path().join(format!("c{id}.db"));
        let r = migrate(
            &s,
            &cfg,
            &[
                "--json",
                "restore",
                "--at-commit",
                &id,
                "--to",
                to.to_str().unwrap(),
            ],
        )
        .expect(0);
        assert_eq!(r.json()["point"]["id"].as_u64().unwrap().to_string(), id);
        let rows = notes(&to);
        assert_prefix(&rows, &acked, &format!("commit {id}"));
        assert!(rows.len() >= previous, "commit {id} went back");
        previous = rows.len();
        assert_eq!(integrity(&to), "ok");
        // The version status gives a point (from the runs' marks) is the restored state's.
        if let Some(v) = p["version"].as_i64() {
            assert_eq!(version(&to), v, "the version of commit {id}");
        }
    }
    assert!(
        points.last().unwrap()["version"].as_i64().is_some(),
        "{:?}",
        points.last()
    );
    let newest = notes(
        &s.dir
            .path()
            .join(format!("c{}.db", points.last().unwrap()["id"])),
    );
    assert!(
        acked.iter().all(|id| newest.contains(id)),
        "the newest point lacks acknowledged rows"
    );

    // A time: exactly the point with the latest time at or before it.
    let mid = &points[points.len() / 2];
    let at = mid["at"].as_str().unwrap();
    let by_time = s.dir.path().join("t.db");
    migrate(
        &s,
        &cfg,
        &["restore", "--at", at, "--to", by_time.to_str().unwrap()],
    )
    .expect(0);
    let same_time_last = points
        .iter()
        .rev()
        .find(|p| p["at"].as_str().unwrap() <= at)
        .unwrap();
    let by_commit = s.dir.path().join("tc.db");
    migrate(
        &s,
        &cfg,
        &[
            "restore",
            "--at-commit",
            &same_time_last["id"].to_string(),
            "--to",
            by_commit.to_str().unwrap(),
        ],
    )
    .expect(0);
    assert_eq!(notes(&by_time), notes(&by_commit));

    // Versions: just before 2 is version 1, just before 3 is version 2; 4 ran inside 3's
    // transaction.
    for (v, before) in [(2, 1), (3, 2)] {
        let to = s.dir.path().join(format!("v{v}.db"));
        migrate(
            &s,
            &cfg,
            &[
                "restore",
                "--at-version",
                &v.to_string(),
                "--to",
                to.to_str().unwrap(),
            ],
        )
        .expect(0);
        assert_eq!(version(&to), before, "--at-version {v}");
        assert_prefix(&notes(&to), &acked, &format!("version {v}"));
        assert_eq!(integrity(&to), "ok");
    }
    let r = migrate(&s, &cfg, &["restore", "--at-version", "4", "--to", "x.db"]).expect(2);
    assert!(
        r.stderr.contains("same transaction as migration 3"),
        "{}",
        r.stderr
    );
    let r = migrate(&s, &cfg, &["restore", "--at-version", "9", "--to", "x.db"]).expect(2);
    assert!(r.stderr.contains("no run recorded"), "{}", r.stderr);
    let r = migrate(
        &s,
        &cfg,
        &["restore", "--at", "2099-01-01T00:00:00Z", "--to", "x.db"],
    )
    .expect(2);
    assert!(r.stderr.contains("in the future"), "{}", r.stderr);
    let r = migrate(
        &s,
        &cfg,
        &["restore", "--at", "2000-01-01T00:00:00Z", "--to", "x.db"],
    )
    .expect(2);
    assert!(
        r.stderr.contains("before the archive's first point"),
        "{}",
        r.stderr
    );
    let r = migrate(&s, &cfg, &["restore", "--at", "yesterday", "--to", "x.db"]).expect(2);
    assert!(r.stderr.contains("RFC 3339"), "{}", r.stderr);
    let existing = s.dir.path().join("t.db");
    migrate(
        &s,
        &cfg,
        &[
            "restore",
            "--at-commit",
            "1",
            "--to",
            existing.to_str().unwrap(),
        ],
    )
    .expect(2);

    migrate(&s, &cfg, &["archive", "verify"]).expect(0);

    // Over the live database: confirmed, the current state kept first, the point restored.
    let target = &points[points.len() / 3];
    let copy = s.dir.path().join("target.db");
    migrate(
        &s,
        &cfg,
        &[
            "restore",
            "--at-commit",
            &target["id"].to_string(),
            "--to",
            copy.to_str().unwrap(),
        ],
    )
    .expect(0);
    let expected = notes(&copy);
    let r = migrate(
        &s,
        &cfg,
        &["restore", "--at-commit", &target["id"].to_string()],
    )
    .expect(2);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    let r = migrate(
        &s,
        &cfg,
        &[
            "--json",
            "restore",
            "--at-commit",
            &target["id"].to_string(),
            "--yes",
        ],
    )
    .expect(0);
    assert!(r.json()["pre_restore"].as_str().is_some(), "{}", r.stdout);
    assert_eq!(notes(&s.db()), expected);
    let list = migrate(&s, &cfg, &["backup", "list"]).expect(0);
    assert!(list.stdout.contains("point-in-time"), "{}", list.stdout);

    // A byte flipped in a segment: verify names the damaged range, exit 6; a restore through
    // it is exit 6 and writes nothing.
    let dir = s.dir.path().join("app.db.archive");
    let generation = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("gen-"))
        .unwrap();
    let mut segments: Vec<_> = std::fs::read_dir(&generation)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    let victim = &segments[segments.len() / 2];
    let mut bytes = std::fs::read(victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(victim, bytes).unwrap();
    let v = migrate(&s, &cfg, &["--json", "archive", "verify"])
        .expect(6)
        .json();
    assert_eq!(v["ok"], false, "{v}");
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v}");
    assert!(
        problems[0]["reason"].as_str().unwrap().contains("SHA-256"),
        "{v}"
    );
    let last = points.last().unwrap()["id"].to_string();
    let out = s.dir.path().join("through.db");
    migrate(
        &s,
        &cfg,
        &[
            "restore",
            "--at-commit",
            &last,
            "--to",
            out.to_str().unwrap(),
        ],
    )
    .expect(6);
    assert!(!out.exists());
}

#[test]
fn health_reports_the_archive_and_its_lag_and_settings_are_refused_by_key() {
    let s = app_database(Journal::Wal, "", &[]);
    let cfg = config(&s, "max_lag = \"1s\"");
    migrate(&s, &cfg, &["-q", "archive", "run", "--once"]).expect(0);
    let h = migrate(&s, &cfg, &["--json", "health"]).json();
    assert_eq!(h["metrics"]["migrate_archive_gaps_total"], 0.0, "{h}");
    assert_eq!(h["metrics"]["migrate_archive_unarchived_bytes"], 0.0, "{h}");
    // Commits with no archiver running: the lag passes its limit.
    let app = App::start(&s);
    std::thread::sleep(Duration::from_millis(1500));
    let h = migrate(&s, &cfg, &["--json", "health"]);
    let json = h.json();
    app.stop();
    assert_eq!(h.code, 8, "{}", h.stdout);
    assert!(
        json["metrics"]["migrate_archive_lag_seconds"]
            .as_f64()
            .unwrap()
            > 1.0,
        "{json}"
    );
    assert!(
        json["metrics"]["migrate_archive_unarchived_bytes"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let kinds: Vec<_> = json["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"archive_lag"), "{kinds:?}");
    let prom = migrate(&s, &cfg, &["health", "--format", "prometheus"]);
    assert!(
        prom.stdout.contains("migrate_archive_lag_seconds"),
        "{}",
        prom.stdout
    );

    let bad = config(&s, "url = \"s3://bucket/x\"");
    let r = migrate(&s, &bad, &["archive", "status"]).expect(2);
    assert!(r.stderr.contains("[archive] url"), "{}", r.stderr);
    let bad = config(&s, "retention = \"0s\"");
    let r = migrate(&s, &bad, &["archive", "run", "--once"]).expect(2);
    assert!(r.stderr.contains("[archive] retention"), "{}", r.stderr);
    for (key, value, command) in [
        ("snapshot_every", "0s", &["archive", "run", "--once"][..]),
        ("snapshot_every", "daily", &["archive", "run", "--once"]),
        ("max_lag", "soon", &["health"]),
    ] {
        let bad = config(&s, &format!("{key} = \"{value}\""));
        let r = migrate(&s, &bad, command).expect(2);
        assert!(
            r.stderr.contains(&format!("[archive] {key}")),
            "{}",
            r.stderr
        );
    }
    let bad = config(&s, "colour = \"blue\"");
    let r = migrate(&s, &bad, &["archive", "status"]).expect(2);
    assert!(r.stderr.contains("colour"), "{}", r.stderr);

    // A database in rollback-journal mode is refused, naming the setting.
    let rb = app_database(Journal::Rollback, "", &[]);
    let cfg = config(&rb, "");
    let r = migrate(&rb, &cfg, &["archive", "run", "--once"]).expect(2);
    assert!(r.stderr.contains("journal_mode = wal"), "{}", r.stderr);
    // A second archiver on the same archive: exit 3, naming the holder.
    let cfg = config(&s, "");
    let first = spawn_archiver(&s, &cfg);
    std::thread::sleep(Duration::from_millis(700));
    let r = migrate(&s, &cfg, &["archive", "run", "--once"]).expect(3);
    assert!(r.stderr.contains("archive.lock"), "{}", r.stderr);
    assert_eq!(stop(first).code, 0);
}

#[test]
fn archive_run_holds_its_checkpoint_back_while_a_migration_run_holds_the_lock() {
    let s = app_database(Journal::Wal, "", &[]);
    let cfg = config(&s, "");
    migrate(&s, &cfg, &["archive", "run", "--once"]).expect(0);
    // An application connection kept open, so the WAL stays, grown past checkpoint_bytes.
    let app = Connection::open(s.db()).unwrap();
    app.execute_batch("PRAGMA wal_autocheckpoint = 0; INSERT INTO big SELECT randomblob(4000) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200) SELECT x FROM c);")
        .unwrap();
    let round = |s: &Scratch| {
        let r = migrate(s, &cfg, &["--json", "archive", "run", "--once"]).expect(0);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()
    };
    let held = belay_migrate::lock::MigrationLock::acquire_file(
        belay_migrate::lock::lock_path(&s.db()),
        Duration::ZERO,
        &mut |_, _| {},
    )
    .unwrap();
    let r = round(&s);
    assert_eq!(r["checkpointed"], false, "{r}");
    assert!(r["commits"].as_u64().unwrap() >= 1, "{r}");
    drop(held);
    app.execute("INSERT INTO notes(body) VALUES ('after')", [])
        .unwrap();
    let r = round(&s);
    assert_eq!(r["checkpointed"], true, "{r}");
}

fn commit_note(app: &Connection, body: &str) {
    app.execute("INSERT INTO notes(body) VALUES (?1)", [body])
        .unwrap();
}

fn checkpoint_truncate(app: &Connection) {
    app.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

/// What an operator reads without `--json`, and the refusals that need an archive's history:
/// an empty archive, a commit it does not hold, a time in a gap, a migration whose position was
/// never archived; a migration run right after a WAL restart is still found by version.
#[test]
fn text_reports_and_refusals_name_the_commits_and_the_gap() {
    let s = app_database(
        Journal::Wal,
        "",
        &[
            (
                "0002_tags.up.sql",
                "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
            ),
            ("0003_more.up.sql", "CREATE TABLE more (x);"),
        ],
    );
    let cfg = config(&s, "");
    let db = s.db();
    // The application's connection, open throughout (the last one to close would checkpoint
    // the WAL away).
    let app = Connection::open(&db).unwrap();
    app.query_row("SELECT count(*) FROM notes", [], |_| Ok(()))
        .unwrap();
    let to = |name: &str| s.dir.path().join(name).to_str().unwrap().to_owned();

    // Nothing archived yet.
    let r = migrate(&s, &cfg, &["archive", "status"]).expect(0);
    assert!(r.stdout.contains("points: none yet"), "{}", r.stdout);
    let r = migrate(
        &s,
        &cfg,
        &["restore", "--at-commit", "1", "--to", &to("x.db")],
    )
    .expect(2);
    assert!(r.stderr.contains("holds no point yet"), "{}", r.stderr);

    // The base taken with frames in the WAL, so that the WAL it follows is the one after it.
    commit_note(&app, "first");
    let r = migrate(&s, &cfg, &["archive", "run", "--once"]).expect(0);
    assert!(
        r.stdout.contains("archived 0 commit(s), began "),
        "{}",
        r.stdout
    );
    commit_note(&app, "waiting");
    let r = migrate(&s, &cfg, &["archive", "status"]).expect(0);
    assert!(
        r.stdout.contains("waiting in the WAL: 1 commit(s)"),
        "{}",
        r.stdout
    );
    let r = migrate(&s, &cfg, &["archive", "run", "--once"]).expect(0);
    assert!(
        r.stdout
            .contains("archived 1 commit(s); newest point commit 2"),
        "{}",
        r.stdout
    );
    let r = migrate(&s, &cfg, &["archive", "status"]).expect(0);
    assert!(
        r.stdout.contains("points: 2 (commits 1 to 2"),
        "{}",
        r.stdout
    );
    let r = migrate(
        &s,
        &cfg,
        &["restore", "--at-commit", "77", "--to", &to("x.db")],
    )
    .expect(2);
    assert!(r.stderr.contains("holds no commit 77"), "{}", r.stderr);

    // A migration run right after the WAL was emptied: its mark has no WAL position, and the
    // first commit of the next WAL places it.
    checkpoint_truncate(&app);
    let r = migrate(&s, &cfg, &["archive", "status"]).expect(0);
    assert!(r.stdout.contains("the WAL restarted"), "{}", r.stdout);
    migrate(&s, &cfg, &["-q", "up", "--to", "2"]).expect(0);
    migrate(&s, &cfg, &["-q", "archive", "run", "--once"]).expect(0);
    let r = migrate(
        &s,
        &cfg,
        &["restore", "--at-version", "2", "--to", &to("v2.db")],
    )
    .expect(0);
    assert!(r.stdout.contains("page hash matches"), "{}", r.stdout);
    assert_eq!(version(Path::new(&to("v2.db"))), 1);

    // Commits nobody archived, then the WAL emptied: a gap, said on stderr and by status; a
    // migration run inside it cannot be restored to.
    std::thread::sleep(Duration::from_millis(1100));
    commit_note(&app, "before the run, never archived");
    migrate(&s, &cfg, &["-q", "up"]).expect(0);
    commit_note(&app, "lost between points");
    checkpoint_truncate(&app);
    std::thread::sleep(Duration::from_millis(1100));
    commit_note(&app, "after");
    let r = migrate(&s, &cfg, &["archive", "run", "--once"]).expect(0);
    assert!(
        r.stderr.contains("archive gap: commits after"),
        "{}",
        r.stderr
    );
    let r = migrate(&s, &cfg, &["archive", "status"]).expect(0);
    assert!(r.stdout.contains("  gap: after commit"), "{}", r.stdout);
    let r = migrate(
        &s,
        &cfg,
        &["restore", "--at-version", "3", "--to", &to("v3.db")],
    )
    .expect(2);
    assert!(
        r.stderr.contains("does not hold the WAL position"),
        "{}",
        r.stderr
    );
    let gap = &migrate(&s, &cfg, &["--json", "archive", "status"]).json()["gaps"][0];
    let after =
        belay_migrate::guard::archive::catalog::parse_time(gap["after_at"].as_str().unwrap())
            .unwrap();
    let before =
        belay_migrate::guard::archive::catalog::parse_time(gap["before_at"].as_str().unwrap())
            .unwrap();
    let inside = belay_migrate::guard::vocab::clock::format_unix_millis((after + before) / 2);
    let r = migrate(&s, &cfg, &["restore", "--at", &inside, "--to", &to("g.db")]).expect(2);
    assert!(r.stderr.contains("falls in a gap"), "{}", r.stderr);
    assert!(!Path::new(&to("g.db")).exists());

    let r = migrate(&s, &cfg, &["archive", "verify"]).expect(0);
    assert!(r.stdout.contains("matches its page hash"), "{}", r.stdout);
    // An interval for `archive run` that is not one, named by key.
    let bad = s.dir.path().join("bad-interval.toml");
    std::fs::write(&bad, "[archive]\n[watch]\narchive = \"never\"\n").unwrap();
    let r = migrate(&s, &bad, &["archive", "run"]).expect(2);
    assert!(r.stderr.contains("[watch] archive"), "{}", r.stderr);
    // A damaged segment: verify names the commits it cannot restore, exit 6.
    let dir = belay_migrate::guard::archive::default_dir(&db);
    let seg = std::fs::read_dir(&dir)
        .unwrap()
        .flat_map(|g| std::fs::read_dir(g.unwrap().path()).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("a segment");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let r = migrate(&s, &cfg, &["archive", "verify"]).expect(6);
    assert!(r.stdout.contains("unrestorable: commits"), "{}", r.stdout);
}

/// `[archive]` alone turns archiving on under `watch`, at the default interval: the round ships
/// what the application committed, and status shows it held.
#[test]
fn watch_archives_whenever_archive_is_configured() {
    let s = app_database(Journal::Wal, "", &[]);
    let cfg = s.dir.path().join("migrate.toml");
    std::fs::write(&cfg, "[archive]\ncheckpoint_bytes = \"256KiB\"\n").unwrap();
    let app = Connection::open(s.db()).unwrap();
    commit_note(&app, "before the watchman");
    let r = migrate(&s, &cfg, &["--json", "watch", "--once"]);
    let archived: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["event"] == "task" && l["task"] == "archive")
        .collect();
    assert_eq!(archived.len(), 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(archived[0]["outcome"], "done", "{}", archived[0]);
    commit_note(&app, "after");
    // The next round is due one interval (250 ms by default) after the last.
    std::thread::sleep(Duration::from_millis(400));
    let again = migrate(&s, &cfg, &["--json", "watch", "--once"]);
    let status = migrate(&s, &cfg, &["--json", "archive", "status"]).json();
    assert!(
        status["commits"].as_u64().unwrap() >= 2,
        "{status}\n{}\n{}",
        again.stdout,
        again.stderr
    );
    assert_eq!(status["unarchived_commits"], 0, "{status}");
}
