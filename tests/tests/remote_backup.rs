//! Backups off the machine through the CLI, against a real S3 API on loopback (moto's server,
//! path-style requests): the run's backup copied after COMMIT, `backup create|list|push|verify
//! |prune` and `restore` reading from the store after the backup directory is gone, byte for
//! byte; someone else's object at a backup's key refused and left alone; a store that refuses
//! reported by the run (which stands) and by `health`; prune exactly per policy in the store;
//! and a backup pushed through a storm of 503s and dropped connections.

use std::path::Path;
use std::process::Command;

use migrate_tests::moto::{Faulty, Moto};
use migrate_tests::{Run, Scratch, example_migrations, migrate_command, user_dump};

/// `migrate --db --migrations --backup-url <url> args...`, the store client pointed at
/// `endpoint`.
fn migrate(s: &Scratch, endpoint: &str, url: &str, args: &[&str]) -> Run {
    with_store(s, endpoint, &[&["--backup-url", url], args].concat())
}

/// `migrate --db --migrations args...`, the store client pointed at `endpoint`.
fn with_store(s: &Scratch, endpoint: &str, args: &[&str]) -> Run {
    let mut cmd = migrate_command();
    cmd.arg("--db")
        .arg(s.db())
        .arg("--migrations")
        .arg(s.migrations())
        .args(args);
    aws(&mut cmd, endpoint);
    Run::from(cmd.output().unwrap())
}

fn aws(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ACCESS_KEY_ID", "belay-test")
        .env("AWS_SECRET_ACCESS_KEY", "belay-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ENDPOINT_URL", endpoint);
}

/// A database at version 2 with rows of its own.
fn app() -> Scratch {
    let s = Scratch::with_migrations(&example_migrations()).with_legacy_data();
    s.migrate(&["up", "--to", "2"]).expect(0);
    s.conn()
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO legacy SELECT i, hex(randomblob(30)) FROM n;",
        )
        .unwrap();
    s
}

fn backups(s: &Scratch) -> std::path::PathBuf {
    s.db().with_extension("db.backups")
}

fn file_of(dir: &Path, id: &str) -> Vec<u8> {
    std::fs::read(dir.join(format!("{id}.db.zst"))).unwrap()
}

