//! `migrate fleet plan|up|status`: the same migrations over many databases (docs/fleet.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use belay_migrate::{Backups, Migrator, Request, Version, WriteLock};
use serde::Serialize;

use super::version_text;
use crate::cli::{FleetCommand, FleetTargets};
use crate::context;
use crate::error::CliError;
use crate::fleet::journal::{Identity, Journal, Record};
use crate::fleet::outcome::{self, Outcome, Row};
use crate::fleet::runner::{self, Options, Work};
use crate::fleet::summary::Summary;
use crate::fleet::tally::Tally;
use crate::fleet::targets;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output, command: &FleetCommand) -> Result<(), CliError> {
    match command {
        FleetCommand::Plan { targets, to } => plan(g, out, targets, *to),
        FleetCommand::Up {
            targets,
            to,
            jobs,
            canary,
            max_failures,
        } => up(
            g,
            out,
            targets,
            *to,
            Options {
                jobs: usize::from(*jobs),
                canary: *canary,
                max_failures: *max_failures,
            },
        ),
        FleetCommand::Status { targets } => status(g, out, targets),
    }
}

/// The databases `--dbs` or `--list` names.
fn databases(t: &FleetTargets) -> Result<Vec<PathBuf>, CliError> {
    match (&t.dbs, &t.list) {
        (Some(pattern), _) => targets::from_glob(pattern),
        (None, Some(list)) => targets::from_list(list),
        (None, None) => Err(CliError::Usage(
            "fleet commands need --dbs GLOB or --list FILE".into(),
        )),
    }
}

/// `--journal`, else `<list file>.fleet-journal`, else `./migrate.fleet-journal`.
fn journal_path(t: &FleetTargets) -> PathBuf {
    if let Some(journal) = &t.journal {
        return journal.clone();
    }
    match &t.list {
        Some(list) => {
            let mut name = list.as_os_str().to_owned();
            name.push(".fleet-journal");
            PathBuf::from(name)
        }
        None => PathBuf::from("migrate.fleet-journal"),
    }
}

/// Whether each database archives (`[archive]` configured), into `<db>.archive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Archiving {
    Off,
    BesideEach,
}

/// The migrator every database of the fleet runs with: the configuration's, each database's
/// backups beside it. A shared backup or archive directory is refused: every tenant's backups
/// in one directory would rotate each other's out.
fn fleet_migrator(g: &Settings) -> Result<(Migrator, Archiving), CliError> {
    if g.backup_dir.is_some() || g.file.backup_dir.is_some() {
        return Err(CliError::Usage(
            "a fleet keeps each database's backups beside it (<db>.backups); --backup-dir, MIGRATE_BACKUP_DIR or backup_dir in migrate.toml would put every database's backups in one directory: unset it for fleet commands".into(),
        ));
    }
    let archiving = if context::archiving(g) {
        if g.file.archive.dir.is_some() || g.file.archive.url.is_some() {
            return Err(CliError::Usage(
                "a fleet archives each database beside it (<db>.archive); [archive] dir or url in migrate.toml would put every database's archive in one place: remove it for fleet commands".into(),
            ));
        }
        Archiving::BesideEach
    } else {
        Archiving::Off
    };
    let mut migrator = context::migrator(g)?;
    migrator
        .backups(Backups::Take)
        .backup_min_ratio(context::min_ratio(g))
        .rotation(context::rotation(g))
        .write_lock(if g.file.exclusive == Some(true) {
            WriteLock::WholeRun
        } else {
            WriteLock::PerUnit
        });
    Ok((migrator, archiving))
}

/// One database under its own net.
fn run_one(migrator: &Migrator, archiving: Archiving, request: &Request, db: &Path) -> Row {
    let started = Instant::now();
    let result = belay_migrate::settle::regular_file(db)
        .map_err(CliError::from)
        .and_then(|_| match archiving {
            Archiving::Off => migrator.run(db, request).map_err(CliError::from),
            Archiving::BesideEach => {
                let mut own = migrator.clone();
                own.archive_dir(belay_migrate::guard::archive::default_dir(db));
                own.run(db, request).map_err(CliError::from)
            }
        });
    Row::of(db.to_path_buf(), result, millis(started))
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `--json` output of `fleet up`.
#[derive(Serialize)]
struct UpDocument<'a> {
    ok: bool,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
    journal: &'a Path,
    elapsed_ms: u64,
    summary: &'a Summary,
    databases: &'a [Row],
}

