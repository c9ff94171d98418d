//! The run procedure of SPEC.md ("What a run does"), steps 1 to 8, in one function:
//! [`carry_out`]. Each step is a call to a function of its own (here or in the module that
//! owns the concept); this module only sequences them and carries what one step hands the next.
//!
//! The rule above all: the run never discards a commit it did not make. Its failures roll
//! back; a failure after a commit restores the pre-run backup only with proof that nobody else
//! committed since (see `writers`), and otherwise stops with exit 7.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::budget::BusyBudget;
use super::journal::RunJournal;
use super::log::{self, SafetyStep};
use super::place::{Marker, Net, Place};
use crate::planning::plan::{Allow, Plan};
use crate::read::migration::Version;
use crate::record::attempt::Attempt;
use crate::record::marker::Phase;
use crate::run::apply::{self, TransactionScope};
use crate::run::safety::{self, Backups};
use crate::vocab::error::Error;
use crate::vocab::progress::{self, Progress};
use crate::vocab::report::{DatabaseState, Interrupted, RunReport, StepReport};
use belay_guard::backup::{self, Manifest, Proof};
use belay_guard::database::fence::{Fence, WriteLock};
use belay_guard::database::writers::Watch;
use belay_guard::integrity::Depth;

/// How runs are carried out (the [`crate::migrator::Migrator`]'s settings).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub lock_timeout: Duration,
    pub scope: TransactionScope,
    pub allow: Allow,
    pub backups: Backups,
    pub backup_dir: Option<PathBuf>,
    /// The point-in-time archive: each unit records its restore point there.
    pub archive_dir: Option<PathBuf>,
    /// See `CreateOptions::min_ratio`.
    pub backup_min_ratio: Option<f64>,
    pub verification: Depth,
    pub write_lock: WriteLock,
    /// Which pre-migrate backups are kept after a run that took one and succeeded.
    pub rotation: Rotation,
    /// Extensions and application functions for the connection migrations run on.
    pub setup: crate::run::connect::Setup,
    /// Who is told what the run is doing.
    pub progress: Option<crate::vocab::progress::Observer>,
    /// How long verify queries, checks and migrations may run.
    pub budgets: crate::run::apply::Budgets,
    /// `[database]`: the journal mode (set under the lock) and the run connection's settings.
    pub database: belay_guard::database::settings::Settings,
}

/// What happens to older pre-migrate backups after a run that took one and succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Those the policy does not keep are deleted (manual and scheduled backups are never
    /// touched; the run's own backup is the newest, always kept).
    Keep(backup::Retention),
    /// Nothing is deleted.
    Off,
}

impl Default for Rotation {
    /// [`backup::Retention::default`]: 10 most recent, 7 daily, 4 weekly.
    fn default() -> Self {
        Rotation::Keep(backup::Retention::default())
    }
}

