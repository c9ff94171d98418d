//! What every command needs: the database path, the migrations, a configured migrator.

use std::path::PathBuf;
use std::time::Duration;

use belay_migrate::{Migrations, Migrator, source};

use crate::error::CliError;
use crate::settings::Settings;

/// Where the database is: `--db`, else `MIGRATE_DB`, else `DATABASE_URL` (`sqlite:PATH` or
/// `sqlite://PATH`), else `db` in the configuration file.
pub fn db_path(global: &Settings) -> Result<PathBuf, CliError> {
    let (db, ..) = db_path_and_source(global)?;
    // One check for every command, before anything opens it: a FIFO would block SQLite's
    // open forever, and a directory or a device is never a database.
    belay_migrate::settle::regular_file(&db)?;
    Ok(db)
}

/// Lets SQLite finish what a killed process left at `db` before a command reads it (see
/// `belay_migrate::settle`), saying so on stderr when it did. A recovery this user may not run
/// is returned as pending: the command reports it as what stopped it.
pub fn settle(
    global: &Settings,
    out: &crate::output::Output,
    db: &std::path::Path,
) -> Result<belay_migrate::settle::Settled, CliError> {
    use belay_migrate::settle::{self, Locking, Settled};
    let settled = settle::settle(db, lock_timeout(global)?, Locking::TakeLock)?;
    if let Settled::Recovered { leftover } = &settled {
        out.note(&format!(
            "recovered: SQLite rolled back {leftover} before the database was read"
        ));
    }
    Ok(settled)
}

/// [`settle`], with a pending recovery as the error that stops the command.
pub fn readable(
    global: &Settings,
    out: &crate::output::Output,
    db: &std::path::Path,
) -> Result<(), CliError> {
    match settle(global, out, db)? {
        belay_migrate::settle::Settled::Pending { reason, .. } => {
            Err(CliError::Core(belay_migrate::Error::Unavailable {
                path: db.to_path_buf(),
                obstacle: belay_migrate::integrity::Obstacle::RecoveryPending,
                reason,
            }))
        }
        _ => Ok(()),
    }
}

/// The database's resolved path, where it came from, and the flag, variable or key that named
/// it (for `migrate config`).
pub fn db_path_and_source(
    global: &Settings,
) -> Result<(PathBuf, crate::settings::Origin, &'static str), CliError> {
    use crate::settings::Origin;
    let (db, source) = named_db(global)?;
    check_name(&db, source)?;
    let origin = match source {
        "--db" => Origin::Flag,
        "MIGRATE_DB" | "DATABASE_URL" => Origin::Environment,
        _ => Origin::File,
    };
    Ok((
        belay_migrate::guard::database::db::resolved(&db),
        origin,
        source,
    ))
}

/// The database as given, and where it was given.
fn named_db(global: &Settings) -> Result<(PathBuf, &'static str), CliError> {
    if let Some(db) = &global.db {
        return Ok((db.clone(), "--db"));
    }
    // Read here rather than by the argument parser, which would refuse an empty value without
    // saying that it came from the environment.
    if let Some(db) = std::env::var_os("MIGRATE_DB") {
        return Ok((PathBuf::from(db), "MIGRATE_DB"));
    }
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        return parse_database_url(&url)
            .map(|p| (p, "DATABASE_URL"))
            .map_err(CliError::Usage);
    }
    if let Some(db) = &global.file.db {
        return Ok((db.clone(), "`db` in migrate.toml"));
    }
    Err(CliError::Usage(
        "no database given: pass --db PATH, or set MIGRATE_DB or DATABASE_URL=sqlite:PATH, or `db` in migrate.toml".into(),
    ))
}

/// Refuses names that are not a database file's path: empty, SQLite's `:memory:` (which would
/// migrate a database that vanishes at exit), and `file:` URIs or URLs where a path belongs
/// (every command reads the database by its path; SQLite alone would interpret a URI).
fn check_name(db: &std::path::Path, from: &str) -> Result<(), CliError> {
    let text = db.to_string_lossy();
    let refused = if text.is_empty() {
        Some("is empty".to_owned())
    } else if text == ":memory:" || text.starts_with("file::memory:") {
        Some("names an in-memory database, which would vanish when the command exits".to_owned())
    } else if text.starts_with("file:") || text.starts_with("sqlite:") {
        Some(format!(
            "`{text}` is a URI; give the database file's path (DATABASE_URL takes sqlite:PATH)"
        ))
    } else {
        None
    };
    match refused {
        Some(why) => Err(CliError::Usage(format!(
            "the database named by {from} {why}; migrations need a database file"
        ))),
        None => Ok(()),
    }
}

/// `sqlite:PATH`, `sqlite://PATH` (`sqlite:///abs` is `/abs`), percent-decoded, with any
/// `?options` dropped.
pub fn parse_database_url(url: &str) -> Result<PathBuf, String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| format!("DATABASE_URL `{url}` is not an SQLite URL (sqlite:PATH)"))?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    let path = percent_decode(path)
        .ok_or_else(|| format!("DATABASE_URL `{url}` has a malformed %-escape"))?;
    if path.is_empty() || path == ":memory:" {
        return Err(format!(
            "DATABASE_URL `{url}` names no database file; migrations need a file"
        ));
    }
    Ok(PathBuf::from(path))
}

