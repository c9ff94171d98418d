//! Applying a plan: the steps grouped into transactions, each step's script and verification
//! queries run and its history row written inside the same transaction, foreign keys checked
//! before every commit.
//!
//! Grouping is pure ([`units`]); [`execute`] does the I/O.

use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::Serialize;

use crate::planning::plan::{Direction, Plan, Step};
use crate::read::directive::TransactionMode;
use crate::read::migration::Version;
use crate::read::statements;
use crate::run::log;
use crate::run::script::{self};
use crate::run::touched::{Touched, Tracker};
use crate::vocab::report::{DatabaseState, Failure, StepReport};
use belay_guard::database::fence::WriteLock;
use belay_guard::foreign_keys::{self as fk, EnforcementOff};
use belay_guard::integrity::Depth;

mod baseline;
mod checks;
mod deadline;
mod mark;
mod unit_tx;

use crate::record::journal::Journal;
pub(crate) use baseline::FkBaseline;
use baseline::Ledger;
use checks::{check_integrity, check_introduced, record, refused, statement_failure, verify};
pub use deadline::{Budgets, DEFAULT_CHECK_TIMEOUT};
use deadline::{Deadline, Watchdog};
use unit_tx::UnitTx;

/// How many migrations share a transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransactionScope {
    /// The whole run is one transaction: all pending migrations or none (the default).
    /// `-- migrate:no-transaction` files still run on their own, splitting the run there.
    #[default]
    Run,
    /// Each migration commits on its own.
    PerMigration,
}

/// A group of consecutive steps that commit together, or one step run outside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Indexes into the plan's steps.
    pub steps: std::ops::Range<usize>,
    /// Whether the group runs inside a transaction.
    pub mode: TransactionMode,
}

/// Splits the steps into units: transactional steps grouped per `scope`, every
/// no-transaction step alone.
pub fn units(steps: &[Step], scope: TransactionScope) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let mode = step.script.transaction();
        match out.last_mut() {
            Some(last)
                if !mode.runs_outside()
                    && !last.mode.runs_outside()
                    && scope == TransactionScope::Run =>
            {
                last.steps.end = i + 1;
            }
            _ => out.push(Unit {
                steps: i..i + 1,
                mode,
            }),
        }
    }
    out
}

/// Where a unit stands in the run.
#[derive(Clone, Copy)]
struct Position {
    first: bool,
    last: bool,
}

/// A failed execution: what failed, what had been committed, and the state left behind.
#[derive(Debug)]
pub(crate) struct Failed {
    pub failure: Box<Failure>,
    pub committed: Vec<StepReport>,
    pub state: DatabaseState,
    /// Set when the run never began because another connection held SQLite's write lock for
    /// this long: a lock timeout, not a failed migration.
    pub locked_out: Option<Duration>,
}

/// What is checked before each COMMIT besides the steps' own verification.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checks<'r> {
    /// Where the foreign-key violations before the run come from.
    pub baseline: FkBaseline<'r>,
    /// The integrity check: `Quick` checks the tables (and their indexes) the unit wrote or
    /// created; `Full` the whole file.
    pub integrity: Depth,
    /// Whether the run holds the write lock throughout: units are then savepoints of its one
    /// transaction.
    pub write_lock: WriteLock,
    /// How long checks and migrations may run.
    pub budgets: Budgets,
    /// The point-in-time archive, when archiving is on: each unit records its restore point.
    pub archive: Option<&'r std::path::Path>,
}