/// Steps 1 to 8 on `conn`. `replan` reads the database's state and plans the request (step
/// 3's validation included), under the lock.
///
/// # Errors
///
/// As [`crate::migrator::Migrator::run`].
pub(crate) fn carry_out(
    conn: &Connection,
    config: &Config,
    replan: impl Fn(&Connection) -> Result<Plan, Error>,
    started: Instant,
) -> Result<RunReport, Error> {
    let timeout = config.lock_timeout;
    let place = Place::of(conn, config.backup_dir.as_ref());
    // 1. The migration lock; a process that dies releases it. Waiting for it and for SQLite's
    //    write lock share one timeout.
    let lock = step(SafetyStep::Lock, || {
        place.lock(timeout, config.progress.as_ref())
    })?;
    let _budget = BusyBudget::set(conn, timeout.saturating_sub(started.elapsed()));
    // Where the run records itself must be safe before it changes anything.
    place.ready()?;
    // 2. An interrupted run: continued from its consistent version, restored with proof, or
    //    refused (exit 7).
    let interrupted = step(SafetyStep::Recover, || place.recover(conn, timeout))?;
    if let Some(found) = &interrupted {
        tracing::warn!(
            command = %found.command,
            phase = ?found.phase,
            holder = %found.holder,
            backup = ?found.backup_id,
            "an interrupted run was found and dealt with"
        );
    }
    // The configured journal mode persists in the file: it changes here, under the lock, after
    // an interrupted run was dealt with and before anything else is written.
    if let (Some(mode), Some(lock)) = (config.database.journal_mode, lock.as_ref()) {
        journal_mode_to(conn, mode, lock)?;
    }
    // 3. Validation, on the state as it is under the lock (another process may have migrated
    //    while this one waited).
    let plan = replan(conn)?;
    if plan.steps.is_empty() {
        return Ok(unchanged(plan, started, interrupted));
    }
    let fence = fence(conn, config, &plan, &place)?;
    let net = place.net(config.backups);
    // A database with nothing in it needs no backup: its pre-run state is known.
    let was_empty = place.empty(config.backups);
    let mut marker = place.marker(&plan, net, was_empty)?;
    // Read before the backup's snapshot: the proof a restore needs (see `writers`).
    let watch = Watch::start(conn).ok();
    // 4 and 5. Pre-flight check and backup, side by side.
    if net.is_some() {
        progress::report(config.progress.as_ref(), || Progress::CheckingAndBackingUp);
    }
    let backup = match prepare(net, marker.as_mut(), (timeout, config.backup_min_ratio)) {
        Ok(prepared) => prepared,
        Err(e) => {
            // Nothing was changed: the marker has nothing to tell the next run.
            if let Some(m) = &marker {
                let _ = m.clear();
            }
            return Err(e);
        }
    };
    let mut attempt = Attempt::of_plan(&plan, started);
    attempt.target(plan.to);
    attempt.backup(backup.as_ref().map(|m| m.id.clone()));
    // 6. Apply, every check before each COMMIT.
    let checks = apply::Checks {
        baseline: match (net, backup.as_ref()) {
            (Some(Net { dir, .. }), Some(manifest)) => apply::FkBaseline::Backup { dir, manifest },
            _ => apply::FkBaseline::Unknown,
        },
        integrity: config.verification,
        write_lock: config.write_lock,
        budgets: config.budgets,
        archive: config.archive_dir.as_deref(),
    };
    let mut journal = RunJournal {
        attempt: &mut attempt,
        marker: marker.as_mut(),
        watch,
        progress: super::journal::Progressing::new(config.progress.as_ref(), plan.steps.len()),
    };
    let applied = apply::execute(conn, &plan, config.scope, &mut journal, checks);
    let applied = commit_fence(fence, applied);
    // Another connection kept SQLite's write lock for the rest of the timeout: nothing began,
    // and recording the attempt in the database would wait for the same lock again.
    if let Err(apply::Failed {
        locked_out: Some(waited),
        ..
    }) = &applied
    {
        return Err(locked_out(&place, marker.as_ref(), &mut attempt, *waited));
    }
    // 7. A failure after a commit: restore with proof, or leave the database as it is.
    let outcome = match applied {
        Ok(steps) => Ok(steps),
        Err(failed) => Err(undo_failed(
            conn,
            failed,
            match (net, backup.as_ref(), was_empty) {
                (Some(net), Some(m), _) => Before::Backup(net, m),
                (_, _, Some(db)) => Before::Empty(db),
                _ => Before::Unknown,
            },
            (marker.as_mut(), watch),
            (timeout, config.progress.as_ref()),
        )?),
    };
    // 8. Record the attempt (a success was recorded inside the last unit), then the marker
    //    goes.
    let mut report = record(conn, &place, &plan, &mut attempt, backup.as_ref(), outcome);
    if let Some(m) = &marker {
        m.clear()?;
    }
    // Older pre-migrate backups go by the policy, once the run succeeded (a failed run's
    // backup may be what the operator restores by hand).
    if let (Ok(report), Some(net)) = (&mut report, net)
        && backup.is_some()
    {
        report.rotated = rotate(net.dir, config.rotation);
    }
    match &mut report {
        Ok(report) => report.interrupted = interrupted,
        Err(Error::RunFailed { report, .. }) => report.interrupted = interrupted,
        Err(_) => {}
    }
    report
}

/// Deletes the pre-migrate backups in `dir` that `rotation` does not keep; returns their ids.
/// A failure to delete one leaves it (and is not the run's failure).
fn rotate(dir: &std::path::Path, rotation: Rotation) -> Vec<String> {
    let Rotation::Keep(policy) = rotation else {
        return Vec::new();
    };
    let policy = backup::Retention {
        keep_last: policy.keep_last.max(1),
        ..policy
    };
    let Ok(all) = backup::list(dir) else {
        return Vec::new();
    };
    let automatic: Vec<Manifest> = all
        .into_iter()
        .filter(|m| m.reason == backup::Reason::PreMigrate)
        .collect();
    backup::to_delete(&automatic, &policy)
        .into_iter()
        .filter(|id| {
            automatic
                .iter()
                .find(|m| &m.id == id)
                .is_some_and(|m| backup::remove(dir, m).is_ok())
        })
        .collect()
}