fn up(
    g: &Settings,
    out: &Output,
    t: &FleetTargets,
    to: Option<Version>,
    options: Options,
) -> Result<(), CliError> {
    let started = Instant::now();
    let targets = databases(t)?;
    let (migrator, archiving) = fleet_migrator(g)?;
    let request = Request::Up { to };
    let journal_path = journal_path(t);
    let journal = Journal::open(
        &journal_path,
        &Identity::of(migrator.migrations(), to),
        context::lock_timeout(g)?,
    )?;
    if !journal.earlier.interrupted.is_empty() {
        out.note(&format!(
            "resuming from {}: {} database(s) were mid-run when the last fleet run stopped; each one's own net deals with what it left",
            journal_path.display(),
            journal.earlier.interrupted.len()
        ));
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(|e| CliError::Usage(format!("cannot handle signal {signal}: {e}")))?;
    }
    let tally = Tally::for_output(out, targets.len());
    let finished = runner::run(
        &targets,
        journal,
        options,
        &Work {
            run_one: &|db| run_one(&migrator, archiving, &request, db),
            tally: &|row| tally.count(row),
            interrupted: &interrupted,
        },
    );
    drop(tally);
    let rows = finished.rows;
    let summary = Summary::of(
        &rows,
        finished.stopped.map(|s| s.reason(options.max_failures)),
    );
    let mut exit_code = outcome::exit_code(&rows);
    if exit_code == 0 && rows.iter().any(|r| r.outcome == Outcome::NotStarted) {
        // Stopped by a signal (or the journal) before every database ran: not a success.
        exit_code = crate::error::code::UNEXPECTED;
    }
    out.print(
        &UpDocument {
            ok: exit_code == 0,
            exit_code,
            error: error_of(
                exit_code,
                &rows,
                |r| r.outcome.failed() || r.outcome == Outcome::NotStarted,
                "did not finish",
            ),
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
                    " (run the same command again to resume: databases already at the target are not opened again)"
                }
            ));
            text
        },
    );
    if let Some(error) = finished.journal_error {
        return Err(error);
    }
    exited(exit_code)
}

/// One database's plan.
#[derive(Serialize)]
struct PlanRow {
    db: PathBuf,
    from_version: Option<Version>,
    to_version: Option<Version>,
    pending: Vec<Version>,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
}

#[derive(Serialize)]
struct PlanDocument<'a> {
    ok: bool,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
    databases: &'a [PlanRow],
}

fn plan(g: &Settings, out: &Output, t: &FleetTargets, to: Option<Version>) -> Result<(), CliError> {
    let targets = databases(t)?;
    let (migrator, _) = fleet_migrator(g)?;
    let request = Request::Up { to };
    let rows: Vec<PlanRow> = targets
        .into_iter()
        .map(|db| {
            match belay_migrate::settle::regular_file(&db)
                .map_err(CliError::from)
                .and_then(|_| migrator.plan(&db, &request).map_err(CliError::from))
            {
                Ok(plan) => PlanRow {
                    db,
                    from_version: plan.from,
                    to_version: plan.to,
                    pending: plan.steps.iter().map(|s| s.version).collect(),
                    exit_code: 0,
                    refused: None,
                },
                Err(e) => PlanRow {
                    db,
                    from_version: None,
                    to_version: None,
                    pending: Vec::new(),
                    exit_code: e.exit_code(),
                    refused: Some(e.to_string()),
                },
            }
        })
        .collect();
    let exit_code = worst(rows.iter().map(|r| r.exit_code));
    out.print(
        &PlanDocument {
            ok: exit_code == 0,
            exit_code,
            error: error_of(exit_code, &rows, |r| r.exit_code != 0, "cannot be planned"),
            databases: &rows,
        },
        || {
            let mut text = String::new();
            let (mut pending, mut current, mut refused) = (0, 0, 0);
            for row in &rows {
                let db = row.db.display();
                let line = match (&row.refused, row.pending.as_slice()) {
                    (Some(why), _) => {
                        refused += 1;
                        format!("{db}: refused (exit {}): {why}", row.exit_code)
                    }
                    (None, []) => {
                        current += 1;
                        format!(
                            "{db}: nothing to do at version {}",
                            version_text(row.from_version)
                        )
                    }
                    (None, versions) => {
                        pending += 1;
                        let listed: Vec<String> = versions.iter().map(Version::to_string).collect();
                        format!(
                            "{db}: at version {}, would apply {}",
                            version_text(row.from_version),
                            listed.join(", ")
                        )
                    }
                };
                text.push_str(&line.replace('\n', "\n  "));
                text.push('\n');
            }
            text.push_str(&format!(
                "fleet plan: {} database(s): {pending} with migrations to apply, {current} with nothing to do, {refused} refused\n",
                rows.len()
            ));
            text
        },
    );
    exited(exit_code)
}