/// Runs the plan. Returns the report of every step on success.
pub(crate) fn execute(
    conn: &Connection,
    plan: &Plan,
    scope: TransactionScope,
    journal: &mut dyn Journal,
    checks: Checks<'_>,
) -> Result<Vec<StepReport>, Failed> {
    let mut committed: Vec<StepReport> = Vec::with_capacity(plan.steps.len());
    let mut ledger = Ledger::new(checks.baseline);
    let units = units(&plan.steps, scope);
    let watchdog = Watchdog::start(conn, checks.budgets);
    for (i, unit) in units.iter().enumerate() {
        let steps = &plan.steps[unit.steps.clone()];
        let run = Run {
            direction: plan.direction,
            position: Position {
                first: i == 0,
                last: i + 1 == units.len(),
            },
            done: &committed,
            checks,
            watchdog: watchdog.as_ref(),
        };
        let result = match unit.mode {
            TransactionMode::Transactional => {
                transactional(conn, (&run, &mut ledger), steps, journal)
            }
            TransactionMode::NoTransaction | TransactionMode::OwnTransaction => {
                outside(conn, (&run, &mut ledger), &steps[0], journal)
            }
        };
        match result {
            Ok(reports) => committed.extend(reports),
            Err(UnitFailure {
                failure,
                changed,
                locked_out,
            }) => {
                let state = if committed.is_empty() && !changed {
                    DatabaseState::Unchanged
                } else {
                    DatabaseState::PartiallyApplied {
                        version: version_after(plan, committed.len()),
                    }
                };
                return Err(Failed {
                    failure: Box::new(failure),
                    locked_out: locked_out.filter(|_| committed.is_empty()),
                    committed,
                    state,
                });
            }
        }
    }
    Ok(committed)
}

/// The highest applied version once the first `done` steps of the plan have run.
fn version_after(plan: &Plan, done: usize) -> Option<Version> {
    match plan.direction {
        Direction::Up => plan.steps[..done]
            .iter()
            .map(|s| s.version)
            .chain(plan.from)
            .max(),
        Direction::Down => plan.steps.get(done).map(|s| s.version).or(plan.to),
    }
}

/// What a unit needs to know about the run around it.
struct Run<'a> {
    direction: Direction,
    position: Position,
    /// Steps committed by earlier units.
    done: &'a [StepReport],
    checks: Checks<'a>,
    /// What interrupts work past its budget.
    watchdog: Option<&'a Watchdog>,
}

impl Run<'_> {
    /// A budget for checks, armed now.
    fn deadline_for_checks(&self) -> Deadline<'_> {
        Deadline::start(self.watchdog, self.checks.budgets.checks)
    }

    /// Closes the journal when this is the last unit, with every step of the run; records the
    /// version an earlier unit leaves.
    fn succeed(
        &self,
        conn: &Connection,
        journal: &mut dyn Journal,
        reports: &[StepReport],
    ) -> Result<(), Failure> {
        if !self.position.last {
            return journal.committed(conn);
        }
        let all: Vec<StepReport> = self.done.iter().chain(reports).cloned().collect();
        journal.succeed(conn, &all)
    }

    fn begin(&self, conn: &Connection, journal: &mut dyn Journal) -> Result<(), Failure> {
        if self.position.first {
            journal.begin(conn)?;
        }
        Ok(())
    }
}

struct UnitFailure {
    failure: Failure,
    /// Whether the unit left changes behind (only possible outside a transaction).
    changed: bool,
    /// Set when the unit never began: SQLite's write lock stayed with another connection for
    /// this long.
    locked_out: Option<Duration>,
}

impl UnitFailure {
    fn rolled_back(failure: Failure) -> Self {
        Self {
            failure,
            changed: false,
            locked_out: None,
        }
    }
}

/// A database error around the migrations, as a failure.
pub(crate) fn database(context: &str, err: rusqlite::Error) -> Failure {
    Failure::database(context, &err)
}