/// The run that never began because another connection held SQLite's write lock: exit 3, as
/// for the migration lock; the attempt reaches the audit journal (the database's own table
/// would need that lock), the marker goes.
fn locked_out(
    place: &Place<'_>,
    marker: Option<&Marker<'_>>,
    attempt: &mut Attempt,
    waited: Duration,
) -> Error {
    attempt.locked_out(waited);
    place.audit(attempt, &DatabaseState::Unchanged);
    if let Some(m) = marker {
        let _ = m.clear();
    }
    let path = match place {
        Place::File { db, .. } => db.to_path_buf(),
        Place::Memory => PathBuf::new(),
    };
    Error::LockTimeout {
        path,
        waited,
        holder: "another connection holding SQLite's write lock (a writer of the application; SQLite does not say which process)".to_owned(),
    }
}

/// `--exclusive`: SQLite's write lock from before the backup's snapshot to the run's end
/// (see the `fence` module), refusing what cannot run inside one transaction.
fn fence<'c>(
    conn: &'c Connection,
    config: &Config,
    plan: &Plan,
    place: &Place<'_>,
) -> Result<Option<Fence<'c>>, Error> {
    if config.write_lock == WriteLock::PerUnit {
        return Ok(None);
    }
    if config.scope == TransactionScope::PerMigration {
        return Err(Error::Incompatible {
            reason: "holding the write lock for the whole run makes it one transaction: it cannot also commit each migration on its own".to_owned(),
        });
    }
    if let Some(step) = plan
        .steps
        .iter()
        .find(|s| s.script.transaction().runs_outside())
    {
        return Err(Error::Incompatible {
            reason: format!(
                "holding the write lock for the whole run makes it one transaction, and {} runs outside any transaction (migrate:no-transaction); nothing was changed",
                step.script.origin()
            ),
        });
    }
    let started = Instant::now();
    Fence::take(conn)
        .map(Some)
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Error::LockTimeout {
                    path: match place {
                        Place::File { db, .. } => db.to_path_buf(),
                        Place::Memory => PathBuf::new(),
                    },
                    waited: started.elapsed(),
                    holder: "another connection holding SQLite's write lock".to_owned(),
                }
            }
            _ => Error::Sqlite {
                context: "taking the write lock for the whole run".to_owned(),
                source: e,
            },
        })
}

/// Sets the database's journal mode to `mode` when it has another (logged: it outlives the run).
fn journal_mode_to(
    conn: &Connection,
    mode: belay_guard::database::settings::JournalMode,
    lock: &belay_guard::database::lock::MigrationLock,
) -> Result<(), Error> {
    if current_journal_mode(conn)?.eq_ignore_ascii_case(mode.as_str()) {
        return Ok(());
    }
    belay_guard::database::settings::apply_journal_mode(conn, mode, lock)?;
    tracing::info!(journal_mode = %mode, "journal mode set from [database]");
    Ok(())
}

/// `PRAGMA journal_mode` of `conn`'s main database.
pub(crate) fn current_journal_mode(conn: &Connection) -> Result<String, Error> {
    conn.query_row("PRAGMA main.journal_mode", [], |r| r.get(0))
        .map_err(|source| Error::Sqlite {
            context: "reading the journal mode".to_owned(),
            source,
        })
}

