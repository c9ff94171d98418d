//! The live-writer campaign (see `migrate_tests::live`): seeded cases of one-transaction,
//! per-migration and no-transaction runs, failing in each way or SIGKILLed at random moments,
//! with the application committing beside them (or, in a third of the cases, quiet from the
//! run's start, so that restores can be proven). 8 cases here; `MIGRATE_LIVE_CASES=500` on
//! demand, `MIGRATE_LIVE_SEED` for the first seed (see docs/safety.md).

use std::collections::BTreeMap;

use migrate_tests::live;

#[test]
fn no_case_loses_a_row_the_application_saw_committed() {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let cases = var("MIGRATE_LIVE_CASES", 8);
    let first = var("MIGRATE_LIVE_SEED", 0);
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    let (mut resumed, mut rows) = (0, 0);
    for seed in first..first + cases {
        let case = live::case(seed);
        let outcome = live::run(&case);
        *labels.entry(outcome.label).or_default() += 1;
        resumed += usize::from(outcome.resumed);
        rows += outcome.rows;
    }
    eprintln!(
        "{cases} cases from seed {first}: {resumed} resumed from a consistent version, {rows} acknowledged rows checked, all present"
    );
    for (label, n) in &labels {
        eprintln!("  {n:>4}  {label}");
    }
}
