//! The safety net around a run that has work to do: a pre-flight integrity check (a corrupt
//! database is refused before anything is written), and a verified pre-migration backup, from
//! which a run that fails after committing part of its work is restored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;
use crate::backup::{self, Compression, CreateOptions, Manifest, Reason};
use crate::integrity::{self, Depth, FindingKind};

/// Whether a run takes a backup before it changes anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backups {
    /// Check the database and back it up first; restore from that backup on failure (the
    /// default).
    #[default]
    Take,
    /// Run without the pre-flight check and the backup (`--no-backup`): a failure after a
    /// commit then leaves the database part-way.
    Skip,
}

/// Refuses a damaged database. Foreign-key violations that already exist are not damage: the
/// run only fails on violations it introduces.
pub(crate) fn preflight(db: &Path, timeout: Duration) -> Result<(), Error> {
    let report = integrity::check(
        db,
        &integrity::Options {
            busy_timeout: timeout,
            ..integrity::Options::new(Depth::Quick)
        },
    )?;
    if report
        .findings
        .iter()
        .any(|f| f.kind != FindingKind::ForeignKey)
    {
        return Err(Error::Corrupt {
            report: Box::new(report),
        });
    }
    Ok(())
}

/// Whether the database has no pages yet (a new file): nothing to check, nothing to back up.
pub(crate) fn is_new(db: &Path) -> bool {
    std::fs::metadata(db).map_or(true, |m| m.len() == 0)
}

/// Takes and verifies the pre-migration backup.
pub(crate) fn backup(db: &Path, dir: &Path, timeout: Duration) -> Result<Manifest, Error> {
    let options = CreateOptions {
        compression: Compression::Zstd,
        reason: Reason::PreMigrate,
        busy_timeout: timeout,
    };
    let manifest = backup::create(db, dir, &options, &mut |_| {})?;
    backup::verify_checksum(dir, &manifest)?;
    Ok(manifest)
}

/// Where a run's backups go: the configured directory, else `<db file>.backups`.
pub(crate) fn dir(configured: Option<&PathBuf>, db: &Path) -> PathBuf {
    configured
        .cloned()
        .unwrap_or_else(|| backup::default_dir(db))
}