/// Steps 4 and 5: the pre-flight check and the backup read the same unchanged database, side
/// by side, moving the marker through its phases. A damaged database's backup is deleted (and
/// the directory, if the backup made it): nothing written.
fn prepare(
    net: Option<Net<'_>>,
    mut marker: Option<&mut Marker<'_>>,
    (timeout, min_ratio): (Duration, Option<f64>),
) -> Result<Option<Manifest>, Error> {
    let backup = match net {
        Some(Net { db, dir }) => {
            safety::ensure_space(db, dir)?;
            if let Some(m) = marker.as_mut() {
                m.enter(Phase::BackingUp)?;
            }
            let existed = dir.exists();
            let (checked, taken) = std::thread::scope(|s| {
                // The check's thread inherits neither the run's span nor a subscriber the
                // application set for this thread only: both are handed over.
                let preflight = log::step_span(SafetyStep::Preflight);
                let dispatch = tracing::dispatcher::get_default(Clone::clone);
                let check = s.spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        let started = Instant::now();
                        let found = preflight.in_scope(|| safety::preflight(db, timeout));
                        log::done(&preflight, started);
                        found
                    })
                });
                let taken = step(SafetyStep::Backup, || {
                    let taken = safety::backup(db, dir, (timeout, min_ratio));
                    if let Ok(m) = &taken {
                        tracing::Span::current()
                            .record("id", m.id.as_str())
                            .record("bytes", m.byte_size);
                    }
                    taken
                });
                (check.join(), taken)
            });
            match (checked, taken) {
                (Ok(Ok(())), taken) => Some(taken?),
                (Ok(Err(refused)), taken) => {
                    if let Ok(manifest) = taken {
                        backup::remove(dir, &manifest)?;
                    }
                    if !existed {
                        let _ = std::fs::remove_dir(dir);
                    }
                    return Err(refused);
                }
                (Err(panic), _) => std::panic::resume_unwind(panic),
            }
        }
        None => None,
    };
    if let Some(m) = marker {
        m.marker.backup_id = backup.as_ref().map(|b| b.id.clone());
        m.enter(Phase::Applying)?;
    }
    Ok(backup)
}

/// The whole run commits (or rolls back) here under `--exclusive`, before anything is
/// recorded outside it.
fn commit_fence(
    fence: Option<Fence<'_>>,
    applied: Result<Vec<StepReport>, apply::Failed>,
) -> Result<Vec<StepReport>, apply::Failed> {
    match (fence, applied) {
        (Some(fence), Ok(steps)) => fence.commit().map(|()| steps).map_err(|e| apply::Failed {
            failure: Box::new(apply::database("committing", e)),
            committed: Vec::new(),
            state: DatabaseState::Unchanged,
            locked_out: None,
        }),
        (Some(fence), Err(failed)) => {
            drop(fence);
            Err(failed)
        }
        (None, applied) => applied,
    }
}

/// What the database was before the run, as far as a failed run can put it back.
enum Before<'a> {
    /// In the pre-run backup.
    Backup(Net<'a>, &'a Manifest),
    /// Empty (or absent): nothing to back up, nothing but emptiness to put back.
    Empty(&'a std::path::Path),
    /// Not known (`--no-backup`, an in-memory database).
    Unknown,
}