/// The `error` object of a fleet document that did not succeed (the JSON contract every command
/// keeps): its kind and exit code, and how many databases `what`.
fn error_of<R>(
    exit_code: u8,
    rows: &[R],
    counted: impl Fn(&R) -> bool,
    what: &str,
) -> Option<serde_json::Value> {
    if exit_code == 0 {
        return None;
    }
    let mut error = CliError::Exit(exit_code).to_json()["error"].take();
    error["message"] = serde_json::Value::String(format!(
        "{} of {} database(s) {what}; each row says why",
        rows.iter().filter(|r| counted(r)).count(),
        rows.len()
    ));
    Some(error)
}

/// The most severe of the databases' exit codes (0 when all are 0).
fn worst(codes: impl Iterator<Item = u8>) -> u8 {
    codes.max().unwrap_or(0)
}

/// The command's result for an exit code it has already reported.
fn exited(code: u8) -> Result<(), CliError> {
    match code {
        0 => Ok(()),
        code => Err(CliError::Exit(code)),
    }
}

/// One database's status, with the journal's word on it.
#[derive(Serialize)]
struct StatusRow {
    db: PathBuf,
    current_version: Option<Version>,
    pending: usize,
    /// The last outcome the journal records for it.
    journal: Option<Outcome>,
    /// The journal says it started and never finished: mid-run when a fleet run stopped.
    mid_run: bool,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct StatusDocument<'a> {
    ok: bool,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
    journal: &'a Path,
    databases: &'a [StatusRow],
}

fn status(g: &Settings, out: &Output, t: &FleetTargets) -> Result<(), CliError> {
    let targets = databases(t)?;
    let (migrator, _) = fleet_migrator(g)?;
    let journal_path = journal_path(t);
    let record = Record::read(&journal_path)?;
    let rows: Vec<StatusRow> = targets
        .into_iter()
        .map(|db| {
            let journal = record.finished.get(&db).map(|r| r.outcome);
            let mid_run = record.interrupted.contains(&db);
            match belay_migrate::settle::regular_file(&db)
                .map_err(CliError::from)
                .and_then(|_| migrator.status(&db).map_err(CliError::from))
            {
                Ok(status) => StatusRow {
                    db,
                    current_version: status.current_version,
                    pending: status.pending.len(),
                    journal,
                    mid_run,
                    exit_code: 0,
                    error: None,
                },
                Err(e) => StatusRow {
                    db,
                    current_version: None,
                    pending: 0,
                    journal,
                    mid_run,
                    exit_code: e.exit_code(),
                    error: Some(e.to_string()),
                },
            }
        })
        .collect();
    let exit_code = worst(rows.iter().map(|r| r.exit_code));
    out.print(
        &StatusDocument {
            ok: exit_code == 0,
            exit_code,
            error: error_of(exit_code, &rows, |r| r.exit_code != 0, "cannot be read"),
            journal: &journal_path,
            databases: &rows,
        },
        || {
            let mut text = String::new();
            let mut versions = std::collections::BTreeMap::new();
            for row in &rows {
                let mut line = match &row.error {
                    Some(why) => format!(
                        "{}: unreadable (exit {}): {why}",
                        row.db.display(),
                        row.exit_code
                    ),
                    None => {
                        *versions.entry(row.current_version).or_insert(0) += 1;
                        format!(
                            "{}: version {}, {} pending",
                            row.db.display(),
                            version_text(row.current_version),
                            row.pending
                        )
                    }
                };
                if let Some(outcome) = row.journal {
                    line.push_str(&format!("; journal: {}", outcome.word()));
                }
                if row.mid_run {
                    line.push_str("; journal: mid-run when the fleet run stopped");
                }
                text.push_str(&line.replace('\n', "\n  "));
                text.push('\n');
            }
            let by_version: Vec<String> = versions
                .iter()
                .map(|(v, n)| format!("{n} at version {}", version_text(*v)))
                .collect();
            text.push_str(&format!(
                "fleet status: {} database(s): {}\n",
                rows.len(),
                by_version.join(", ")
            ));
            text
        },
    );
    exited(exit_code)
}
