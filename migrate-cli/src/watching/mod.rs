//! What `health` and `watch` share: `[watch]` read into the library's configuration (each
//! error naming its key), the engine's facts for the report, and the report's exit code.

pub mod deliver;
pub mod metrics;
pub mod serve;

use std::path::Path;
use std::time::Duration;

use belay_migrate::guard::watch::every::{self, Every};
use belay_migrate::guard::watch::health::{Health, Inputs, Migrations, Status, Thresholds};
use belay_migrate::guard::watch::watchman::ArchiveConfig;
use belay_migrate::guard::watch::{Config, Schedule};

use crate::context;
use crate::error::{CliError, code};
use crate::settings::Settings;

/// A `[watch]` value that does not parse: the key and what is wrong.
fn bad(key: &str, why: String) -> CliError {
    CliError::Usage(format!("[watch] {key} in migrate.toml: {why}"))
}

fn schedule(key: &str, value: Option<&String>) -> Result<Option<Every>, CliError> {
    let Some(value) = value else { return Ok(None) };
    let every = Every::parse(value).map_err(|why| bad(key, why))?;
    if !every.recurs(std::time::SystemTime::now()) {
        return Err(bad(
            key,
            format!("`{value}` names no time to come: the task would never run"),
        ));
    }
    Ok(Some(every))
}

/// A size that must be more than zero.
fn size(key: &str, value: Option<&String>) -> Result<Option<u64>, CliError> {
    let Some(value) = value else { return Ok(None) };
    match every::bytes(value).map_err(|why| bad(key, why))? {
        0 => Err(bad(key, format!("`{value}`: must be more than 0"))),
        bytes => Ok(Some(bytes)),
    }
}

/// A duration that must be more than zero.
fn span(key: &str, value: Option<&String>) -> Result<Option<Duration>, CliError> {
    let Some(value) = value else { return Ok(None) };
    match every::duration(value).map_err(|why| bad(key, why))? {
        d if d.is_zero() => Err(bad(key, format!("`{value}`: must be longer than 0"))),
        d => Ok(Some(d)),
    }
}

/// How old the last check may be before `health` calls it stale: three periods of its
/// schedule and a minute.
fn stale_after(check: Option<&Every>) -> Option<Duration> {
    let period = check?.period(std::time::SystemTime::now())?;
    Some(period.saturating_mul(3) + Duration::from_secs(60))
}

/// The thresholds `health` and the alerts judge by.
pub fn thresholds(g: &Settings) -> Result<Thresholds, CliError> {
    let w = &g.file.watch;
    Ok(Thresholds {
        rpo: span("rpo", w.rpo.as_ref())?,
        wal_limit: size("wal_limit", w.wal_limit.as_ref())?,
        disk_low: size("disk_low", w.disk_low.as_ref())?,
        check_stale: stale_after(schedule("check", w.check.as_ref())?.as_ref()),
        archive_lag: if context::archiving(g) {
            Some(context::archive_max_lag(g)?)
        } else {
            None
        },
    })
}

/// The watchman's configuration from `[watch]`, `[backup]` and the global options.
pub fn config(g: &Settings, db: &Path, dir: &Path) -> Result<Config, CliError> {
    let w = &g.file.watch;
    let mut config = Config::new(db, dir);
    config.schedule = Schedule {
        backup: schedule("backup", w.backup.as_ref())?,
        check: schedule("check", w.check.as_ref())?,
        checkpoint: schedule("checkpoint", w.checkpoint.as_ref())?,
        drill: schedule("drill", w.drill.as_ref())?,
        archive: match schedule("archive", w.archive.as_ref())? {
            None if context::archiving(g) => Some(
                Every::parse(context::DEFAULT_ARCHIVE_INTERVAL)
                    .map_err(|why| bad("archive", why))?,
            ),
            other => other,
        },
    };
    if context::archiving(g) {
        config.archive = Some(ArchiveConfig {
            dir: context::archive_dir(g, db)?,
            options: context::archive_options(g)?,
            retention: Some(context::archive_retention(g)?),
        });
    }
    if let Some(budget) = span("check_budget", w.check_budget.as_ref())? {
        config.check_budget = budget;
    }
    if let Some(url) = &w.webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(bad(
            "webhook",
            format!("`{url}` is not an http:// or https:// URL"),
        ));
    }
    config.thresholds = thresholds(g)?;
    if let Some(limit) = config.thresholds.wal_limit {
        config.checkpoint.wal_limit = limit;
    }
    if let Some(c) = g.file.backup.compression {
        config.backup.compression = match c {
            crate::config::CompressionName::Zstd => belay_migrate::backup::Compression::Zstd,
            crate::config::CompressionName::None => belay_migrate::backup::Compression::None,
        };
    }
    config.backup.min_ratio = context::min_ratio(g);
    config.backup.busy_timeout = context::lock_timeout(g)?;
    if let belay_migrate::Rotation::Keep(retention) = context::rotation(g) {
        config.retention = retention;
    }
    config.busy_timeout = Duration::from_secs(5);
    Ok(config)
}

