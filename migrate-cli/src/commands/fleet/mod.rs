//! `migrate fleet plan|up|status`: the same migrations over many databases (docs/fleet.md).
//! One file per subcommand; what they share is here.

mod plan;
mod status;
mod up;

use std::path::{Path, PathBuf};

use belay_migrate::{Backups, Migrator, WriteLock};

use crate::cli::{FleetCommand, FleetTargets};
use crate::context;
use crate::error::CliError;
use crate::fleet::runner::Options;
use crate::fleet::targets;
use crate::output::Output;
use crate::settings::Settings;

pub fn run(g: &Settings, out: &Output, command: &FleetCommand) -> Result<(), CliError> {
    match command {
        FleetCommand::Plan { targets, to } => plan::run(g, out, targets, *to),
        FleetCommand::Up {
            targets,
            journal,
            to,
            jobs,
            canary,
            max_failures,
        } => up::run(
            g,
            out,
            &up::Asked {
                targets,
                journal: journal.as_deref(),
                to: *to,
                options: Options {
                    jobs: usize::from(*jobs),
                    canary: *canary,
                    max_failures: *max_failures,
                },
            },
        ),
        FleetCommand::Status { targets, journal } => {
            status::run(g, out, targets, journal.as_deref())
        }
    }
}

/// The databases `--dbs` or `--list` names, without the fleet journal (which a glob over the
/// journal's directory would match).
fn databases(t: &FleetTargets, journal: Option<&Path>) -> Result<Vec<PathBuf>, CliError> {
    let found = match (&t.dbs, &t.list) {
        (Some(pattern), _) => targets::from_glob(pattern)?,
        (None, Some(list)) => targets::from_list(list)?,
        (None, None) => {
            return Err(CliError::Usage(
                "fleet commands need --dbs GLOB or --list FILE".into(),
            ));
        }
    };
    let journal = journal.and_then(|j| std::fs::canonicalize(j).ok());
    Ok(found
        .into_iter()
        .filter(|db| Some(db) != journal.as_ref())
        .collect())
}

/// `--journal`, else `<list file>.fleet-journal`, else `./migrate.fleet-journal`.
fn journal_path(t: &FleetTargets, journal: Option<&Path>) -> PathBuf {
    if let Some(journal) = journal {
        return journal.to_path_buf();
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
    if g.backup_url.is_some() || g.file.backup.url.is_some() {
        return Err(CliError::Usage(
            "a fleet does not copy backups off the machine yet: --backup-url, MIGRATE_BACKUP_URL or [backup] url in migrate.toml would put every database's backups under one prefix, where their ids could meet; unset it for fleet commands (each database's backups stay beside it) and copy them per database (docs/fleet.md)".into(),
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

/// `db` is still a regular file: a database deleted since the targets were listed is never
/// created afresh by its run.
fn existing(db: &Path) -> Result<(), CliError> {
    match belay_migrate::settle::regular_file(db)? {
        Some(_) => Ok(()),
        None => Err(CliError::Core(belay_migrate::Error::NoDatabase {
            path: db.to_path_buf(),
        })),
    }
}

/// The fields every fleet document starts with (the JSON contract every command keeps: `ok`
/// first, and an `error` with its kind, exit code and message when not ok).
#[derive(serde::Serialize)]
struct Head {
    ok: bool,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

impl Head {
    /// The head of a document whose exit code is `exit_code`; `message` says why when not 0.
    fn new(exit_code: u8, message: impl FnOnce() -> String) -> Self {
        let error = (exit_code != 0).then(|| {
            let mut error = CliError::Exit(exit_code).to_json()["error"].take();
            error["message"] = serde_json::Value::String(message());
            error
        });
        Self {
            ok: exit_code == 0,
            exit_code,
            error,
        }
    }
}

/// Why a database has no answer: the exit code and message its error would give alone.
struct Unread {
    exit_code: u8,
    error: String,
}

/// Each database's answer from `read`, or why there is none.
fn read_each<T>(
    targets: Vec<PathBuf>,
    read: impl Fn(&Path) -> Result<T, CliError>,
) -> Vec<(PathBuf, Result<T, Unread>)> {
    targets
        .into_iter()
        .map(|db| {
            let answer = existing(&db).and_then(|()| read(&db)).map_err(|e| Unread {
                exit_code: e.exit_code(),
                error: e.to_string(),
            });
            (db, answer)
        })
        .collect()
}

/// How many of `rows` are `counted`, and what that says, for [`error_object`].
fn counted<R>(rows: &[R], counted: impl Fn(&R) -> bool, what: &str) -> String {
    format!(
        "{} of {} database(s) {what}; each row says why",
        rows.iter().filter(|r| counted(r)).count(),
        rows.len()
    )
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

/// Milliseconds since `since`.
fn millis(since: std::time::Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
