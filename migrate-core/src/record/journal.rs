//! The bookkeeping that rides inside a run's own transactions ([`Journal`]): the applying code
//! calls it, the attempt recorder and the run's marker implement it, so that a run in one
//! transaction commits once, with its record.

use rusqlite::Connection;

use crate::planning::plan::Step;
use crate::vocab::report::{Failure, StepReport};
use crate::vocab::version::Version;

/// Bookkeeping that rides inside the run's own transactions, so that a run in one
/// transaction commits once: the attempt is opened inside the first unit and closed inside the
/// last.
pub(crate) trait Journal {
    /// Inside the first unit, before its steps.
    fn begin(&mut self, conn: &Connection) -> Result<(), Failure>;
    /// Inside the last unit, after its steps and checks, before it commits.
    fn succeed(&mut self, conn: &Connection, steps: &[StepReport]) -> Result<(), Failure>;
    /// Inside every unit but the last, before it commits: the state it leaves is a whole
    /// version that a later run may continue from, so its schema fingerprint is recorded (or
    /// validation would take the committed migrations for drift).
    fn committed(&mut self, _conn: &Connection) -> Result<(), Failure> {
        Ok(())
    }
    /// Before a no-transaction migration starts (`Some`), and once it has finished (`None`):
    /// a run stopped in between may have left its statements half done.
    fn outside(&mut self, _conn: &Connection, _version: Option<Version>) -> Result<(), Failure> {
        Ok(())
    }
    /// After each statement of a no-transaction migration (each commits on its own).
    fn statement_done(&mut self, _conn: &Connection) -> Result<(), Failure> {
        Ok(())
    }
    /// A step starts (for progress only).
    fn step_started(&mut self, _step: &Step) {}
    /// `done` statements of `step` have run (for progress only; after each).
    fn statements_done(&mut self, _step: &Step, _done: usize) {}
    /// The unit's checks before COMMIT begin (for progress only).
    fn committing(&mut self) {}
}
