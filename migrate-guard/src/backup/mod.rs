//! Backups: hot, compressed, verified, rotated; whole and per-table restore. Usable on their
//! own, without migrations.
//!
//! ```no_run
//! use std::path::Path;
//! use belay_guard::backup::{self, CreateOptions, Retention};
//!
//! let db = Path::new("app.db");
//! let dir = backup::default_dir(db); // app.db.backups
//! let manifest = backup::create(db, &dir, &CreateOptions::default(), &mut |_| {})?;
//! backup::verify(&dir, &manifest.id, 2)?; // checksum, then the full check on 2 connections
//! backup::prune(&dir, &Retention::default())?;
//! # Ok::<(), belay_guard::Error>(())
//! ```
//!
//! Layout: one file per backup in the backup directory (`<id>.db.zst`, or `<id>.db` plain),
//! with its manifest `<id>.json` beside it; [`mirror`] copies them to a remote store and
//! back. See docs/backup.md.

mod create;
mod id;
mod image;
mod manifest;
pub mod mirror;
pub mod offsite;
mod pages;
mod policy;
mod restore;
pub(crate) mod store;
mod tables;
mod verify;
mod worth;

use std::path::Path;

pub use create::{CreateOptions, Progress, create};
pub use manifest::{Compression, Manifest, Reason, Sample};
pub use policy::{Retention, to_delete};
pub(crate) use restore::{Copied, check_copy, copy_into};
pub use restore::{
    Current, Proof, RestoreOptions, RestoreReport, RestoreStep, restore, restore_empty,
    restore_locked, restore_to,
};
pub use store::{Rejected, Swept, default_dir, find, is_valid_id, list, new_id, rejected, sweep};
pub use store::{Staged, create_dir, create_private, sync_dir};
pub use tables::{RestoredTable, TablesReport, restore_tables};
pub use verify::{BackupVerification, read_image, verify, verify_checksum, verify_written};
pub(crate) use verify::{VerifiedImage, stage};
pub use worth::DEFAULT_MIN_RATIO;

use crate::Error;

/// Deletes the backups `policy` does not keep (files first, then manifests), returning their
/// ids, oldest first.
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be read or a file cannot be removed.
pub fn prune(dir: &Path, policy: &Retention) -> Result<Vec<String>, Error> {
    sweep(dir)?;
    let all = list(dir)?;
    let doomed = to_delete(&all, policy);
    for id in &doomed {
        remove(dir, all.iter().find(|m| &m.id == id).expect("listed"))?;
    }
    Ok(doomed)
}

/// Deletes one backup: its data file first, so that a manifest without its file reads as a
/// broken backup, never as a good one.
///
/// # Errors
///
/// [`Error::Io`] when a file cannot be removed.
pub fn remove(dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    for path in [
        manifest.file_path(dir),
        store::manifest_path(dir, &manifest.id),
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path, source }),
        }
    }
    Ok(())
}