/// Step 7 for a failed run: where part of it was committed, the pre-run state is put back with
/// proof (see [`undo`]): the backup, or for a database that was empty, an empty database;
/// without a known pre-run state it stays as the failure left it.
fn undo_failed(
    conn: &Connection,
    mut failed: apply::Failed,
    before: Before<'_>,
    (marker, watch): (Option<&mut Marker<'_>>, Option<Watch>),
    (timeout, observer): (Duration, Option<&progress::Observer>),
) -> Result<apply::Failed, Error> {
    let DatabaseState::PartiallyApplied { version } = failed.state else {
        return Ok(failed);
    };
    let span = log::step_span(SafetyStep::Restore);
    let _entered = span.enter();
    let started = Instant::now();
    match before {
        Before::Backup(net, m) => {
            if let Some(marker) = marker {
                marker.enter(Phase::Restoring)?;
            }
            progress::report(observer, || Progress::Restoring {
                backup: m.id.clone(),
            });
            failed.state = undo(conn, watch, net, m, version, timeout);
        }
        Before::Empty(db) => failed.state = empty_again(conn, watch, db, version, timeout),
        Before::Unknown => {}
    }
    if matches!(
        failed.state,
        DatabaseState::Restored { .. } | DatabaseState::Emptied
    ) {
        failed.committed.clear();
    }
    span.record("outcome", tracing::field::display(&failed.state));
    log::done(&span, started);
    tracing::warn!(database = %failed.state, "part of a failed run had committed");
    Ok(failed)
}

/// Runs the safety step `which` inside its span, recording how long it took.
fn step<T>(which: SafetyStep, f: impl FnOnce() -> T) -> T {
    let span = log::step_span(which);
    let started = Instant::now();
    let out = span.in_scope(f);
    log::done(&span, started);
    out
}

/// Empties a database that was empty before the run, once its own commits have failed part of
/// the way, with the same proof as every restore: nobody else committed since the run began.
fn empty_again(
    conn: &Connection,
    watch: Option<Watch>,
    db: &std::path::Path,
    version: Option<Version>,
    timeout: Duration,
) -> DatabaseState {
    let Some(token) = watch.and_then(|w| w.settled(conn)) else {
        return DatabaseState::NotEmptied { version };
    };
    match backup::restore_empty(db, timeout, Proof::Unchanged(token)) {
        Ok(true) => DatabaseState::Emptied,
        Ok(false) => DatabaseState::NotEmptied { version },
        Err(e) => DatabaseState::RestoreFailed {
            version,
            backup: "(none: the database was empty)".to_owned(),
            reason: e.to_string(),
        },
    }
}

/// Restores the pre-run backup `m` after a failure that left part of the run committed, only
/// with the proof that nobody else committed since its snapshot: the state the run's own
/// commits left (settled now, see the `writers` module) must still be the database's once the
/// restore holds the write lock. Without it, nothing is discarded.
fn undo(
    conn: &Connection,
    watch: Option<Watch>,
    net: Net<'_>,
    m: &Manifest,
    version: Option<Version>,
    timeout: Duration,
) -> DatabaseState {
    let not_restored = || DatabaseState::NotRestored {
        version,
        backup: m.id.clone(),
    };
    let Some(token) = watch.and_then(|w| w.settled(conn)) else {
        return not_restored();
    };
    match backup::restore_locked(net.db, net.dir, m, timeout, Proof::Unchanged(token)) {
        Ok(Some(_)) => DatabaseState::Restored {
            backup: m.id.clone(),
        },
        Ok(None) => not_restored(),
        Err(e) => DatabaseState::RestoreFailed {
            version,
            backup: m.id.clone(),
            reason: e.to_string(),
        },
    }
}

/// Step 8: the report, and the attempt recorded (a failure in a transaction of its own, after
/// the rollback or restore) in `_migrate_attempts` and the audit journal.
fn record(
    conn: &Connection,
    place: &Place<'_>,
    plan: &Plan,
    attempt: &mut Attempt,
    backup: Option<&Manifest>,
    outcome: Result<Vec<StepReport>, apply::Failed>,
) -> Result<RunReport, Error> {
    let mut report = RunReport {
        direction: plan.direction,
        from_version: plan.from,
        to_version: plan.to,
        steps: Vec::new(),
        allowed: plan.allowed.clone(),
        attempt_id: attempt.id(),
        backup_id: backup.map(|m| m.id.clone()),
        duration_ms: 0,
        database: DatabaseState::Migrated,
        interrupted: None,
        rotated: Vec::new(),
    };
    let failure = match outcome {
        Ok(steps) => {
            report.steps = steps;
            None
        }
        Err(failed) => {
            let state = failed.state;
            report.to_version = match &state {
                DatabaseState::PartiallyApplied { version }
                | DatabaseState::NotRestored { version, .. }
                | DatabaseState::NotEmptied { version }
                | DatabaseState::RestoreFailed { version, .. } => *version,
                _ => plan.from,
            };
            if matches!(
                state,
                DatabaseState::Unchanged | DatabaseState::Restored { .. } | DatabaseState::Emptied
            ) {
                attempt.forget_fingerprint();
            }
            let message = format!("{}\n{}", failed.failure, state);
            // The run's own error matters more than a failure to record it.
            let _ = attempt.fail(conn, message, report.to_version, &failed.committed);
            report.attempt_id = attempt.id();
            report.steps = failed.committed;
            report.database = state;
            Some(failed.failure)
        }
    };
    report.duration_ms = attempt.elapsed_ms();
    place.audit(attempt, &report.database);
    match failure {
        None => Ok(report),
        Some(failure) => Err(Error::RunFailed {
            failure,
            report: Box::new(report),
        }),
    }
}

/// The report of a run with nothing to do.
pub(crate) fn unchanged(
    plan: Plan,
    started: Instant,
    interrupted: Option<Interrupted>,
) -> RunReport {
    RunReport {
        direction: plan.direction,
        from_version: plan.from,
        to_version: plan.from,
        steps: Vec::new(),
        allowed: plan.allowed,
        attempt_id: None,
        backup_id: None,
        duration_ms: started.elapsed().as_millis() as u64,
        database: DatabaseState::Unchanged,
        interrupted,
        rotated: Vec::new(),
    }
}
