//! The bookkeeping that rides inside a run's own transactions ([`Journal`]): the applying code
//! calls it, the run implements it (its attempt row and its marker), so that a run in one
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
    fn committed(&mut self, conn: &Connection) -> Result<(), Failure>;
    /// Before a no-transaction migration starts (`Some`), and once it has finished (`None`):
    /// a run stopped in between may have left its statements half done.
    fn outside(&mut self, conn: &Connection, version: Option<Version>) -> Result<(), Failure>;
    /// After each statement of a no-transaction migration (each commits on its own).
    fn statement_done(&mut self, conn: &Connection) -> Result<(), Failure>;
    /// A step starts (for progress only).
    fn step_started(&mut self, step: &Step);
    /// `done` statements of `step` have run (for progress only; after each).
    fn statements_done(&mut self, step: &Step, done: usize);
    /// The unit's checks before COMMIT begin (for progress only).
    fn committing(&mut self);
}
