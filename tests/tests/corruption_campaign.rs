//! The corruption campaign (tests/src/campaign.rs) with a small count per kind of damage in
//! CI; `MIGRATE_CAMPAIGN_TRIALS=100 cargo test -p migrate-tests --test corruption_campaign --
//! --nocapture` for the full run (or `cargo run --release -p migrate-tests --example campaign`).

use migrate_tests::campaign;

#[test]
fn every_observable_corruption_is_detected_and_repaired_without_silent_loss() {
    let trials = std::env::var("MIGRATE_CAMPAIGN_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let (all, totals) = campaign::run(trials);
    println!("{}", campaign::table(&totals));
    for t in &all {
        assert!(
            !t.observable || t.detected,
            "undetected: {:?} seed {}: {}",
            t.kind,
            t.seed,
            t.description
        );
        assert_eq!(
            t.silent, 0,
            "rows lost without being reported: {:?} seed {}: {} ({})",
            t.kind, t.seed, t.description, t.summary
        );
    }
    let repaired = all.iter().filter(|t| t.repaired).count();
    assert!(
        repaired * 100 >= all.len() * 95,
        "repaired {repaired} of {}",
        all.len()
    );
}
