//! One JSON contract: with `--json`, every command, every error and every usage mistake prints
//! exactly one JSON object on stdout, whose first field is a boolean `ok` (false exactly when
//! the exit code is not 0); errors carry `kind`, `exit_code` and `message`.

use migrate_tests::{Scratch, example_migrations};

/// Runs `args` with `--json` and checks the document; returns it.
fn document(s: &Scratch, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = s.migrate(&all);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}):\n{}",
            run.stdout
        )
    });
    let object = doc
        .as_object()
        .unwrap_or_else(|| panic!("{args:?}: not an object: {doc}"));
    let first = run.stdout.trim_start().trim_start_matches('{').trim_start();
    assert!(
        first.starts_with("\"ok\":"),
        "{args:?}: `ok` is not the first field:\n{}",
        run.stdout
    );
    assert_eq!(
        object.get("ok").and_then(serde_json::Value::as_bool),
        Some(run.code == 0),
        "{args:?} (exit {}): {doc}",
        run.code
    );
    assert!(
        object.get("result").is_none(),
        "{args:?}: a bare result, not named for what it holds: {doc}"
    );
    if run.code != 0 {
        let error = &doc["error"];
        assert_eq!(error["exit_code"], run.code, "{args:?}: {doc}");
        assert!(
            error["kind"].is_string() && error["message"].is_string(),
            "{args:?}: {doc}"
        );
    }
    (run.code, doc)
}

#[test]
fn every_command_and_every_error_prints_one_object_with_ok() {
    let s = Scratch::with_migrations(&example_migrations());
    let dbs = s.db().display().to_string();
    let journal = s.dir.path().join("fleet.journal").display().to_string();
    let mut codes = Vec::new();
    for args in [
        &["status"][..],
        &["plan"],
        &["up", "--dry-run"],
        &["up", "--to", "4"],
        &["up"],
        &["down"],
        &["up"],
        &["verify"],
        &["history"],
        &["fix-checksums"],
        &["accept-drift"],
        &["check"],
        &["repair", "--dry-run"],
        &["backup", "create"],
        &["backup", "list"],
        &["backup", "verify", "latest"],
        &["backup", "prune", "--dry-run"],
        &["wal", "status"],
        &["wal", "checkpoint"],
        &["restore", "latest", "--yes"],
        &["fleet", "plan", "--dbs", &dbs],
        &["fleet", "up", "--dbs", &dbs, "--journal", &journal],
        &["fleet", "status", "--dbs", &dbs, "--journal", &journal],
        &["new", "next_change"],
        // Errors: refused, bad request, usage, unknown command, no such backup.
        &["baseline", "3"],
        &["adopt"],
        &["up", "--to", "99"],
        &["restore", "no-such-backup", "--yes"],
        &["up", "--bogus"],
        &["frobnicate"],
        &[
            "fleet",
            "up",
            "--dbs",
            "/nonexistent/*.db",
            "--journal",
            &journal,
        ],
    ] {
        let (code, _) = document(&s, args);
        codes.push((args.join(" "), code));
    }
    // The errors above are errors (so that their documents were checked as such).
    for (args, code) in &codes {
        let expected_failure = [
            "baseline",
            "adopt",
            "up --to 99",
            "restore no-such",
            "--bogus",
            "frobnicate",
            "/nonexistent",
        ]
        .iter()
        .any(|p| args.starts_with(p) || args.contains(p));
        assert_eq!(*code != 0, expected_failure, "{args}: exit {code}");
    }
}

#[test]
fn a_down_reports_when_each_migration_was_reverted_not_applied() {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up"]).expect(0);
    let (_, doc) = document(&s, &["down"]);
    let step = &doc["steps"][0];
    assert!(step["finished_at"].is_string(), "{doc}");
    assert!(step.get("applied_at").is_none(), "{doc}");
}

/// A run refused for several problems lists each, in the text with the flag that allows it
/// and in the JSON error as `problems`.
#[test]
fn a_refusal_lists_every_problem_in_text_and_json() {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up", "--to", "5"]).expect(0);
    let first = std::fs::read_dir(s.migrations())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("0001_create_users.up.sql"))
        .unwrap();
    std::fs::write(
        &first,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, edited);\n",
    )
    .unwrap();
    for entry in std::fs::read_dir(s.migrations()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("0002_")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let text = s.migrate(&["up"]).expect(4);
    assert!(text.stderr.contains("refused: \n  - "), "{}", text.stderr);
    assert!(
        text.stderr.contains("--allow-changed") && text.stderr.contains("--allow-missing"),
        "{}",
        text.stderr
    );
    let (code, doc) = document(&s, &["up"]);
    assert_eq!(code, 4);
    assert_eq!(doc["error"]["kind"], "refused", "{doc}");
    let problems = doc["error"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{doc}");
}

/// An adoption refused because the other tool's record disagrees with the files lists each
/// disagreement as `problems` in the JSON error, and records nothing.
#[test]
fn a_refused_adoption_lists_its_problems_in_json() {
    let s = Scratch::with_migrations(&example_migrations());
    s.conn()
        .execute_batch(
            "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')));
             INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (1, 1), (42, 1);",
        )
        .unwrap();
    let (code, doc) = document(&s, &["adopt", "--from", "goose"]);
    assert_eq!(code, 4, "{doc}");
    let problems = doc["error"]["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p.as_str().unwrap().contains("42")),
        "{doc}"
    );
    let recorded: i64 = s
        .conn()
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE '_migrate%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, 0);
}
