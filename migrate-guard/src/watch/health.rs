//! The health report: facts read from the database, its backup directory and the watchman's
//! state, judged against the thresholds into `ok`, `degraded` or `failing`, with every metric
//! of the contract as a number. Reads only: it never checks, backs up or checkpoints (it
//! reports the last time something did), so it answers in milliseconds on any size.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::alerts::Kind;
use super::every::{seconds_of, unix_seconds};
use super::state::{CheckState, Counters, DrillState, State};
use crate::Error;
use crate::connect::breaker;
use crate::database::wal::{self, Checkpoint};
use crate::vocab::verdict::Verdict;

/// How far back the journal is read for the application's last connection state.
const JOURNAL_BACK: u64 = 64 * 1024 * 1024;

/// The journal is read backwards in pieces of this size.
const JOURNAL_PIECE: u64 = 256 * 1024;

/// Free bytes under which the disk counts as out of space (failing, not only low).
const NO_SPACE: u64 = 1024 * 1024;

/// What is judged against what.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Thresholds {
    /// The newest backup may be at most this old (none: not judged).
    pub rpo: Option<Duration>,
    /// The WAL may be at most this large.
    pub wal_limit: Option<u64>,
    /// Free disk under this is low.
    pub disk_low: Option<u64>,
    /// A check is scheduled: the last one may be at most this old (none at all is stale too).
    pub check_stale: Option<Duration>,
    /// With archiving: commits may wait this long in the WAL before the archive has them.
    pub archive_lag: Option<Duration>,
}

/// What the migration engine says of the schema (the safety components do not read
/// migrations: the caller fills this in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migrations {
    /// The highest applied version, if any.
    pub schema_version: Option<i64>,
    /// Migrations not applied yet.
    pub pending: usize,
    /// The schema was changed outside migrations since the last run.
    pub drift: bool,
}

/// The application's connection layer, as this process has it or as it last recorded itself
/// in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// `writable` or `degraded`.
    pub state: String,
    /// Why, when degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Since when (RFC 3339), when degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// `this process`, or the process that recorded it (`pid P on HOST, at T`).
    pub source: String,
}

impl Connection {
    /// The state of a layer in this process.
    pub fn of(state: &breaker::State) -> Self {
        match state {
            breaker::State::Writable => Connection {
                state: "writable".into(),
                reason: None,
                since: None,
                source: "this process".into(),
            },
            breaker::State::Degraded { reason, since } => Connection {
                state: "degraded".into(),
                reason: Some(reason.to_string()),
                since: Some(since.clone()),
                source: "this process".into(),
            },
        }
    }
}

/// What the caller adds to the facts it can read alone.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The thresholds.
    pub thresholds: Thresholds,
    /// What the engine says, or why it could not say (no migrations directory, ...).
    pub migrations: Option<Result<Migrations, String>>,
    /// A connection layer running in this process; `None` reads the journal's last record.
    pub connection: Option<Connection>,
    /// The point-in-time archive's directory, when archiving is on.
    pub archive: Option<PathBuf>,
}

/// How long a gap of the archive keeps `archive_gap` firing after it was found.
pub const GAP_RECENT: Duration = Duration::from_secs(24 * 3600);

/// The point-in-time archive, as the report sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Archive {
    /// The archive's directory.
    pub dir: String,
    /// Points it can restore.
    pub commits: u64,
    /// The newest point's time.
    pub last_at: Option<String>,
    /// Seconds the oldest commit not yet archived has waited (about; 0 when none waits).
    pub lag_seconds: f64,
    /// Committed WAL bytes not yet archived.
    pub unarchived_bytes: u64,
    /// Gaps ever recorded.
    pub gaps_total: u64,
    /// Whether the WAL still continues from the newest point.
    pub following: bool,
}

/// `ok`, `degraded` or `failing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing to report.
    Ok,
    /// Works, with something to see to (each reason listed).
    Degraded,
    /// Damage found, unreadable, out of space or refusing writes.
    Failing,
}

