//! Time budgets for what a run executes while it holds the migration lock and a write
//! transaction: verify queries and the checks before COMMIT (bounded by default), and the
//! migrations' own statements (unbounded unless configured). A statement past its budget is
//! interrupted (`sqlite3_interrupt`, from the run's one watchdog thread: `SQLITE_INTERRUPT`),
//! and the run fails like any other failure: rolled back, exit 5.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::vocab::report::Failure;

/// How long verify queries and the checks before COMMIT may run, by default: ten minutes,
/// far beyond a full check of a few gigabytes, short of a query that never ends.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(600);

/// The time budgets of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Each migration's verify queries, and each unit's checks before COMMIT (foreign keys and
    /// integrity). `None`: unbounded.
    pub checks: Option<Duration>,
    /// Each migration's script. `None` (the default): unbounded.
    pub migrations: Option<Duration>,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            checks: Some(DEFAULT_CHECK_TIMEOUT),
            migrations: None,
        }
    }
}

/// The one thread of a run that interrupts SQLite when an armed budget is spent (through
/// `sqlite3_interrupt`, which any thread may call; the progress handler would need the
/// connection mutably). Arming and disarming take a mutex the interrupt is issued under, so a
/// budget interrupts only the work it was armed for. Stopped and joined when dropped.
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// The armed budget: when it is spent, and which arming it is.
    armed: Option<(Instant, u64)>,
    armings: u64,
    /// The arming that was spent, if one was.
    fired: Option<u64>,
    /// When the watching thread will look again on its own (`None`: only when woken). An
    /// arming that expires later needs no wake-up: the thread looks by then, and waits on.
    looks_at: Option<Instant>,
    stop: bool,
}

impl Watchdog {
    /// A watchdog for `conn`, or none when no budget is set (nothing to watch, no thread).
    pub(crate) fn start(conn: &Connection, budgets: Budgets) -> Option<Self> {
        if budgets.checks.is_none() && budgets.migrations.is_none() {
            return None;
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let handle = conn.get_interrupt_handle();
        let watching = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("migrate-deadline".to_owned())
            .spawn(move || watch(&watching, &handle))
            .ok()?;
        Some(Watchdog {
            shared,
            thread: Some(thread),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn watch(shared: &Shared, handle: &rusqlite::InterruptHandle) {
    let mut state = shared
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while !state.stop {
        state = match state.armed {
            Some((until, arming)) => {
                let now = Instant::now();
                if now >= until {
                    // Under the mutex: the work this arming guards is still running.
                    handle.interrupt();
                    state.fired = Some(arming);
                    state.armed = None;
                    continue;
                }
                state.looks_at = Some(until);
                shared
                    .wake
                    .wait_timeout(state, until - now)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
            }
            None => {
                state.looks_at = None;
                shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            }
        };
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A budget armed on a run's watchdog; disarmed when dropped.
pub(crate) struct Deadline<'w> {
    watchdog: Option<&'w Watchdog>,
    limit: Option<Duration>,
    arming: u64,
}

impl<'w> Deadline<'w> {
    /// Arms `limit` (nothing when `None`, or when there is no watchdog).
    pub(crate) fn start(watchdog: Option<&'w Watchdog>, limit: Option<Duration>) -> Self {
        let (Some(dog), Some(limit)) = (watchdog, limit) else {
            return Deadline {
                watchdog: None,
                limit: None,
                arming: 0,
            };
        };
        let mut state = dog.lock();
        state.armings += 1;
        let arming = state.armings;
        let until = Instant::now() + limit;
        state.armed = Some((until, arming));
        // Budgets of one length armed one after another expire later and later: the thread,
        // already due to look before this one expires, need not be woken (a context switch per
        // migration, on a thousand-migration run, was a fifth of its time).
        let wake = state.looks_at.is_none_or(|at| until < at);
        drop(state);
        if wake {
            dog.shared.wake.notify_all();
        }
        Deadline {
            watchdog: Some(dog),
            limit: Some(limit),
            arming,
        }
    }

    /// `failure`, or, when this budget interrupted it, what ran past which budget.
    pub(crate) fn explain(&self, failure: Failure, what: impl FnOnce() -> String) -> Failure {
        let fired = self
            .watchdog
            .is_some_and(|dog| dog.lock().fired == Some(self.arming));
        match self.limit {
            Some(limit) if fired => Failure::TimedOut {
                what: what(),
                limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            },
            _ => failure,
        }
    }
}

impl Drop for Deadline<'_> {
    fn drop(&mut self) {
        if let Some(dog) = self.watchdog {
            let mut state = dog.lock();
            if state.armed.is_some_and(|(_, arming)| arming == self.arming) {
                state.armed = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_past_its_budget_is_interrupted_and_said_so() {
        let conn = Connection::open_in_memory().unwrap();
        let dog = Watchdog::start(&conn, Budgets::default()).unwrap();
        let deadline = Deadline::start(Some(&dog), Some(Duration::from_millis(50)));
        let endless = conn.query_row(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
            [],
            |r| r.get::<_, i64>(0),
        );
        assert_eq!(
            endless.unwrap_err().sqlite_error_code(),
            Some(rusqlite::ErrorCode::OperationInterrupted)
        );
        let failure = deadline.explain(
            Failure::Database {
                context: "x".into(),
                message: "interrupted".into(),
            },
            || "the verify queries".to_owned(),
        );
        assert_eq!(
            failure,
            Failure::TimedOut {
                what: "the verify queries".into(),
                limit_ms: 50
            }
        );
        drop(deadline);
        // Disarmed with the deadline: a longer query runs to its end.
        let _again = Deadline::start(Some(&dog), Some(Duration::from_secs(60)));
        assert_eq!(
            conn.query_row(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000) SELECT count(*) FROM n",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap(),
            100_000
        );
    }

    #[test]
    fn without_a_budget_nothing_is_interrupted_or_rewritten() {
        let conn = Connection::open_in_memory().unwrap();
        assert!(
            Watchdog::start(
                &conn,
                Budgets {
                    checks: None,
                    migrations: None
                }
            )
            .is_none()
        );
        let dog = Watchdog::start(&conn, Budgets::default()).unwrap();
        let deadline = Deadline::start(Some(&dog), None);
        let failure = Failure::Database {
            context: "x".into(),
            message: "y".into(),
        };
        assert_eq!(deadline.explain(failure.clone(), String::new), failure);
    }
}
