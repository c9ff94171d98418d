//! The watchman: one per database (it holds `<db>.migrate-watch`), running the tasks its
//! schedule makes due, each recorded in the state `health` reads and in `audit.jsonl`.
//!
//! A backup or checkpoint only runs while it holds the migration lock, taken without waiting:
//! while a migration run holds it the task is deferred and tried again on the next round, so
//! nothing is backed up or checkpointed in the middle of a run, and a run that starts during a
//! task waits for that one task at most (the lock is let go between tasks). Checks and drills
//! read committed snapshots and backups, so they run beside a migration.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::alerts::{self, Alert};
use super::drill::{self, Drilled};
use super::every::{Every, seconds_of};
use super::health::{self, Health, Inputs};
use super::state::{CheckState, DrillState, State, TaskRun};
use super::sweep;
use crate::Error;
use crate::archive::{Archiver, Checkpointing};
use crate::backup::{self, CreateOptions, Reason, Retention};
use crate::database::checkpointer::{self, Checkpointer, Purpose};
use crate::database::lock::{self, MigrationLock};
use crate::database::wal::Checkpointed;
use crate::files::{journal, spool};
use crate::vocab::clock;
use crate::vocab::holder::Holder;

/// The watchman's lock file beside `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    crate::database::db::sibling(db, ".migrate-watch")
}

/// A task of the watchman.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    /// Take a backup, then rotate by the retention policy.
    Backup,
    /// One tick of the incremental check.
    Check,
    /// One checkpoint by the policy.
    Checkpoint,
    /// Restore the newest backup to scratch, verify, check fully (and a point of the archive).
    Drill,
    /// Ship new commits into the point-in-time archive.
    Archive,
}

impl Task {
    /// Every task, in the order a round runs them.
    pub const ALL: [Task; 5] = [
        Task::Archive,
        Task::Backup,
        Task::Drill,
        Task::Check,
        Task::Checkpoint,
    ];

    /// Its name in `[watch]`, the state and the journal.
    pub fn name(self) -> &'static str {
        match self {
            Task::Backup => "backup",
            Task::Check => "check",
            Task::Checkpoint => "checkpoint",
            Task::Drill => "drill",
            Task::Archive => "archive",
        }
    }
}

/// When each task runs (`None`: it does not).
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// Backups.
    pub backup: Option<Every>,
    /// Check ticks.
    pub check: Option<Every>,
    /// Checkpoints.
    pub checkpoint: Option<Every>,
    /// Drills.
    pub drill: Option<Every>,
    /// Archiving rounds (with [`Config::archive`]).
    pub archive: Option<Every>,
}

impl Schedule {
    /// The schedule of `task`.
    pub fn of(&self, task: Task) -> Option<&Every> {
        match task {
            Task::Backup => self.backup.as_ref(),
            Task::Check => self.check.as_ref(),
            Task::Checkpoint => self.checkpoint.as_ref(),
            Task::Drill => self.drill.as_ref(),
            Task::Archive => self.archive.as_ref(),
        }
    }
}

/// Everything the watchman needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database.
    pub db: PathBuf,
    /// Its backup directory (backups, journal, state).
    pub dir: PathBuf,
    /// When tasks run.
    pub schedule: Schedule,
    /// The time budget of one check tick.
    pub check_budget: Duration,
    /// What alerts and health judge against.
    pub thresholds: health::Thresholds,
    /// How backups are taken.
    pub backup: CreateOptions,
    /// Which backups are kept.
    pub retention: Retention,
    /// The checkpoint policy.
    pub checkpoint: checkpointer::Policy,
    /// How long reads wait for a lock.
    pub busy_timeout: Duration,
    /// Connections a drill's full check uses.
    pub workers: usize,
    /// The point-in-time archive, when archiving is on.
    pub archive: Option<ArchiveConfig>,
    /// A store each scheduled backup is also copied to, pruned by the same retention.
    pub remote: Option<std::sync::Arc<crate::remote::Remote>>,
}

/// Archiving under the watchman.
#[derive(Debug, Clone)]
pub struct ArchiveConfig {
    /// The archive's directory.
    pub dir: PathBuf,
    /// The archiver's options.
    pub options: crate::archive::Options,
    /// Generations whose newest point is older are removed (none: all are kept).
    pub retention: Option<Duration>,
}

