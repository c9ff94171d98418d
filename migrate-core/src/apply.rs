//! Applying a plan: the steps grouped into transactions, each step's script and verification
//! queries run and its history row written inside the same transaction, foreign keys checked
//! before every commit.
//!
//! Grouping is pure ([`units`]); [`execute`] does the I/O.

use std::time::Instant;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::clock;
use crate::directive::TransactionMode;
use crate::fk::{self, EnforcementOff};
use crate::history;
use crate::migration::Version;
use crate::plan::{Direction, Plan, Step};
use crate::report::{DatabaseState, Failure, FkViolation, StepReport};
use crate::script::{self, StatementError};

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
                if mode == TransactionMode::Transactional
                    && last.mode == TransactionMode::Transactional
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

/// A failed execution: what failed, what had been committed, and the state left behind.
#[derive(Debug)]
pub(crate) struct Failed {
    pub failure: Failure,
    pub committed: Vec<StepReport>,
    pub state: DatabaseState,
}

const FK_SAMPLE: usize = 10;

/// Runs the plan. Returns the report of every step on success.
pub(crate) fn execute(
    conn: &Connection,
    plan: &Plan,
    scope: TransactionScope,
    attempt_id: Option<i64>,
) -> Result<Vec<StepReport>, Failed> {
    let mut committed: Vec<StepReport> = Vec::with_capacity(plan.steps.len());
    for unit in units(&plan.steps, scope) {
        let steps = &plan.steps[unit.steps.clone()];
        let result = match unit.mode {
            TransactionMode::Transactional => transactional(conn, plan.direction, steps, attempt_id),
            TransactionMode::NoTransaction => outside(conn, plan.direction, &steps[0], attempt_id),
        };
        match result {
            Ok(reports) => committed.extend(reports),
            Err(UnitFailure { failure, changed }) => {
                let state = if committed.is_empty() && !changed {
                    DatabaseState::Unchanged
                } else {
                    DatabaseState::PartiallyApplied {
                        version: version_after(plan, committed.len()),
                    }
                };
                return Err(Failed {
                    failure,
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

struct UnitFailure {
    failure: Failure,
    /// Whether the unit left changes behind (only possible outside a transaction).
    changed: bool,
}

impl UnitFailure {
    fn rolled_back(failure: Failure) -> Self {
        Self {
            failure,
            changed: false,
        }
    }
}

fn database(context: &str, err: rusqlite::Error) -> Failure {
    Failure::Database {
        context: context.to_owned(),
        message: err.to_string(),
    }
}

fn transactional(
    conn: &Connection,
    direction: Direction,
    steps: &[Step],
    attempt_id: Option<i64>,
) -> Result<Vec<StepReport>, UnitFailure> {
    let fail = |context: &'static str| move |e| UnitFailure::rolled_back(database(context, e));
    // Pragmas are no-ops inside a transaction, so enforcement goes off before BEGIN, and comes
    // back when `_enforcement` drops, after COMMIT or ROLLBACK.
    let _enforcement = EnforcementOff::new(conn).map_err(fail("switching foreign keys off"))?;
    // Dropping the transaction without commit rolls it back, whatever path leaves this function.
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(fail("beginning the transaction"))?;
    let before = fk::violations(&tx).map_err(fail("checking foreign keys"))?;
    let mut reports = Vec::with_capacity(steps.len());
    for step in steps {
        reports.push(run_step(&tx, direction, step, attempt_id).map_err(UnitFailure::rolled_back)?);
    }
    let after = fk::violations(&tx).map_err(fail("checking foreign keys"))?;
    check_introduced(&before, after).map_err(UnitFailure::rolled_back)?;
    tx.commit().map_err(fail("committing"))?;
    Ok(reports)
}

fn outside(
    conn: &Connection,
    direction: Direction,
    step: &Step,
    attempt_id: Option<i64>,
) -> Result<Vec<StepReport>, UnitFailure> {
    let unchanged = |context: &'static str| move |e| UnitFailure::rolled_back(database(context, e));
    let changed = |failure| UnitFailure {
        failure,
        changed: true,
    };
    let _enforcement = EnforcementOff::new(conn).map_err(unchanged("switching foreign keys off"))?;
    let before = fk::violations(conn).map_err(unchanged("checking foreign keys"))?;
    let started = Instant::now();
    script::execute(conn, &step.script).map_err(|e| UnitFailure {
        changed: e.executed > 0,
        failure: statement_failure(step, e),
    })?;
    let report = finish_step(conn, direction, step, attempt_id, started).map_err(changed)?;
    let after = fk::violations(conn).map_err(|e| changed(database("checking foreign keys", e)))?;
    check_introduced(&before, after).map_err(changed)?;
    Ok(vec![report])
}

fn run_step(
    conn: &Connection,
    direction: Direction,
    step: &Step,
    attempt_id: Option<i64>,
) -> Result<StepReport, Failure> {
    let started = Instant::now();
    script::execute(conn, &step.script).map_err(|e| statement_failure(step, e))?;
    finish_step(conn, direction, step, attempt_id, started)
}

/// Verification and the history row, once a step's script has run.
fn finish_step(
    conn: &Connection,
    direction: Direction,
    step: &Step,
    attempt_id: Option<i64>,
    started: Instant,
) -> Result<StepReport, Failure> {
    if let Some(verify) = &step.verify {
        script::verify(conn, verify).map_err(|e| Failure::Verify {
            version: step.version,
            origin: verify.origin().to_owned(),
            line: e.line,
            query: e.statement,
            returned: e.message,
        })?;
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    match direction {
        Direction::Up => {
            history::insert_applied(conn, step, &clock::now_rfc3339(), duration_ms, attempt_id)
        }
        Direction::Down => history::delete_applied(conn, step.version),
    }
    .map_err(|e| database("recording the migration in _migrate_history", e))?;
    Ok(StepReport {
        version: step.version,
        name: step.name.clone(),
        duration_ms,
    })
}

fn statement_failure(step: &Step, e: StatementError) -> Failure {
    Failure::Statement {
        version: step.version,
        origin: step.script.origin().to_owned(),
        line: e.line,
        statement: e.statement,
        message: e.message,
    }
}

fn check_introduced(before: &[FkViolation], after: Vec<FkViolation>) -> Result<(), Failure> {
    let new = fk::introduced(before, after);
    if new.is_empty() {
        return Ok(());
    }
    Err(Failure::ForeignKeys {
        count: new.len(),
        sample: new.into_iter().take(FK_SAMPLE).collect(),
    })
}
