//! The differential campaign at full size: `cargo run --release -p migrate-tests --example
//! differential -- [CASES_PER_KIND] [REPAIR_EVERY]` (default 1250 per kind, 10,000 in all, and
//! the repair ladder on every 10th damaged case). Prints the table and every disagreement;
//! exits 1 if SQLite called a file damaged that we called healthy, if `up` did anything but
//! refuse such a file unchanged, or if a repair left rows unreported. `differential 1 1
//! SwappedPages 980` replays one case.

use migrate_tests::differential;

fn main() {
    if let (Some(kind), Some(seed)) = (std::env::args().nth(3), std::env::args().nth(4)) {
        // One case: `differential 1 1 SwappedPages 980` (MIGRATE_DIFF_KEEP=DIR keeps its files).
        let damage = differential::Damage::ALL
            .into_iter()
            .find(|k| format!("{k:?}") == kind)
            .expect("a damage name, e.g. SwappedPages");
        let template = differential::Template::new();
        let c = differential::case(&template, damage, seed.parse().unwrap(), true);
        println!("{c:#?}");
        return;
    }
    let mut args = std::env::args().skip(1);
    let per_kind = args.next().and_then(|a| a.parse().ok()).unwrap_or(1250);
    let repair_every = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let started = std::time::Instant::now();
    let (cases, totals) = differential::run(per_kind, repair_every);
    let mut failed = false;
    for c in &cases {
        let bad_up = !c.up_refused_rightly();
        let bad_repair = c
            .repair
            .as_ref()
            .is_some_and(|r| r.named < r.missing_or_changed || r.claimed_none_lost_wrongly);
        if !c.missed.is_empty() || bad_up || bad_repair {
            failed = true;
            println!(
                "FAIL {:?} seed {}: {}; missed by {:?}; up {:?}; repair {:?}",
                c.damage, c.seed, c.description, c.missed, c.up, c.repair
            );
        }
        if !c.unchecked.is_empty() {
            println!(
                "no verdict {:?} seed {}: {}: {:?}",
                c.damage, c.seed, c.description, c.unchecked
            );
        }
        if !c.extra.is_empty() {
            println!(
                "extra {:?} seed {}: {}: {:?} saw damage SQLite did not",
                c.damage, c.seed, c.description, c.extra
            );
        }
    }
    println!("{}", differential::table(&totals));
    println!("{} cases in {:.0?}", cases.len(), started.elapsed());
    if failed {
        std::process::exit(1);
    }
}
