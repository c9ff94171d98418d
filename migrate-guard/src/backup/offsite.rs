//! What was copied off the machine, recorded beside the backups for `health`: one file per
//! kind (`offsite-backup.json`, `offsite-archive.json`), each holding the last copy and, for
//! backups, every backup whose copy failed and that no later copy of its own has put in the
//! store (so that a newer backup's copy does not hide an older one still only here).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::backup::manifest::Manifest;
use crate::backup::mirror::{self, Pushed};
use crate::files::durable;
use crate::remote::Remote;

/// What a copy off the machine was of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A backup.
    Backup,
    /// The point-in-time archive's new files.
    Archive,
}

impl Kind {
    /// The record's file in the backup directory.
    pub fn path(self, dir: &Path) -> PathBuf {
        dir.join(match self {
            Kind::Backup => "offsite-backup.json",
            Kind::Archive => "offsite-archive.json",
        })
    }
}

/// The last copy off the machine of one kind, as recorded beside the backups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping {
    /// Of what.
    pub kind: Kind,
    /// The store, as addressed.
    pub url: String,
    /// The backup (or, for the archive, its newest generation).
    pub id: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// Whether it is in the store.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Backups whose copy failed and that are still not known to be in the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

impl Shipping {
    /// The record of copying `id` of `kind` to `remote`, failed with `error` or not.
    pub fn of(remote: &Remote, kind: Kind, id: &str, error: Option<&Error>) -> Self {
        Shipping {
            kind,
            url: remote.shown().to_owned(),
            id: id.to_owned(),
            at: crate::vocab::clock::now_rfc3339(),
            ok: error.is_none(),
            error: error.map(ToString::to_string),
            pending: Vec::new(),
        }
    }

    /// Writes it beside the backups in `dir`, in place of the last record of its kind
    /// (atomically), carrying over the backups still pending: this one added when it failed,
    /// removed when it succeeded, and any no longer in `dir` dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be written.
    pub fn record(mut self, dir: &Path) -> Result<(), Error> {
        durable::create_dir(dir)?;
        let mut pending = Self::last(dir, self.kind)
            .ok()
            .flatten()
            .map(|s| s.pending)
            .unwrap_or_default();
        // A backup removed here since (rotated, pruned) cannot be copied any more: not pending.
        pending
            .retain(|id| *id != self.id && crate::backup::store::manifest_path(dir, id).exists());
        if !self.ok && self.kind == Kind::Backup {
            pending.push(self.id.clone());
        }
        self.pending = pending;
        let text = serde_json::to_string_pretty(&self).expect("records serialize");
        durable::write_atomically(&self.kind.path(dir), &text)
    }

    /// The last record of `kind` in `dir`, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read; [`Error::BackupCorrupt`] when it is not a record.
    pub fn last(dir: &Path, kind: Kind) -> Result<Option<Self>, Error> {
        let path = kind.path(dir);
        let Some(text) = durable::read_record(&path)? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::BackupCorrupt {
                path,
                reason: format!("not a record of a copy off the machine: {e}"),
            })
    }

    /// What is wrong, if anything: the last copy failed, or backups are still only here.
    pub fn problem(&self) -> Option<String> {
        let what = match self.kind {
            Kind::Backup => format!("backup {}", self.id),
            Kind::Archive => "the archive".to_owned(),
        };
        if !self.ok {
            return Some(format!(
                "copying {what} to {} failed at {}: {}",
                self.url,
                self.at,
                self.error.as_deref().unwrap_or("no reason recorded")
            ));
        }
        (!self.pending.is_empty()).then(|| {
            format!(
                "backup(s) {} are only on this machine: their copy to {} failed (`migrate backup push` copies them)",
                self.pending.join(", "),
                self.url
            )
        })
    }
}

/// Pushes backup `manifest` of `dir` to `remote` ([`mirror::push`]) and records the outcome
/// beside the backups (a record that cannot be written is logged, never fails the copy).
///
/// # Errors
///
/// As [`mirror::push`].
pub fn push(remote: &Remote, dir: &Path, manifest: &Manifest) -> Result<Pushed, Error> {
    let pushed = mirror::push(remote, dir, manifest);
    let shipping = Shipping::of(remote, Kind::Backup, &manifest.id, pushed.as_ref().err());
    if let Err(e) = shipping.record(dir) {
        tracing::warn!(error = %e, "the record of a copy off the machine could not be written");
    }
    pushed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_kept_beside_the_backups_not_taken_for_manifests() {
        for kind in [Kind::Backup, Kind::Archive] {
            let path = kind.path(Path::new("d"));
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(crate::backup::store::KEPT_BESIDE.contains(&name), "{name}");
        }
    }
}
