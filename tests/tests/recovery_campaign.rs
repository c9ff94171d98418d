//! The recovery campaign (tests/src/recovery.rs): processes killed inside their writes (an
//! application, and our own `up`, `down`, `restore`, `repair`, `baseline`) in both journal
//! modes, the file then writable or read-only; an EXCLUSIVE-mode holder; a WAL database in a
//! read-only directory. SQLite's verdict after its own recovery is the oracle. One seed per
//! combination in CI (27 cases); `MIGRATE_RECOVERY_CASES=20 cargo test --release -p
//! migrate-tests --test recovery_campaign -- --nocapture` for 540.

use migrate_tests::recovery;

#[test]
fn what_a_killed_process_leaves_is_recovery_never_damage() {
    let per_combination = std::env::var("MIGRATE_RECOVERY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (cases, totals) = recovery::run(per_combination);
    println!("{}", recovery::table(&totals));
    let broken: Vec<String> = cases
        .iter()
        .filter(|c| !c.violations.is_empty())
        .map(|c| {
            format!(
                "{:?} {:?} {:?} seed {} ({}): {}",
                c.kind,
                c.journal,
                c.access,
                c.seed,
                c.description,
                c.violations.join("; ")
            )
        })
        .collect();
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    // The campaign must exercise what it claims: kills that left something to recover, read
    // by a user who could not, and a lock seen as a lock.
    assert!(
        cases
            .iter()
            .any(|c| c.obstacle.as_deref() == Some("recovery_pending")),
        "no case left a recovery pending for a reader who may not write"
    );
    assert!(
        cases
            .iter()
            .any(|c| c.obstacle.as_deref() == Some("locked"))
    );
}
