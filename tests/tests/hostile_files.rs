//! Hostile and careless files around the database: edited manifests are data, never paths
//! (prune, verify and restore act only on files named by the id inside the backup directory,
//! and every field is checked against the others); bare relative paths work.

use migrate_tests::{Scratch, count, migrate_command};
use serde_json::Value;

/// A migrated database with two backups; returns their ids, oldest first.
fn with_backups() -> (Scratch, Vec<String>) {
    let s = Scratch::new();
    std::fs::create_dir_all(s.migrations()).unwrap();
    std::fs::write(
        s.migrations().join("0001_t.up.sql"),
        "CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);",
    )
    .unwrap();
    s.migrate(&["-q", "up"]).expect(0);
    let ids = (0..2)
        .map(|_| {
            let doc = s.migrate(&["--json", "backup", "create"]).expect(0).json();
            doc["id"].as_str().unwrap().to_owned()
        })
        .collect();
    (s, ids)
}

fn backups(s: &Scratch) -> std::path::PathBuf {
    belay_migrate::backup::default_dir(&s.db())
}

fn manifest(s: &Scratch, id: &str) -> Value {
    let text = std::fs::read_to_string(backups(s).join(format!("{id}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn write_manifest(s: &Scratch, name: &str, doc: &Value) {
    std::fs::write(
        backups(s).join(name),
        serde_json::to_string_pretty(doc).unwrap(),
    )
    .unwrap();
}

/// A manifest planted under a new id whose `file` names the audit journal, and one naming
/// `..`: prune deletes neither the journal nor anything outside the id's own files, keeps
/// working for the real backups, and says which manifests it left alone.
#[test]
fn prune_never_deletes_what_an_edited_manifest_names() {
    let (s, ids) = with_backups();
    let audit = belay_migrate::audit::path(&backups(&s));
    assert!(audit.exists());
    for (id, file) in [
        ("20200101T000000000Z-manual", "audit.jsonl"),
        ("20200101T000000001Z-manual", ".."),
    ] {
        let mut doc = manifest(&s, &ids[0]);
        doc["id"] = id.into();
        doc["created_at"] = "2020-01-01T00:00:00Z".into();
        doc["file"] = file.into();
        write_manifest(&s, &format!("{id}.json"), &doc);
    }
    let list = s.migrate(&["backup", "list"]).expect(0);
    assert!(
        list.stderr
            .contains("20200101T000000000Z-manual.json is not used"),
        "{}",
        list.stderr
    );
    assert!(list.stderr.contains("audit.jsonl"), "{}", list.stderr);
    let pruned = s
        .migrate(&["--json", "backup", "prune", "--keep-last", "1"])
        .expect(0)
        .json();
    assert_eq!(pruned["deleted"], serde_json::json!([ids[0]]));
    assert!(audit.exists(), "the audit journal was deleted");
    assert!(backups(&s).join(format!("{}.db.zst", ids[1])).exists());
}

/// Each field of a manifest changed on its own: `backup verify` and `restore` refuse the
/// backup (exit 6, naming what is wrong) and the database is untouched.
#[test]
fn verify_and_restore_refuse_a_manifest_whose_fields_disagree() {
    let (s, ids) = with_backups();
    let id = &ids[1];
    let original = manifest(&s, id);
    let page_size = original["page_size"].as_u64().unwrap();
    let edits: [(&str, Value); 6] = [
        (
            "page_count",
            (original["page_count"].as_u64().unwrap() + 1).into(),
        ),
        ("page_size", (page_size * 2).into()),
        (
            "byte_size",
            (original["byte_size"].as_u64().unwrap() + 1).into(),
        ),
        (
            "compressed_size",
            (original["compressed_size"].as_u64().unwrap() + 1).into(),
        ),
        ("sha256", "../../etc/passwd".into()),
        ("file", format!("{}.db", ids[0]).into()),
    ];
    for (field, value) in edits {
        let mut doc = original.clone();
        doc[field] = value;
        // Keep the sizes consistent with each other where the edit is the page size, so that
        // the image's own header is what disagrees.
        if field == "page_size" {
            doc["page_count"] = (original["page_count"].as_u64().unwrap() / 2).into();
        }
        write_manifest(&s, &format!("{id}.json"), &doc);
        let verify = s.migrate(&["backup", "verify", id]);
        assert_eq!(verify.code, 6, "{field}: {}", verify.stderr);
        let restore = s.migrate(&["restore", id, "--yes"]);
        assert_eq!(restore.code, 6, "{field}: {}", restore.stderr);
        assert_eq!(count(&s.conn(), "SELECT count(*) FROM t"), 2, "{field}");
    }
    write_manifest(&s, &format!("{id}.json"), &original);
    s.migrate(&["backup", "verify", id]).expect(0);
}

/// `restore latest --to out.db` from inside the database's directory: a bare relative name,
/// whose parent is the empty path, is published and its directory synced.
#[test]
fn a_bare_relative_target_is_published() {
    let (s, _) = with_backups();
    let dir = s.db().parent().unwrap().to_path_buf();
    let run = migrate_command()
        .current_dir(&dir)
        .args(["--db", "app.db", "restore", "latest", "--to", "out.db"])
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = rusqlite::Connection::open(dir.join("out.db")).unwrap();
    assert_eq!(count(&out, "SELECT count(*) FROM t"), 2);
}

/// A pending migration on a database with data: what an attacker's planted files wait for.
fn pending_run() -> Scratch {
    let (s, _) = with_backups();
    std::fs::write(s.migrations().join("0002_u.up.sql"), "CREATE TABLE u (x);").unwrap();
    s
}

/// The reproduction: the lock file a symbolic link to one file, the audit journal a
/// link to another, the backup directory writable by everyone. Each is refused by name before
/// anything is written through it; the files the links point to are untouched; the database
/// is not migrated.
#[test]
fn planted_links_and_a_shared_backup_directory_are_refused() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let victim = |s: &Scratch, name: &str| {
        let path = s.db().parent().unwrap().join(name);
        std::fs::write(&path, "precious\n").unwrap();
        path
    };
    let check = |s: &Scratch, planted: &std::path::Path, what: &str| {
        let run = s.migrate(&["up"]);
        assert_eq!(run.code, 1, "{what}: {}", run.stderr);
        assert!(
            run.stderr.contains(&planted.display().to_string()),
            "{what}: {}",
            run.stderr
        );
        assert_eq!(
            count(
                &s.conn(),
                "SELECT count(*) FROM sqlite_schema WHERE name = 'u'"
            ),
            0,
            "{what}: migrated anyway"
        );
    };

    let s = pending_run();
    let target = victim(&s, "target-of-lock");
    let lock = belay_migrate::lock::lock_path(&s.db());
    let _ = std::fs::remove_file(&lock);
    symlink(&target, &lock).unwrap();
    check(&s, &lock, "lock");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");

    let s = pending_run();
    let target = victim(&s, "target-of-journal");
    let audit = belay_migrate::audit::path(&backups(&s));
    std::fs::remove_file(&audit).unwrap();
    symlink(&target, &audit).unwrap();
    let run = s.migrate(&["up"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");

    let s = pending_run();
    std::fs::set_permissions(backups(&s), std::fs::Permissions::from_mode(0o777)).unwrap();
    check(&s, &backups(&s), "backup directory");
    assert!(
        s.migrate(&["up"]).stderr.contains("writable by everyone"),
        "the reason is said"
    );
}

/// A `backup create` killed part-way leaves its staging file; the next `backup list` removes it
/// (once it has been left alone for a while) and says so, and a later backup is unaffected.
#[test]
fn a_killed_backups_staging_file_is_removed_by_the_next_list() {
    let (s, _) = with_backups();
    s.conn()
        .execute_batch(
            "CREATE TABLE big (x);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)
             INSERT INTO big SELECT randomblob(16) FROM c;",
        )
        .unwrap();
    let dir = backups(&s);
    let staging = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            // Compressed or, as the sample of these random bytes decides, plain.
            .find(|p| {
                let name = p.to_string_lossy();
                name.ends_with(".db.zst.tmp") || name.ends_with(".db.tmp")
            })
    };
    let mut child = migrate_command()
        .arg("--db")
        .arg(s.db())
        .args(["backup", "create"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let leftover = loop {
        if let Some(p) = staging() {
            break p;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup finished first"
        );
        assert!(started.elapsed().as_secs() < 60);
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(leftover.exists());
    // Left alone for a minute, as a stopped process's file is.
    std::fs::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        .unwrap();
    let list = s.migrate(&["backup", "list"]).expect(0);
    assert!(
        list.stderr
            .contains("removed 1 leftover file(s) of stopped processes"),
        "{}",
        list.stderr
    );
    assert!(!leftover.exists());
    s.migrate(&["backup", "create"]).expect(0);
}

/// A rehearsal's scratch copy holds all the data: it is readable by its owner only, like the
/// backups beside it (it was 0644).
#[test]
fn a_rehearsals_scratch_copy_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (s, _) = with_backups();
    std::fs::write(
        s.migrations().join("0002_slow.up.sql"),
        "CREATE TABLE slow (x);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)
         INSERT INTO slow SELECT x FROM c;",
    )
    .unwrap();
    let mut child = migrate_command()
        .arg("--db")
        .arg(s.db())
        .arg("--migrations")
        .arg(s.migrations())
        .args(["up", "--rehearse"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let mode = loop {
        let found = std::fs::read_dir(backups(&s)).unwrap().flatten().find(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(".rehearsal-") && n.ends_with(".db")
        });
        if let Some(Ok(meta)) = found.map(|e| e.metadata()) {
            break meta.permissions().mode();
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the rehearsal ended first"
        );
        assert!(started.elapsed().as_secs() < 60);
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(mode & 0o077, 0, "mode {:o}", mode & 0o777);
}

/// A link planted as the run marker is neither read through nor followed: the run stops
/// naming it, and the file it points to is untouched.
#[test]
fn a_planted_marker_link_is_not_read_through() {
    let s = pending_run();
    let target = s.db().parent().unwrap().join("target-of-marker");
    std::fs::write(&target, "{\"secret\": true}\n").unwrap();
    let marker = belay_migrate::marker::path(&s.db());
    std::os::unix::fs::symlink(&target, &marker).unwrap();
    let run = s.migrate(&["up"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&marker.display().to_string()),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "{\"secret\": true}\n"
    );
}
