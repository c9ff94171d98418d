//! The restore drill: the newest backup restored into a scratch file beside the backups,
//! its content compared with the SHA-256 recorded when it was taken, then checked in full by
//! SQLite (`backup::verify`); the scratch file is removed whatever happens. A backup that was
//! damaged after its manifest was written fails here, not on the day it is needed.

use std::path::Path;
use std::time::Instant;

use crate::Error;
use crate::backup;

/// How a drill went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drilled {
    /// Restored, matched its checksum, passed the full check.
    Passed {
        /// The backup.
        id: String,
        /// What was checked, in words.
        detail: String,
    },
    /// It did not: the backup would not have restored.
    Failed {
        /// The backup.
        id: String,
        /// Why, in words.
        detail: String,
    },
    /// There was no backup to drill.
    NoBackup,
    /// The backup was removed while it was drilled (a run's or a prune's rotation): not a
    /// verdict on any backup; the next drill takes the new newest.
    Superseded {
        /// The backup that went.
        id: String,
    },
}

/// Drills the newest backup in `dir` (not a pre-restore copy), checking it on `workers`
/// connections.
///
/// # Errors
///
/// [`Error::Io`] when the backup directory cannot be listed.
#[tracing::instrument(name = "drill", level = "debug", skip_all, fields(dir = %dir.display()), err(level = "warn"))]
pub fn drill(dir: &Path, workers: usize) -> Result<Drilled, Error> {
    let Some(newest) = super::health::newest_manifest(dir)? else {
        return Ok(Drilled::NoBackup);
    };
    let started = Instant::now();
    match backup::verify(dir, &newest.id, workers) {
        Ok(done) => Ok(Drilled::Passed {
            detail: format!(
                "restored {} ({} bytes) to scratch: sha256 {} matches the manifest, {} says ok ({} ms)",
                done.id,
                done.bytes,
                &done.sha256[..12.min(done.sha256.len())],
                done.check,
                started.elapsed().as_millis()
            ),
            id: done.id,
        }),
        Err(e) => {
            if backup::find(dir, &newest.id).is_err() {
                return Ok(Drilled::Superseded { id: newest.id });
            }
            Ok(Drilled::Failed {
                id: newest.id,
                detail: e.to_string(),
            })
        }
    }
}

/// Rebuilds a point of the archive at `dir` chosen at random among those of the last day (all
/// of them when the archive is younger) into a scratch file, checked against its page hash and
/// by SQLite, then removed: `Ok(None)` when the archive holds no point yet.
///
/// # Errors
///
/// [`Error::BackupCorrupt`] when the point would not restore; as [`crate::archive::Catalog::read`].
pub fn point(dir: &Path, seed: u64) -> Result<Option<String>, Error> {
    let catalog = crate::archive::Catalog::read(dir)?;
    let Some(newest) = catalog.last() else {
        return Ok(None);
    };
    let since = newest.at_ms - 24 * 3600 * 1000;
    let recent: Vec<_> = catalog
        .generations
        .iter()
        .flat_map(|g| g.points())
        .filter(|p| p.at_ms >= since)
        .collect();
    let chosen = recent[(seed % recent.len() as u64) as usize];
    let scratch = dir.join(format!(".drill-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&scratch);
    let rebuilt = crate::archive::rebuild::rebuild(&catalog, chosen.id, &scratch, 0o600);
    let _ = std::fs::remove_file(&scratch);
    let rebuilt = rebuilt?;
    Ok(Some(format!(
        "commit {} of the archive ({}) rebuilt to scratch: page hash matches, quick_check ok ({} ms)",
        chosen.id,
        crate::vocab::clock::format_unix_millis(chosen.at_ms),
        rebuilt.duration_ms
    )))
}
