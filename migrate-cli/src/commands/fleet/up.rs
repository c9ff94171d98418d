//! `migrate fleet up`: every database under its own net, journaled, resumable.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use belay_migrate::{Migrator, Request, Version};
use serde::Serialize;

use super::{Archiving, Head, existing, exited, millis};
use crate::cli::FleetTargets;
use crate::context;
use crate::error::{CliError, code};
use crate::fleet::journal::{Identity, Journal};
use crate::fleet::outcome::{self, Outcome, Row};
use crate::fleet::runner::{self, Options, Work};
use crate::fleet::summary::Summary;
use crate::fleet::tally::Tally;
use crate::output::Output;
use crate::settings::Settings;

/// What `fleet up` was asked.
pub struct Asked<'a> {
    pub targets: &'a FleetTargets,
    pub journal: Option<&'a Path>,
    pub to: Option<Version>,
    pub options: Options,
}

/// `--json` output of `fleet up`.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    head: Head,
    journal: &'a Path,
    elapsed_ms: u64,
    summary: &'a Summary,
    databases: &'a [Row],
}

pub fn run(g: &Settings, out: &Output, asked: &Asked<'_>) -> Result<(), CliError> {
    let started = Instant::now();
    let journal_path = super::journal_path(asked.targets, asked.journal);
    let targets = super::databases(asked.targets, Some(&journal_path))?;
    let (migrator, archiving) = super::fleet_migrator(g)?;
    let request = Request::Up { to: asked.to };
    let journal = Journal::open(
        &journal_path,
        &Identity::of(migrator.migrations(), asked.to),
        context::lock_timeout(g)?,
    )?;
    if !journal.earlier.interrupted.is_empty() {
        out.note(&format!(
            "resuming from {}: {} database(s) were mid-run when the last fleet run stopped; each one's own net deals with what it left",
            journal_path.display(),
            journal.earlier.interrupted.len()
        ));
    }
    let interrupted = on_signals()?;
    let tally = Tally::for_output(out, targets.len());
    let finished = runner::run(
        &targets,
        journal,
        asked.options,
        &Work {
            run_one: &|db| run_one(&migrator, archiving, &request, db),
            still_done: &|db| still_done(&migrator, db),
            tally: &|row| tally.count(row),
            interrupted: &interrupted,
        },
    );
    drop(tally);
    let rows = finished.rows;
    let summary = Summary::of(
        &rows,
        finished
            .stopped
            .map(|s| s.reason(asked.options.max_failures)),
    );
    let mut exit_code = outcome::exit_code(&rows);
    if exit_code == 0 && rows.iter().any(|r| r.outcome == Outcome::NotStarted) {
        // Stopped by a signal (or the journal) before every database ran: not a success.
        exit_code = code::UNEXPECTED;
    }
    let journal_failed = finished.journal_error.as_ref().map(|e| {
        format!("the fleet journal could not be written, so no new database was started: {e}")
    });
    out.print(
        &Document {
            head: Head::new(exit_code, || {
                journal_failed.clone().unwrap_or_else(|| {
                    super::counted(
                        &rows,
                        |r| r.outcome.failed() || r.outcome == Outcome::NotStarted,
                        "did not finish",
                    )
                })
            }),
            journal: &journal_path,
            elapsed_ms: millis(started),
            summary: &summary,
            databases: &rows,
        },
        || {
            let mut text = summary.text();
            text.push_str(&format!(
                "the whole fleet run took {} ms; journal: {}{}\n",
                millis(started),
                journal_path.display(),
                if rows.iter().all(|r| r.outcome.done()) {
                    ""
                } else {
                    " (run the same command again to resume: databases already at the target are not migrated again)"
                }
            ));
            text
        },
    );
    if let Some(said) = journal_failed {
        out.note(&format!("error: {said}"));
    }
    exited(exit_code)
}

/// SIGTERM and SIGINT: the first stops new databases from starting (the running ones finish);
/// a second one ends the process at once, as without a handler.
fn on_signals() -> Result<Arc<AtomicBool>, CliError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&interrupted))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&interrupted)))
            .map_err(|source| CliError::Io {
                path: format!("the handler of signal {signal}").into(),
                source,
            })?;
    }
    Ok(interrupted)
}

/// One database under its own net.
fn run_one(migrator: &Migrator, archiving: Archiving, request: &Request, db: &Path) -> Row {
    let started = Instant::now();
    let result = existing(db).and_then(|()| match archiving {
        Archiving::Off => migrator.run(db, request).map_err(CliError::from),
        Archiving::BesideEach => {
            let mut own = migrator.clone();
            own.archive_dir(belay_migrate::guard::archive::default_dir(db));
            own.run(db, request).map_err(CliError::from)
        }
    });
    Row::of(db.to_path_buf(), result, millis(started))
}

/// Whether a database the journal records at the target still has nothing pending (a read:
/// it is not opened for writing). One rolled back or replaced since runs again.
fn still_done(migrator: &Migrator, db: &Path) -> bool {
    migrator
        .status(db)
        .is_ok_and(|s| s.database_exists && s.pending.is_empty() && s.problems.is_empty())
}
