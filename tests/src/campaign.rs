//! The corruption campaign: for each kind of damage and each seed, copy the campaign database
//! (with a verified backup taken before the damage, as the safety net takes one before every
//! run), inject, detect with `integrity::check`, repair with `integrity::repair`, and compare
//! what is left with the ground truth: every truth row must be in its table or in quarantine,
//! or be named by the repair report as lost.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use belay_migrate::backup::{self, CreateOptions};
use belay_migrate::integrity::repair::{self, Mode, Options, RepairReport};
use belay_migrate::integrity::{self, Depth};
use rusqlite::Connection;

use crate::corrupt::{self, Kind, Rng, TABLES, Truth};

/// What one trial showed.
#[derive(Debug, Clone)]
pub struct Trial {
    pub kind: Kind,
    pub seed: u64,
    pub description: String,
    /// Something differs from the truth in a way SQLite can see: a check fails, or reading
    /// the rows fails.
    pub observable: bool,
    /// `integrity::check` (full, with foreign keys) reported it.
    pub detected: bool,
    /// The repaired database checks clean and holds every truth row (in its table or in
    /// quarantine), nothing more, nothing altered.
    pub repaired: bool,
    /// Truth rows missing after the repair.
    pub lost: usize,
    /// Of those, how many the report does not name.
    pub silent: usize,
    /// Rows present with other values than the truth's.
    pub altered: usize,
    /// Rows present that the truth does not have.
    pub extra: usize,
    pub summary: String,
}

/// A campaign database with its backup and its truth, made once and copied per trial.
pub struct Template {
    dir: tempfile::TempDir,
    truth: Truth,
}

impl Template {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        corrupt::create_sample(&db);
        backup::create(
            &db,
            &backup::default_dir(&db),
            &CreateOptions::default(),
            &mut |_| {},
        )
        .unwrap();
        let truth = corrupt::truth(&db);
        Self { dir, truth }
    }

    fn copy_to(&self, to: &Path) {
        crate::copy_tree(self.dir.path(), to);
    }
}

