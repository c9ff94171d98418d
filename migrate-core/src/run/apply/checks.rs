//! What is checked of a unit's work before its COMMIT (and, outside a transaction, before its
//! history row): its verify queries, the integrity of what it wrote, the foreign keys it
//! introduced; and how a failing statement is reported.

use std::time::Instant;

use rusqlite::Connection;

use super::database;
use crate::planning::plan::{Direction, Step};
use crate::record::history;
use crate::run::script::{self, StatementError};
use crate::run::touched::{Touched, Tracker};
use crate::vocab::report::{Failure, FkViolation, StepReport};
use belay_guard::integrity::{self, Depth};
use belay_guard::vocab::clock;

const FK_SAMPLE: usize = 10;

/// Up to this many touched tables are checked one by one; more, the whole file at once.
const PER_TABLE_CHECKS: usize = 16;

/// The integrity check of a unit's work, on the run's own connection (inside the unit's
/// transaction, it sees what is about to be committed): `quick_check(T)` of every table the
/// unit wrote or created (with its indexes), or `integrity_check` of the whole file at
/// [`Depth::Full`]. Only SQLite's exact `ok` passes.
///
/// A unit that edited `sqlite_schema` directly (`PRAGMA writable_schema`) gets the full check
/// of the whole file, after bumping `schema_version` so that this connection parses the edited
/// schema again (as SQLite's documentation prescribes after such edits): otherwise it would
/// check the objects as they were defined before.
pub(super) fn check_integrity(
    conn: &Connection,
    touched: &Touched,
    depth: Depth,
) -> Result<(), Failure> {
    let mut lines = Vec::new();
    let depth = if touched.schema_edited {
        let version: i64 = conn
            .query_row("PRAGMA schema_version", [], |r| r.get(0))
            .map_err(|e| database("reloading the edited schema", e))?;
        conn.execute_batch(&format!(
            "PRAGMA writable_schema = OFF; PRAGMA schema_version = {};",
            version + 1
        ))
        .map_err(|e| database("reloading the edited schema", e))?;
        Depth::Full
    } else {
        depth
    };
    match depth {
        Depth::Full => lines.extend(integrity::btree_check(conn, Depth::Full, None).into_lines()),
        // Many small checks cost more than one pass over the file: a run that created a whole
        // schema checks the file once.
        Depth::Quick if touched.tables.len() > PER_TABLE_CHECKS => {
            lines.extend(integrity::btree_check(conn, Depth::Quick, None).into_lines());
        }
        Depth::Quick => {
            for table in &touched.tables {
                let exists: bool = conn
                    .query_row(
                        "SELECT count(*) > 0 FROM main.sqlite_schema WHERE type = 'table' AND name = ?1",
                        [table],
                        |r| r.get(0),
                    )
                    .map_err(|e| database("checking integrity", e))?;
                if exists {
                    lines.extend(
                        integrity::btree_check(conn, Depth::Quick, Some(table)).into_lines(),
                    );
                }
            }
        }
    }
    match lines.first() {
        None => Ok(()),
        Some(first) => Err(Failure::Integrity {
            count: lines.len(),
            first: first.clone(),
        }),
    }
}

/// A statement failure the tracker caused by refusing a write to the tool's own tables, said
/// as such.
pub(super) fn refused(failure: Failure, tracker: &Tracker<'_>) -> Failure {
    let tables = tracker.touched().refused;
    match failure {
        Failure::Statement {
            version,
            origin,
            line,
            statement,
            ..
        } if !tables.is_empty() => Failure::OwnTables {
            version,
            origin,
            line,
            statement,
            tables: tables.into_iter().collect(),
        },
        other => other,
    }
}

/// Runs a step's verification queries, once its script has run.
pub(super) fn verify<'w>(
    conn: &Connection,
    step: &Step,
    started: Instant,
    arm: impl FnOnce() -> super::Deadline<'w>,
) -> Result<StepReport, Failure> {
    if let Some(verify) = &step.verify {
        // Armed only for queries to run: most migrations have none.
        let deadline = arm();
        script::verify(conn, verify).map_err(|e| {
            let at = format!(
                "the verify query of migration {} at {}:{}",
                step.version,
                verify.origin(),
                e.line
            );
            deadline.explain(
                Failure::Verify {
                    version: step.version,
                    origin: verify.origin().to_owned(),
                    line: e.line,
                    query: e.statement,
                    returned: e.message,
                },
                || at,
            )
        })?;
    }
    Ok(StepReport {
        version: step.version,
        name: step.name.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
        finished_at: clock::now_rfc3339(),
    })
}

/// Writes (up) or removes (down) a step's history row.
pub(super) fn record(
    conn: &Connection,
    direction: Direction,
    step: &Step,
    report: &StepReport,
) -> Result<(), Failure> {
    match direction {
        Direction::Up => {
            history::insert_applied(conn, step, &report.finished_at, report.duration_ms)
        }
        Direction::Down => history::delete_applied(conn, step.version),
    }
    .map_err(|e| database("recording the migration in _migrate_history", e))
}

pub(super) fn statement_failure(step: &Step, e: StatementError) -> Failure {
    Failure::Statement {
        version: step.version,
        origin: step.script.origin().to_owned(),
        line: e.line,
        statement: e.statement,
        message: e.message,
    }
}

pub(super) fn check_introduced(new: Vec<FkViolation>) -> Result<(), Failure> {
    if new.is_empty() {
        return Ok(());
    }
    Err(Failure::ForeignKeys {
        count: new.len(),
        sample: new.into_iter().take(FK_SAMPLE).collect(),
    })
}
