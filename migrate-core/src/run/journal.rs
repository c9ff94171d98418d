//! The run's side of [`apply::Journal`]: the attempt row inside the run's transactions, and
//! the marker's record of a no-transaction migration under way, with its proof token.

use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::place::Marker;
use crate::planning::plan::Step;
use crate::read::migration::Version;
use crate::record::attempt::Attempt;
use crate::vocab::progress::{self, Observer, Progress};
use crate::vocab::report::{Failure, StepReport};
use belay_guard::database::writers::{Token, Watch};

/// The run's bookkeeping inside its transactions (the attempt row), and the marker that tells
/// a later run whether a no-transaction migration was under way, with the proof, while it
/// holds, that nobody else has committed since the backup (see the `writers` module).
pub(crate) struct RunJournal<'a, 'm> {
    pub attempt: &'a mut Attempt,
    pub marker: Option<&'a mut Marker<'m>>,
    pub watch: Option<Watch>,
    pub progress: Progressing<'a>,
}

/// The run's progress as it goes: which step of how many, statements done (told at most every
/// 200 ms, so that a file of a million INSERTs costs a clock read per statement, no more).
pub(crate) struct Progressing<'a> {
    observer: Option<&'a Observer>,
    total: usize,
    index: usize,
    started: Instant,
    last_told: Instant,
}

impl<'a> Progressing<'a> {
    pub fn new(observer: Option<&'a Observer>, total: usize) -> Self {
        let now = Instant::now();
        Self {
            observer,
            total,
            index: 0,
            started: now,
            last_told: now,
        }
    }
}

impl RunJournal<'_, '_> {
    /// The state the run's own commits left, only while no other connection has committed
    /// since the backup's snapshot.
    fn token(&self, conn: &Connection) -> Option<Token> {
        self.watch.and_then(|w| w.settled(conn))
    }

    fn write_marker(
        &mut self,
        outside: Option<Version>,
        token: Option<Token>,
    ) -> Result<(), Failure> {
        match &mut self.marker {
            Some(m) => m.outside(outside, token).map_err(|e| Failure::Database {
                context: "updating the run marker".to_owned(),
                message: e.to_string(),
            }),
            None => Ok(()),
        }
    }
}

impl crate::record::journal::Journal for RunJournal<'_, '_> {
    fn begin(&mut self, conn: &Connection) -> Result<(), Failure> {
        self.attempt.begin_in(conn)
    }

    fn succeed(&mut self, conn: &Connection, steps: &[StepReport]) -> Result<(), Failure> {
        self.attempt.succeed_with(conn, steps)
    }

    fn committed(&mut self, conn: &Connection) -> Result<(), Failure> {
        self.attempt.committed_in(conn)
    }

    fn outside(&mut self, conn: &Connection, version: Option<Version>) -> Result<(), Failure> {
        let token = version.and_then(|_| self.token(conn));
        self.write_marker(version, token)
    }

    fn step_started(&mut self, step: &Step) {
        let p = &mut self.progress;
        p.index += 1;
        p.started = Instant::now();
        p.last_told = p.started;
        let (index, total) = (p.index, p.total);
        progress::report(p.observer, || Progress::Migration {
            version: step.version,
            name: step.name.clone(),
            index,
            total,
        });
    }

    fn statements_done(&mut self, step: &Step, done: usize) {
        let p = &mut self.progress;
        if p.observer.is_none() || p.last_told.elapsed() < Duration::from_millis(200) {
            return;
        }
        p.last_told = Instant::now();
        let elapsed = p.started.elapsed();
        progress::report(p.observer, || Progress::Statements {
            version: step.version,
            done,
            elapsed,
        });
    }

    fn committing(&mut self) {
        progress::report(self.progress.observer, || Progress::Committing);
    }

    fn statement_done(&mut self, conn: &Connection) -> Result<(), Failure> {
        let outside = self.marker.as_ref().and_then(|m| m.marker.outside);
        if outside.is_none() {
            return Ok(());
        }
        let token = self.token(conn);
        self.write_marker(outside, token)
    }
}