/// What the engine says of the schema, or why it cannot say (read only).
pub fn migrations(g: &Settings, db: &Path) -> Result<Migrations, String> {
    let read = context::migrations(g).map_err(|e| e.to_string())?;
    let status = context::migrator_over(g, read.migrations)
        .and_then(|m| m.status(db).map_err(CliError::from))
        .map_err(|e| e.to_string())?;
    Ok(Migrations {
        schema_version: status.current_version,
        pending: status.pending.len(),
        drift: status.schema_drift,
    })
}

/// The health report's inputs: the thresholds and the engine's facts.
pub fn inputs(g: &Settings, db: &Path) -> Result<Inputs, CliError> {
    Ok(Inputs {
        thresholds: thresholds(g)?,
        migrations: Some(migrations(g, db)),
        connection: None,
        archive: if context::archiving(g) {
            Some(context::archive_dir(g, db)?)
        } else {
            None
        },
    })
}

/// The exit code of a report: 0 ok, 8 degraded, 6 corruption found by the last check, 9
/// failing.
pub fn exit_code(health: &Health) -> u8 {
    match health.status {
        Status::Ok => 0,
        Status::Degraded => code::DEGRADED,
        Status::Failing if health.corruption() => code::CORRUPT,
        Status::Failing => code::FAILING,
    }
}

/// The report in words.
pub fn text(h: &Health) -> String {
    let mut t = format!("status: {}\n", status_name(h.status));
    for r in &h.reasons {
        t.push_str(&format!("  {}: {}\n", r.kind, r.message));
    }
    t.push_str(&format!("database: {}\n", h.database));
    match (&h.migrations, &h.migrations_error) {
        (Some(m), _) => t.push_str(&format!(
            "schema version: {} ({} pending{})\n",
            m.schema_version
                .map_or_else(|| "none".to_owned(), |v| v.to_string()),
            m.pending,
            if m.drift { ", drift" } else { "" }
        )),
        (None, Some(e)) => t.push_str(&format!("schema version: unknown ({e})\n")),
        (None, None) => {}
    }
    match &h.last_check {
        Some(c) => t.push_str(&format!(
            "last check: {} at {} ({} depth, coverage {:.0}% of tables this pass)\n",
            c.verdict,
            c.at,
            c.depth,
            c.coverage * 100.0
        )),
        None => t.push_str("last check: none yet\n"),
    }
    match &h.last_backup {
        Some(b) => t.push_str(&format!(
            "last backup: {} ({:.0}s old{})\n",
            b.id,
            b.age_seconds,
            h.rpo_target_seconds
                .map(|r| format!(", RPO target {r}s"))
                .unwrap_or_default()
        )),
        None => t.push_str("last backup: none\n"),
    }
    match &h.last_drill {
        Some(d) => t.push_str(&format!(
            "last drill: {} at {}: {}\n",
            if d.ok { "passed" } else { "FAILED" },
            d.at,
            d.detail
        )),
        None => t.push_str("last drill: none yet\n"),
    }
    t.push_str(&format!(
        "wal: {} bytes; checkpoints blocked for {:.0}s\n",
        h.wal_bytes, h.checkpoint.blocked_seconds
    ));
    t.push_str(&format!(
        "database: {} bytes, freelist {}; disk free: {} bytes\n",
        h.db_bytes,
        h.freelist_ratio
            .map_or_else(|| "unknown".to_owned(), |r| format!("{:.1}%", r * 100.0)),
        h.disk_free_bytes
            .map_or_else(|| "unknown".to_owned(), |b| b.to_string())
    ));
    if let Some(c) = &h.connection {
        t.push_str(&format!(
            "connection layer: {}{} ({})\n",
            c.state,
            c.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
            c.source
        ));
    }
    t
}

/// `ok`, `degraded` or `failing`.
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Degraded => "degraded",
        Status::Failing => "failing",
    }
}
