//! `migrate.toml`: defaults for the global options and the backup policy, so deploy scripts
//! need not repeat them. Command-line options win over environment variables, which win over
//! the file, which wins over built-in defaults. Relative paths are relative to the file.
//!
//! ```toml
//! db = "data/app.db"            # like --db (after MIGRATE_DB and DATABASE_URL)
//! migrations = "migrations"     # like --migrations
//! backup_dir = "backups"        # like --backup-dir
//! lock_timeout = 120            # like --lock-timeout, in seconds
//! check_timeout = 600           # verify queries and the checks before COMMIT, in seconds (0: no limit)
//! migration_timeout = 0         # each migration's script, in seconds (0, the default: no limit)
//! verify = "quick"              # the check before each COMMIT: "quick" (default) or "full"
//! exclusive = false             # like up/down --exclusive: hold the write lock for the whole run
//! format = "goose"              # the migrations' layout; detected from the files when absent
//! extensions = ["lib/vec0"]     # loaded into the connection migrations run on
//!
//! [placeholders]                # ${name} in migrations is replaced by the value
//! schema = "main"
//!
//! [database]                    # applied by runs, verified after applying (SQLite's units)
//! journal_mode = "wal"          # set under the migration lock by up/down when it differs
//! synchronous = "normal"        # off | normal | full | extra
//! wal_autocheckpoint = 1000     # pages
//! journal_size_limit = 67108864 # bytes (-1: no limit)
//! cache_size = -16384           # pages, or KiB when negative
//! mmap_size = 0                 # bytes
//! busy_timeout = 5000           # ms (for the application's connections; a run waits lock_timeout)
//! foreign_keys = "on"           # (for the application's connections; a run checks keys itself)
//!
//! [backup]
//! url = "s3://bucket/app"       # like --backup-url: each backup also copied there (docs/backup.md)
//! compression = "zstd"          # or "none"
//! min_ratio = 1.2               # stored plain unless zstd makes a sample of the pages 1.2x smaller (0: always compress)
//! keep_last = 10
//! keep_daily = 7
//! keep_weekly = 4
//!
//! [watch]                       # `migrate watch` and `migrate health` (docs/operations.md)
//! backup = "1h"                 # an interval (2s, 15m, 1h, 1d) or a cron expression
//! check = "5m"                  # one incremental integrity tick ...
//! check_budget = "200ms"        # ... of at most this long
//! checkpoint = "1m"
//! drill = "1d"
//! rpo = "2h"                    # thresholds of health and the alerts
//! wal_limit = "256MiB"
//! disk_low = "1GiB"
//! on_alert = "logger -t migrate"  # run with sh -c, the alert JSON on stdin
//! webhook = "https://hooks.example/migrate"
//! listen = "127.0.0.1:9187"     # like watch --listen
//! archive = "1s"                # with [archive]: ship new commits (docs/pitr.md)
//!
//! [archive]                     # point-in-time recovery (docs/pitr.md)
//! dir = "app.db.archive"        # relative to the database's directory (the default)
//! retention = "7d"              # generations whose newest point is older are removed
//! checkpoint_bytes = "4MiB"     # the archiver checkpoints past this much WAL
//! max_lag = "1m"                # commits waiting longer raise archive_lag
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::CliError;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_FILE: &str = "migrate.toml";

/// What a configuration file may set. Unknown keys are errors, so a typo is not ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub db: Option<PathBuf>,
    pub migrations: Option<PathBuf>,
    pub backup_dir: Option<PathBuf>,
    pub lock_timeout: Option<f64>,
    /// Seconds verify queries and the checks before COMMIT may run (0: no limit).
    pub check_timeout: Option<f64>,
    /// Seconds each migration's script may run (0: no limit).
    pub migration_timeout: Option<f64>,
    /// `verify = "quick" | "full"`: the integrity check before each COMMIT.
    pub verify: Option<belay_migrate::integrity::Depth>,
    pub exclusive: Option<bool>,
    pub format: Option<FormatName>,
    pub placeholders: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub extensions: Vec<PathBuf>,
    #[serde(default)]
    pub backup: BackupConfig,
    #[serde(default)]
    pub database: belay_migrate::guard::database::settings::Settings,
    #[serde(default)]
    pub watch: WatchConfig,
    #[serde(default)]
    pub archive: ArchiveConfig,
}

/// The `[archive]` table: where the point-in-time archive lives and how long it is kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    /// The archive's directory; relative paths are from the database's directory.
    pub dir: Option<PathBuf>,
    /// An object store URL (refused: remote archives are not in this version).
    pub url: Option<String>,
    /// How long points are kept (`7d`); the newest generation is always kept.
    pub retention: Option<String>,
    /// The WAL in use past which the archiver checkpoints (`4MiB`).
    pub checkpoint_bytes: Option<String>,
    /// How long commits may wait for the archive before `archive_lag` (`1m`).
    pub max_lag: Option<String>,
    /// How often a new generation begins from a fresh base snapshot (`24h`).
    pub snapshot_every: Option<String>,
}

/// The `[watch]` table: what `migrate watch` runs and when, and what `health` and the alerts
/// judge by. Values are kept as written and parsed by `commands::watch::config`, whose
/// errors name the key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    pub backup: Option<String>,
    pub check: Option<String>,
    pub check_budget: Option<String>,
    pub checkpoint: Option<String>,
    pub drill: Option<String>,
    pub archive: Option<String>,
    pub rpo: Option<String>,
    pub wal_limit: Option<String>,
    pub disk_low: Option<String>,
    pub on_alert: Option<String>,
    pub webhook: Option<String>,
    pub listen: Option<String>,
}