/// Why the status is not ok.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// A name: failing: `corruption`, `unreadable`, `no_space`, `read_only`; degraded:
    /// `rpo_exceeded`, `wal_over_limit`, `disk_low`, `disk_unknown`, `drill_failed`,
    /// `backup_failed`, `offsite_failed`, `check_incomplete`, `check_stale`, `busy`, `drift`, `state_foreign`,
    /// `state_unreadable`.
    pub kind: &'static str,
    /// Whether it makes the status failing.
    pub failing: bool,
    /// In words.
    pub message: String,
}

/// The newest backup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastBackup {
    /// Its id.
    pub id: String,
    /// When it was taken.
    pub at: String,
    /// How old it is.
    pub age_seconds: f64,
}

/// The checkpoints as the last one and the watchman's record left them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkpoints {
    /// The last checkpoint run through the tool.
    pub last: Option<Checkpoint>,
    /// How long checkpoints have left frames behind without a break.
    pub blocked_seconds: f64,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// The verdict.
    pub status: Status,
    /// Why it is not ok.
    pub reasons: Vec<Reason>,
    /// The database.
    pub database: String,
    /// When the report was made.
    pub at: String,
    /// What the engine says of the schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrations: Option<Migrations>,
    /// Why the engine could not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrations_error: Option<String>,
    /// The database file's size.
    pub db_bytes: u64,
    /// The WAL's size.
    pub wal_bytes: u64,
    /// Free pages over all pages, when the database could be read.
    pub freelist_ratio: Option<f64>,
    /// Free bytes on the database's file system, when they could be read.
    pub disk_free_bytes: Option<u64>,
    /// The last check tick.
    pub last_check: Option<CheckState>,
    /// The newest backup.
    pub last_backup: Option<LastBackup>,
    /// The RPO target.
    pub rpo_target_seconds: Option<f64>,
    /// The last drill.
    pub last_drill: Option<DrillState>,
    /// Checkpoints.
    pub checkpoint: Checkpoints,
    /// The application's connection layer, when it is known.
    pub connection: Option<Connection>,
    /// The watchman's counters.
    pub counters: Counters,
    /// The point-in-time archive, when archiving is on and it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<Archive>,
    /// Every metric of the contract, by name.
    pub metrics: BTreeMap<&'static str, f64>,
}

impl Health {
    /// Whether the last check found damage.
    pub fn corruption(&self) -> bool {
        self.reasons.iter().any(|r| r.kind == "corruption")
    }

    /// Each alert kind with its message when its condition holds.
    pub fn conditions(&self) -> Vec<(Kind, Option<String>)> {
        let find = |kinds: &[&str]| {
            self.reasons
                .iter()
                .find(|r| kinds.contains(&r.kind))
                .map(|r| r.message.clone())
        };
        vec![
            (Kind::Corruption, find(&["corruption"])),
            (
                Kind::BackupFailed,
                find(&["backup_failed", "offsite_failed"]),
            ),
            (Kind::DrillFailed, find(&["drill_failed"])),
            (Kind::RpoExceeded, find(&["rpo_exceeded"])),
            (Kind::WalOverLimit, find(&["wal_over_limit"])),
            (Kind::DiskLow, find(&["disk_low", "no_space"])),
            (Kind::Degraded, find(&["read_only", "unreadable"])),
            (Kind::ArchiveGap, find(&["archive_gap"])),
            (Kind::ArchiveLag, find(&["archive_lag"])),
        ]
    }
}

/// Reads the facts about `db` and its backup directory `dir` and judges them.
///
/// What cannot be read (the database, the backups, the watchman's state) is a reason of the
/// report, never a missing report.
#[tracing::instrument(name = "health", level = "debug", skip_all, fields(db = %db.display()))]
pub fn health(db: &Path, dir: &Path, inputs: Inputs) -> Health {
    let mut reasons = Vec::new();
    let state = match State::read(dir) {
        Ok(state) if state.is_about(db) => state,
        Ok(state) => {
            reasons.push(Reason {
                kind: "state_foreign",
                failing: false,
                message: format!(
                    "{} is the watch state of {}: give each database its own backup directory",
                    super::state::path(dir).display(),
                    state.database.as_deref().unwrap_or("?")
                ),
            });
            State::default()
        }
        Err(e) => {
            reasons.push(Reason {
                kind: "state_unreadable",
                failing: false,
                message: e.to_string(),
            });
            State::default()
        }
    };
    judge(db, dir, inputs, &state, reasons)
}

