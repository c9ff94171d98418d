//! The incremental integrity check: each tick checks tables one after another, each with its
//! indexes (`PRAGMA integrity_check(T)`, SQLite's own verdict), until its time budget is
//! spent, and remembers where it stopped; a pass ends when every table has been checked, so a
//! large database is covered in full every few ticks while each tick stays short.
//!
//! A table is the smallest piece: a tick always checks at least one, and a table that takes
//! longer than the budget makes its tick overrun (reported). What a per-table check leaves out
//! (the freelist, pages no b-tree owns) is checked by the drill's full check of a backup, which
//! is a page-for-page copy of the database.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::OpenFlags;

use super::state::Sweep;
use crate::Error;
use crate::integrity::{self, Depth, ForeignKeys};
use crate::vocab::verdict::Verdict;

/// Damage messages kept per pass.
const KEPT: usize = 20;

/// What one tick did.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// The tables checked, in order.
    pub checked: Vec<String>,
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
fn tables(db: &Path, busy_timeout: Duration) -> rusqlite::Result<Vec<String>> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    crate::database::db::set_busy_timeout(&conn, busy_timeout);
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
    let all = match tables(db, busy_timeout) {
        Ok(all) => all,
        Err(_) => {
            // The schema itself did not read: the whole-file check says why, in SQLite's words.
            let report = integrity::check(
                db,
                &integrity::Options {
                    busy_timeout,
                    foreign_keys: ForeignKeys::Skipped,
                    ..integrity::Options::new(Depth::Quick)
                },
            )?;
            let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
            return Ok(Tick {
                checked: vec!["sqlite_schema".to_owned()],
                verdict: report.verdict,
                coverage: 0.0,
                findings,
                overran: started.elapsed() > budget,
                pass_complete: false,
                duration: started.elapsed(),
            });
        }
    };
    sweep.done.retain(|t| all.contains(t));
    let mut checked = Vec::new();
    let mut blocked = false;
    let todo: Vec<&String> = all.iter().filter(|t| !sweep.done.contains(*t)).collect();
    for table in todo {
        if !checked.is_empty() && started.elapsed() >= budget {
            break;
        }
        checked.push(table.clone());
        let report = match integrity::check(
            db,
            &integrity::Options {
                tables: vec![table.clone()],
                busy_timeout,
                foreign_keys: ForeignKeys::Skipped,
                ..integrity::Options::new(Depth::Full)
            },
        ) {
            Ok(report) => report,
            // Dropped since the list was read: nothing left to check.
            Err(Error::NoSuchTable { .. }) => {
                sweep.done.insert(table.clone());
                continue;
            }
            Err(e) => return Err(e),
        };
        for finding in report.findings.iter().filter(|f| f.is_damage()) {
            if sweep.findings.len() < KEPT {
                sweep.findings.push(finding.to_string());
            }
        }
        if report.verdict == Verdict::CouldNotCheck && report.damage == 0 {
            // Locked or unreadable: tried again next tick, and the pass is not complete.
            if !sweep.unchecked.contains(table) {
                sweep.unchecked.push(table.clone());
            }
            blocked = true;
            break;
        }
        sweep.unchecked.retain(|t| t != table);
        sweep.done.insert(table.clone());
    }
    let covered = all.iter().filter(|t| sweep.done.contains(*t)).count();
    let pass_complete = covered == all.len() && !blocked;
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
        verdict,
        findings,
        coverage,
        overran: started.elapsed() > budget,
        pass_complete,
        duration: started.elapsed(),
    })
}
