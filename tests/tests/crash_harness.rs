//! The crash harness (see `migrate_tests::crash`): SIGKILL at seeded random moments of real
//! `migrate up` runs, then the next run must complete the job with no partial state, no lost
//! row and no lock left held. 50 kills here; `MIGRATE_CRASH_KILLS=1000` on demand (see
//! docs/safety.md).

use std::collections::BTreeMap;

use migrate_tests::crash::{self, Template};

#[test]
fn every_kill_is_recovered_to_the_pre_or_post_run_state() {
    let kills: u64 = std::env::var("MIGRATE_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let template = Template::new();
    let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for seed in 0..kills {
        let k = crash::kill(&template, seed);
        let phase = match (k.phase, k.finished_first) {
            (Some(p), _) => format!("{p:?}"),
            (None, true) => "finished before the kill".to_owned(),
            (None, false) => "before the marker, or after it was cleared".to_owned(),
        };
        *by_phase
            .entry(format!("{:?}: {phase}", k.scenario))
            .or_default() += 1;
        *states.entry(k.state_after_kill).or_default() += 1;
    }
    eprintln!(
        "{kills} kills; uninterrupted runs took {:?}",
        template.durations
    );
    for (phase, n) in &by_phase {
        eprintln!("  {n:4}  {phase}");
    }
    eprintln!("state right after the kill: {states:?}");
    // The kills must land inside runs, not only before or after them.
    let inside: usize = by_phase
        .iter()
        .filter(|(p, _)| {
            p.contains("Applying")
                || p.contains("BackingUp")
                || p.contains("Verifying")
                || p.contains("Restoring")
                || p.contains("Checking")
        })
        .map(|(_, n)| n)
        .sum();
    assert!(
        inside as u64 * 2 >= kills,
        "only {inside} of {kills} kills landed inside a run"
    );
}
