//! Running a fleet: the stages in order, `jobs` databases at a time, each outcome journaled as
//! it happens.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::journal::Journal;
use super::outcome::{Outcome, Row};
use super::schedule::{Budget, Stages, Stop};
use crate::error::CliError;

/// How a fleet run goes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Databases migrated at once.
    pub jobs: usize,
    /// Databases in the canary stage.
    pub canary: usize,
    /// Failed databases tolerated before no new one starts.
    pub max_failures: usize,
}

/// What a fleet run did.
#[derive(Debug)]
pub struct Finished {
    /// One row per target, in the targets' order.
    pub rows: Vec<Row>,
    /// Why new databases stopped being started, if they did.
    pub stopped: Option<Stop>,
    /// The first failure to write the journal, which stopped the run.
    pub journal_error: Option<CliError>,
}

/// What the runner calls: one database's run, the look that confirms the journal's word, and
/// the display told of each row.
pub struct Work<'a> {
    /// Runs one database under its net.
    pub run_one: &'a (dyn Fn(&Path) -> Row + Sync),
    /// Whether a database the journal records at the target still is (read only).
    pub still_done: &'a (dyn Fn(&Path) -> bool + Sync),
    /// Told of each row as it is known.
    pub tally: &'a (dyn Fn(&Row) + Sync),
    /// Set by SIGINT or SIGTERM.
    pub interrupted: &'a AtomicBool,
}

/// Runs every target the journal does not already record as done (and still done: a database
/// rolled back or replaced since runs again).
pub fn run(targets: &[PathBuf], journal: Journal, options: Options, work: &Work<'_>) -> Finished {
    let mut rows: Vec<Option<Row>> = vec![None; targets.len()];
    let mut pending = Vec::new();
    for (index, db) in targets.iter().enumerate() {
        match journal.earlier.done(db).filter(|_| (work.still_done)(db)) {
            Some(row) => {
                let mut row = row.clone();
                row.outcome = Outcome::DoneEarlier;
                row.applied = 0;
                row.duration_ms = 0;
                (work.tally)(&row);
                rows[index] = Some(row);
            }
            None => pending.push(index),
        }
    }
    let stages = Stages::split(pending, options.canary);
    let shared = Shared {
        targets,
        rows: Mutex::new(rows),
        journal: Mutex::new(journal),
        budget: Budget::new(options.max_failures),
        journal_error: Mutex::new(None),
    };
    shared.stage(&stages.canary, options.jobs, work);
    let rows = shared.rows.lock().expect("not poisoned");
    let canary_failed = stages
        .canary
        .iter()
        .any(|i| rows[*i].as_ref().is_some_and(|r| r.outcome.failed()));
    drop(rows);
    if canary_failed {
        shared.budget.stop(Stop::Canary);
    }
    shared.stage(&stages.rest, options.jobs, work);
    let stopped = shared.budget.stopped();
    let reason = stopped.map(|s| s.reason(options.max_failures));
    let rows = shared
        .rows
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .zip(targets)
        .map(|(row, db)| {
            row.unwrap_or_else(|| {
                let row = Row::untouched(db.clone(), Outcome::NotStarted, reason.clone());
                (work.tally)(&row);
                row
            })
        })
        .collect();
    Finished {
        rows,
        stopped,
        journal_error: shared.journal_error.into_inner().expect("not poisoned"),
    }
}

/// What the workers share.
struct Shared<'t> {
    targets: &'t [PathBuf],
    rows: Mutex<Vec<Option<Row>>>,
    journal: Mutex<Journal>,
    budget: Budget,
    journal_error: Mutex<Option<CliError>>,
}

impl Shared<'_> {
    /// Runs `stage`, `jobs` at a time, until it is done or the budget stops it.
    fn stage(&self, stage: &[usize], jobs: usize, work: &Work<'_>) {
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..jobs.clamp(1, stage.len().max(1)) {
                scope.spawn(|| {
                    while let Some(index) = self.next(stage, &next, work) {
                        self.one(index, work);
                    }
                });
            }
        });
    }

    /// The next database to start, unless starting has stopped.
    fn next(&self, stage: &[usize], next: &AtomicUsize, work: &Work<'_>) -> Option<usize> {
        if work.interrupted.load(Ordering::SeqCst) {
            self.budget.stop(Stop::Signal);
        }
        if self.budget.stopped().is_some() {
            return None;
        }
        stage.get(next.fetch_add(1, Ordering::SeqCst)).copied()
    }

    /// Runs one database: journaled before and after.
    fn one(&self, index: usize, work: &Work<'_>) {
        let db = &self.targets[index];
        if let Err(e) = self.journal.lock().expect("not poisoned").started(db) {
            self.journal_failed(e);
            return;
        }
        let row = (work.run_one)(db);
        // Counted before the journal line is synced, so that no other worker starts a database
        // the budget no longer allows meanwhile.
        if row.outcome.failed() {
            self.budget.failed();
        }
        let written = self.journal.lock().expect("not poisoned").finished(&row);
        (work.tally)(&row);
        self.rows.lock().expect("not poisoned")[index] = Some(row);
        if let Err(e) = written {
            self.journal_failed(e);
        }
    }

    fn journal_failed(&self, error: CliError) {
        self.journal_error
            .lock()
            .expect("not poisoned")
            .get_or_insert(error);
        self.budget.stop(Stop::Journal);
    }
}