impl Config {
    /// Every task off, a 200 ms check budget, scheduled zstd backups, the default retention
    /// and checkpoint policy.
    pub fn new(db: &Path, dir: &Path) -> Self {
        Config {
            db: db.to_path_buf(),
            dir: dir.to_path_buf(),
            schedule: Schedule::default(),
            check_budget: Duration::from_millis(200),
            thresholds: health::Thresholds::default(),
            backup: CreateOptions {
                reason: Reason::Scheduled,
                ..CreateOptions::default()
            },
            retention: Retention::default(),
            checkpoint: checkpointer::Policy::default(),
            busy_timeout: Duration::from_secs(5),
            workers: 1,
            archive: None,
            remote: None,
        }
    }
}

/// How a task went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It did its work.
    Done(String),
    /// It ran and failed.
    Failed(String),
    /// It did not run: a migration run holds the lock (tried again next round).
    Deferred(String),
    /// It ran and found nothing to do (an archive round with nothing committed): kept in
    /// memory, neither journalled nor written to the state file, so a task every 250 ms does
    /// not write a line every 250 ms.
    Quiet(String),
}

/// One line of `audit.jsonl` for a task.
#[derive(Serialize)]
struct Entry<'a> {
    database: String,
    event: &'static str,
    task: &'static str,
    at: &'a str,
    outcome: &'static str,
    detail: &'a str,
    duration_ms: u64,
    host: String,
    pid: u32,
}

/// The running watchman.
pub struct Watchman {
    config: Config,
    state: State,
    checkpointer: Checkpointer,
    /// Started by the first archiving round (and again after one that failed).
    archiver: Option<Archiver>,
    /// Copies the archive to `config.remote` after each round.
    shipper: crate::archive::mirror::Shipper,
    /// Whether the shipper followed a round yet (the first also prunes the store).
    shipper_started: bool,
    _held: MigrationLock,
}

impl std::fmt::Debug for Watchman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchman")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("archiving", &self.archiver.is_some())
            .finish_non_exhaustive()
    }
}

