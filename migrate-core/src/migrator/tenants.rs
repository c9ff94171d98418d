//! Tenant databases migrated lazily: an application that opens one database per tenant on
//! demand migrates each on its first open, under the same net as any run, with a bound on how
//! many migrate at once.
//!
//! ```no_run
//! use std::num::NonZeroUsize;
//! use belay_migrate::{Migrator, Tenants, source};
//!
//! let tenants = Tenants::new(
//!     Migrator::new(source::read_dir("migrations")?),
//!     NonZeroUsize::new(2).unwrap(),
//! );
//! // On a request for tenant 42: migrated first if it was not yet (once per process).
//! let conn = tenants.open("tenants/42.db")?;
//! # Ok::<(), belay_migrate::Error>(())
//! ```
//!
//! Exactly once across processes: each migration runs under the database's migration lock,
//! and a process that gets the lock second finds nothing pending. Within a process, a database
//! migrates in one thread at a time (others opening it wait for that run), and once a run has
//! left it at the target it is not checked again: later opens cost a plain open. A run that
//! fails returns its error to the caller that asked; a thread that was waiting for it, and the
//! next open, run it again. Waiting for a turn is bounded by the migrator's lock timeout
//! ([`Error::LockTimeout`] naming what held it).

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use rusqlite::Connection;

use super::Migrator;
use crate::vocab::error::Error;
use crate::vocab::report::RunReport;

/// Tenant databases, each migrated on its first open (see the module documentation).
#[derive(Debug)]
pub struct Tenants {
    migrator: Migrator,
    at_once: usize,
    state: Mutex<State>,
    turn: Condvar,
}

/// What this process knows.
#[derive(Debug, Default)]
struct State {
    /// Databases a run of this process left at the target.
    current: HashSet<PathBuf>,
    /// Databases migrating now.
    migrating: HashSet<PathBuf>,
}

impl Tenants {
    /// Tenants migrated with `migrator`, at most `at_once` at a time.
    pub fn new(migrator: Migrator, at_once: NonZeroUsize) -> Self {
        Self {
            migrator,
            at_once: at_once.get(),
            state: Mutex::new(State::default()),
            turn: Condvar::new(),
        }
    }

    /// A connection to `db`, migrated first when this process has not yet seen it at the
    /// target. The connection waits for locks as long as the migrator's lock timeout.
    ///
    /// # Errors
    ///
    /// The run's error, as [`Migrator::run`] gives it (the database is then as that error says,
    /// and the next open tries again); [`Error::Sqlite`] when the connection cannot be opened.
    pub fn open(&self, db: impl AsRef<Path>) -> Result<Connection, Error> {
        let db = belay_guard::database::db::resolved(db.as_ref());
        self.ensure(&db)?;
        Ok(belay_guard::database::db::open(
            &db,
            self.migrator.config.lock_timeout,
        )?)
    }

    /// Migrates `db` unless this process has already left it at the target: the run's report
    /// when this call ran one, `None` when it was known current.
    ///
    /// # Errors
    ///
    /// As [`Tenants::open`].
    pub fn ensure(&self, db: impl AsRef<Path>) -> Result<Option<RunReport>, Error> {
        let db = belay_guard::database::db::resolved(db.as_ref());
        let span = tracing::info_span!("tenant", db = %db.display());
        let _entered = span.enter();
        let mut state = self.lock();
        let started = Instant::now();
        let limit = self.migrator.config.lock_timeout;
        loop {
            if state.current.contains(&db) {
                return Ok(None);
            }
            // Another thread is migrating this one, or the bound is reached: wait for a turn,
            // no longer than the lock timeout bounds every wait.
            if !state.migrating.contains(&db) && state.migrating.len() < self.at_once {
                break;
            }
            let waited = started.elapsed();
            if waited >= limit {
                return Err(Error::LockTimeout {
                    holder: if state.migrating.contains(&db) {
                        "another thread of this process, migrating it".to_owned()
                    } else {
                        format!(
                            "this process's {} tenant migration(s) running at once (the bound)",
                            state.migrating.len()
                        )
                    },
                    path: db,
                    waited,
                });
            }
            state = self
                .turn
                .wait_timeout(state, limit - waited)
                .expect("not poisoned")
                .0;
        }
        state.migrating.insert(db.clone());
        drop(state);
        let turn = Turn {
            tenants: self,
            db: &db,
        };
        let report = self.migrator.up(&db)?;
        turn.current();
        Ok(Some(report))
    }

    /// How many databases this process knows to be at the target.
    pub fn known_current(&self) -> usize {
        self.lock().current.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }
}

/// One database's turn to migrate: given back in Drop, whether its run succeeded or not.
struct Turn<'t> {
    tenants: &'t Tenants,
    db: &'t Path,
}

impl Turn<'_> {
    /// The run left the database at the target.
    fn current(self) {
        self.tenants.lock().current.insert(self.db.to_path_buf());
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.tenants.lock().migrating.remove(self.db);
        self.tenants.turn.notify_all();
    }
}
