//! The differential campaign (tests/src/differential.rs): random damage judged by SQLite's own
//! `quick_check` and `integrity_check`. 25 cases per kind of damage in CI (200 in all);
//! `MIGRATE_DIFF_CASES=1250 cargo test --release -p migrate-tests --test differential --
//! --nocapture` (or `cargo run --release -p migrate-tests --example differential`) for 10,000.

use migrate_tests::differential;

#[test]
fn no_check_of_ours_calls_healthy_what_sqlite_calls_damaged_and_up_refuses_it_untouched() {
    let per_kind = std::env::var("MIGRATE_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let (cases, totals) = differential::run(per_kind, 3);
    println!("{}", differential::table(&totals));
    for c in &cases {
        assert!(
            c.missed.is_empty(),
            "{:?} seed {} ({}): SQLite calls it damaged, {:?} said ok",
            c.damage,
            c.seed,
            c.description,
            c.missed
        );
        assert!(
            c.up_refused_rightly(),
            "{:?} seed {} ({}): `up` on a damaged file: {:?}, unchecked {:?}",
            c.damage,
            c.seed,
            c.description,
            c.up,
            c.unchecked
        );
        if let Some(r) = &c.repair {
            assert_eq!(
                r.named, r.missing_or_changed,
                "{:?} seed {} ({}): rows missing or changed after the repair that its report does not name: {r:?}",
                c.damage, c.seed, c.description
            );
            assert!(!r.claimed_none_lost_wrongly, "{r:?}");
        }
    }
    // The campaign must exercise what it claims: most kinds damage most files.
    let damaged = cases.iter().filter(|c| c.sqlite_quick_damaged).count();
    assert!(
        damaged * 2 > cases.len(),
        "{damaged} of {} damaged",
        cases.len()
    );
    assert!(cases.iter().any(|c| c.repair.is_some()));
}
