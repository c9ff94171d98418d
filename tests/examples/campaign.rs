//! The corruption campaign on demand: `cargo run --release -p migrate-tests --example campaign
//! -- [TRIALS_PER_KIND]` (default 100). Prints every trial that was not repaired, then the
//! table of detection and repair rates per kind of damage.

fn main() {
    let trials: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("TRIALS_PER_KIND: a number"))
        .unwrap_or(100);
    if let (Some(kind), Some(seed)) = (std::env::args().nth(2), std::env::args().nth(3)) {
        // One trial: `campaign 1 TableLeaf 41`.
        let kind = migrate_tests::corrupt::Kind::ALL
            .into_iter()
            .find(|k| format!("{k:?}") == kind)
            .expect("a kind name, e.g. TableLeaf");
        let template = migrate_tests::campaign::Template::new();
        let t = migrate_tests::campaign::trial(&template, kind, seed.parse().unwrap());
        println!("{t:#?}");
        return;
    }
    let started = std::time::Instant::now();
    let (all, totals) = migrate_tests::campaign::run(trials);
    for t in all.iter().filter(|t| !t.repaired || t.silent > 0) {
        println!(
            "not repaired: {} seed {}: {}: lost {} (silently {}), altered {}, extra {}; {}",
            t.kind.name(),
            t.seed,
            t.description,
            t.lost,
            t.silent,
            t.altered,
            t.extra,
            t.summary
        );
    }
    println!();
    print!("{}", migrate_tests::campaign::table(&totals));
    println!(
        "\n{} trials in {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
}