/// `%XX` escapes decoded (as URLs write spaces and other bytes); `None` for a malformed one.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The migrations directory: `--migrations`, else the configuration's, else `./migrations`.
pub fn migrations_dir(global: &Settings) -> PathBuf {
    global
        .migrations
        .clone()
        .or_else(|| global.file.migrations.clone())
        .unwrap_or_else(|| PathBuf::from("migrations"))
}

/// The backup directory: `--backup-dir`, else the configuration's, else `<db file>.backups`.
pub fn backup_dir(global: &Settings, db: &std::path::Path) -> PathBuf {
    global
        .backup_dir
        .clone()
        .or_else(|| global.file.backup_dir.clone())
        .unwrap_or_else(|| belay_migrate::backup::default_dir(db))
}

/// The point-in-time archive's directory: `[archive] dir` (relative to the database's
/// directory), else `<db>.archive`.
///
/// # Errors
///
/// [`CliError::Usage`] for `[archive] url`: the store is `[backup] url`'s, for both.
pub fn archive_dir(global: &Settings, db: &std::path::Path) -> Result<PathBuf, CliError> {
    let a = &global.file.archive;
    if let Some(url) = &a.url {
        return Err(CliError::Usage(format!(
            "[archive] url = \"{url}\" in migrate.toml: the archive is kept in dir (a local or mounted directory) and copied to the store [backup] url (or --backup-url) names, under archive/; remove url here and name the store there"
        )));
    }
    Ok(match &a.dir {
        Some(dir) if dir.is_relative() => db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join(dir),
        Some(dir) => dir.clone(),
        None => belay_migrate::guard::archive::default_dir(db),
    })
}

/// Whether archiving is on: an `[archive]` table, or `[watch] archive`.
pub fn archiving(global: &Settings) -> bool {
    let a = &global.file.archive;
    a.dir.is_some()
        || a.url.is_some()
        || a.retention.is_some()
        || a.checkpoint_bytes.is_some()
        || a.max_lag.is_some()
        || a.snapshot_every.is_some()
        || global.file.watch.archive.is_some()
}

/// The archiver's options from `[archive]`.
///
/// # Errors
///
/// [`CliError::Usage`] naming the key whose value does not parse.
pub fn archive_options(
    global: &Settings,
) -> Result<belay_migrate::guard::archive::Options, CliError> {
    let mut options = belay_migrate::guard::archive::Options::default();
    if let Some(v) = &global.file.archive.checkpoint_bytes {
        options.checkpoint_bytes = match belay_migrate::guard::watch::every::bytes(v) {
            Ok(0) => {
                return Err(CliError::Usage(format!(
                    "[archive] checkpoint_bytes in migrate.toml: `{v}`: must be more than 0"
                )));
            }
            Ok(b) => b,
            Err(why) => {
                return Err(CliError::Usage(format!(
                    "[archive] checkpoint_bytes in migrate.toml: {why}"
                )));
            }
        };
    }
    if let Some(v) = &global.file.archive.snapshot_every {
        options.snapshot_every = Some(positive_duration("[archive] snapshot_every", v)?);
    }
    Ok(options)
}

/// A duration setting that must be longer than 0, its errors naming `key`.
fn positive_duration(key: &str, v: &str) -> Result<Duration, CliError> {
    match belay_migrate::guard::watch::every::duration(v) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(CliError::Usage(format!(
            "{key} in migrate.toml: `{v}`: must be longer than 0"
        ))),
        Err(why) => Err(CliError::Usage(format!("{key} in migrate.toml: {why}"))),
    }
}

/// How often the archiver ships when `[watch] archive` does not say: often enough that a
/// commit is archived well within a second (docs/benchmarks.md).
pub const DEFAULT_ARCHIVE_INTERVAL: &str = "250ms";

/// `[archive] max_lag` (by default a minute).
///
/// # Errors
///
/// [`CliError::Usage`] when it does not parse or is zero.
pub fn archive_max_lag(global: &Settings) -> Result<Duration, CliError> {
    match &global.file.archive.max_lag {
        None => Ok(Duration::from_secs(60)),
        Some(v) => positive_duration("[archive] max_lag", v),
    }
}

/// `[archive] retention`; by default as far back as the daily backups reach (`[backup]
/// keep_daily` days, at least one), so the archive and the backups cover the same time.
///
/// # Errors
///
/// [`CliError::Usage`] when it does not parse or is zero.
pub fn archive_retention(global: &Settings) -> Result<Duration, CliError> {
    match &global.file.archive.retention {
        Some(v) => positive_duration("[archive] retention", v),
        None => {
            let days = global
                .file
                .backup
                .keep_daily
                .unwrap_or(belay_migrate::backup::Retention::default().keep_daily)
                .max(1);
            Ok(Duration::from_secs(days as u64 * 24 * 3600))
        }
    }
}