impl Default for Template {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs one trial.
pub fn trial(template: &Template, kind: Kind, seed: u64) -> Trial {
    let dir = tempfile::tempdir().unwrap();
    template.copy_to(dir.path());
    let db = dir.path().join("app.db");
    let mut rng = Rng::new(seed ^ (kind as u64) << 32);
    let (description, truth) = corrupt::inject(kind, &db, &template.truth, &mut rng);
    if let Some(keep) = std::env::var_os("MIGRATE_CAMPAIGN_KEEP") {
        // Keeps the damaged database of each trial for a closer look.
        let to = Path::new(&keep).join(format!("{kind:?}-{seed}"));
        crate::copy_tree(dir.path(), &to);
    }
    let timeout = Duration::from_secs(5);
    let found = integrity::check(&db, &integrity::Options::new(Depth::Full)).unwrap();
    let observable = !found.ok || read_differs(&db, &truth);
    let report = repair::repair(
        &db,
        &Options {
            backup_dir: None,
            busy_timeout: timeout,
            mode: Mode::Repair,
        },
    )
    .unwrap();
    let outcome = compare(&db, &truth, &report);
    let repaired = report.ok && outcome.lost == 0 && outcome.altered == 0 && outcome.extra == 0;
    Trial {
        kind,
        seed,
        description,
        observable,
        detected: !found.ok,
        repaired,
        lost: outcome.lost,
        silent: outcome.silent,
        altered: outcome.altered,
        extra: outcome.extra,
        summary: summary(&report),
    }
}

/// Whether reading the user tables fails or gives something other than `truth`.
fn read_differs(db: &Path, truth: &Truth) -> bool {
    !matches!(corrupt::try_truth(db), Ok(t) if &t == truth)
}

#[derive(Default)]
struct Outcome {
    lost: usize,
    silent: usize,
    altered: usize,
    extra: usize,
}

fn compare(db: &Path, truth: &Truth, report: &RepairReport) -> Outcome {
    let mut outcome = Outcome::default();
    let Ok(conn) = Connection::open(db) else {
        outcome.lost = truth.values().map(BTreeMap::len).sum();
        outcome.silent = outcome.lost;
        return outcome;
    };
    for table in TABLES {
        let want = &truth[table];
        let have = corrupt::try_rows(&conn, table, "rowid").unwrap_or_default();
        let quarantine = repair::quarantine_table(table);
        let held = corrupt::try_rows(&conn, &quarantine, "_migrate_rowid").unwrap_or_default();
        for (rowid, row) in want {
            match (have.get(rowid), held.get(rowid)) {
                (Some(r), _) | (None, Some(r)) if r == row => {}
                (Some(_), _) => outcome.altered += 1,
                (None, _) => {
                    outcome.lost += 1;
                    // Named as lost, or moved into quarantine with values the damage changed.
                    let named = report.lost.iter().any(|l| {
                        (l.table == table || l.table == "*")
                            && (l.table == "*"
                                || l.rowids.contains(rowid)
                                || l.between.is_some_and(|g| g.contains(*rowid)))
                    }) || report
                        .quarantined
                        .iter()
                        .any(|q| q.table == table && q.rowids.contains(rowid));
                    if !named {
                        outcome.silent += 1;
                    }
                }
            }
        }
        outcome.extra += have.keys().filter(|k| !want.contains_key(k)).count();
    }
    outcome
}

fn summary(report: &RepairReport) -> String {
    let steps: Vec<String> = report
        .actions
        .iter()
        .map(|a| {
            format!(
                "{}{}",
                a.rung.as_str(),
                if a.succeeded { "" } else { "(failed)" }
            )
        })
        .collect();
    format!(
        "found {} [{}]; steps: {}; quarantined {}, recovered {}, lost entries {}",
        report.found.count,
        report.found.findings.first().map_or_else(String::new, |f| f
            .message
            .chars()
            .take(60)
            .collect()),
        if steps.is_empty() {
            "none".to_owned()
        } else {
            steps.join(" > ")
        },
        report.quarantined.iter().map(|q| q.rows).sum::<u64>(),
        report
            .recovered
            .iter()
            .map(|r| r.rowids.len())
            .sum::<usize>(),
        report.lost.len()
    )
}

/// Totals for one kind of damage.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub trials: usize,
    pub observable: usize,
    pub detected: usize,
    pub repaired: usize,
    pub lost: usize,
    pub silent: usize,
}

/// Runs `trials` seeds of every kind, returning each trial and the totals per kind.
pub fn run(trials: u64) -> (Vec<Trial>, BTreeMap<Kind, Totals>) {
    let template = Template::new();
    let mut all = Vec::new();
    let mut totals: BTreeMap<Kind, Totals> = BTreeMap::new();
    for kind in Kind::ALL {
        for seed in 0..trials {
            let t = trial(&template, kind, seed);
            let e = totals.entry(kind).or_default();
            e.trials += 1;
            e.observable += usize::from(t.observable);
            e.detected += usize::from(t.detected && t.observable);
            e.repaired += usize::from(t.repaired);
            e.lost += t.lost;
            e.silent += t.silent;
            all.push(t);
        }
    }
    (all, totals)
}

/// The totals as a Markdown table.
pub fn table(totals: &BTreeMap<Kind, Totals>) -> String {
    let mut out = String::from(
        "| damage | trials | observable | detected | repaired | rows lost (all reported) | lost silently |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut sum = Totals::default();
    for (kind, t) in totals {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            kind.name(),
            t.trials,
            t.observable,
            t.detected,
            t.repaired,
            t.lost,
            t.silent
        ));
        sum.trials += t.trials;
        sum.observable += t.observable;
        sum.detected += t.detected;
        sum.repaired += t.repaired;
        sum.lost += t.lost;
        sum.silent += t.silent;
    }
    out.push_str(&format!(
        "| **all** | {} | {} | {} ({:.1}%) | {} ({:.1}%) | {} | {} |\n",
        sum.trials,
        sum.observable,
        sum.detected,
        100.0 * sum.detected as f64 / sum.observable.max(1) as f64,
        sum.repaired,
        100.0 * sum.repaired as f64 / sum.trials.max(1) as f64,
        sum.lost,
        sum.silent
    ));
    out
}
