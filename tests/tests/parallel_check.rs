//! The full check split over parallel connections finds what SQLite's one-statement
//! `integrity_check` finds: every kind of injected damage, no false findings on schemas the
//! pieces cannot express in SQL (collations, partial and expression indexes, WITHOUT ROWID, a
//! column named `rowid`), and the CLI's `--jobs`.

use std::path::Path;

use belay_migrate::integrity::{self, Depth, FindingKind, ForeignKeys, Options, Report};
use migrate_tests::Scratch;
use migrate_tests::corrupt::{self, Kind, Rng};

fn full(db: &Path, workers: usize) -> Report {
    at(db, Depth::Full, workers)
}

fn at(db: &Path, depth: Depth, workers: usize) -> Report {
    integrity::check(
        db,
        &Options {
            workers,
            ..Options::new(depth)
        },
    )
    .unwrap()
}

/// The run's pre-flight: the file's structure on two connections, foreign keys left out.
fn structure(db: &Path) -> Report {
    integrity::check(
        db,
        &Options {
            workers: 2,
            foreign_keys: ForeignKeys::Skipped,
            ..Options::new(Depth::Quick)
        },
    )
    .unwrap()
}

/// The foreign-key findings of a report, in order.
fn orphans(r: &Report) -> Vec<String> {
    let mut found: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::ForeignKey)
        .map(|f| f.message.clone())
        .collect();
    found.sort();
    found
}

#[test]
fn every_kind_of_damage_is_found_by_both_checks_alike() {
    let seeds: u64 = std::env::var("MIGRATE_PARALLEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let template = tempfile::tempdir().unwrap();
    let sample = template.path().join("sample.db");
    corrupt::create_sample(&sample);
    let truth = corrupt::truth(&sample);
    let mut damaged = 0;
    for kind in Kind::ALL {
        for seed in 0..seeds {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("app.db");
            std::fs::copy(&sample, &db).unwrap();
            let mut rng = Rng::new(seed * 7919 + kind as u64);
            let (description, _) = corrupt::inject(kind, &db, &truth, &mut rng);
            let one = full(&db, 1);
            let three = full(&db, 3);
            assert_eq!(three.workers, 3);
            assert_eq!(
                one.ok,
                three.ok,
                "{} (seed {seed}): {description}\nsequential: {:#?}\nparallel: {:#?}",
                kind.name(),
                one.findings,
                three.findings
            );
            if !one.ok {
                damaged += 1;
            }
            let index_objects = |r: &Report| {
                let mut objects: Vec<String> = r
                    .findings
                    .iter()
                    .filter(|f| f.kind == FindingKind::Index)
                    .filter_map(|f| f.object.clone())
                    .collect();
                objects.sort();
                objects.dedup();
                objects
            };
            let quick = (at(&db, Depth::Quick, 1), at(&db, Depth::Quick, 2));
            assert_eq!(quick.0.ok, quick.1.ok, "{description}");
            assert_eq!(orphans(&quick.0), orphans(&quick.1), "{description}");
            assert_eq!(orphans(&one), orphans(&three), "{description}");
            if kind == Kind::OrphanedForeignKeys {
                assert!(!orphans(&quick.1).is_empty(), "{description}");
            }
            // Without its foreign keys the check still finds all the damage, and only that.
            let structure = structure(&db);
            assert!(orphans(&structure).is_empty(), "{description}");
            assert_eq!(structure.verdict, quick.1.verdict, "{description}");
            if orphans(&quick.1).len() == quick.1.findings.len() {
                assert!(structure.ok, "{description}: {:#?}", structure.findings);
            }
            if matches!(kind, Kind::IndexMissing | Kind::UniqueDuplicates) {
                assert_eq!(index_objects(&one), index_objects(&three), "{description}");
            }
        }
    }
    assert!(
        damaged as u64 >= 6 * seeds,
        "only {damaged} trials were damaged"
    );
}

/// A schema with what the range pieces handle (a NOCASE index, a UNIQUE pair) and what they
/// leave to `integrity_check(T)` (partial and expression indexes, WITHOUT ROWID, a `rowid`
/// column, a virtual table's shadow tables).
fn varied(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE, city TEXT, age INT);
         CREATE INDEX people_name ON people (name);
         CREATE INDEX people_city_bin ON people (city COLLATE BINARY, age DESC);
         CREATE UNIQUE INDEX people_pair ON people (name, city);
         CREATE TABLE members (id INTEGER PRIMARY KEY, age INT);
         CREATE INDEX members_adults ON members (age) WHERE age >= 18;
         CREATE TABLE tags (tag TEXT PRIMARY KEY, n INT) WITHOUT ROWID;
         CREATE TABLE odd (rowid TEXT, v INT);
         CREATE INDEX odd_lower ON odd (lower(rowid));
         CREATE TABLE blank (x);
         CREATE TABLE nulls (a, b);
         CREATE UNIQUE INDEX nulls_ab ON nulls (a, b);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000)
           INSERT INTO people SELECT x, CASE x % 3 WHEN 0 THEN 'Ann' || x WHEN 1 THEN 'ann' || x ELSE NULL END,
                                     'city ' || (x % 17), x % 90 FROM n;
         INSERT INTO members SELECT id, age FROM people;
         INSERT INTO tags VALUES ('a', 1), ('b', 2);
         INSERT INTO odd VALUES ('X', 1), ('y', 2);
         INSERT INTO nulls VALUES (NULL, 1), (NULL, 1), (1, NULL), (1, NULL);",
    )
    .unwrap();
}

#[test]
fn a_varied_healthy_schema_passes_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("varied.db");
    varied(&db);
    let one = full(&db, 1);
    let two = full(&db, 2);
    assert!(one.ok, "{:#?}", one.findings);
    assert!(two.ok, "{:#?}", two.findings);
}

#[test]
fn entries_missing_from_a_nocase_index_are_found_on_that_index() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("varied.db");
    varied(&db);
    // The index's definition no longer matches its entries, as if entries were lost.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = replace(sql, 'people (name)', 'people (city)')
              WHERE name = 'people_name';",
        )
        .unwrap();
    for report in [full(&db, 1), full(&db, 2)] {
        assert!(!report.ok);
        assert!(
            report.findings.iter().all(|f| f.kind == FindingKind::Index
                && f.object.as_deref() == Some("people_name")
                && f.table.as_deref() == Some("people")),
            "{} workers: {:#?}",
            report.workers,
            report.findings
        );
    }
}

#[test]
fn the_cli_splits_a_full_check_with_jobs() {
    let s = Scratch::new();
    varied(&s.db());
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        let run = s
            .migrate(&["--json", "check", "--full", "--jobs", "2"])
            .expect(0);
        assert_eq!(run.json()["workers"], 2);
        let run = s.migrate(&["check", "--full", "--jobs", "2"]).expect(0);
        assert!(
            run.stdout.contains("a full check on 2 connections"),
            "{}",
            run.stdout
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let run = s
        .migrate(&["--json", "check", "--full", "--jobs", "0"])
        .expect(0);
    assert_eq!(run.json()["workers"].as_u64().unwrap(), cores);
    // More connections than cores only compete: capped at the core count.
    let run = s.migrate(&["--json", "check", "--jobs", "10000"]).expect(0);
    assert_eq!(run.json()["workers"].as_u64().unwrap(), cores);
}
