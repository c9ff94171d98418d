//! `migrate watch` and `migrate health` as an operator runs them: a real watchman process on
//! second-scale intervals, its alerts through a real `on_alert` command, its `/metrics` scraped
//! over loopback and parsed by `prometheus-parse` (a parser we did not write), a page damaged
//! under it, a backup damaged after its manifest, a second watchman, and a migration run and a
//! live application beside it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use migrate_tests::live::{App, Journal, app_database, fill_table, lost, spawn_migrate};
use migrate_tests::{Scratch, migrate_command};
use serde_json::Value;

/// Every metric name SPEC.md lists for `health` and `/metrics` (archiving aside).
const SPEC_METRICS: [&str; 22] = [
    "migrate_up",
    "migrate_schema_version",
    "migrate_pending_migrations",
    "migrate_drift",
    "migrate_db_bytes",
    "migrate_wal_bytes",
    "migrate_freelist_ratio",
    "migrate_disk_free_bytes",
    "migrate_last_check_timestamp_seconds",
    "migrate_last_check_ok",
    "migrate_check_coverage_ratio",
    "migrate_last_backup_timestamp_seconds",
    "migrate_backup_age_seconds",
    "migrate_rpo_target_seconds",
    "migrate_last_drill_timestamp_seconds",
    "migrate_last_drill_ok",
    "migrate_checkpoint_blocked_seconds",
    "migrate_checkpoints_total",
    "migrate_checkpoint_errors_total",
    "migrate_backups_total",
    "migrate_backup_errors_total",
    "migrate_degraded",
];

/// A database with `tables` tables of `rows` rows each, migrated by the scratch's migrations.
fn database(tables: usize, rows: usize) -> Scratch {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    let mut sql = String::new();
    for t in 0..tables {
        sql.push_str(&format!(
            "CREATE TABLE t{t} (id INTEGER PRIMARY KEY, v TEXT, n INTEGER);
             CREATE INDEX t{t}_n ON t{t}(n);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows})
               INSERT INTO t{t} (v, n) SELECT printf('row %d of t{t}', x), x * 7 % 1000 FROM c;\n"
        ));
    }
    std::fs::write(s.migrations().join("0001_tables.up.sql"), sql).unwrap();
    s.migrate(&["-q", "up"]).expect(0);
    s
}

/// migrate.toml in the scratch directory with `watch` as its `[watch]` table.
fn config(s: &Scratch, watch: &str, backup: &str) -> PathBuf {
    let path = s.dir.path().join("migrate.toml");
    std::fs::write(
        &path,
        format!(
            "db = \"app.db\"\nmigrations = \"migrations\"\n[backup]\n{backup}\n[watch]\n{watch}\n"
        ),
    )
    .unwrap();
    path
}

/// `migrate --config C --json ARGS` in the scratch directory.
fn migrate(s: &Scratch, args: &[&str]) -> Command {
    let mut cmd = migrate_command();
    cmd.current_dir(s.dir.path())
        .arg("--config")
        .arg(s.dir.path().join("migrate.toml"))
        .args(args);
    cmd
}

/// A running watchman, its stdout's JSON lines arriving on a channel.
struct Watch {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Watch {
    fn start(s: &Scratch, extra: &[&str]) -> Self {
        let mut args = vec!["--json", "watch"];
        args.extend_from_slice(extra);
        let mut child = migrate(s, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `limit`) until `done` holds for the lines seen so far.
    fn until(&mut self, limit: Duration, what: &str, done: impl Fn(&[Value]) -> bool) {
        let start = Instant::now();
        while !done(&self.seen) {
            let left = limit.checked_sub(start.elapsed()).unwrap_or_else(|| {
                panic!("{what}: not seen within {limit:?}; saw {:#?}", self.seen)
            });
            if let Ok(line) = self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                self.seen.push(line);
            }
        }
    }

    /// SIGTERM, and the exit code and stderr.
    fn stop(mut self) -> (i32, String) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code().unwrap_or(-1), err)
    }
}