#[test]
fn backups_go_off_the_machine_and_come_back_byte_identical() {
    let moto = Moto::start();
    moto.bucket("belay");
    let url = "s3://belay/app";
    let s = app();
    let up = migrate(&s, &moto.endpoint, url, &["up", "--json"]).expect(0);
    let doc = up.json();
    let run_id = doc["backup_id"].as_str().unwrap().to_owned();
    assert_eq!(doc["offsite"]["ok"], true, "{doc}");
    assert_eq!(doc["offsite"]["file"], "created", "{doc}");
    let created = migrate(&s, &moto.endpoint, url, &["backup", "create", "--json"]).expect(0);
    let manual_id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(created.json()["offsite"]["ok"], true);
    let at_backup = user_dump(&s.db());
    let mut keys = moto.keys("belay");
    keys.sort();
    let mut expected: Vec<String> = [&run_id, &manual_id]
        .iter()
        .flat_map(|id| {
            [
                format!("app/backups/{id}.db.zst"),
                format!("app/backups/{id}.json"),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "exactly the backups, nothing staged");
    // The store's copies are the local files, byte for byte.
    let dir = backups(&s);
    for id in [&run_id, &manual_id] {
        assert!(
            moto.get("belay", &format!("app/backups/{id}.db.zst"))
                .unwrap()
                == file_of(&dir, id)
        );
    }
    let listed = migrate(&s, &moto.endpoint, url, &["backup", "list", "--json"]).expect(0);
    assert_eq!(
        listed.json()["remote"]["backups"].as_array().unwrap().len(),
        2
    );
    // `push` copies what the store lacks: the backup of the first run, taken before a store
    // was named; then nothing.
    let first = migrate(&s, &moto.endpoint, url, &["backup", "push", "--json"]).expect(0);
    let pushed = first.json()["pushed"].as_array().unwrap().clone();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert!(pushed[0]["id"].as_str().unwrap().ends_with("-pre-migrate"));
    let again = migrate(&s, &moto.endpoint, url, &["backup", "push", "--json"]).expect(0);
    assert_eq!(again.json()["pushed"].as_array().unwrap().len(), 0);

    // The disk is lost: the backup directory goes. Restores and verifies read the store.
    let saved = file_of(&dir, &manual_id);
    std::fs::remove_dir_all(&dir).unwrap();
    let to = s.dir.path().join("restored.db");
    let restored = migrate(
        &s,
        &moto.endpoint,
        url,
        &["restore", "latest", "--to", to.to_str().unwrap()],
    )
    .expect(0);
    assert!(
        restored.stderr.contains("fetched backup"),
        "{}",
        restored.stderr
    );
    assert!(file_of(&dir, &manual_id) == saved, "fetched byte-identical");
    assert_eq!(user_dump(&to), at_backup);
    let verified = migrate(&s, &moto.endpoint, url, &["backup", "verify", &run_id]).expect(0);
    assert!(verified.stdout.contains("is good"), "{}", verified.stdout);
    // Over the live database: fetched already, restored in place.
    migrate(&s, &moto.endpoint, url, &["restore", &manual_id, "--yes"]).expect(0);
    assert_eq!(user_dump(&s.db()), at_backup);
    // Another database naming the same store: its backup is never restored over it.
    let other = s.dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE mine(x); INSERT INTO mine VALUES (1);")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    let mut cmd = migrate_command();
    cmd.arg("--db")
        .arg(&other)
        .args(["--backup-url", url, "restore", "latest", "--yes"]);
    aws(&mut cmd, &moto.endpoint);
    let refused = Run::from(cmd.output().unwrap()).expect(2);
    assert!(
        refused.stderr.contains("was taken from"),
        "{}",
        refused.stderr
    );
    assert!(std::fs::read(&other).unwrap() == before, "untouched");
    // Nothing failed, so health has nothing to say of the store.
    let health = migrate(&s, &moto.endpoint, url, &["health", "--json"]);
    assert!(
        !health.stdout.contains("offsite_failed"),
        "{}",
        health.stdout
    );
}

#[test]
fn a_foreign_object_is_refused_and_a_refusing_store_never_undoes_a_run() {
    let moto = Moto::start();
    moto.bucket("belay");
    let url = "s3://belay/app";
    let s = app();
    // A backup taken with no store named, then someone else's object at its key.
    let id = s.migrate(&["backup", "create", "--json"]).expect(0).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = format!("app/backups/{id}.db.zst");
    moto.put("belay", &key, b"someone else's object");
    let refused = migrate(&s, &moto.endpoint, url, &["backup", "push", &id]).expect(1);
    assert!(
        refused.stderr.contains(&format!(
            "s3://belay/app: backups/{id}.db.zst holds 21 bytes"
        )),
        "{}",
        refused.stderr
    );
    // Left as it was (a second try finds the same 21 bytes), and no manifest names it.
    let again = migrate(&s, &moto.endpoint, url, &["backup", "push", &id]).expect(1);
    assert!(again.stderr.contains("holds 21 bytes"), "{}", again.stderr);
    assert_eq!(moto.keys("belay"), [key]);

    // `push` of everything the store lacks goes past the refused one, copies the others, and
    // fails naming it.
    s.migrate(&["backup", "create"]).expect(0);
    let all = migrate(&s, &moto.endpoint, url, &["backup", "push"]).expect(1);
    assert!(
        all.stderr.contains("copied 2 of 3 backup(s)"),
        "{}",
        all.stderr
    );
    assert_eq!(moto.keys("belay").len(), 5, "{:?}", moto.keys("belay"));

    // A store that refuses (no such bucket): the run commits and says so; health reports it.
    let nowhere = "s3://no-such-bucket/app";
    let up = migrate(&s, &moto.endpoint, nowhere, &["up", "--json"]).expect(0);
    let doc = up.json();
    assert_eq!(doc["offsite"]["ok"], false, "{doc}");
    assert!(
        up.stderr.contains("is only on this machine"),
        "{}",
        up.stderr
    );
    assert!(!up.stderr.contains("belay-test-secret"), "{}", up.stderr);
    assert_eq!(
        s.migrate(&["status", "--json"]).expect(0).json()["pending"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let health = migrate(&s, &moto.endpoint, nowhere, &["health", "--json"]).expect(8);
    assert!(
        health.stdout.contains("offsite_failed"),
        "{}",
        health.stdout
    );
    // A later copy of another backup does not hide the ones still only here; copying the
    // run's backup takes it off the list, and the one the foreign object blocks stays.
    let run_id = doc["backup_id"].as_str().unwrap().to_owned();
    migrate(&s, &moto.endpoint, url, &["backup", "create"]).expect(0);
    let pending = |health: &Run| -> String {
        let report = health.json();
        let reasons = report["reasons"].as_array().unwrap();
        reasons
            .iter()
            .filter(|r| r["kind"] == "offsite_failed")
            .map(|r| r["message"].as_str().unwrap().to_owned())
            .collect()
    };
    let health = migrate(&s, &moto.endpoint, url, &["health", "--json"]).expect(8);
    let said = pending(&health);
    assert!(said.contains(&run_id) && said.contains(&id), "{said}");
    migrate(&s, &moto.endpoint, url, &["backup", "push", &run_id]).expect(0);
    let health = migrate(&s, &moto.endpoint, url, &["health", "--json"]).expect(8);
    let said = pending(&health);
    assert!(!said.contains(&run_id) && said.contains(&id), "{said}");
    // An address with a secret in it is refused before anything runs, and never printed
    // back, not even by `config`.
    let shown = migrate(
        &s,
        &moto.endpoint,
        "s3://key:hunter2@belay/app",
        &["config", "--json"],
    );
    assert!(!shown.stdout.contains("hunter2"), "{}", shown.stdout);
    let secret = migrate(
        &s,
        &moto.endpoint,
        "s3://key:hunter2@belay/app",
        &["backup", "create"],
    )
    .expect(2);
    assert!(!secret.stderr.contains("hunter2"), "{}", secret.stderr);
}

#[test]
fn prune_deletes_in_the_store_exactly_what_the_policy_says() {
    let moto = Moto::start();
    moto.bucket("belay");
    let url = "s3://belay/app";
    let s = app();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let run = migrate(&s, &moto.endpoint, url, &["backup", "create", "--json"]).expect(0);
        ids.push(run.json()["id"].as_str().unwrap().to_owned());
    }
    let args = [
        "backup",
        "prune",
        "--keep-last",
        "1",
        "--keep-daily",
        "0",
        "--keep-weekly",
        "0",
        "--json",
    ];
    let dry = migrate(
        &s,
        &moto.endpoint,
        url,
        &[&args[..], &["--dry-run"]].concat(),
    )
    .expect(0);
    assert_eq!(dry.json()["remote_deleted"], serde_json::json!(ids[..2]));
    assert_eq!(moto.keys("belay").len(), 6, "a dry run deletes nothing");
    let pruned = migrate(&s, &moto.endpoint, url, &args).expect(0);
    assert_eq!(pruned.json()["remote_deleted"], serde_json::json!(ids[..2]));
    let mut keys = moto.keys("belay");
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("app/backups/{}.db.zst", ids[2]),
            format!("app/backups/{}.json", ids[2])
        ]
    );
}

#[test]
fn a_backup_pushed_through_a_storm_arrives_whole() {
    let moto = Moto::start();
    moto.bucket("belay");
    let url = "s3://belay/storm";
    // About 12 MiB of random bytes: stored plain (zstd cannot shrink them), so the upload is
    // multipart (8 MiB parts).
    let s = Scratch::with_migrations(&example_migrations());
    s.conn()
        .execute_batch(
            "CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO blobs SELECT i, randomblob(4000) FROM n;",
        )
        .unwrap();
    let faulty = Faulty::start(moto.port, 200, 0xbac0);
    // Four backups through the storm (each process a new set of connections), the rows
    // changing between them.
    let mut ids = Vec::new();
    for round in 0..4 {
        s.conn()
            .execute(
                "UPDATE blobs SET b = randomblob(4000) WHERE id % 4 = ?1",
                [round],
            )
            .unwrap();
        let created = migrate(&s, &faulty.endpoint, url, &["backup", "create", "--json"]).expect(0);
        ids.push(created.json()["id"].as_str().unwrap().to_owned());
    }
    let faults = faulty.refused.load(std::sync::atomic::Ordering::SeqCst)
        + faulty.dropped.load(std::sync::atomic::Ordering::SeqCst);
    assert!(faults > 0, "the proxy injected nothing");
    // Straight to moto: each backup and its manifest, nothing partial or staged, and each
    // object reads back as the file here and verifies.
    let mut keys = moto.keys("belay");
    keys.sort();
    let mut expected: Vec<String> = ids
        .iter()
        .flat_map(|id| {
            [
                format!("storm/backups/{id}.db"),
                format!("storm/backups/{id}.json"),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    for id in &ids {
        let stored = moto
            .get("belay", &format!("storm/backups/{id}.db"))
            .unwrap();
        assert!(stored == std::fs::read(backups(&s).join(format!("{id}.db"))).unwrap());
    }
    std::fs::remove_dir_all(backups(&s)).unwrap();
    migrate(&s, &moto.endpoint, url, &["backup", "verify", &ids[0]]).expect(0);
    println!(
        "remote backup: {} connection(s) answered 503 and {} dropped over 4 multipart pushes; each backup arrived whole",
        faulty.refused.load(std::sync::atomic::Ordering::SeqCst),
        faulty.dropped.load(std::sync::atomic::Ordering::SeqCst)
    );
}

#[test]
fn the_watchman_copies_each_scheduled_backup_and_says_when_it_cannot() {
    let moto = Moto::start();
    moto.bucket("belay");
    let s = app();
    let watch = |bucket: &str| {
        let config = s.dir.path().join(format!("{bucket}.toml"));
        std::fs::write(
            &config,
            format!("[backup]\nurl = \"s3://{bucket}/w\"\n\n[watch]\nbackup = \"1h\"\n"),
        )
        .unwrap();
        let config = config.to_str().unwrap();
        with_store(
            &s,
            &moto.endpoint,
            &["--config", config, "--json", "watch", "--once"],
        )
    };
    let done = watch("belay").expect(0);
    let line = done
        .stdout
        .lines()
        .find(|l| l.contains("\"backup\""))
        .unwrap_or_else(|| panic!("no backup task in {}", done.stdout));
    assert!(line.contains("copied to s3://belay/w"), "{line}");
    let keys = moto.keys("belay");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("w/backups/")), "{keys:?}");
    // The store refuses: the scheduled backup stands here, the task fails, health says why.
    // (The watchman's state goes, so that the hourly backup is due again.)
    std::fs::remove_file(backups(&s).join("watch-state.json")).unwrap();
    let failed = watch("no-such-bucket").expect(8);
    assert!(
        failed
            .stdout
            .contains("but copying it to s3://no-such-bucket/w failed"),
        "{}",
        failed.stdout
    );
    assert_eq!(
        std::fs::read_dir(backups(&s))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("-scheduled.json"))
            .count(),
        2
    );
}

#[test]
fn the_archive_goes_off_the_machine_and_restore_at_reads_it_back_exactly() {
    let moto = Moto::start();
    moto.bucket("belay");
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    s.conn()
        .execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        )
        .unwrap();
    let config = s.dir.path().join("migrate.toml");
    std::fs::write(
        &config,
        "[backup]\nurl = \"s3://belay/pitr\"\n\n[archive]\ncheckpoint_bytes = \"64KiB\"\n",
    )
    .unwrap();
    let archive = |args: &[&str]| {
        let config = config.to_str().unwrap();
        with_store(&s, &moto.endpoint, &[&["--config", config], args].concat())
    };
    // Six commits, each archived and copied off the machine before the next; the moment after
    // each is noted once its round returned.
    let conn = s.conn();
    let mut moments = Vec::new();
    for k in 1..=6i64 {
        conn.execute(
            "INSERT INTO notes(id, body) VALUES (?1, ?2)",
            rusqlite::params![k, "n".repeat(3000)],
        )
        .unwrap();
        let round = archive(&["--json", "archive", "run", "--once"]).expect(0);
        assert!(round.stdout.contains("\"offsite\""), "{}", round.stdout);
        std::thread::sleep(std::time::Duration::from_millis(30));
        moments.push((k, belay_migrate::guard::vocab::clock::now_rfc3339()));
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    drop(conn);
    let keys = moto.keys("belay");
    assert!(
        keys.iter().any(|k| k == "pitr/archive/archive.json"),
        "{keys:?}"
    );
    assert!(keys.iter().any(|k| k.ends_with("/base.db.zst")), "{keys:?}");
    assert!(
        keys.iter().all(|k| k.starts_with("pitr/archive/")),
        "{keys:?}"
    );

    // The disk that held the archive is gone: each moment comes back from the store, with
    // exactly the rows committed by then.
    std::fs::remove_dir_all(s.db().with_extension("db.archive")).unwrap();
    for (k, at) in &moments {
        let to = s.dir.path().join(format!("at-{k}.db"));
        let restored = archive(&["restore", "--at", at, "--to", to.to_str().unwrap()]).expect(0);
        assert!(
            restored
                .stderr
                .contains("reading the archive in s3://belay/pitr"),
            "{}",
            restored.stderr
        );
        let ids: Vec<i64> = rusqlite::Connection::open(&to)
            .unwrap()
            .prepare("SELECT id FROM notes ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ids, (1..=*k).collect::<Vec<_>>(), "at {at}");
    }
    // Over another database naming the same store: its archive is not restored there.
    let other = s.dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE mine(x);")
        .unwrap();
    let (_, at) = moments.last().unwrap();
    let mut cmd = migrate_command();
    cmd.arg("--db")
        .arg(&other)
        .arg("--config")
        .arg(&config)
        .args(["restore", "--at", at, "--yes"]);
    aws(&mut cmd, &moto.endpoint);
    let refused = Run::from(cmd.output().unwrap()).expect(2);
    assert!(refused.stderr.contains("is of"), "{}", refused.stderr);
    // An index line in the store that is not one: named, and a time after the last point the
    // copy can prove is refused rather than taken for that point.
    let newest = keys
        .iter()
        .filter_map(|k| {
            k.strip_prefix("pitr/archive/")?
                .split_once('/')
                .map(|(g, _)| g)
        })
        .filter(|g| g.starts_with("gen-"))
        .max()
        .unwrap()
        .to_owned();
    moto.put(
        "belay",
        &format!("pitr/archive/{newest}/index/9999999999999990-9999999999999991.json"),
        b"not an index line",
    );
    let to = s.dir.path().join("beyond.db");
    let refused = archive(&["restore", "--at", at, "--to", to.to_str().unwrap()]).expect(2);
    assert!(
        refused.stderr.contains("warning: in s3://belay/pitr")
            && refused.stderr.contains("proves points only up to"),
        "{}",
        refused.stderr
    );
}

/// How long after its COMMIT a commit is surely seen by an archiver of 50 ms rounds (each
/// round also copies to the store; two seconds allow for a loaded machine).
const SEEN_WITHIN_MS: i64 = 2000;

#[test]
fn beside_a_live_writer_each_moment_from_the_store_holds_what_was_committed_by_then() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let moto = Moto::start();
    moto.bucket("belay");
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    s.conn()
        .execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        )
        .unwrap();
    let config = s.dir.path().join("migrate.toml");
    std::fs::write(
        &config,
        "[backup]\nurl = \"s3://belay/live\"\n\n[archive]\ncheckpoint_bytes = \"128KiB\"\n\n[watch]\narchive = \"50ms\"\n",
    )
    .unwrap();
    let mut cmd = migrate_command();
    cmd.arg("--db")
        .arg(s.db())
        .arg("--config")
        .arg(&config)
        .args(["archive", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    aws(&mut cmd, &moto.endpoint);
    let archiver = cmd.spawn().unwrap();
    // The writer: each row's time before its INSERT and after its COMMIT returned (ms).
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<(i64, i64, i64)>>> = Arc::default();
    let writer = {
        let (stop, log, db) = (stop.clone(), log.clone(), s.db());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            let now = belay_migrate::guard::vocab::clock::unix_millis_now;
            let mut id = 0i64;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                let started = now();
                conn.execute(
                    "INSERT INTO notes(id, body) VALUES (?1, ?2)",
                    rusqlite::params![id, "x".repeat((id as usize * 37) % 900)],
                )
                .unwrap();
                log.lock().unwrap().push((id, started, now()));
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(6000));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // Every commit archived and copied before the archiver stops.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&archiver),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let stopped = archiver.wait_with_output().unwrap();
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    let log = Arc::try_unwrap(log).unwrap().into_inner().unwrap();
    assert!(log.len() > 100, "the writer committed {} rows", log.len());
    std::fs::remove_dir_all(s.db().with_extension("db.archive")).unwrap();
    // Moments spread over the writes: restored from the store alone, each holds no row begun
    // after it, and every row acknowledged a round before it (a point's time is when the
    // archiver saw the commit: at most one 50 ms interval and a round after its COMMIT,
    // docs/pitr.md; see SEEN_WITHIN_MS).
    let (first, last) = (log[0].2, log[log.len() - 1].1);
    let mut previous = 0;
    for n in 1..=8 {
        let at_ms = first + (last - first) * n / 9;
        let at = belay_migrate::guard::vocab::clock::format_unix_millis(at_ms);
        let to = s.dir.path().join(format!("live-{n}.db"));
        let config = config.to_str().unwrap();
        with_store(
            &s,
            &moto.endpoint,
            &[
                "--config",
                config,
                "restore",
                "--at",
                &at,
                "--to",
                to.to_str().unwrap(),
            ],
        )
        .expect(0);
        let ids: Vec<i64> = rusqlite::Connection::open(&to)
            .unwrap()
            .prepare("SELECT id FROM notes ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let k = ids.len() as i64;
        assert!(
            ids.iter().enumerate().all(|(i, &id)| id == i as i64 + 1),
            "at {at}: not a prefix of the commits"
        );
        let acked = log
            .iter()
            .filter(|(_, _, done)| *done + SEEN_WITHIN_MS <= at_ms)
            .count() as i64;
        let begun = log.iter().filter(|(_, began, _)| *began <= at_ms).count() as i64;
        assert!(
            (acked..=begun).contains(&k),
            "at {at}: {k} rows; {acked} were acknowledged {SEEN_WITHIN_MS} ms before and {begun} begun by then"
        );
        assert!(k >= previous, "at {at}: went back from {previous} to {k}");
        previous = k;
    }
}

#[test]
fn the_commands_say_what_the_store_did_and_what_it_could_not() {
    let moto = Moto::start();
    moto.bucket("belay");
    let url = "s3://belay/app";
    let nowhere = "s3://no-such-bucket/app";
    let s = app();
    // `push` needs a store.
    let usage = s.migrate(&["backup", "push"]).expect(2);
    assert!(usage.stderr.contains("--backup-url"), "{}", usage.stderr);
    // A store that refuses: `create` keeps the backup here and fails, naming it.
    let failed = migrate(&s, &moto.endpoint, nowhere, &["backup", "create"]).expect(1);
    assert!(
        failed.stderr.contains("was created in"),
        "{}",
        failed.stderr
    );
    let local = s.migrate(&["backup", "list", "--json"]).expect(0).json()["backups"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // `verify` of a backup here while the store cannot be read: verified here, and said.
    let verified = migrate(&s, &moto.endpoint, nowhere, &["backup", "verify", &local]).expect(0);
    assert!(
        verified.stderr.contains("could not be read"),
        "{}",
        verified.stderr
    );
    // An id in neither place: both named.
    let missing = migrate(
        &s,
        &moto.endpoint,
        url,
        &["restore", "20200101T000000000Z-manual", "--to", "x.db"],
    )
    .expect(2);
    assert!(
        missing.stderr.contains("s3://belay/app/backups"),
        "{}",
        missing.stderr
    );
    // Everything here goes to the store; a manifest there that is not one is named by `list`.
    migrate(&s, &moto.endpoint, url, &["backup", "push"]).expect(0);
    moto.put(
        "belay",
        "app/backups/20200101T000000000Z-manual.json",
        b"{not a manifest",
    );
    let listed = migrate(&s, &moto.endpoint, url, &["backup", "list"]).expect(0);
    assert!(
        listed.stdout.contains("in s3://belay/app:"),
        "{}",
        listed.stdout
    );
    assert!(listed.stderr.contains("is not used"), "{}", listed.stderr);
    // A run whose rotation keeps one pre-migrate backup: the older ones go from the store too,
    // once the new one is there.
    let before: Vec<String> = moto.keys("belay");
    let config = s.dir.path().join("keep.toml");
    std::fs::write(
        &config,
        "[backup]\nkeep_last = 1\nkeep_daily = 0\nkeep_weekly = 0\n",
    )
    .unwrap();
    let up = migrate(
        &s,
        &moto.endpoint,
        url,
        &["--config", config.to_str().unwrap(), "up"],
    )
    .expect(0);
    assert!(up.stdout.contains("copied backup"), "{}", up.stdout);
    let after: Vec<String> = moto.keys("belay");
    let gone: Vec<&String> = before.iter().filter(|k| !after.contains(k)).collect();
    assert!(
        !gone.is_empty() && gone.iter().all(|k| k.contains("-pre-migrate.")),
        "{gone:?}"
    );
    // `prune` in text names what went from the store.
    let pruned = migrate(
        &s,
        &moto.endpoint,
        url,
        &[
            "backup",
            "prune",
            "--keep-last",
            "1",
            "--keep-daily",
            "0",
            "--keep-weekly",
            "0",
        ],
    )
    .expect(0);
    assert!(
        pruned.stdout.contains("backup(s) in s3://belay/app"),
        "{}",
        pruned.stdout
    );
}

#[test]
fn the_watchman_copies_the_archive_and_says_when_it_cannot() {
    let moto = Moto::start();
    moto.bucket("belay");
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    s.conn()
        .execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
             INSERT INTO notes(body) VALUES ('one');",
        )
        .unwrap();
    let watch = |bucket: &str| {
        let config = s.dir.path().join(format!("{bucket}.toml"));
        std::fs::write(
            &config,
            format!(
                "[backup]\nurl = \"s3://{bucket}/w\"\n\n[archive]\n\n[watch]\narchive = \"1s\"\n"
            ),
        )
        .unwrap();
        let config = config.to_str().unwrap();
        with_store(
            &s,
            &moto.endpoint,
            &["--config", config, "--json", "watch", "--once"],
        )
    };
    let done = watch("belay");
    assert!(
        done.stdout.contains("object(s) copied to s3://belay/w"),
        "{}\n{}",
        done.stdout,
        done.stderr
    );
    assert!(
        moto.keys("belay")
            .iter()
            .any(|k| k == "w/archive/archive.json")
    );
    s.conn()
        .execute("INSERT INTO notes(body) VALUES ('two')", [])
        .unwrap();
    // (The watchman's state goes, so that the archive task is due again at once.)
    std::fs::remove_file(s.db().with_extension("db.backups").join("watch-state.json")).unwrap();
    let refused = watch("no-such-bucket");
    assert!(
        refused
            .stdout
            .contains("copying the archive to s3://no-such-bucket/w failed"),
        "{}\n{}",
        refused.stdout,
        refused.stderr
    );
}
