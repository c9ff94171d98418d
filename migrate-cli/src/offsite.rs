//! Backups copied off the machine when `--backup-url` (or `MIGRATE_BACKUP_URL`, or `[backup]
//! url`) names a store: opened before a command touches anything, each new backup pushed after
//! it exists (after a run's COMMIT: never on the run's critical path), every outcome recorded
//! beside the backups for `health`, and backups brought back for a restore.

use std::path::Path;

use belay_migrate::guard::Error as GuardError;
use belay_migrate::guard::backup::{self, Manifest, mirror};
use belay_migrate::guard::remote::{Put, Remote, address};
use serde::Serialize;

use crate::error::CliError;
use crate::output::Output;
use crate::settings::Settings;

/// The store named by the settings, opened (no request is made yet); none when no store is
/// named.
///
/// # Errors
///
/// [`CliError`] with exit 2 for an address that is not one (naming where it was given), and
/// for a store that cannot be set up (a missing region).
pub fn open(g: &Settings) -> Result<Option<Remote>, CliError> {
    let (url, given) = match (&g.backup_url, &g.file.backup.url) {
        (Some(url), _) => (url, "--backup-url or MIGRATE_BACKUP_URL"),
        (None, Some(url)) => (url, "[backup] url in migrate.toml"),
        (None, None) => return Ok(None),
    };
    let address = address::parse(url).map_err(|e| CliError::Usage(format!("{given}: {e}")))?;
    Remote::open(&address)
        .map(Some)
        .map_err(|e| CliError::Usage(format!("{given}: {e}")))
}

/// What copying one backup off the machine came to, as documents show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shipped {
    /// The store, as addressed.
    pub url: String,
    /// The backup.
    pub id: String,
    /// Whether it is in the store now.
    pub ok: bool,
    /// `created`, or `already_there` (an earlier copy of the same bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<Put>,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Pushes backup `manifest` of `dir` to `remote` and records the outcome beside the backups
/// for `health`.
pub fn push(remote: &Remote, dir: &Path, manifest: &Manifest) -> Result<Shipped, GuardError> {
    let pushed = belay_migrate::guard::backup::offsite::push(remote, dir, manifest);
    let pushed = pushed?;
    Ok(Shipped {
        url: pushed.url,
        id: pushed.id,
        ok: true,
        file: Some(pushed.file),
        error: None,
    })
}

/// As [`push`], after a command whose own work is done (a run committed): a failure becomes
/// part of the outcome, said on stderr and recorded for `health`, never the command's error.
pub fn push_after(out: &Output, remote: &Remote, dir: &Path, id: &str) -> Shipped {
    let shipped = backup::find(dir, id).and_then(|manifest| push(remote, dir, &manifest));
    shipped.unwrap_or_else(|e| {
        out.note(&format!(
            "backup {id} was taken, but copying it to {} failed: {e}; it is only on this machine (`migrate health` says so until a later copy succeeds)",
            remote.shown()
        ));
        Shipped {
            url: remote.shown().to_owned(),
            id: id.to_owned(),
            ok: false,
            file: None,
            error: Some(e.to_string()),
        }
    })
}

/// What a backup brought from the store is for.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// To be restored over this database: one the store says was taken from a database of
    /// another name is refused.
    Over(&'a Path),
    /// To be read (verified, restored into a new file).
    Reading,
}

/// Makes backup `id` (or `latest`) available in `dir` for a restore: fetched from the store
/// (verified by its hash) when the store holds it and `dir` does not, or for `latest` when the
/// store's newest is newer than the directory's. Returns the id fetched, if one was.
///
/// A store that cannot be reached while `dir` holds the backup asked for is said on stderr,
/// and the local one is used. A backup of another database (by its file name) is never
/// brought to be restored over this one.
///
/// # Errors
///
/// As [`mirror::fetch`]; [`GuardError::NoSuchBackup`] naming both places when neither holds
/// it.
pub fn bring(
    out: &Output,
    remote: &Remote,
    (dir, id): (&Path, &str),
    purpose: Purpose<'_>,
) -> Result<Option<String>, GuardError> {
    let local = backup::find(dir, id);
    let stored = match mirror::find(remote, id) {
        Ok(stored) => stored,
        Err(GuardError::NoSuchBackup { reason, .. }) => {
            return match local {
                Ok(here) => owned(&here, purpose).map(|()| None),
                Err(GuardError::NoSuchBackup {
                    dir: local_dir,
                    id,
                    reason: here,
                }) => Err(GuardError::NoSuchBackup {
                    dir: local_dir,
                    id,
                    reason: format!("{here}; {reason}"),
                }),
                Err(e) => Err(e),
            };
        }
        Err(e) if local.is_ok() => {
            out.note(&format!(
                "the store {} could not be read ({e}); using the backup in {}",
                remote.shown(),
                dir.display()
            ));
            return owned(local.as_ref().expect("checked"), purpose).map(|()| None);
        }
        Err(e) => return Err(e),
    };
    if let Ok(here) = &local
        && (&here.created_at, &here.id) >= (&stored.created_at, &stored.id)
    {
        return owned(here, purpose).map(|()| None);
    }
    owned(&stored, purpose)?;
    let fetched = mirror::fetch(remote, dir, &stored.id)?;
    out.note(&format!(
        "fetched backup {} from {} (SHA-256 checked) into {}",
        fetched.id,
        remote.shown(),
        dir.display()
    ));
    Ok(Some(fetched.id))
}

/// Refuses a backup taken from a database of another file name for a restore over this one
/// (one fetched earlier to be read is in the directory too, so this holds for both places).
fn owned(manifest: &Manifest, purpose: Purpose<'_>) -> Result<(), GuardError> {
    match purpose {
        Purpose::Over(db) if Path::new(&manifest.source).file_name() != db.file_name() => {
            Err(GuardError::InvalidRequest {
                reason: format!(
                    "backup {} was taken from {}, not from {}: a store's prefix holds one database's backups (give each its own), and nothing was restored; restore it into a new file with --to to look at it",
                    manifest.id,
                    manifest.source,
                    db.display()
                ),
            })
        }
        _ => Ok(()),
    }
}