fn tasks<'a>(lines: &'a [Value], task: &str, outcome: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["event"] == "task" && l["task"] == task && l["outcome"] == outcome)
        .collect()
}

/// The coverage a check task's detail states, in percent.
fn coverage(line: &Value) -> u32 {
    let detail = line["detail"].as_str().unwrap();
    let at = detail.find("coverage ").unwrap() + "coverage ".len();
    detail[at..].split('%').next().unwrap().parse().unwrap()
}

/// The alerts `on_alert` received (one JSON object a line).
fn alerts(s: &Scratch) -> Vec<Value> {
    std::fs::read_to_string(s.dir.path().join("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP GET over loopback: status line and body.
fn get(port: u16, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// Damages a leaf page of `table`: its cell pointers point past the page's end.
fn damage_table(db: &Path, table: &str) {
    let page = migrate_tests::corrupt::pages(db, &[table], "leaf")[0];
    let conn = rusqlite::Connection::open(db).unwrap();
    let size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start((page as u64 - 1) * size as u64 + 8))
        .unwrap();
    f.write_all(&[0xff; 16]).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn the_watchman_runs_its_schedule_raises_a_corruption_alert_and_serves_the_metrics() {
    let s = database(8, 3000);
    config(
        &s,
        "backup = \"2s\"\ncheck = \"1s\"\ncheck_budget = \"1ms\"\ncheckpoint = \"1s\"\n\
         drill = \"3s\"\nrpo = \"1h\"\non_alert = \"cat >> alerts.jsonl\"",
        "keep_last = 2\nkeep_daily = 0\nkeep_weekly = 0",
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut watch = Watch::start(&s, &["--listen", &listen]);

    // Backups taken and rotated, a pass of the check spread over ticks, a drill passed.
    watch.until(Duration::from_secs(40), "the schedule", |seen| {
        tasks(seen, "backup", "done").len() >= 3
            && tasks(seen, "drill", "done").iter().any(|l| {
                l["detail"]
                    .as_str()
                    .unwrap()
                    .contains("matches the manifest")
            })
            && tasks(seen, "check", "done")
                .iter()
                .any(|l| coverage(l) == 100)
            && !tasks(seen, "checkpoint", "done").is_empty()
    });
    let checks = tasks(&watch.seen, "check", "done");
    assert!(
        coverage(checks[0]) < 100,
        "the first tick covered only part of the database: {:#?}",
        checks[0]
    );
    let backups = std::fs::read_dir(s.dir.path().join("app.db.backups"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".json")
                && name.to_string_lossy().contains("scheduled")
        })
        .count();
    assert!(
        backups <= 2,
        "rotation keeps 2 scheduled backups, found {backups}"
    );

    // /metrics over loopback: every name SPEC lists, with the values /health's JSON has (the
    // two read the same snapshot; asked until a pair comes from one).
    let (metrics, health) = loop {
        let (status, before) = get(port, "/health");
        assert!(status.contains("200"), "{status}");
        let (status, metrics) = get(port, "/metrics");
        assert!(status.contains("200"), "{status}");
        let (_, after) = get(port, "/health");
        if before == after {
            break (metrics, serde_json::from_str::<Value>(&after).unwrap());
        }
    };
    let scrape =
        prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let scraped: BTreeMap<String, f64> = scrape
        .samples
        .iter()
        .map(|sample| {
            let value = match sample.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{} is not a number: {other:?}", sample.metric),
            };
            (sample.metric.clone(), value)
        })
        .collect();
    for name in SPEC_METRICS {
        let scraped = scraped
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"));
        let json = &health["metrics"][name];
        match json.as_f64() {
            Some(v) => assert!(
                (v - scraped).abs() <= 1e-9 * v.abs().max(1.0),
                "{name}: JSON {v}, /metrics {scraped}"
            ),
            None => assert!(
                json.is_null() && scraped.is_nan(),
                "{name}: {json} vs {scraped}"
            ),
        }
    }
    assert_eq!(scraped["migrate_up"], 1.0);
    assert!(scraped["migrate_backups_total"] >= 3.0);
    assert_eq!(scraped["migrate_last_drill_ok"], 1.0);
    assert_eq!(scraped["migrate_schema_version"], 1.0);
    let (status, _) = get(port, "/nothing");
    assert!(status.contains("404"), "{status}");

    // A damaged page: the next ticks find it, on_alert gets the corruption alert once.
    damage_table(&s.db(), "t5");
    watch.until(Duration::from_secs(30), "the damage found", |seen| {
        tasks(seen, "check", "failed")
            .iter()
            .any(|l| l["detail"].as_str().unwrap().starts_with("damaged"))
    });
    watch.until(Duration::from_secs(10), "the corruption alert", |seen| {
        seen.iter()
            .any(|l| l["event"] == "alert" && l["kind"] == "corruption")
    });
    let corruption: Vec<Value> = alerts(&s)
        .into_iter()
        .filter(|a| a["kind"] == "corruption")
        .collect();
    assert_eq!(corruption.len(), 1, "{corruption:#?}");
    let alert = &corruption[0];
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["database"], s.db().display().to_string());
    assert!(alert["at"].as_str().unwrap().ends_with('Z'));
    assert!(
        alert["message"].as_str().unwrap().contains("t5"),
        "the message names the table: {alert}"
    );

    // health: failing, exit 6, the reason named.
    let out = migrate(&s, &["health", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "failing");
    assert_eq!(report["ok"], false);
    assert!(
        report["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "corruption")
    );

    // The watchman's files in the backup directory are not taken for manifests.
    let list = migrate(&s, &["backup", "list"]).output().unwrap();
    let said = String::from_utf8_lossy(&list.stderr);
    assert!(!said.contains("watch-state.json"), "{said}");
    assert!(!said.contains("last-checkpoint.json"), "{said}");

    // SIGTERM: exit 0, no staging file left.
    let (code, stderr) = watch.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("alert FIRING corruption"), "{stderr}");
    let staging: Vec<_> = std::fs::read_dir(s.dir.path().join("app.db.backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
}

#[test]
fn a_backup_older_than_the_rpo_raises_its_alert_and_the_next_backup_clears_it() {
    let s = database(1, 10);
    config(
        &s,
        "backup = \"5s\"\nrpo = \"2s\"\non_alert = \"cat >> alerts.jsonl\"",
        "",
    );
    let mut watch = Watch::start(&s, &[]);
    watch.until(Duration::from_secs(20), "fired and resolved", |seen| {
        let rpo: Vec<&Value> = seen
            .iter()
            .filter(|l| l["event"] == "alert" && l["kind"] == "rpo_exceeded")
            .collect();
        rpo.len() >= 2
    });
    let (code, stderr) = watch.stop();
    assert_eq!(code, 0, "{stderr}");
    let rpo: Vec<Value> = alerts(&s)
        .into_iter()
        .filter(|a| a["kind"] == "rpo_exceeded")
        .collect();
    assert_eq!(rpo[0]["state"], "firing", "{rpo:#?}");
    assert!(
        rpo[0]["message"]
            .as_str()
            .unwrap()
            .contains("over the RPO target of 2s")
    );
    assert_eq!(rpo[1]["state"], "resolved", "{rpo:#?}");
    assert_eq!(rpo[1]["since"], rpo[0]["at"]);
}

#[test]
fn a_drill_catches_a_backup_damaged_after_its_manifest_was_written() {
    let s = database(2, 2000);
    config(
        &s,
        "drill = \"1d\"\non_alert = \"cat >> alerts.jsonl\"",
        "compression = \"none\"",
    );
    let out = migrate(&s, &["--json", "backup", "create"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    let file = s.dir.path().join("app.db.backups").join(format!("{id}.db"));
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&file, bytes).unwrap();

    let out = migrate(&s, &["--json", "watch", "--once"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(8), "degraded: {stdout}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed = tasks(&lines, "drill", "failed");
    assert_eq!(failed.len(), 1, "{lines:#?}");
    assert!(failed[0]["detail"].as_str().unwrap().contains(&id));
    let alert = alerts(&s)
        .into_iter()
        .find(|a| a["kind"] == "drill_failed")
        .expect("a drill_failed alert");
    assert_eq!(alert["state"], "firing");
    assert!(alert["message"].as_str().unwrap().contains(&id), "{alert}");

    let health = migrate(&s, &["--json", "health"]).output().unwrap();
    assert_eq!(health.status.code(), Some(8));
    let report: Value = serde_json::from_slice(&health.stdout).unwrap();
    assert_eq!(report["status"], "degraded");
    assert_eq!(report["metrics"]["migrate_last_drill_ok"], 0.0);
}

#[test]
fn a_second_watchman_is_refused_naming_the_first() {
    let s = database(1, 10);
    config(&s, "check = \"1h\"", "");
    let mut first = Watch::start(&s, &[]);
    first.until(Duration::from_secs(20), "the first tick", |seen| {
        !tasks(seen, "check", "done").is_empty()
    });
    let out = migrate(&s, &["watch", "--once"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("app.db.migrate-watch"), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", first.child.id())),
        "names the holder: {stderr}"
    );
    assert_eq!(first.stop().0, 0);
}

#[test]
fn beside_a_live_application_and_a_migration_run_nothing_is_lost_and_nothing_is_backed_up_mid_run()
{
    let s = app_database(
        Journal::Wal,
        "",
        &[("0002_fill.up.sql", &fill_table("big", 1_500_000))],
    );
    config(
        &s,
        "backup = \"1s\"\ncheck = \"1s\"\ncheckpoint = \"1s\"",
        "keep_last = 50",
    );
    let app = App::start(&s);
    let mut watch = Watch::start(&s, &[]);
    watch.until(Duration::from_secs(20), "a first backup", |seen| {
        !tasks(seen, "backup", "done").is_empty()
    });
    let asked = Instant::now();
    let run = spawn_migrate(&s, &["--json", "up"])
        .wait_with_output()
        .unwrap();
    let took = asked.elapsed();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    watch.until(Duration::from_secs(20), "a backup after the run", |seen| {
        tasks(seen, "backup", "done").len() >= 2
    });
    let (code, stderr) = watch.stop();
    assert_eq!(code, 0, "{stderr}");
    let ids = app.stop();
    assert!(!ids.is_empty());
    assert_eq!(lost(&s, &ids), Vec::<i64>::new(), "acknowledged rows lost");

    // The run's lock window (its attempt's start and end) holds no backup or checkpoint of the
    // watchman's (each task's start and duration from the journal).
    let conn = s.conn();
    let (started, finished): (String, String) = conn
        .query_row(
            "SELECT started_at, finished_at FROM _migrate_attempts WHERE to_version = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let seconds = |t: &str| chrono_like(t);
    let (run_from, run_to) = (seconds(&started), seconds(&finished));
    let journal = std::fs::read_to_string(s.dir.path().join("app.db.backups/audit.jsonl")).unwrap();
    let mut overlapping = Vec::new();
    let mut longest_task: f64 = 0.0;
    for line in journal.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        if entry["event"] != "watch_task" {
            continue;
        }
        let from = seconds(entry["at"].as_str().unwrap());
        let to = from + entry["duration_ms"].as_f64().unwrap() / 1000.0;
        longest_task = longest_task.max(to - from);
        let locked = entry["task"] == "backup" || entry["task"] == "checkpoint";
        if locked && entry["outcome"] == "done" && from < run_to && to > run_from {
            overlapping.push(entry);
        }
    }
    assert!(
        overlapping.is_empty(),
        "tasks inside the run: {overlapping:#?}"
    );
    // The run waited for one task at most: its whole time is its own work plus that.
    let run_secs = run_to - run_from;
    assert!(
        took.as_secs_f64() <= run_secs + longest_task + 2.0,
        "the run took {took:?}, its own work {run_secs:.2}s, the longest task {longest_task:.2}s"
    );
}

/// Seconds since the epoch of an RFC 3339 UTC time (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
fn chrono_like(t: &str) -> f64 {
    let (date, time) = t.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let parts: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    days as f64 * 86_400.0 + parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

#[test]
fn bad_watch_settings_are_refused_naming_their_key_and_nothing_runs() {
    let s = database(1, 10);
    for (watch, says) in [
        (
            "check = \"5x\"",
            "[watch] check in migrate.toml: `5x`: unknown unit `x`",
        ),
        (
            "backup = \"61 * * * *\"",
            "[watch] backup in migrate.toml: `61 * * * *` is not a cron expression",
        ),
        (
            "rpo = \"soon\"",
            "[watch] rpo in migrate.toml: `soon` does not start with a number",
        ),
        (
            "wal_limit = \"12 parsecs\"",
            "[watch] wal_limit in migrate.toml: `12 parsecs`: unknown unit",
        ),
        (
            "check_budget = \"0.5\"",
            "[watch] check_budget in migrate.toml",
        ),
        ("archive = \"never\"", "[watch] archive in migrate.toml"),
        ("evrey = \"1s\"", "unknown field `evrey`"),
        (
            "rpo = \"0s\"",
            "[watch] rpo in migrate.toml: `0s`: must be longer than 0",
        ),
        (
            "wal_limit = \"0MiB\"",
            "[watch] wal_limit in migrate.toml: `0MiB`: must be more than 0",
        ),
        (
            "drill = \"0 0 30 2 *\"",
            "[watch] drill in migrate.toml: `0 0 30 2 *` names no time to come",
        ),
        (
            "webhook = \"ftp://hooks\"",
            "[watch] webhook in migrate.toml: `ftp://hooks` is not an http:// or https:// URL",
        ),
    ] {
        config(&s, watch, "");
        let out = migrate(&s, &["watch", "--once"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{watch}: {stderr}");
        assert!(stderr.contains(says), "{watch}: {stderr}");
    }
    assert!(
        !s.dir
            .path()
            .join("app.db.backups/watch-state.json")
            .exists(),
        "nothing ran"
    );
    config(&s, "rpo = \"soon\"", "");
    let out = migrate(&s, &["health"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    config(&s, "check = \"1h\"", "");
    let out = migrate(&s, &["watch", "--listen", "not-an-address"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--listen not-an-address: cannot listen there"),
        "{stderr}"
    );
}

#[test]
fn alerts_reach_a_webhook_and_a_failing_command_is_reported_not_fatal() {
    let s = database(1, 10);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    conn.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                        .unwrap();
                    return (head.to_owned(), body.to_owned());
                }
            }
            assert!(n > 0, "the connection closed early");
        }
    });
    config(
        &s,
        &format!(
            "rpo = \"1s\"\nwebhook = \"http://127.0.0.1:{port}/hook\"\non_alert = \"cat > /dev/null; exit 3\""
        ),
        "",
    );
    let out = migrate(&s, &["watch", "--once"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "degraded: {stderr}");
    assert!(stderr.contains("alert FIRING rpo_exceeded"), "{stderr}");
    assert!(
        stderr.contains("on_alert `cat > /dev/null; exit 3` failed: it exited with exit status: 3"),
        "{stderr}"
    );
    let (head, body) = received.join().unwrap();
    assert!(head.starts_with("POST /hook "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let alert: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alert["kind"], "rpo_exceeded");
    assert_eq!(alert["state"], "firing");

    // The same alert is not sent twice while it lasts; an unreachable webhook is said.
    config(
        &s,
        "rpo = \"1s\"\nwebhook = \"http://127.0.0.1:9/hook\"\nbackup = \"1h\"",
        "",
    );
    let out = migrate(&s, &["watch", "--once"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a backup clears it: {stderr}");
    assert!(stderr.contains("alert resolved rpo_exceeded"), "{stderr}");
    assert!(
        stderr.contains("webhook http://127.0.0.1:9/hook failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("FIRING"), "{stderr}");
}

#[test]
fn health_speaks_text_json_and_prometheus_and_reads_only() {
    let s = database(2, 10);
    config(&s, "", "");
    let before = std::fs::read(s.db()).unwrap();
    let listing = |s: &Scratch| -> Vec<String> {
        let mut names: Vec<String> = walk(s.dir.path());
        names.sort();
        names
    };
    let files = listing(&s);
    let out = migrate(&s, &["health"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        "status: ok",
        "schema version: 1 (0 pending)",
        "last check: none yet",
        "last backup: none",
        "last drill: none yet",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let out = migrate(&s, &["health", "--format", "prometheus"])
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics.contains("# TYPE migrate_backups counter\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nmigrate_up 1"), "{metrics}");
    let out = migrate(&s, &["--json", "health"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["migrations"]["pending"], 0);
    assert_eq!(
        std::fs::read(s.db()).unwrap(),
        before,
        "health wrote to the database"
    );
    assert_eq!(listing(&s), files, "health made or removed files");

    // A pending migration is reported, not judged; drift is degraded.
    std::fs::write(
        s.migrations().join("0002_more.up.sql"),
        "CREATE TABLE more (x);",
    )
    .unwrap();
    let out = migrate(&s, &["--json", "health"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["metrics"]["migrate_pending_migrations"], 1.0);
    s.conn().execute_batch("CREATE TABLE sneaky (x)").unwrap();
    let out = migrate(&s, &["--json", "health"]).output().unwrap();
    assert_eq!(out.status.code(), Some(8));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["reasons"][0]["kind"], "drift");
}

/// Every file under `dir`, by path.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn once_exits_3_when_a_migration_run_defers_a_task_and_health_text_shows_the_record() {
    let s = database(2, 100);
    config(&s, "backup = \"1h\"\ncheck = \"1h\"\ndrill = \"1s\"", "");
    // A migration run's lock, held the way a run holds it.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(s.dir.path().join("app.db.migrate-lock"))
        .unwrap();
    lock.lock().unwrap();
    let out = migrate(&s, &["watch", "--once"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("backup deferred: a migration run holds the lock"),
        "{stdout}"
    );
    assert!(
        stdout.contains("check done: ok"),
        "checks run beside a run: {stdout}"
    );
    lock.unlock().unwrap();
    // The drill found no backup to drill; a second later it is due again.
    std::thread::sleep(Duration::from_millis(1100));
    let out = migrate(&s, &["-q", "watch", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "-q prints no task lines");
    let out = migrate(&s, &["health"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        "last check: ok at ",
        "last backup: ",
        "last drill: passed at ",
        "freelist 0.0%",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    // Without its migrations directory the schema is unknown, and said so.
    std::fs::remove_dir_all(s.migrations()).unwrap();
    let out = migrate(&s, &["health"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("schema version: unknown ("), "{text}");
}

#[test]
fn an_alert_a_webhook_missed_is_delivered_when_it_comes_back() {
    let s = database(1, 10);
    let port = free_port();
    config(
        &s,
        &format!("rpo = \"1s\"\nwebhook = \"http://127.0.0.1:{port}/hook\""),
        "",
    );
    let mut watch = Watch::start(&s, &[]);
    watch.until(Duration::from_secs(20), "the alert", |seen| {
        seen.iter()
            .any(|l| l["event"] == "alert" && l["kind"] == "rpo_exceeded")
    });
    // The hook was down when the alert fired; it comes up now.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(false).unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 8192];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("rpo_exceeded") {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        tx.send(String::from_utf8_lossy(&got).into_owned()).unwrap();
    });
    let request = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the alert retried once the hook listened");
    assert!(request.starts_with("POST /hook "), "{request}");
    let (code, stderr) = watch.stop();
    assert_eq!(code, 0);
    assert!(
        stderr.contains(&format!("webhook http://127.0.0.1:{port}/hook failed")),
        "{stderr}"
    );
}