fn transactional(
    conn: &Connection,
    (run, ledger): (&Run<'_>, &mut Ledger<'_>),
    steps: &[Step],
    journal: &mut dyn Journal,
) -> Result<Vec<StepReport>, UnitFailure> {
    let fail = |context: &'static str| move |e| UnitFailure::rolled_back(database(context, e));
    // Pragmas are no-ops inside a transaction, so enforcement goes off before BEGIN, and comes
    // back when `_enforcement` drops, after COMMIT or ROLLBACK.
    let _enforcement = EnforcementOff::new(conn).map_err(fail("switching foreign keys off"))?;
    // Dropping the transaction without commit rolls it back, whatever path leaves this function.
    let waiting = Instant::now();
    let tx = UnitTx::begin(conn, run.checks.write_lock).map_err(|e| {
        let locked_out = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        UnitFailure {
            locked_out: locked_out.then(|| waiting.elapsed()),
            ..fail("beginning the transaction")(e)
        }
    })?;
    run.begin(&tx, journal).map_err(UnitFailure::rolled_back)?;
    // In a run that holds the write lock throughout, only the first unit's state before it
    // was ever committed.
    let point = (run.checks.write_lock != WriteLock::WholeRun || run.position.first)
        .then(|| mark::before(&tx, run.checks.archive, run.direction, steps))
        .flatten();
    let before = ledger
        .before_steps(&tx)
        .map_err(fail("checking foreign keys"))?;
    let footprint = fk::Footprint::take(&tx).map_err(fail("checking foreign keys"))?;
    let tracker = Tracker::start(&tx).map_err(fail("watching what the migrations write"))?;
    let mut reports = Vec::with_capacity(steps.len());
    for step in steps {
        journal.step_started(step);
        let report = run_step(&tx, step, journal, run).map_err(|f| refused(f, &tracker));
        reports.push(report.map_err(UnitFailure::rolled_back)?);
    }
    journal.committing();
    let touched = tracker.touched();
    drop(tracker);
    // What the scripts changed decides which constraints are checked: read before the history
    // rows are written, whose inserts would count as rows the migrations wrote (and send the
    // check over every constraint of the database).
    let scope = fk_scope(&tx, &footprint, &touched)
        .map_err(|e| UnitFailure::rolled_back(database("checking foreign keys", e)))?;
    // History rows are written after the scripts: each schema change invalidates SQLite's
    // prepared statements, so writing them in between would recompile the INSERT per step.
    for (step, report) in steps.iter().zip(&reports) {
        record(&tx, run.direction, step, report).map_err(UnitFailure::rolled_back)?;
    }
    let checks_span = log::step_span(log::SafetyStep::Checks);
    let checks_started = Instant::now();
    let checked = checks_span.in_scope(|| {
        let deadline = Deadline::start(run.watchdog, run.checks.budgets.checks);
        let over = |failure| {
            UnitFailure::rolled_back(deadline.explain(failure, || {
                "the checks before COMMIT (foreign keys and integrity)".to_owned()
            }))
        };
        let checking = |e| over(database("checking foreign keys", e));
        let after = fk::violations_in(&tx, &scope).map_err(checking)?;
        check_introduced(ledger.introduced(before, &after).map_err(over)?).map_err(over)?;
        // Inside the transaction: damage is a rollback, never something to restore.
        check_integrity(&tx, &touched, run.checks.integrity).map_err(over)?;
        Ok(after)
    });
    log::done(&checks_span, checks_started);
    let after = checked?;
    run.succeed(&tx, journal, &reports)
        .map_err(UnitFailure::rolled_back)?;
    tx.commit().map_err(fail("committing"))?;
    mark::after(point, conn);
    ledger.committed(scope, after);
    Ok(reports)
}