/// `format = "..."`: one of the layouts of [`belay_migrate::format::Format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatName(pub belay_migrate::format::Format);

impl<'de> Deserialize<'de> for FormatName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map(FormatName)
            .map_err(serde::de::Error::custom)
    }
}

/// The `[backup]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// A remote store each backup is also copied to (`s3://`, `gs://`, `az://`, `file://`).
    pub url: Option<String>,
    pub compression: Option<CompressionName>,
    pub min_ratio: Option<MinRatio>,
    pub keep_last: Option<usize>,
    pub keep_daily: Option<usize>,
    pub keep_weekly: Option<usize>,
}

/// `compression = "zstd" | "none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionName {
    Zstd,
    None,
}

/// `min_ratio = 1.2`: how many times smaller zstd must make a sample of the pages for a
/// backup to stay compressed; a finite number, at least 0 (0: always compress).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinRatio(pub f64);

impl<'de> Deserialize<'de> for MinRatio {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ratio = f64::deserialize(d)?;
        if ratio.is_finite() && ratio >= 0.0 {
            Ok(MinRatio(ratio))
        } else {
            Err(serde::de::Error::custom(format!(
                "{ratio} is not a ratio: expected a number of at least 0 (1.2: store a backup \
                 plain unless zstd makes its pages 1.2 times smaller; 0: always compress)"
            )))
        }
    }
}

/// Reads `--config FILE` (which must exist), or `./migrate.toml` when present, or nothing.
pub fn load(named: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>), CliError> {
    let path = match named {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
        None => return Ok((FileConfig::default(), None)),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::Usage(format!("cannot read configuration {}: {e}", path.display()))
    })?;
    let mut config = parse(&text)
        .map_err(|e| CliError::Usage(format!("invalid configuration {}: {e}", path.display())))?;
    // The file's directory, as an absolute path: `--config sp.toml` (no directory part) has the
    // empty parent, which would leave `extensions = ["vec0"]` a bare name that the loader looks
    // up on the library path instead of beside the file.
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    for p in [
        &mut config.db,
        &mut config.migrations,
        &mut config.backup_dir,
    ]
    .into_iter()
    .flatten()
    .chain(config.extensions.iter_mut())
    {
        // An empty name stays empty: it is refused later as empty, naming the key.
        if p.is_relative() && !p.as_os_str().is_empty() {
            *p = base.join(&*p);
        }
    }
    Ok((config, Some(path)))
}

fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_key() {
        let c = parse(
            "db = 'app.db'\nmigrations = 'm'\nbackup_dir = 'b'\nlock_timeout = 5\n\
             [backup]\ncompression = 'none'\nkeep_last = 3\nkeep_daily = 2\nkeep_weekly = 1\n",
        )
        .unwrap();
        assert_eq!(c.db.unwrap(), PathBuf::from("app.db"));
        assert_eq!(c.lock_timeout, Some(5.0));
        assert_eq!(c.backup.compression, Some(CompressionName::None));
        assert_eq!(c.backup.keep_weekly, Some(1));
    }

    #[test]
    fn a_min_ratio_is_a_finite_number_of_at_least_0() {
        let c = parse("[backup]\nmin_ratio = 1.5\n").unwrap();
        assert_eq!(c.backup.min_ratio, Some(MinRatio(1.5)));
        assert_eq!(
            parse("[backup]\nmin_ratio = 0\n").unwrap().backup.min_ratio,
            Some(MinRatio(0.0))
        );
        for bad in ["-1.0", "nan", "inf", "'high'"] {
            let err = parse(&format!("[backup]\nmin_ratio = {bad}\n")).unwrap_err();
            assert!(err.contains("min_ratio"), "{bad}: {err}");
            assert!(err.contains("line 2"), "{bad}: {err}");
        }
    }

    #[test]
    fn format_and_placeholders() {
        let c = parse("format = 'golang-migrate'\n[placeholders]\nschema = 'main'\n").unwrap();
        assert_eq!(
            c.format,
            Some(FormatName(belay_migrate::format::Format::GolangMigrate))
        );
        assert_eq!(c.placeholders.unwrap()["schema"], "main");
        let err = parse("format = 'liquibase'\n").unwrap_err();
        assert!(
            err.contains("unknown format `liquibase` (known: native, sqlx"),
            "{err}"
        );
    }

    #[test]
    fn database_settings_are_read_and_refused_with_their_line() {
        use belay_migrate::guard::database::settings::{JournalMode, Synchronous};
        let c =
            parse("[database]\njournal_mode = \"wal\"\nsynchronous = \"normal\"\nmmap_size = 0\n")
                .unwrap();
        assert_eq!(c.database.journal_mode, Some(JournalMode::Wal));
        assert_eq!(c.database.synchronous, Some(Synchronous::Normal));
        assert_eq!(c.database.mmap_size, Some(0));
        let err = parse("[database]\n\nsynchronous = \"sometimes\"\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("sometimes"), "{err}");
        let err = parse("[database]\njournal = \"wal\"\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("journal"), "{err}");
        let err = parse("[database]\nmmap_size = -1\n").unwrap_err();
        assert!(err.contains("mmap_size"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let err = parse("db = 'app.db'\nlock_timout = 5\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("lock_timout"), "{err}");
    }
}
