//! Backups: the safety crate's (`belay_guard::backup`: hot, compressed, verified, rotated;
//! whole and per-table restores), with the engine's account of them. Taken here, a backup's
//! manifest records the schema version from the migration history; restored here, a restore
//! is recorded as an attempt in `_migrate_attempts` and the audit journal, and clears the run
//! marker. Everything else is the safety crate's, as it is.
//!
//! ```no_run
//! use std::path::Path;
//! use belay_migrate::backup::{self, CreateOptions, Retention};
//!
//! let db = Path::new("app.db");
//! let dir = backup::default_dir(db); // app.db.backups
//! let manifest = backup::create(db, &dir, &CreateOptions::default(), &mut |_| {})?;
//! backup::verify(&dir, &manifest.id, 2)?; // checksum, then the full check on 2 connections
//! backup::prune(&dir, &Retention::default())?;
//! # Ok::<(), belay_migrate::Error>(())
//! ```

use std::path::Path;
use std::time::Duration;

pub use belay_guard::backup::*;

use crate::record::account::Account;
use crate::vocab::command::Command;
use crate::vocab::error::Error;
use crate::vocab::progress::Observer;

/// Takes a backup of the database at `db` into `dir` (see `belay_guard::backup::create`); the
/// manifest records the highest applied migration unless `options` reads the version itself.
///
/// # Errors
///
/// As `belay_guard::backup::create`.
pub fn create(
    db: &Path,
    dir: &Path,
    options: &CreateOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Manifest, Error> {
    let options = CreateOptions {
        version_of: options
            .version_of
            .or(Some(crate::record::history::current_version)),
        ..*options
    };
    Ok(belay_guard::backup::create(db, dir, &options, progress)?)
}

/// Restores the backup `id` (or `latest`) from `dir` over the database at `db`, backing up the
/// state it replaces first (see [`restore_observed`]).
///
/// # Errors
///
/// As [`restore_observed`].
pub fn restore(db: &Path, dir: &Path, id: &str, timeout: Duration) -> Result<RestoreReport, Error> {
    restore_observed(db, dir, id, timeout, Current::BackUp, None)
}

/// [`restore`], saying what becomes of the state it replaces.
///
/// # Errors
///
/// As [`restore_observed`].
pub fn restore_with(
    db: &Path,
    dir: &Path,
    id: &str,
    timeout: Duration,
    current: Current,
) -> Result<RestoreReport, Error> {
    restore_observed(db, dir, id, timeout, current, None)
}

/// The safety crate's restore by hand (`belay_guard::backup::restore`: under the migration
/// lock, the pre-restore backup and the proof that nobody committed since, verified, through
/// the backup API), recorded as an attempt (command `restore`) in the restored database's
/// `_migrate_attempts` and in the audit journal, the run marker cleared; `observer` is told
/// what it is doing (the pre-restore backup, then the restore).
///
/// # Errors
///
/// As `belay_guard::backup::restore`.
pub fn restore_observed(
    db: &Path,
    dir: &Path,
    id: &str,
    timeout: Duration,
    current: Current,
    observer: Option<&Observer>,
) -> Result<RestoreReport, Error> {
    let progress = |step: &RestoreStep| {
        crate::vocab::progress::report(observer, || match step {
            RestoreStep::BackingUpCurrent => crate::vocab::progress::Progress::BackingUpCurrent,
            RestoreStep::Restoring { backup } => crate::vocab::progress::Progress::Restoring {
                backup: backup.clone(),
            },
        });
    };
    let options = RestoreOptions {
        timeout,
        current,
        progress: Some(&progress),
    };
    let mut account = Account::new(Command::Restore, dir, timeout);
    Ok(belay_guard::backup::restore(
        db,
        dir,
        id,
        &options,
        &mut account,
    )?)
}

/// Replaces the rows of `tables` with those of backup `id` (see
/// `belay_guard::backup::restore_tables`), recorded as an attempt (command `restore-tables`).
///
/// # Errors
///
/// As `belay_guard::backup::restore_tables`.
pub fn restore_tables(
    db: &Path,
    dir: &Path,
    id: &str,
    tables: &[String],
    timeout: Duration,
) -> Result<TablesReport, Error> {
    let mut account = Account::new(Command::RestoreTables, dir, timeout);
    Ok(belay_guard::backup::restore_tables(
        db,
        dir,
        (id, tables),
        timeout,
        &mut account,
    )?)
}

/// Deletes the backups `policy` does not keep (see `belay_guard::backup::prune`).
///
/// # Errors
///
/// As `belay_guard::backup::prune`.
pub fn prune(dir: &Path, policy: &Retention) -> Result<Vec<String>, Error> {
    Ok(belay_guard::backup::prune(dir, policy)?)
}

/// Every backup in `dir`, oldest first (see `belay_guard::backup::list`).
///
/// # Errors
///
/// As `belay_guard::backup::list`.
pub fn list(dir: &Path) -> Result<Vec<Manifest>, Error> {
    Ok(belay_guard::backup::list(dir)?)
}

/// What in `dir` looks like a backup but is not one (see `belay_guard::backup::rejected`).
///
/// # Errors
///
/// As `belay_guard::backup::rejected`.
pub fn rejected(dir: &Path) -> Result<Vec<Rejected>, Error> {
    Ok(belay_guard::backup::rejected(dir)?)
}

/// The backup named `id`, or the newest of the database as it was for `latest` (see
/// `belay_guard::backup::find`).
///
/// # Errors
///
/// As `belay_guard::backup::find`.
pub fn find(dir: &Path, id: &str) -> Result<Manifest, Error> {
    Ok(belay_guard::backup::find(dir, id)?)
}

/// Removes what stopped processes left in `dir` (see `belay_guard::backup::sweep`).
///
/// # Errors
///
/// As `belay_guard::backup::sweep`.
pub fn sweep(dir: &Path) -> Result<Swept, Error> {
    Ok(belay_guard::backup::sweep(dir)?)
}

/// Verifies the backup `id` (see `belay_guard::backup::verify`).
///
/// # Errors
///
/// As `belay_guard::backup::verify`.
pub fn verify(dir: &Path, id: &str, workers: usize) -> Result<BackupVerification, Error> {
    Ok(belay_guard::backup::verify(dir, id, workers)?)
}

/// Checks a backup file against its manifest's checksum (see
/// `belay_guard::backup::verify_checksum`).
///
/// # Errors
///
/// As `belay_guard::backup::verify_checksum`.
pub fn verify_checksum(dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    Ok(belay_guard::backup::verify_checksum(dir, manifest)?)
}

/// Restores backup `id` into a new file at `to`, with the mode of `like` (see
/// `belay_guard::backup::restore_to`).
///
/// # Errors
///
/// As `belay_guard::backup::restore_to`.
pub fn restore_to(
    to: &Path,
    dir: &Path,
    id: &str,
    like: Option<&Path>,
) -> Result<RestoreReport, Error> {
    Ok(belay_guard::backup::restore_to(to, dir, id, like)?)
}