/// The lock timeout from `--lock-timeout`, or the core default.
/// The longest lock timeout: `i32::MAX` milliseconds, in whole seconds.
const MAX_LOCK_TIMEOUT_SECS: f64 = 2_147_483.0;

pub fn lock_timeout(global: &Settings) -> Result<Duration, CliError> {
    match global.lock_timeout.or(global.file.lock_timeout) {
        None => Ok(belay_migrate::lock::DEFAULT_TIMEOUT),
        // SQLite's busy timeout counts milliseconds in 32 bits: a longer wait cannot be asked.
        Some(secs) if secs > MAX_LOCK_TIMEOUT_SECS => Err(CliError::Usage(format!(
            "lock timeout {secs}: at most {MAX_LOCK_TIMEOUT_SECS} seconds (24.8 days), the longest wait SQLite's busy timeout can hold (--lock-timeout, MIGRATE_LOCK_TIMEOUT or lock_timeout in migrate.toml)"
        ))),
        Some(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
            CliError::Usage(format!(
                "lock timeout {secs}: expected a number of seconds, 0 or more (--lock-timeout, MIGRATE_LOCK_TIMEOUT or lock_timeout in migrate.toml)"
            ))
        }),
    }
}

/// A time budget from migrate.toml, in seconds: 0 for none, `default` when not set.
fn budget(
    key: &str,
    secs: Option<f64>,
    default: Option<Duration>,
) -> Result<Option<Duration>, CliError> {
    match secs {
        None => Ok(default),
        Some(0.0) => Ok(None),
        Some(secs) => Duration::try_from_secs_f64(secs).map(Some).map_err(|_| {
            CliError::Usage(format!(
                "{key} = {secs} in migrate.toml: expected a number of seconds, 0 for no limit"
            ))
        }),
    }
}

/// The rotation after a run that took a backup: `[backup] keep_last`, `keep_daily` and
/// `keep_weekly` from migrate.toml over the defaults (10, 7, 4).
pub fn rotation(global: &Settings) -> belay_migrate::Rotation {
    let (file, default) = (
        &global.file.backup,
        belay_migrate::backup::Retention::default(),
    );
    belay_migrate::Rotation::Keep(belay_migrate::backup::Retention {
        keep_last: file.keep_last.unwrap_or(default.keep_last),
        keep_daily: file.keep_daily.unwrap_or(default.keep_daily),
        keep_weekly: file.keep_weekly.unwrap_or(default.keep_weekly),
    })
}

/// `[backup] min_ratio` from migrate.toml, else the library's default: a backup asked to be
/// compressed is stored plain when a sample of its pages shrinks less than this.
pub fn min_ratio(global: &Settings) -> Option<f64> {
    Some(
        global
            .file
            .backup
            .min_ratio
            .map_or(belay_migrate::backup::DEFAULT_MIN_RATIO, |r| r.0),
    )
}

/// How the configuration says to read the migrations directory.
pub fn read_options(global: &Settings) -> source::ReadOptions {
    source::ReadOptions {
        format: global.file.format.map(|f| f.0),
        placeholders: global.file.placeholders.clone(),
    }
}

/// The migrations directory, read in its layout.
pub fn migrations(global: &Settings) -> Result<source::Read, CliError> {
    Ok(source::read_dir_with(
        migrations_dir(global),
        &read_options(global),
    )?)
}

/// A migrator over the migrations directory, with the global options applied.
pub fn migrator(global: &Settings) -> Result<Migrator, CliError> {
    migrator_over(global, migrations(global)?.migrations)
}

/// A migrator over `migrations`, with the global options applied.
pub fn migrator_over(global: &Settings, migrations: Migrations) -> Result<Migrator, CliError> {
    let mut migrator = Migrator::new(migrations);
    for extension in &global.file.extensions {
        migrator.extension(extension);
    }
    migrator.lock_timeout(lock_timeout(global)?);
    migrator.check_timeout(budget(
        "check_timeout",
        global.file.check_timeout,
        Some(belay_migrate::DEFAULT_CHECK_TIMEOUT),
    )?);
    migrator.migration_timeout(budget(
        "migration_timeout",
        global.file.migration_timeout,
        None,
    )?);
    migrator.verification(
        global
            .file
            .verify
            .unwrap_or(belay_migrate::integrity::Depth::Quick),
    );
    migrator.database_settings(global.file.database.clone());
    Ok(migrator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            parse_database_url("sqlite:app.db").unwrap(),
            PathBuf::from("app.db")
        );
        assert_eq!(
            parse_database_url("sqlite://app.db").unwrap(),
            PathBuf::from("app.db")
        );
        assert_eq!(
            parse_database_url("sqlite:///var/lib/app.db?mode=rwc").unwrap(),
            PathBuf::from("/var/lib/app.db")
        );
        assert!(parse_database_url("postgres://x").is_err());
        assert!(parse_database_url("sqlite::memory:").is_err());
    }
}