fn outside(
    conn: &Connection,
    (run, ledger): (&Run<'_>, &mut Ledger<'_>),
    step: &Step,
    journal: &mut dyn Journal,
) -> Result<Vec<StepReport>, UnitFailure> {
    let unchanged = |context: &'static str| move |e| UnitFailure::rolled_back(database(context, e));
    let changed = |failure| UnitFailure {
        failure,
        changed: true,
        locked_out: None,
    };
    let _enforcement =
        EnforcementOff::new(conn).map_err(unchanged("switching foreign keys off"))?;
    run.begin(conn, journal).map_err(UnitFailure::rolled_back)?;
    let before = ledger
        .before_steps(conn)
        .map_err(unchanged("checking foreign keys"))?;
    let footprint = fk::Footprint::take(conn).map_err(unchanged("checking foreign keys"))?;
    journal
        .outside(conn, Some(step.version))
        .map_err(UnitFailure::rolled_back)?;
    let tracker = Tracker::start(conn).map_err(unchanged("watching what the migration writes"))?;
    let span = log::migration_span(step.version, &step.name, run.direction);
    let _entered = span.enter();
    let started = Instant::now();
    journal.step_started(step);
    let mut done = 0usize;
    let mut after_each = |c: &Connection| {
        done += 1;
        tracing::trace!(statement = done, "statement done");
        journal.statements_done(step, done);
        journal.statement_done(c).map_err(|f| f.to_string())
    };
    let deadline = Deadline::start(run.watchdog, run.checks.budgets.migrations);
    let ran = script::execute_observed(
        conn,
        &step.script,
        script::Control::Allowed,
        &mut after_each,
    );
    drop(deadline);
    span.record("statements", done);
    log::done(&span, started);
    // A file that manages its own transaction may fail, or end, inside it: that transaction is
    // the file's, and it goes before anything else happens on this connection (the history,
    // the checks and a restore would otherwise run inside it, and a restore would wait on the
    // write lock this very connection holds).
    let left_open = end_open_transaction(conn);
    ran.map_err(|e| UnitFailure {
        changed: e.executed > 0,
        failure: refused(statement_failure(step, e), &tracker),
        locked_out: None,
    })?;
    if let Some(rolled_back) = left_open {
        return Err(UnitFailure {
            changed: true,
            failure: Failure::Statement {
                version: step.version,
                origin: step.script.origin().to_owned(),
                line: statements::own_transaction(step.script.sql()).unwrap_or(1),
                statement: "BEGIN".to_owned(),
                message: format!(
                    "the file opened a transaction and did not end it (it was {}): add its COMMIT",
                    if rolled_back { "rolled back" } else { "ended" }
                ),
            },
            locked_out: None,
        });
    }
    let touched = tracker.touched();
    drop(tracker);
    // Outside a transaction the file's changes are already committed: a failure here is one
    // for the safety net (restore with proof, or exit 7).
    let checks = |deadline: &Deadline<'_>, failure| {
        changed(deadline.explain(failure, || {
            format!(
                "the checks after migration {} (integrity and foreign keys)",
                step.version
            )
        }))
    };
    let deadline = Deadline::start(run.watchdog, run.checks.budgets.checks);
    check_integrity(conn, &touched, run.checks.integrity).map_err(|f| checks(&deadline, f))?;
    drop(deadline);
    let report = verify(conn, step, started, || run.deadline_for_checks()).map_err(changed)?;
    let deadline = Deadline::start(run.watchdog, run.checks.budgets.checks);
    let checking = |e| checks(&deadline, database("checking foreign keys", e));
    let scope = fk_scope(conn, &footprint, &touched).map_err(checking)?;
    let after = fk::violations_in(conn, &scope).map_err(checking)?;
    ledger
        .introduced(before, &after)
        .and_then(check_introduced)
        .map_err(|f| checks(&deadline, f))?;
    drop(deadline);
    // Recorded as applied only once every check has passed: a file that fails one is not a
    // whole version, whatever it committed.
    record(conn, run.direction, step, &report).map_err(changed)?;
    let reports = vec![report];
    run.succeed(conn, journal, &reports).map_err(changed)?;
    journal.outside(conn, None).map_err(changed)?;
    ledger.committed(scope, after);
    Ok(reports)
}

/// Rolls back a transaction a script left open on `conn`: `Some(true)` when one was rolled
/// back, `Some(false)` when the ROLLBACK itself failed (SQLite then ends it when the
/// connection closes), `None` when none was open.
fn end_open_transaction(conn: &Connection) -> Option<bool> {
    if conn.is_autocommit() {
        return None;
    }
    Some(conn.execute_batch("ROLLBACK").is_ok())
}

fn run_step(
    conn: &Connection,
    step: &Step,
    journal: &mut dyn Journal,
    run: &Run<'_>,
) -> Result<StepReport, Failure> {
    let span = log::migration_span(step.version, &step.name, run.direction);
    let _entered = span.enter();
    let started = Instant::now();
    let mut done = 0usize;
    let deadline = Deadline::start(run.watchdog, run.checks.budgets.migrations);
    script::execute_observed(conn, &step.script, script::Control::Refused, &mut |_| {
        done += 1;
        tracing::trace!(statement = done, "statement done");
        journal.statements_done(step, done);
        Ok(())
    })
    .map_err(|e| {
        deadline.explain(statement_failure(step, e), || {
            format!("migration {} ({})", step.version, step.script.origin())
        })
    })?;
    drop(deadline);
    let verified = verify(conn, step, started, || run.deadline_for_checks());
    span.record("statements", done);
    log::done(&span, started);
    verified
}

/// The foreign-key constraints a unit's steps may have broken: every one after an edit of
/// `sqlite_schema` itself (this connection's parse of the schema is then out of date, and the
/// key shapes read through it would be too), else what the footprint shows, with the tables
/// the steps created or dropped.
fn fk_scope(
    conn: &Connection,
    footprint: &fk::Footprint,
    touched: &Touched,
) -> rusqlite::Result<fk::Scope> {
    if touched.schema_edited {
        return Ok(fk::Scope::All);
    }
    footprint.scope(conn, &touched.replaced)
}
