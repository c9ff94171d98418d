//! What a run tells the application's log through `tracing`: its spans and events in one place,
//! so that their names and fields stay one vocabulary (docs/operations.md lists them).
//!
//! - span `run` (info): `db`, `direction`, `target`; recorded at its end: `outcome`
//!   (`applied`, `nothing_pending`, `failed`), `from_version`, `to_version`, `steps`,
//!   `duration_ms`;
//! - span `migration` (info), one per migration run: `version`, `migration_name`, `direction`;
//!   recorded: `statements`, `duration_ms`;
//! - spans `lock`, `recover`, `preflight`, `backup`, `checks`, `restore` (debug), one per safety
//!   step, each with `duration_ms` and what it found;
//! - events: info for what changed (each migration applied or reverted once committed, the
//!   run's end), warn for what an operator should look at (a failed run and the state it left,
//!   an interrupted run found, a restore), debug for each step's end, trace for each statement.
//!
//! Without a subscriber every macro here is a check of a static flag: nothing is formatted.

use std::path::Path;
use std::time::Instant;

use tracing::Span;
use tracing::field::Empty;

use crate::vocab::direction::Direction;
use crate::vocab::error::Error;
use crate::vocab::report::RunReport;
use crate::vocab::request::{DownTarget, Request};

/// The span of a run on `db` (empty for an in-memory database) carrying out `request`. Its
/// fields are formatted only when a subscriber wants the span.
pub(crate) fn run_span(db: Option<&Path>, request: &Request) -> Span {
    tracing::info_span!(
        "run",
        db = %db.map_or_else(|| ":memory:".into(), Path::to_string_lossy),
        direction = %request.direction(),
        target = %Target(request),
        outcome = Empty,
        from_version = Empty,
        to_version = Empty,
        steps = Empty,
        duration_ms = Empty,
    )
}

/// What a request asks for, in words.
struct Target<'a>(&'a Request);

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Request::Up { to: Some(v) } => write!(f, "up to {v}"),
            Request::Up { to: None } => f.write_str("all pending"),
            Request::Down(DownTarget::To(v)) => write!(f, "down to {v}"),
            Request::Down(DownTarget::Steps(n)) => write!(f, "{n} step(s) down"),
        }
    }
}

/// Records how the run in `span` ended, and says it: each migration applied (info), the run's
/// end (info), or its failure and what it left (warn).
pub(crate) fn finished(span: &Span, result: &Result<RunReport, Error>, started: Instant) {
    span.in_scope(|| say_finished(span, result, started));
}

fn say_finished(span: &Span, result: &Result<RunReport, Error>, started: Instant) {
    let duration_ms = millis(started);
    span.record("duration_ms", duration_ms);
    match result {
        Ok(report) if report.steps.is_empty() => {
            span.record("outcome", "nothing_pending");
            tracing::debug!(version = report.to_version, "nothing pending");
        }
        Ok(report) => {
            span.record("outcome", "applied");
            record_versions(span, report);
            let verb = match report.direction {
                Direction::Up => "applied migration",
                Direction::Down => "reverted migration",
            };
            for step in &report.steps {
                tracing::info!(
                    version = step.version,
                    migration_name = %step.name,
                    duration_ms = step.duration_ms,
                    "{verb}"
                );
            }
            tracing::info!(
                from_version = report.from_version,
                to_version = report.to_version,
                steps = report.steps.len(),
                backup = report.backup_id.as_deref(),
                duration_ms,
                "run finished"
            );
        }
        Err(Error::RunFailed { failure, report }) => {
            span.record("outcome", "failed");
            record_versions(span, report);
            tracing::warn!(
                error = %failure,
                database = %report.database,
                backup = report.backup_id.as_deref(),
                duration_ms,
                "run failed"
            );
        }
        Err(error) => {
            span.record("outcome", "failed");
            tracing::warn!(error = %error, duration_ms, "run refused");
        }
    }
}

fn record_versions(span: &Span, report: &RunReport) {
    if let Some(v) = report.from_version {
        span.record("from_version", v);
    }
    if let Some(v) = report.to_version {
        span.record("to_version", v);
    }
    span.record("steps", report.steps.len());
}

/// The span of one migration's script and verify queries.
pub(crate) fn migration_span(version: i64, name: &str, direction: Direction) -> Span {
    tracing::info_span!(
        "migration",
        version,
        migration_name = %name,
        direction = %direction,
        statements = Empty,
        duration_ms = Empty,
    )
}

/// A safety step of a run, each with a span of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SafetyStep {
    Lock,
    Recover,
    Preflight,
    Backup,
    Checks,
    Restore,
}

/// The span of one safety step, with a `duration_ms` recorded by [`done`] and what the step
/// records of its own (the backup's `id` and `bytes`, the restore's `outcome`).
pub(crate) fn step_span(step: SafetyStep) -> Span {
    match step {
        SafetyStep::Lock => tracing::debug_span!("lock", duration_ms = Empty),
        SafetyStep::Recover => tracing::debug_span!("recover", duration_ms = Empty),
        SafetyStep::Preflight => tracing::debug_span!("preflight", duration_ms = Empty),
        SafetyStep::Backup => {
            tracing::debug_span!("backup", id = Empty, bytes = Empty, duration_ms = Empty)
        }
        SafetyStep::Checks => tracing::debug_span!("checks", duration_ms = Empty),
        SafetyStep::Restore => {
            tracing::debug_span!("restore", outcome = Empty, duration_ms = Empty)
        }
    }
}

/// Records the duration of the step in `span` since `started`, and says it ended (debug).
pub(crate) fn done(span: &Span, started: Instant) {
    let duration_ms = millis(started);
    span.record("duration_ms", duration_ms);
    span.in_scope(|| tracing::debug!(duration_ms, "done"));
}

/// Milliseconds since `started`.
pub(crate) fn millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
