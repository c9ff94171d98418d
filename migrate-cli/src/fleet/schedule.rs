//! The order a fleet run goes in (pure): the canary stage, then the rest, under an error budget.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The databases of each stage, as indexes into the targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages {
    /// Run first, to the end, before any other starts. A failure here stops the rollout.
    pub canary: Vec<usize>,
    /// Run once the canary stage succeeded.
    pub rest: Vec<usize>,
}

impl Stages {
    /// The first `canary` of `pending` as the canary stage, the others after it.
    pub fn split(pending: Vec<usize>, canary: usize) -> Self {
        let mut canary_stage = pending;
        let rest = canary_stage.split_off(canary.min(canary_stage.len()));
        Self {
            canary: canary_stage,
            rest,
        }
    }
}

/// Why new databases stop being started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// More failures than `--max-failures`.
    Budget,
    /// A database of the canary stage failed.
    Canary,
    /// SIGINT or SIGTERM: the databases already running finish, no new one starts.
    Signal,
    /// The fleet journal could not be written.
    Journal,
}

impl Stop {
    /// Why a database was not started, for its row.
    pub fn reason(self, max_failures: usize) -> String {
        match self {
            Stop::Budget => format!(
                "not started: more than {max_failures} database(s) failed (--max-failures {max_failures})"
            ),
            Stop::Canary => "not started: the canary stage failed".to_owned(),
            Stop::Signal => "not started: the fleet run was interrupted by a signal".to_owned(),
            Stop::Journal => "not started: the fleet journal could not be written".to_owned(),
        }
    }
}

/// The error budget, shared by the workers: failures counted, and the first reason to stop.
#[derive(Debug)]
pub struct Budget {
    max_failures: usize,
    failures: AtomicUsize,
    why: Mutex<Option<Stop>>,
}

impl Budget {
    /// A budget of `max_failures` failed databases.
    pub fn new(max_failures: usize) -> Self {
        Self {
            max_failures,
            failures: AtomicUsize::new(0),
            why: Mutex::new(None),
        }
    }

    /// Counts one failed database; past the budget, no new database starts.
    pub fn failed(&self) {
        if self.failures.fetch_add(1, Ordering::SeqCst) + 1 > self.max_failures {
            self.stop(Stop::Budget);
        }
    }

    /// No new database starts, for `why` (the first reason given is kept).
    pub fn stop(&self, why: Stop) {
        self.why.lock().expect("not poisoned").get_or_insert(why);
    }

    /// Why new databases may not start, if they may not.
    pub fn stopped(&self) -> Option<Stop> {
        *self.why.lock().expect("not poisoned")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_stage_is_the_first_pending_databases() {
        let stages = Stages::split(vec![2, 3, 5, 7], 2);
        assert_eq!(stages.canary, vec![2, 3]);
        assert_eq!(stages.rest, vec![5, 7]);
        let all = Stages::split(vec![1], 5);
        assert_eq!(all.canary, vec![1]);
        assert!(all.rest.is_empty());
        assert!(Stages::split(vec![1, 2], 0).canary.is_empty());
    }

    #[test]
    fn the_budget_stops_after_one_failure_too_many_and_keeps_the_first_reason() {
        let budget = Budget::new(1);
        budget.failed();
        assert_eq!(budget.stopped(), None);
        budget.failed();
        assert_eq!(budget.stopped(), Some(Stop::Budget));
        budget.stop(Stop::Signal);
        assert_eq!(budget.stopped(), Some(Stop::Budget));
        let none = Budget::new(0);
        none.failed();
        assert_eq!(none.stopped(), Some(Stop::Budget));
        assert!(Stop::Budget.reason(3).contains("--max-failures 3"));
        for stop in [Stop::Canary, Stop::Signal, Stop::Journal] {
            assert!(stop.reason(0).starts_with("not started"));
        }
    }
}