impl Watchman {
    /// Takes `<db>.migrate-watch` (without waiting) and reads the state. A state file that is
    /// not one is set aside (`watch-state.json.unreadable-<time>`, said in the log) and the
    /// watchman starts afresh, as it does when the state cannot be read at all: what it kept
    /// is not needed to keep the data safe.
    ///
    /// # Errors
    ///
    /// [`Error::LockTimeout`] naming the holder when another watchman watches `db`;
    /// [`Error::NoDatabase`] when there is no database; [`Error::InvalidRequest`] when the
    /// backup directory holds another database's watch state.
    pub fn start(config: Config) -> Result<Self, Error> {
        if crate::database::db::regular_file(&config.db)?.is_none() {
            return Err(Error::NoDatabase {
                path: config.db.clone(),
            });
        }
        let held =
            MigrationLock::acquire_file(lock_path(&config.db), Duration::ZERO, &mut |_, _| {})?;
        let mut state = match State::read(&config.dir) {
            Ok(state) => state,
            Err(e) => {
                let file = super::state::path(&config.dir);
                let kept = config.dir.join(format!(
                    "{}.unreadable-{}",
                    super::state::FILE,
                    clock::now_rfc3339().replace(':', "")
                ));
                match std::fs::rename(&file, &kept) {
                    Ok(()) => {
                        tracing::warn!(error = %e, kept = %kept.display(), "the watch state was set aside; starting afresh");
                    }
                    // Unreadable and immovable (a directory that is not one, no permission):
                    // the tasks still run, and each record that fails is logged.
                    Err(moved) => {
                        tracing::error!(error = %e, set_aside = %moved, "the watch state cannot be read; starting afresh");
                    }
                }
                State::default()
            }
        };
        if !state.is_about(&config.db) {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "{} is the watch state of {}, not of {}: give each database its own backup directory",
                    super::state::path(&config.dir).display(),
                    state.database.as_deref().unwrap_or("?"),
                    config.db.display()
                ),
            });
        }
        state.database = Some(super::state::canonical(&config.db));
        Ok(Watchman {
            checkpointer: Checkpointer::new(&config.db, config.checkpoint),
            config,
            state,
            archiver: None,
            shipper: crate::archive::mirror::Shipper::new(),
            shipper_started: false,
            _held: held,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state as of the last task.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The tasks due at `now`, in the order they run.
    pub fn due(&self, now: SystemTime) -> Vec<Task> {
        Task::ALL
            .into_iter()
            .filter(|t| {
                self.config
                    .schedule
                    .of(*t)
                    .is_some_and(|every| every.due(self.state.last_run(t.name()), now))
            })
            .collect()
    }

    /// When the next task is due (`None`: no task is scheduled).
    pub fn next_due(&self) -> Option<SystemTime> {
        Task::ALL
            .into_iter()
            .filter_map(|t| {
                let every = self.config.schedule.of(t)?;
                match self.state.last_run(t.name()) {
                    None => Some(SystemTime::now()),
                    Some(last) => every.next_after(last),
                }
            })
            .min()
    }

    /// Runs `task` once and records it (state file and journal). A deferred task is not
    /// recorded as run: it stays due. A record that cannot be written (a full disk) is logged
    /// as an error and the watchman goes on: that is when its alerts matter most.
    #[tracing::instrument(name = "watch_task", level = "info", skip_all, fields(db = %self.config.db.display(), task = task.name()))]
    pub fn run(&mut self, task: Task) -> Outcome {
        let at = clock::now_rfc3339();
        let at_unix = seconds_of(SystemTime::now());
        let started = Instant::now();
        let outcome = match task {
            Task::Backup => self.backup(),
            Task::Check => self.check(&at, at_unix),
            Task::Checkpoint => self.checkpoint(at_unix),
            Task::Drill => self.drill(&at, at_unix),
            Task::Archive => self.archive(),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let (ok, detail, name) = match &outcome {
            Outcome::Done(d) => (true, d, "done"),
            Outcome::Failed(d) => (false, d, "failed"),
            Outcome::Deferred(d) => {
                tracing::info!(detail = %d, "deferred");
                return outcome;
            }
            Outcome::Quiet(d) => {
                tracing::debug!(detail = %d, duration_ms, "nothing to do");
                self.state.tasks.insert(
                    task.name().to_owned(),
                    TaskRun {
                        at,
                        at_unix,
                        ok: true,
                        detail: d.clone(),
                        duration_ms,
                    },
                );
                return outcome;
            }
        };
        if ok {
            tracing::info!(detail = %detail, duration_ms, "done");
        } else {
            tracing::warn!(detail = %detail, duration_ms, "failed");
        }
        self.state.tasks.insert(
            task.name().to_owned(),
            TaskRun {
                at: at.clone(),
                at_unix,
                ok,
                detail: detail.clone(),
                duration_ms,
            },
        );
        if let Err(e) = self.state.write(&self.config.dir) {
            tracing::error!(error = %e, "the watch state could not be written");
        }
        let me = Holder::current();
        let entry = Entry {
            database: self.config.db.display().to_string(),
            event: "watch_task",
            task: task.name(),
            at: &at,
            outcome: name,
            detail,
            duration_ms,
            host: me.host,
            pid: me.pid,
        };
        if let Err(e) =
            journal::append_or_spool(&self.config.dir, &spool::path(&self.config.db), &entry)
        {
            tracing::error!(error = %e, "the task could not be recorded in the journal");
        }
        outcome
    }

    /// The health report now, and the alerts it raises or clears (the firing set is kept in
    /// the state; a state that cannot be written is logged, and the alerts are returned all
    /// the same).
    pub fn evaluate(&mut self, inputs: Inputs) -> (Health, Vec<Alert>) {
        let report = health::of_state(&self.config.db, &self.config.dir, inputs, &self.state);
        let alerts = alerts::transitions(
            &mut self.state.firing,
            &report.conditions(),
            (&report.database, &report.at),
        );
        if !alerts.is_empty()
            && let Err(e) = self.state.write(&self.config.dir)
        {
            tracing::error!(error = %e, "the alerts firing could not be recorded");
        }
        (report, alerts)
    }

    /// The inputs of the health report this watchman's configuration judges by.
    pub fn inputs(&self) -> Inputs {
        Inputs {
            thresholds: self.config.thresholds,
            archive: self.config.archive.as_ref().map(|a| a.dir.clone()),
            ..Inputs::default()
        }
    }

    /// One archiving round: commits shipped, a checkpoint past the archive's limit only
    /// while the watchman holds the migration lock, generations past retention removed.
    fn archive(&mut self) -> Outcome {
        self.archive_round(Checkpointing::Allowed).0
    }

    /// The round's outcome, and whether it checkpointed.
    fn archive_round(&mut self, asked: Checkpointing) -> (Outcome, bool) {
        let Some(config) = self.config.archive.clone() else {
            return (
                Outcome::Done("archiving is not configured".to_owned()),
                false,
            );
        };
        if self.archiver.is_none() {
            match Archiver::start(&self.config.db, &config.dir, config.options) {
                Ok(a) => self.archiver = Some(a),
                Err(e) => {
                    return (
                        Outcome::Failed(format!("the archiver could not start: {e}")),
                        false,
                    );
                }
            }
        }
        let held = self.try_migration_lock();
        let checkpointing = match (&held, asked) {
            (Ok(_), asked) => asked,
            // A checkpoint asked for waits for the run; shipping does not.
            (Err(deferred), Checkpointing::Now) => return (deferred.clone(), false),
            (Err(_), _) => Checkpointing::HeldBack,
        };
        let archiver = self.archiver.as_mut().expect("started above");
        let round = archiver.round_with(checkpointing);
        drop(held);
        match round {
            Ok(round) => {
                let pruned = match config.retention.map(|keep| archiver.prune(keep)) {
                    Some(Err(e)) => {
                        return (Outcome::Failed(format!("retention failed: {e}")), false);
                    }
                    Some(Ok(pruned)) => pruned.len(),
                    None => 0,
                };
                let gap = round.gap.as_ref().map_or(String::new(), |g| {
                    format!(
                        "; gap after commit {}: {}",
                        g.after.as_ref().map_or(0, |e| e.commit),
                        g.reason
                    )
                });
                let idle = round.commits == 0
                    && round.generation.is_none()
                    && round.gap.is_none()
                    && !round.checkpointed
                    && round.compacted == 0
                    && pruned == 0;
                let offsite = match &self.config.remote {
                    Some(remote) => {
                        let first = !self.shipper_started;
                        self.shipper_started = true;
                        let cutoff_ms =
                            config
                                .retention
                                .filter(|_| first || pruned > 0)
                                .map(|keep| {
                                    crate::vocab::clock::unix_millis_now() - keep.as_millis() as i64
                                });
                        let following = crate::archive::mirror::Following {
                            change: if idle {
                                crate::archive::mirror::Change::Unchanged
                            } else {
                                crate::archive::mirror::Change::Changed
                            },
                            cutoff_ms,
                            record_in: &self.config.dir,
                        };
                        match self.shipper.follow(remote, &config.dir, following) {
                            Ok(shipped) if shipped.objects > 0 => format!(
                                ", {} object(s) copied to {}",
                                shipped.objects,
                                remote.shown()
                            ),
                            Ok(_) => String::new(),
                            // The round's own work stands (and its checkpoint counts); the
                            // failed copy is recorded for health and tried again later.
                            Err(e) => format!(
                                "; copying the archive to {} failed (tried again later; health says so): {e}",
                                remote.shown()
                            ),
                        }
                    }
                    None => String::new(),
                };
                let done = if idle && offsite.is_empty() {
                    Outcome::Quiet
                } else {
                    Outcome::Done
                };
                let done = done(format!(
                    "{} commit(s) archived, newest point {}{}{}{gap}{}{}{offsite}",
                    round.commits,
                    round.last.map_or("none".to_owned(), |p| p.id.to_string()),
                    round
                        .generation
                        .as_ref()
                        .map_or(String::new(), |g| format!(", began {g}")),
                    if round.checkpointed {
                        ", checkpointed"
                    } else {
                        ""
                    },
                    if round.compacted > 0 {
                        format!(", {} segment(s) compacted", round.compacted)
                    } else {
                        String::new()
                    },
                    if pruned > 0 {
                        format!(", {pruned} generation(s) past retention removed")
                    } else {
                        String::new()
                    }
                ));
                (done, round.checkpointed)
            }
            Err(e) => {
                // The next round starts afresh and proves where the WAL stands.
                self.archiver = None;
                (Outcome::Failed(e.to_string()), false)
            }
        }
    }

    fn try_migration_lock(&self) -> Result<MigrationLock, Outcome> {
        MigrationLock::acquire_file(
            lock::lock_path(&self.config.db),
            Duration::ZERO,
            &mut |_, _| {},
        )
        .map_err(|e| match e {
            Error::LockTimeout { holder, .. } => {
                Outcome::Deferred(format!("a migration run holds the lock ({holder})"))
            }
            other => Outcome::Failed(other.to_string()),
        })
    }

    fn backup(&mut self) -> Outcome {
        let held = match self.try_migration_lock() {
            Ok(held) => held,
            Err(outcome) => return outcome,
        };
        let taken = backup::create(
            &self.config.db,
            &self.config.dir,
            &self.config.backup,
            &mut |_| {},
        );
        let manifest = match taken {
            Ok(manifest) => manifest,
            Err(e) => {
                self.state.counters.backup_errors_total += 1;
                return Outcome::Failed(e.to_string());
            }
        };
        self.state.counters.backups_total += 1;
        let pruned = backup::prune(&self.config.dir, &self.config.retention);
        // The copy off the machine needs no lock: a run may start meanwhile.
        drop(held);
        let pruned = match pruned {
            Ok(pruned) => pruned,
            Err(e) => {
                return Outcome::Failed(format!(
                    "backup {} taken, but rotation failed: {e}",
                    manifest.id
                ));
            }
        };
        let taken = format!(
            "backup {} ({} bytes as stored); {} pruned by the retention policy",
            manifest.id,
            manifest.compressed_size,
            pruned.len()
        );
        match &self.config.remote {
            None => Outcome::Done(taken),
            Some(remote) => self.ship(remote, &manifest, taken),
        }
    }

    /// Copies a scheduled backup off the machine and prunes the store by the same retention;
    /// a failure makes the task failed (the backup itself stands) and is recorded for health.
    fn ship(
        &self,
        remote: &crate::remote::Remote,
        manifest: &backup::Manifest,
        taken: String,
    ) -> Outcome {
        let pushed = backup::offsite::push(remote, &self.config.dir, manifest);
        if let Err(e) = pushed {
            return Outcome::Failed(format!(
                "{taken}, but copying it to {} failed: {e}",
                remote.shown()
            ));
        }
        match backup::mirror::prune(remote, &self.config.retention) {
            Ok(pruned) => Outcome::Done(format!(
                "{taken}; copied to {}, {} pruned there",
                remote.shown(),
                pruned.len()
            )),
            Err(e) => Outcome::Failed(format!(
                "{taken}; copied to {}, but pruning there failed: {e}",
                remote.shown()
            )),
        }
    }

    fn check(&mut self, at: &str, at_unix: f64) -> Outcome {
        self.state.counters.checks_total += 1;
        match sweep::tick(
            &self.config.db,
            self.config.check_budget,
            self.config.busy_timeout,
            &mut self.state.sweep,
        ) {
            Ok(tick) => {
                let verdict = health::verdict_name(tick.verdict);
                let detail = format!(
                    "{verdict}: {} step(s) over {} ({} ms, budget {} ms{}), coverage {:.0}%{}",
                    tick.steps,
                    tick.checked.join(", "),
                    tick.duration.as_millis(),
                    self.config.check_budget.as_millis(),
                    if tick.overran { ", overran" } else { "" },
                    tick.coverage * 100.0,
                    if tick.pass_complete {
                        ", pass complete"
                    } else {
                        ""
                    }
                );
                self.state.check = Some(CheckState {
                    at: at.to_owned(),
                    at_unix,
                    verdict: verdict.to_owned(),
                    depth: "full".to_owned(),
                    checked: tick.checked,
                    findings: tick.findings,
                    coverage: tick.coverage,
                    overran: tick.overran,
                });
                match tick.verdict {
                    crate::vocab::verdict::Verdict::Damaged => Outcome::Failed(detail),
                    _ => Outcome::Done(detail),
                }
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    fn checkpoint(&mut self, at_unix: f64) -> Outcome {
        if self.config.archive.is_some() {
            // The archiver's reader would hold back any other checkpoint: it checkpoints
            // itself, having shipped everything first.
            let (outcome, checkpointed) = self.archive_round(Checkpointing::Now);
            if matches!(outcome, Outcome::Done(_)) {
                self.state.counters.checkpoints_total += 1;
                if checkpointed {
                    self.state.checkpoint_blocked_since = None;
                } else {
                    self.state.checkpoint_blocked_since.get_or_insert(at_unix);
                }
            }
            return outcome;
        }
        let held = match self.try_migration_lock() {
            Ok(held) => held,
            Err(outcome) => return outcome,
        };
        let tick = self.checkpointer.tick(Purpose::Routine);
        drop(held);
        match tick {
            Ok(tick) => {
                self.state.counters.checkpoints_total += 1;
                match tick.outcome {
                    Checkpointed::NotWal { journal_mode } => {
                        self.state.checkpoint_blocked_since = None;
                        Outcome::Done(format!(
                            "not in WAL mode ({journal_mode}): nothing to checkpoint"
                        ))
                    }
                    Checkpointed::Done(done) => {
                        if let Err(e) = crate::database::wal::record(&self.config.dir, &done) {
                            tracing::warn!(error = %e, "the checkpoint was not recorded");
                        }
                        let left = done.frames_left();
                        if left > 0 || done.busy {
                            let since = at_unix - tick.blocked_for.as_secs_f64();
                            self.state.checkpoint_blocked_since.get_or_insert(since);
                        } else {
                            self.state.checkpoint_blocked_since = None;
                        }
                        Outcome::Done(format!(
                            "{}: {} of {} frame(s) copied, {left} left{}",
                            tick.mode.as_sql(),
                            done.checkpointed_frames.max(0),
                            done.log_frames.max(0),
                            tick.held_back_by
                                .map(|h| format!(" (held back by {})", h.describe()))
                                .unwrap_or_default()
                        ))
                    }
                }
            }
            Err(e) => {
                self.state.counters.checkpoint_errors_total += 1;
                Outcome::Failed(e.to_string())
            }
        }
    }

    fn drill(&mut self, at: &str, at_unix: f64) -> Outcome {
        self.state.counters.drills_total += 1;
        let record = |ok, backup: Option<&str>, detail: &str| DrillState {
            at: at.to_owned(),
            at_unix,
            ok,
            backup: backup.map(str::to_owned),
            detail: detail.to_owned(),
        };
        let point = self.config.archive.as_ref().map(|a| {
            let seed = SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            drill::point(&a.dir, seed)
        });
        let point_detail = match point {
            None | Some(Ok(None)) => String::new(),
            Some(Ok(Some(detail))) => format!("; {detail}"),
            Some(Err(e)) => {
                self.state.counters.drill_errors_total += 1;
                let detail = format!("a point of the archive would not restore: {e}");
                self.state.drill = Some(record(false, None, &detail));
                return Outcome::Failed(detail);
            }
        };
        match drill::drill(&self.config.dir, self.config.workers) {
            Ok(Drilled::Passed { id, detail }) => {
                let detail = detail + &point_detail;
                self.state.drill = Some(record(true, Some(&id), &detail));
                Outcome::Done(detail)
            }
            Ok(Drilled::Failed { id, detail }) => {
                self.state.counters.drill_errors_total += 1;
                let detail = format!("backup {id} would not restore: {detail}");
                self.state.drill = Some(record(false, Some(&id), &detail));
                Outcome::Failed(detail)
            }
            Ok(Drilled::NoBackup) => Outcome::Done(format!("no backup to drill yet{point_detail}")),
            Ok(Drilled::Superseded { id }) => {
                Outcome::Deferred(format!("backup {id} was rotated away while it was drilled"))
            }
            Err(e) => {
                self.state.counters.drill_errors_total += 1;
                let detail = e.to_string();
                self.state.drill = Some(record(false, None, &detail));
                Outcome::Failed(detail)
            }
        }
    }
}
