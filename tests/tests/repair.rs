//! `migrate repair`: a dry run changes nothing; each rung of the ladder does its job and says
//! what it did; the damaged file is kept; lost rows are reported.

use migrate_tests::corrupt::{self, Kind, Rng};
use migrate_tests::{Scratch, count, sibling};

/// The campaign database in a scratch directory, with a backup taken of it.
fn sample(s: &Scratch) {
    corrupt::create_sample(&s.db());
    s.migrate(&["-q", "backup", "create"]).expect(0);
}

#[test]
fn a_healthy_database_needs_nothing() {
    let s = Scratch::new();
    sample(&s);
    let run = s.migrate(&["repair"]).expect(0);
    assert!(run.stdout.starts_with("ok:"), "{}", run.stdout);
}

#[test]
fn dry_run_plans_and_changes_nothing() {
    let s = Scratch::new();
    sample(&s);
    let truth = corrupt::truth(&s.db());
    corrupt::inject(Kind::OrphanedForeignKeys, &s.db(), &truth, &mut Rng::new(3));
    let before = std::fs::read(s.db()).unwrap();
    let run = s.migrate(&["repair", "--dry-run"]).expect(6);
    assert!(run.stdout.contains("would: quarantine"), "{}", run.stdout);
    assert_eq!(std::fs::read(s.db()).unwrap(), before);
    let doc = s
        .migrate(&["--json", "repair", "--dry-run"])
        .expect(6)
        .json();
    assert_eq!(doc["mode"], "dry_run");
    assert_eq!(doc["planned"]["first"][0], "quarantine");
}

#[test]
fn orphans_move_to_quarantine_and_nothing_is_deleted() {
    let s = Scratch::new();
    sample(&s);
    let truth = corrupt::truth(&s.db());
    let orders = count(&s.conn(), "SELECT count(*) FROM orders");
    corrupt::inject(Kind::OrphanedForeignKeys, &s.db(), &truth, &mut Rng::new(5));
    let run = s.migrate(&["repair"]).expect(0);
    assert!(
        run.stdout.contains("1. quarantine: moved"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("rows that could not be saved: 0\n"));
    let conn = s.conn();
    let kept = count(&conn, "SELECT count(*) FROM orders");
    let held = count(&conn, "SELECT count(*) FROM _migrate_quarantine_orders");
    assert!(held > 0);
    assert_eq!(kept + held, orders);
    s.migrate(&["check", "--full"]).expect(0);
}

#[test]
fn a_unique_index_with_duplicates_is_rebuilt_after_quarantining_them() {
    let s = Scratch::new();
    sample(&s);
    let truth = corrupt::truth(&s.db());
    corrupt::inject(Kind::UniqueDuplicates, &s.db(), &truth, &mut Rng::new(9));
    let run = s.migrate(&["repair"]).expect(0);
    assert!(
        run.stdout.contains("1. reindex: rebuilt index(es)"),
        "{}",
        run.stdout
    );
    assert_eq!(corrupt::truth(&s.db()), truth);
    assert!(
        count(
            &s.conn(),
            "SELECT count(*) FROM _migrate_quarantine_customers"
        ) > 0
    );
}

#[test]
fn a_zeroed_page_is_rebuilt_around_and_its_rows_fetched_from_the_backup() {
    let s = Scratch::new();
    sample(&s);
    let truth = corrupt::truth(&s.db());
    // A leaf page of `orders` zeroed.
    let page = corrupt::pages(&s.db(), &["orders"], "leaf")[10];
    let size = 4096;
    let mut bytes = std::fs::read(s.db()).unwrap();
    bytes[(page - 1) * size..page * size].fill(0);
    std::fs::write(s.db(), bytes).unwrap();
    s.migrate(&["check"]).expect(6);
    let run = s.migrate(&["repair"]).expect(0);
    assert!(
        run.stdout.contains("rebuild: rebuilt into a fresh file"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("restored at their value of"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("kept a copy of the damaged database"));
    assert_eq!(corrupt::truth(&s.db()), truth);
    let copies: Vec<_> = std::fs::read_dir(sibling(&s.db(), ".backups"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("damaged-"))
        .collect();
    assert_eq!(copies.len(), 1);
}

#[test]
fn without_a_backup_the_rows_that_could_not_be_saved_are_listed() {
    let s = Scratch::new();
    corrupt::create_sample(&s.db());
    let truth = corrupt::truth(&s.db());
    let page = corrupt::pages(&s.db(), &["orders"], "leaf")[10];
    let mut bytes = std::fs::read(s.db()).unwrap();
    bytes[(page - 1) * 4096..page * 4096].fill(0);
    std::fs::write(s.db(), bytes).unwrap();
    let doc = s.migrate(&["--json", "repair"]).expect(0).json();
    let lost: Vec<i64> = doc["lost"][0]["rowids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(doc["lost"][0]["table"], "orders");
    let now = corrupt::truth(&s.db());
    let missing: Vec<i64> = truth["orders"]
        .keys()
        .filter(|k| !now["orders"].contains_key(k))
        .copied()
        .collect();
    assert!(!missing.is_empty());
    assert_eq!(lost, missing, "every lost row is named, and only those");
    let text = s.migrate(&["repair"]).expect(0).stdout;
    assert!(text.starts_with("ok:"), "{text}");
}

#[test]
fn a_damaged_header_falls_back_to_the_latest_backup() {
    let s = Scratch::new();
    sample(&s);
    let truth = corrupt::truth(&s.db());
    let mut bytes = std::fs::read(s.db()).unwrap();
    bytes[..16].copy_from_slice(b"SQLite format 2\0");
    std::fs::write(s.db(), bytes).unwrap();
    let run = s.migrate(&["repair"]).expect(0);
    assert!(run.stdout.contains("rebuild: FAILED"), "{}", run.stdout);
    assert!(
        run.stdout.contains("restore-backup: restored backup"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("every change made after it is lost"));
    assert_eq!(corrupt::truth(&s.db()), truth);
}