/// The report from the watchman's own `state` (in memory: it is what the watchman knows, also
/// when its file could not be written).
pub fn of_state(db: &Path, dir: &Path, inputs: Inputs, state: &State) -> Health {
    judge(db, dir, inputs, state, Vec::new())
}

fn judge(db: &Path, dir: &Path, inputs: Inputs, state: &State, mut reasons: Vec<Reason>) -> Health {
    let now = SystemTime::now();
    let mut fail = |kind, failing, message: String| {
        reasons.push(Reason {
            kind,
            failing,
            message,
        });
    };
    let db_bytes = std::fs::metadata(db).map_or(0, |m| m.len());
    let wal_bytes =
        std::fs::metadata(crate::database::db::sibling(db, "-wal")).map_or(0, |m| m.len());
    let freelist_ratio = match pages(db) {
        Ok((pages, free)) => Some(if pages == 0 {
            0.0
        } else {
            free as f64 / pages as f64
        }),
        Err(Unread::Busy(why)) => {
            fail("busy", false, why);
            None
        }
        Err(Unread::Unreadable(why)) => {
            fail("unreadable", true, why);
            None
        }
    };
    let parent = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let disk_free_bytes = crate::files::space::available(parent).ok();
    match disk_free_bytes {
        Some(free) if free < NO_SPACE => fail(
            "no_space",
            true,
            format!("{free} bytes free beside the database"),
        ),
        Some(free) => {
            if let Some(low) = inputs.thresholds.disk_low.filter(|low| free < *low) {
                fail(
                    "disk_low",
                    false,
                    format!("{free} bytes free beside the database, under {low}"),
                );
            }
        }
        None => fail(
            "disk_unknown",
            false,
            format!("the free space of {} could not be read", parent.display()),
        ),
    }
    if let Some(check) = &state.check {
        match check.verdict.as_str() {
            "damaged" => fail(
                "corruption",
                true,
                format!(
                    "the check at {} found damage: {}",
                    check.at,
                    check.findings.first().map_or("", String::as_str)
                ),
            ),
            "ok" => {}
            other => fail(
                "check_incomplete",
                false,
                format!(
                    "the check at {} could not check everything ({other})",
                    check.at
                ),
            ),
        }
    }
    if let Some(limit) = inputs.thresholds.check_stale {
        match &state.check {
            None => fail(
                "check_stale",
                false,
                "a check is scheduled but none has run: is `migrate watch` running?".to_owned(),
            ),
            Some(c) if seconds_of(now) - c.at_unix > limit.as_secs_f64() => fail(
                "check_stale",
                false,
                format!(
                    "the last check ran at {}, more than {}s ago: is `migrate watch` running?",
                    c.at,
                    limit.as_secs()
                ),
            ),
            Some(_) => {}
        }
    }
    let last_backup = match newest_backup(dir, now) {
        Ok(newest) => newest,
        Err(e) => {
            fail("backups_unreadable", false, e.to_string());
            None
        }
    };
    if let Some(rpo) = inputs.thresholds.rpo {
        match &last_backup {
            None => fail(
                "rpo_exceeded",
                false,
                format!("no backup, and the RPO target is {}s", rpo.as_secs_f64()),
            ),
            // An age that cannot be told (an unreadable time, a time after now) is no proof
            // of a recent backup.
            Some(b) if !(0.0..=rpo.as_secs_f64()).contains(&b.age_seconds) => fail(
                "rpo_exceeded",
                false,
                format!(
                    "the newest backup ({}) is {:.0}s old, over the RPO target of {}s",
                    b.id,
                    b.age_seconds,
                    rpo.as_secs_f64()
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(run) = state.tasks.get("backup").filter(|run| !run.ok) {
        fail(
            "backup_failed",
            false,
            format!("the backup at {} failed: {}", run.at, run.detail),
        );
    }
    for kind in [
        crate::backup::offsite::Kind::Backup,
        crate::backup::offsite::Kind::Archive,
    ] {
        match crate::backup::offsite::Shipping::last(dir, kind) {
            Ok(Some(last)) => {
                if let Some(problem) = last.problem() {
                    fail("offsite_failed", false, problem);
                }
            }
            Ok(None) => {}
            Err(e) => fail("offsite_failed", false, e.to_string()),
        }
    }
    if let Some(drill) = state.drill.as_ref().filter(|d| !d.ok) {
        fail(
            "drill_failed",
            false,
            format!("the drill at {} failed: {}", drill.at, drill.detail),
        );
    }
    if let Some(limit) = inputs.thresholds.wal_limit.filter(|l| wal_bytes > *l) {
        fail(
            "wal_over_limit",
            false,
            format!("the WAL is {wal_bytes} bytes, over its limit of {limit}"),
        );
    }
    let connection = inputs.connection.or_else(|| journal_connection(db, dir));
    if let Some(c) = connection.as_ref().filter(|c| c.state == "degraded") {
        fail(
            "read_only",
            true,
            format!(
                "the application's connection layer refuses writes ({}; {})",
                c.reason.as_deref().unwrap_or("no reason recorded"),
                c.source
            ),
        );
    }
    let (migrations, migrations_error) = match inputs.migrations {
        Some(Ok(m)) => (Some(m), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    if migrations.as_ref().is_some_and(|m| m.drift) {
        fail(
            "drift",
            false,
            "the schema was changed outside migrations since the last run".into(),
        );
    }
    let archive = inputs
        .archive
        .as_deref()
        .and_then(|adir| judge_archive(db, adir, inputs.thresholds.archive_lag, now, &mut fail));
    let status = if reasons.iter().any(|r| r.failing) {
        Status::Failing
    } else if reasons.is_empty() {
        Status::Ok
    } else {
        Status::Degraded
    };
    let blocked_seconds = state
        .checkpoint_blocked_since
        .map_or(0.0, |since| (seconds_of(now) - since).max(0.0));
    let mut health = Health {
        status,
        reasons,
        database: db.display().to_string(),
        at: crate::vocab::clock::now_rfc3339(),
        migrations,
        migrations_error,
        db_bytes,
        wal_bytes,
        freelist_ratio,
        disk_free_bytes,
        last_check: state.check.clone(),
        last_backup,
        rpo_target_seconds: inputs.thresholds.rpo.map(|r| r.as_secs_f64()),
        last_drill: state.drill.clone(),
        checkpoint: Checkpoints {
            last: wal::last(dir).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the last checkpoint's record could not be read");
                None
            }),
            blocked_seconds,
        },
        connection,
        counters: state.counters,
        archive,
        metrics: BTreeMap::new(),
    };
    health.metrics = metrics(&health);
    health
}

/// The archive's status judged: `archive_gap` while a gap found in the last day stands,
/// `archive_lag` when commits have waited past the limit, `archive_unreadable` when the
/// archive cannot be read.
fn judge_archive(
    db: &Path,
    dir: &Path,
    limit: Option<Duration>,
    now: SystemTime,
    fail: &mut impl FnMut(&'static str, bool, String),
) -> Option<Archive> {
    let s = match crate::archive::status::summary(db, dir) {
        Ok(s) => s,
        Err(e) => {
            fail("archive_unreadable", false, e.to_string());
            return None;
        }
    };
    let recent = seconds_of(now) - GAP_RECENT.as_secs_f64();
    if let Some(gap) = s
        .gaps
        .iter()
        .rev()
        .find(|g| unix_seconds(&g.before_at).is_some_and(|t| t >= recent))
    {
        fail(
            "archive_gap",
            false,
            format!(
                "the archive has a gap: commits after {} until {} ({}) were not archived one by one: {}",
                gap.after.map_or("-".to_owned(), |c| c.to_string()),
                gap.before,
                gap.before_at,
                gap.reason
            ),
        );
    }
    if s.commits == 0 {
        fail(
            "archive_lag",
            false,
            format!(
                "the archive {} holds no point yet: is the archiver running?",
                s.dir
            ),
        );
    } else if let Some(limit) =
        limit.filter(|l| s.lag_seconds.is_nan() || s.lag_seconds > l.as_secs_f64())
    {
        fail(
            "archive_lag",
            false,
            format!(
                "commits have waited {:.0}s for the archive ({} bytes), over the limit of {}s: is the archiver running?",
                s.lag_seconds,
                s.unarchived_bytes,
                limit.as_secs()
            ),
        );
    }
    Some(Archive {
        dir: s.dir,
        commits: s.commits,
        last_at: s.last.map(|p| p.at),
        lag_seconds: s.lag_seconds,
        unarchived_bytes: s.unarchived_bytes,
        gaps_total: s.gaps.len() as u64,
        following: s.following,
    })
}

/// Every metric of the contract from the report (NaN where there is nothing to measure: no
/// backup, no check, no drill yet); the archive's only with archiving.
fn metrics(h: &Health) -> BTreeMap<&'static str, f64> {
    let mut all = base_metrics(h);
    if let Some(a) = &h.archive {
        all.insert("migrate_archive_lag_seconds", a.lag_seconds);
        all.insert(
            "migrate_archive_unarchived_bytes",
            a.unarchived_bytes as f64,
        );
        all.insert("migrate_archive_gaps_total", a.gaps_total as f64);
    }
    all
}

fn base_metrics(h: &Health) -> BTreeMap<&'static str, f64> {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let at = |t: Option<&str>| t.and_then(unix_seconds).unwrap_or(f64::NAN);
    let m = h.migrations.as_ref();
    BTreeMap::from([
        ("migrate_up", 1.0),
        (
            "migrate_schema_version",
            m.map_or(f64::NAN, |m| m.schema_version.unwrap_or(0) as f64),
        ),
        (
            "migrate_pending_migrations",
            m.map_or(f64::NAN, |m| m.pending as f64),
        ),
        ("migrate_drift", m.map_or(f64::NAN, |m| flag(m.drift))),
        ("migrate_db_bytes", h.db_bytes as f64),
        ("migrate_wal_bytes", h.wal_bytes as f64),
        (
            "migrate_freelist_ratio",
            h.freelist_ratio.unwrap_or(f64::NAN),
        ),
        (
            "migrate_disk_free_bytes",
            h.disk_free_bytes.map_or(f64::NAN, |b| b as f64),
        ),
        (
            "migrate_last_check_timestamp_seconds",
            h.last_check.as_ref().map_or(f64::NAN, |c| c.at_unix),
        ),
        (
            "migrate_last_check_ok",
            h.last_check
                .as_ref()
                .map_or(f64::NAN, |c| flag(c.verdict == "ok")),
        ),
        (
            "migrate_check_coverage_ratio",
            h.last_check.as_ref().map_or(f64::NAN, |c| c.coverage),
        ),
        (
            "migrate_last_backup_timestamp_seconds",
            at(h.last_backup.as_ref().map(|b| b.at.as_str())),
        ),
        (
            "migrate_backup_age_seconds",
            h.last_backup.as_ref().map_or(f64::NAN, |b| b.age_seconds),
        ),
        (
            "migrate_rpo_target_seconds",
            h.rpo_target_seconds.unwrap_or(f64::NAN),
        ),
        (
            "migrate_last_drill_timestamp_seconds",
            h.last_drill.as_ref().map_or(f64::NAN, |d| d.at_unix),
        ),
        (
            "migrate_last_drill_ok",
            h.last_drill.as_ref().map_or(f64::NAN, |d| flag(d.ok)),
        ),
        (
            "migrate_checkpoint_blocked_seconds",
            h.checkpoint.blocked_seconds,
        ),
        (
            "migrate_checkpoints_total",
            h.counters.checkpoints_total as f64,
        ),
        (
            "migrate_checkpoint_errors_total",
            h.counters.checkpoint_errors_total as f64,
        ),
        ("migrate_backups_total", h.counters.backups_total as f64),
        (
            "migrate_backup_errors_total",
            h.counters.backup_errors_total as f64,
        ),
        (
            "migrate_degraded",
            flag(h.connection.as_ref().is_some_and(|c| c.state == "degraded")),
        ),
    ])
}

/// Why the database's pages could not be counted.
enum Unread {
    /// Locked for longer than the read waits (a migration or a writer in rollback mode).
    Busy(String),
    /// Anything else: missing, not a database, no access.
    Unreadable(String),
}

/// Pages and free pages, read-only.
fn pages(db: &Path) -> Result<(u64, u64), Unread> {
    match crate::database::db::regular_file(db) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(Unread::Unreadable(format!(
                "{} does not exist",
                db.display()
            )));
        }
        Err(e) => return Err(Unread::Unreadable(e.to_string())),
    }
    let read = |e: rusqlite::Error, doing: &str| {
        let why = format!("{} {doing}: {e}", db.display());
        match crate::vocab::verdict::classify(&e) {
            crate::vocab::verdict::Stop::Obstacle(crate::vocab::verdict::Obstacle::Locked) => {
                Unread::Busy(why)
            }
            _ => Unread::Unreadable(why),
        }
    };
    let conn = crate::database::db::open_to_check(db, Duration::from_secs(1))
        .map_err(|e| read(e, "cannot be opened"))?;
    conn.query_row(
        "SELECT page_count, freelist_count FROM pragma_page_count, pragma_freelist_count",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )
    .map_err(|e| read(e, "cannot be read"))
}

/// The manifest of the newest backup that holds the database as it was (not a pre-restore
/// copy): the one `latest` names.
pub(super) fn newest_manifest(dir: &Path) -> Result<Option<crate::backup::Manifest>, Error> {
    Ok(crate::backup::list(dir)?
        .into_iter()
        .rfind(|m| m.reason.may_be_latest()))
}

/// The newest backup, with its age.
fn newest_backup(dir: &Path, now: SystemTime) -> Result<Option<LastBackup>, Error> {
    Ok(newest_manifest(dir)?.map(|m| LastBackup {
        age_seconds: unix_seconds(&m.created_at).map_or(f64::NAN, |t| seconds_of(now) - t),
        id: m.id,
        at: m.created_at,
    }))
}

/// The last `connection_state` the application's layer recorded for `db` in the journal
/// (read backwards, at most [`JOURNAL_BACK`] bytes), unless the process that recorded it is
/// gone from this host.
fn journal_connection(db: &Path, dir: &Path) -> Option<Connection> {
    let path: PathBuf = crate::files::journal::path(dir);
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let wanted = super::state::canonical(db);
    let shown = db.display().to_string();
    let mut end = len;
    let mut carry: Vec<u8> = Vec::new();
    let entry = loop {
        if end == 0 || len - end >= JOURNAL_BACK {
            return None;
        }
        let start = end.saturating_sub(JOURNAL_PIECE);
        file.seek(SeekFrom::Start(start)).ok()?;
        let mut piece = vec![0; (end - start) as usize];
        file.read_exact(&mut piece).ok()?;
        piece.extend_from_slice(&carry);
        // The first line of a piece may be cut: it is read whole with the next piece.
        let cut = if start == 0 {
            0
        } else {
            piece
                .iter()
                .position(|b| *b == b'\n')
                .map_or(piece.len(), |i| i + 1)
        };
        carry = piece[..cut].to_vec();
        let text = String::from_utf8_lossy(&piece[cut..]);
        let found = text.lines().rev().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            let named = v["database"].as_str()?;
            let about = named == shown || super::state::canonical(Path::new(named)) == wanted;
            (v["event"] == "connection_state" && about).then_some(v)
        });
        if let Some(found) = found {
            break found;
        }
        end = start;
    };
    let pid = entry["pid"].as_u64().unwrap_or(0);
    let host = entry["host"].as_str().unwrap_or("?").to_owned();
    if host == crate::vocab::holder::host_name() && !Path::new(&format!("/proc/{pid}")).exists() {
        return None;
    }
    let state = entry["state"].as_str().unwrap_or("unknown").to_owned();
    Some(Connection {
        reason: (state == "degraded").then(|| {
            let r = &entry["reason"];
            r["kind"]
                .as_str()
                .map_or_else(|| r.to_string(), str::to_owned)
        }),
        since: entry["since"].as_str().map(str::to_owned),
        source: format!(
            "recorded by pid {pid} on {host} at {}",
            entry["at"].as_str().unwrap_or("?")
        ),
        state,
    })
}

/// The name a verdict is kept under in the check state.
pub(crate) fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::Damaged => "damaged",
        Verdict::CouldNotCheck => "could_not_check",
    }
}
