//! The audit journal under concurrent appends: many threads appending while the journal
//! cannot be written (their lines go to the spool) and after it can again (the spool is
//! replayed): every line reaches the journal exactly once, each whole, each thread's in order.

use std::collections::HashMap;
use std::time::Duration;

use belay_guard::files::{journal, spool};

#[test]
fn concurrent_appends_through_a_blocked_then_free_journal_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let spool = spool::path(&dir.path().join("app.db"));
    // The journal's place is taken by a directory: appends fail and spool.
    std::fs::create_dir_all(journal::path(&backups)).unwrap();
    let (threads, each) = (6u32, 40u32);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (backups, spool) = (&backups, &spool);
            s.spawn(move || {
                for n in 0..each {
                    journal::append_or_spool(backups, spool, &serde_json::json!({"t": t, "n": n}))
                        .unwrap();
                }
            });
        }
        std::thread::sleep(Duration::from_millis(150));
        std::fs::remove_dir(journal::path(&backups)).unwrap();
    });
    journal::append_or_spool(&backups, &spool, &serde_json::json!({"t": "last"})).unwrap();
    assert!(spool::waiting(&spool).unwrap().is_empty());
    let text = std::fs::read_to_string(journal::path(&backups)).unwrap();
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut lines = 0;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        lines += 1;
        let Some(t) = v["t"].as_u64() else { continue };
        let n = v["n"].as_u64().unwrap();
        let expected = next.entry(t).or_insert(0);
        assert_eq!(
            n, *expected,
            "thread {t}: out of order or repeated in\n{text}"
        );
        *expected += 1;
    }
    assert_eq!(lines, threads * each + 1, "{text}");
    assert!(next.values().all(|n| *n == u64::from(each)));
}

#[test]
fn a_torn_last_line_is_ended_before_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(journal::path(&backups), "{\"whole\":1}\n{\"torn\":").unwrap();
    let spool = spool::path(&dir.path().join("app.db"));
    journal::append_or_spool(&backups, &spool, &serde_json::json!({"next": 2})).unwrap();
    let text = std::fs::read_to_string(journal::path(&backups)).unwrap();
    assert_eq!(text, "{\"whole\":1}\n{\"torn\":\n{\"next\":2}\n");
}
