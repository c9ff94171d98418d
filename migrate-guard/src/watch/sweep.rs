//! The incremental integrity check: each tick takes steps of the tables' full checks, one
//! after another (`integrity::Stepper`: a table's structure, each index's entries, its rows in
//! ranges of row ids; SQLite's own `integrity_check(T)` for a table those cannot express),
//! until its time budget is spent, and remembers where it stopped, part-way through a table
//! included; a pass ends when every table has been checked, so a large database is covered in
//! full every few ticks while each tick stays short.
//!
//! A step is the smallest piece: a tick always takes one, and a step longer than the budget
//! (the structure of a very large table, read by one `quick_check(T)`) makes its tick overrun
//! (reported). What per-table checks leave out (the freelist, pages no b-tree owns) is checked
//! by the drill's full check of a backup, which is a page-for-page copy of the database.

use std::path::Path;
use std::time::{Duration, Instant};

use super::state::{Position, Sweep};
use crate::Error;
use crate::integrity::{self, Depth, ForeignKeys, Stage, Stepper};
use crate::vocab::verdict::{Stop, Verdict, classify};

/// Damage messages kept per pass.
const KEPT: usize = 20;

/// Row ids per step of a table's rows.
pub const ROWS_PER_STEP: i64 = 16_384;

/// What one tick did.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// The tables this tick checked (part of), in order.
    pub checked: Vec<String>,
    /// Steps taken.
    pub steps: usize,
    /// Damage anywhere in the current pass, or in the last complete one until a pass finds
    /// none; otherwise could-not-check when a table could not be checked; otherwise ok.
    pub verdict: Verdict,
    /// What was found (the current pass's damage, then the last complete pass's).
    pub findings: Vec<String>,
    /// Tables covered in the current pass over tables in the database (1.0 when a pass has
    /// just ended).
    pub coverage: f64,
    /// The tick took longer than its budget.
    pub overran: bool,
    /// This tick ended a pass.
    pub pass_complete: bool,
    /// How long it took.
    pub duration: Duration,
}

/// The tables of `db` a pass covers, in name order.
fn tables(stepper_db: &Path, busy_timeout: Duration) -> rusqlite::Result<Vec<String>> {
    let conn = crate::database::db::open_to_check(stepper_db, busy_timeout)?;
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND rootpage > 0 ORDER BY name",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// Runs one tick on `db` within `budget`, carrying on from `sweep`.
///
/// # Errors
///
/// [`Error::NoDatabase`] when there is no database at `db`. Damage and locks are not errors:
/// they are the tick's verdict.
#[tracing::instrument(name = "check_tick", level = "debug", skip_all, fields(db = %db.display()), err(level = "warn"))]
pub fn tick(
    db: &Path,
    budget: Duration,
    busy_timeout: Duration,
    sweep: &mut Sweep,
) -> Result<Tick, Error> {
    let started = Instant::now();
    if crate::database::db::regular_file(db)?.is_none() {
        return Err(Error::NoDatabase {
            path: db.to_path_buf(),
        });
    }
    let opened =
        tables(db, busy_timeout).and_then(|all| Stepper::open(db, busy_timeout).map(|s| (all, s)));
    let (all, stepper) = match opened {
        Ok(opened) => opened,
        Err(e) => return Ok(unopened(db, busy_timeout, budget, &e, started)),
    };
    sweep.done.retain(|t| all.contains(t));
    sweep.unchecked.retain(|t| all.contains(t));
    if sweep
        .position
        .as_ref()
        .is_some_and(|p| !all.contains(&p.table) || sweep.done.contains(&p.table))
    {
        // Dropped since, or finished: nothing left to resume.
        sweep.position = None;
    }
    let mut checked: Vec<String> = Vec::new();
    let mut steps = 0;
    let mut blocked = false;
    loop {
        if steps > 0 && started.elapsed() >= budget {
            break;
        }
        let position = match sweep.position.take() {
            Some(p) => p,
            None => match all.iter().find(|t| !sweep.done.contains(*t)) {
                Some(table) => Position {
                    table: table.clone(),
                    stage: Stage::Structure,
                },
                None => break,
            },
        };
        if checked.last() != Some(&position.table) {
            checked.push(position.table.clone());
        }
        let step = stepper.step(&position.table, &position.stage, ROWS_PER_STEP);
        steps += 1;
        for finding in step.findings.iter().filter(|f| f.is_damage()) {
            if sweep.findings.len() < KEPT {
                sweep.findings.push(finding.to_string());
            }
        }
        let stopped = step.findings.iter().any(|f| f.obstacle.is_some());
        if stopped && !step.findings.iter().any(|f| f.is_damage()) {
            // Locked or unreadable: this step is taken again next tick.
            if !sweep.unchecked.contains(&position.table) {
                sweep.unchecked.push(position.table.clone());
            }
            sweep.position = Some(position);
            blocked = true;
            break;
        }
        match step.next {
            Some(stage) if !stopped => {
                sweep.position = Some(Position {
                    table: position.table,
                    stage,
                });
            }
            _ => {
                sweep.unchecked.retain(|t| t != &position.table);
                sweep.done.insert(position.table);
            }
        }
    }
    let covered = all.iter().filter(|t| sweep.done.contains(*t)).count();
    let pass_complete = covered == all.len() && !blocked && sweep.position.is_none();
    let mut findings = sweep.findings.clone();
    if !pass_complete {
        // A pass that has just ended covered everything: its own findings are the verdict.
        findings.extend(sweep.carried.iter().cloned());
    }
    let verdict = if !findings.is_empty() {
        Verdict::Damaged
    } else if blocked || !sweep.unchecked.is_empty() {
        Verdict::CouldNotCheck
    } else {
        Verdict::Ok
    };
    let coverage = if all.is_empty() {
        1.0
    } else {
        covered as f64 / all.len() as f64
    };
    if pass_complete {
        sweep.passes += 1;
        sweep.last_pass_unix = Some(super::every::seconds_of(std::time::SystemTime::now()));
        sweep.done.clear();
        sweep.carried = std::mem::take(&mut sweep.findings);
    }
    Ok(Tick {
        checked,
        steps,
        verdict,
        findings,
        coverage,
        overran: started.elapsed() > budget,
        pass_complete,
        duration: started.elapsed(),
    })
}

/// The tick of a database whose schema could not be read: an obstacle (locked, unreadable)
/// is could-not-check; anything else is what the whole-file check says, in SQLite's words.
fn unopened(
    db: &Path,
    busy_timeout: Duration,
    budget: Duration,
    e: &rusqlite::Error,
    started: Instant,
) -> Tick {
    let (verdict, findings) = match classify(e) {
        Stop::Obstacle(o) => (
            Verdict::CouldNotCheck,
            vec![format!("reading the schema failed ({o:?}): {e}")],
        ),
        Stop::Damage => {
            let report = integrity::check(
                db,
                &integrity::Options {
                    busy_timeout,
                    foreign_keys: ForeignKeys::Skipped,
                    ..integrity::Options::new(Depth::Quick)
                },
            );
            match report {
                Ok(report) => (
                    report.verdict,
                    report.findings.iter().map(ToString::to_string).collect(),
                ),
                Err(e) => (Verdict::CouldNotCheck, vec![e.to_string()]),
            }
        }
    };
    Tick {
        checked: vec!["sqlite_schema".to_owned()],
        steps: 1,
        verdict,
        coverage: 0.0,
        findings,
        overran: started.elapsed() > budget,
        pass_complete: false,
        duration: started.elapsed(),
    }
}
