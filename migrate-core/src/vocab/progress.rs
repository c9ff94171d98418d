//! What a run is doing, as it does it: for a progress bar or a log line. A run reports to the
//! observer given to `Migrator::on_progress`; without one, nothing is built or sent.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::vocab::version::Version;

/// One thing a run started, or got further with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Progress {
    /// Waiting for another process's migration lock (repeated about once a second).
    WaitingForLock {
        /// Who holds it, as its lock file says (`pid 123 on host since …`).
        holder: Option<String>,
        /// How long this run has waited so far.
        waited: Duration,
        /// How long it waits at most (the lock timeout).
        timeout: Duration,
    },
    /// The pre-flight integrity check and the pre-run backup, side by side.
    CheckingAndBackingUp,
    /// A migration starts.
    Migration {
        /// Its version.
        version: Version,
        /// Its name.
        name: String,
        /// Its place in the run, from 1.
        index: usize,
        /// How many the run has.
        total: usize,
    },
    /// Statements of the running migration done so far (at most a few times a second).
    Statements {
        /// The migration.
        version: Version,
        /// How many have run.
        done: usize,
        /// Since the migration started.
        elapsed: Duration,
    },
    /// The checks before COMMIT (verify queries, integrity, foreign keys) and the commit.
    Committing,
    /// The state a restore by hand replaces, being backed up first (`pre-restore`).
    BackingUpCurrent,
    /// A backup being verified and copied over the database (after a failed run, or by hand).
    Restoring {
        /// The backup.
        backup: String,
    },
}

/// What receives a run's progress.
#[derive(Clone)]
pub struct Observer(Arc<dyn Fn(&Progress) + Send + Sync>);

impl Observer {
    /// An observer calling `f` with each event.
    pub fn new(f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// Sends to the observer, if there is one (the event is only built when there is).
pub(crate) fn report(observer: Option<&Observer>, event: impl FnOnce() -> Progress) {
    if let Some(observer) = observer {
        (observer.0)(&event());
    }
}
