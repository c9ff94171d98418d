//! Command-line arguments.

use std::path::PathBuf;

use belay_migrate::Version;
use clap::{ArgGroup, Args, Parser, Subcommand};

/// SQLite schema migrations with a safety net.
#[derive(Debug, Parser)]
#[command(name = "migrate", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes; listed under their own heading, after each command's own.
/// Help names each option's environment variable without its value (`[env: MIGRATE_JSON]`):
/// clap would print an unset one as `[env: MIGRATE_JSON=]`, which reads as set to empty.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The database file [env: MIGRATE_DB, else DATABASE_URL as sqlite:PATH, else `db` in migrate.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// The migrations directory [default: `migrations` in migrate.toml, else ./migrations]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "MIGRATE_MIGRATIONS",
        hide_env_values = true
    )]
    pub migrations: Option<PathBuf>,
    /// Where backups live [default: `backup_dir` in migrate.toml, else <db file>.backups beside the database]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "MIGRATE_BACKUP_DIR",
        hide_env_values = true
    )]
    pub backup_dir: Option<PathBuf>,
    /// A remote store each backup is also copied to, and read back from: s3://bucket/prefix, gs://, az:// or file:///dir; credentials only from the environment [default: `url` of [backup] in migrate.toml, else none]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "MIGRATE_BACKUP_URL",
        hide_env_values = true
    )]
    pub backup_url: Option<String>,
    /// A configuration file [default: ./migrate.toml, if present]
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "MIGRATE_CONFIG",
        hide_env_values = true
    )]
    pub config: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true, env = "MIGRATE_JSON", hide_env_values = true, value_parser = clap::builder::FalseyValueParser::new())]
    pub json: bool,
    /// Seconds to wait for another run's lock and SQLite's write lock [default: `lock_timeout` in migrate.toml, else 60]
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        env = "MIGRATE_LOCK_TIMEOUT",
        hide_env_values = true
    )]
    pub lock_timeout: Option<f64>,
    /// Print only errors
    #[arg(short, long, global = true, conflicts_with = "verbose", env = "MIGRATE_QUIET", hide_env_values = true, value_parser = clap::builder::FalseyValueParser::new())]
    pub quiet: bool,
    /// Print more detail (and the libraries' log at info level, see --log-format)
    #[arg(short, long, global = true, env = "MIGRATE_VERBOSE", hide_env_values = true, value_parser = clap::builder::FalseyValueParser::new())]
    pub verbose: bool,
    /// How the log goes to stderr: text lines, or one JSON object a line for log shippers (json shows info and above unless MIGRATE_LOG says otherwise) [env: MIGRATE_LOG_FORMAT; filter: MIGRATE_LOG]
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "MIGRATE_LOG_FORMAT",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human lines.
    Text,
    /// One JSON object a line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the next-numbered .up.sql, .down.sql and .verify.sql files
    New {
        /// What the migration does, e.g. add_email_to_users
        name: String,
    },
    /// Show the current version and applied, pending, changed and missing migrations
    Status,
    /// Show what `up` (or `down`, with a lower --to) would run, with its SQL; changes nothing
    Plan {
        /// Target version (below the current one: a down plan)
        #[arg(long, value_name = "V")]
        to: Option<Version>,
    },
    /// Apply pending migrations
    Up {
        /// Apply up to and including this version
        #[arg(long, value_name = "V")]
        to: Option<Version>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Revert applied migrations (the latest one when no target is given)
    #[command(group(ArgGroup::new("target").args(["to", "steps"])))]
    Down {
        /// Revert every migration above this version (0 reverts all)
        #[arg(long, value_name = "V")]
        to: Option<Version>,
        /// Revert this many of the latest migrations
        #[arg(long, value_name = "N")]
        steps: Option<u32>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Every recorded attempt, newest first
    History {
        /// Show at most this many
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Check checksums, missing and out-of-order migrations, schema drift, and run a quick
    /// integrity check; change nothing (exit 4 when a run would be refused, 6 on damage)
    Verify,
    /// Accept edited migration files after review: record their current checksums
    FixChecksums {
        /// Only this migration
        #[arg(long, value_name = "V")]
        version: Option<Version>,
    },
    /// Record migrations up to V as applied without running them (an existing database whose schema they already made)
    Baseline {
        /// The version the existing schema corresponds to
        version: Version,
        /// Record them even though the schema differs from what they make (after review)
        #[arg(long)]
        force: bool,
    },
    /// Take over a database another tool migrated: record what it applied (its table stays)
    Adopt {
        /// The tool (sqlx, refinery, diesel, golang-migrate, dbmate, goose, sql-migrate, flyway, rusqlite_migration); found from its table when absent
        #[arg(long, value_name = "TOOL")]
        from: Option<String>,
        /// Record them even though the schema differs from what they make (after review)
        #[arg(long)]
        force: bool,
    },
    /// After review, record the current schema as the expected one (ends schema-drift refusals)
    AcceptDrift,
    /// Check the database's integrity: pages, indexes, constraints, foreign keys (exit 6 on findings; 3, 2 or 1 when SQLite could not check: locked, recovery pending or unreadable)
    Check {
        /// integrity_check (indexes against their tables too) instead of quick_check
        #[arg(long)]
        full: bool,
        /// Check only this table and its indexes (repeatable)
        #[arg(long = "table", value_name = "T")]
        tables: Vec<String>,
        /// Split the check over N connections (0: one per core): the file's structure and
        /// each foreign key at once, and with --full each index in row-id ranges; 1 runs
        /// SQLite's quick_check / integrity_check as one statement
        #[arg(long, value_name = "N", default_value_t = 1)]
        jobs: usize,
    },
    /// Repair a damaged database: reindex, quarantine orphans, rebuild, restore a backup, in
    /// that order, stopping once it checks clean; says what it did and every row it could not
    /// save (exit 6 when damage remains)
    Repair {
        /// Check and say what would be done; change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Take, list, verify and rotate backups
    #[command(subcommand)]
    Backup(BackupCommand),
    /// The write-ahead log: its state (read from the files, never checkpointing), and a
    /// checkpoint on request
    #[command(subcommand)]
    Wal(WalCommand),
    /// The point-in-time archive: where it stands, whether it is whole, and shipping commits
    /// into it (docs/pitr.md)
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// The same migrations over many databases (one per tenant), each under its own net, with
    /// a journal that a killed run resumes from (docs/fleet.md)
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Restore the database, or selected tables, from a backup (verified first), or the whole
    /// database as it was at a moment from the point-in-time archive
    Restore {
        /// The backup id, or `latest`
        #[arg(default_value = "latest", conflicts_with_all = ["at", "at_commit", "at_version"])]
        id: String,
        /// The state at this moment from the archive (RFC 3339, e.g. 2026-12-06T09:30:00Z, or a
        /// local time with its offset): every commit the archiver saw by then, none after
        #[arg(long, value_name = "TIME", conflicts_with_all = ["at_commit", "at_version", "tables"])]
        at: Option<String>,
        /// The state at this commit of the archive (an id from `archive status --json`)
        #[arg(long, value_name = "ID", conflicts_with_all = ["at_version", "tables"])]
        at_commit: Option<u64>,
        /// The state just before migration N ran (recorded by every run while archiving is on)
        #[arg(long, value_name = "N", conflicts_with = "tables")]
        at_version: Option<i64>,
        /// Restore only this table's rows (repeatable); every other table is left alone
        #[arg(long = "table", value_name = "T", conflicts_with = "to")]
        tables: Vec<String>,
        /// Restore into this new file instead of over the database
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
        /// Replace without asking (required off a terminal, where nobody can be asked)
        #[arg(long)]
        yes: bool,
        /// Do not back up the state being replaced first (its changes since the backup are lost)
        #[arg(long, conflicts_with = "to")]
        no_backup: bool,
    },
    /// One report of the database's health, read only: schema version and pending migrations,
    /// the last check, backup and drill, WAL, freelist and disk (exit 0 ok, 8 degraded, 6
    /// corruption found by the last check, 9 failing)
    Health {
        /// text, json (as --json) or prometheus (the metrics of `watch --listen`)
        #[arg(long, value_enum, default_value_t = HealthFormat::Text)]
        format: HealthFormat,
    },
    /// Guard the database between migrations: run what `[watch]` in migrate.toml schedules
    /// (backups with rotation, incremental checks, checkpoints, restore drills), raise alerts,
    /// serve /metrics and /health; stops cleanly on SIGTERM or SIGINT
    Watch {
        /// Run every due task once, then exit as `health` would (3 when a migration run
        /// deferred a task)
        #[arg(long)]
        once: bool,
        /// Serve /metrics (Prometheus) and /health (JSON) on this address, e.g. 127.0.0.1:9187
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Show every effective setting and where it came from (flag, environment, file, default)
    Config,
    /// Print a shell completion script (e.g. `migrate completions bash > /etc/bash_completion.d/migrate`)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page in roff (e.g. `migrate man > /usr/local/share/man/man1/migrate.1`)
    Man,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Per database: the version, what `up` would apply, or why it would be refused (changes
    /// nothing)
    Plan {
        #[command(flatten)]
        targets: FleetTargets,
        /// Plan up to and including this version
        #[arg(long, value_name = "V")]
        to: Option<Version>,
    },
    /// Apply pending migrations to every database, `--jobs` at a time, canary stage first;
    /// rerun with the same journal to resume
    Up {
        #[command(flatten)]
        targets: FleetTargets,
        /// The fleet journal [default: <list file>.fleet-journal, else ./migrate.fleet-journal]
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// Apply up to and including this version
        #[arg(long, value_name = "V")]
        to: Option<Version>,
        /// Databases migrated at once
        #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: u16,
        /// Migrate this many databases first, as a stage that ends before any other starts; the rest only if none of them failed
        #[arg(long, value_name = "N", default_value_t = 0)]
        canary: usize,
        /// Failed databases tolerated before no new one starts (those running finish)
        #[arg(long, value_name = "K", default_value_t = 0)]
        max_failures: usize,
    },
    /// Per database: the version and how many migrations are pending, with the journal's last
    /// outcome for it (reads only)
    Status {
        #[command(flatten)]
        targets: FleetTargets,
        /// The fleet journal whose outcomes to show [default: as `fleet up`'s]
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
    },
}

/// Which databases a fleet command covers.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("fleet_targets").required(true).args(["dbs", "list"])))]
pub struct FleetTargets {
    /// The databases matching this pattern (quote it: `--dbs 'tenants/*.db'`)
    #[arg(long, value_name = "GLOB")]
    pub dbs: Option<String>,
    /// The databases named in this file, one path a line (`#` comments; relative to the file)
    #[arg(long, value_name = "FILE")]
    pub list: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// The points the archive holds (`--json`: each with its id and time), the gaps, its size,
    /// and what the WAL holds that it does not yet (reads files only)
    Status,
    /// Read back every base and segment against its checksum and page hashes, report damage by
    /// range of commits, rebuild the newest point and check it (exit 6 when anything is wrong)
    Verify,
    /// Ship what is committed into the archive every `[watch] archive` (1s by default) until
    /// SIGTERM or SIGINT
    Run {
        /// One round, then exit
        #[arg(long)]
        once: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// The journal mode, the WAL's size and frames (and how many are checkpointed), the last
    /// checkpoint migrate ran, and which processes hold the database open; checkpoints nothing
    Status,
    /// Copy the WAL's frames into the database: reports busy, log and checkpointed frames, and
    /// what held frames back (exit 3 when a blocking mode gave up after the lock timeout;
    /// nothing is lost: frames left stay in the WAL)
    Checkpoint {
        /// passive never waits; full waits for writers; restart and truncate also wait for
        /// readers (truncate then empties the WAL file)
        #[arg(long, value_enum, default_value_t = CheckpointModeArg::Passive)]
        mode: CheckpointModeArg,
    },
}

/// `health --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HealthFormat {
    Text,
    Json,
    Prometheus,
}

/// `wal checkpoint --mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckpointModeArg {
    Passive,
    Full,
    Restart,
    Truncate,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a hot backup now (compressed with zstd unless --plain or `[backup] compression = "none"`)
    Create {
        /// Store a plain SQLite file instead of a zstd-compressed one
        #[arg(long)]
        plain: bool,
    },
    /// List backups, oldest first
    List,
    /// Check a backup's checksum and the integrity of its database image (full check)
    Verify {
        /// The backup id, or `latest`
        #[arg(default_value = "latest")]
        id: String,
        /// Connections the full check runs on (0: one per core; 1: SQLite's integrity_check as
        /// one statement)
        #[arg(long, value_name = "N", default_value_t = 0)]
        jobs: usize,
    },
    /// Delete the backups the retention policy does not keep
    Prune {
        /// Keep the newest N [default: [backup] keep_last, else 10]
        #[arg(long, value_name = "N")]
        keep_last: Option<usize>,
        /// Keep the newest of each of the last D days [default: [backup] keep_daily, else 7]
        #[arg(long, value_name = "D")]
        keep_daily: Option<usize>,
        /// Keep the newest of each of the last W ISO weeks [default: [backup] keep_weekly, else 4]
        #[arg(long, value_name = "W")]
        keep_weekly: Option<usize>,
        /// Say what would be deleted; delete nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy backups to the store --backup-url names: ID, or every backup here it lacks
    Push {
        /// The backup id, or `latest` [default: each backup here the store does not hold]
        id: Option<String>,
    },
}

/// How `up` and `down` run.
#[derive(Debug, Args, Clone, Copy)]
pub struct RunArgs {
    /// Print the plan and its SQL; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Apply the run to a scratch copy first and verify it; run for real only if that passed
    #[arg(long, conflicts_with = "dry_run")]
    pub rehearse: bool,
    /// Commit each migration on its own instead of all in one transaction
    #[arg(long)]
    pub per_migration: bool,
    /// Hold SQLite's write lock from before the backup to the end: application writers wait
    /// for the whole run instead of committing during it (one transaction; no no-transaction
    /// files)
    #[arg(long, conflicts_with = "per_migration")]
    pub exclusive: bool,
    /// Skip the pre-flight check and the pre-run backup (a failure after a commit then cannot
    /// be undone)
    #[arg(long)]
    pub no_backup: bool,
    #[command(flatten)]
    pub allow: AllowArgs,
}

/// Explicit permissions to run despite validation problems.
#[derive(Debug, Args, Clone, Copy)]
pub struct AllowArgs {
    /// Run although applied migration files changed
    #[arg(long)]
    pub allow_changed: bool,
    /// Run although applied migration files are missing
    #[arg(long)]
    pub allow_missing: bool,
    /// Apply pending migrations lower than the current version
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// Run although the schema changed outside migrations
    #[arg(long)]
    pub allow_drift: bool,
}

impl From<AllowArgs> for belay_migrate::Allow {
    fn from(a: AllowArgs) -> Self {
        Self {
            changed: a.allow_changed,
            missing: a.allow_missing,
            out_of_order: a.allow_out_of_order,
            schema_drift: a.allow_drift,
        }
    }
}
