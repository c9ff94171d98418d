//! Backups off the machine: each backup's file and manifest copied to a remote store, under
//! `backups/` of its prefix, and listed, verified, fetched back and pruned there.
//!
//! - **Push**: the file first (a staged, conditional upload: [`Remote::upload`]), then the
//!   manifest, carrying the file's SHA-256. As in the directory, a backup exists remotely only
//!   once its manifest does; a file without one is a leftover, never a backup.
//! - **Manifests are data here too**: a remote manifest is used only when it parses, its name
//!   is its id, it carries the file's SHA-256, and the listing holds its file at the size it
//!   says. Any other is rejected, listed with why, never acted on (nor pruned).
//! - **Fetch**: into the local backup directory, the file appearing only once its bytes hash to
//!   the manifest's `file_sha256`, then the manifest; a restore then verifies the image as it
//!   verifies any backup. The directory is the cache, and nothing in it is used without a hash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;
use crate::backup::manifest::Manifest;
use crate::backup::policy::{Retention, to_delete};
use crate::backup::store::{self, Rejected};
use crate::remote::{Put, Remote};

/// The folder of the store's prefix that backups live in.
pub const FOLDER: &str = "backups";

/// The largest manifest read from a store.
const MANIFEST_LIMIT: usize = 1 << 20;

/// The key of `name` (a backup's file or manifest) in the store.
pub fn key(name: &str) -> String {
    format!("{FOLDER}/{name}")
}

/// What [`push`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    /// The backup.
    pub id: String,
    /// The store, as addressed.
    pub url: String,
    /// `created`, or `already_there` (an earlier push of the same bytes).
    pub file: Put,
    /// The file's size.
    pub bytes: u64,
}

/// Copies backup `manifest` from the directory `dir` to the store (see the module
/// documentation). Pushing a backup already there is accepted when the bytes are the same.
///
/// # Errors
///
/// [`Error::BackupCorrupt`] when the local file is not what its manifest recorded (nothing is
/// left in the store); [`Error::RemoteMismatch`] when other bytes are at its keys;
/// [`Error::Remote`] when the store fails past its retries.
pub fn push(remote: &Remote, dir: &Path, manifest: &Manifest) -> Result<Pushed, Error> {
    let span = tracing::info_span!("backup_push", id = %manifest.id);
    let _entered = span.enter();
    let path = manifest.file_path(dir);
    let file_key = key(&manifest.file_name());
    let (put, content) = remote.upload(&path, &file_key)?;
    // The stored file's hash as recorded: `file_sha256`, or for a plain backup recorded
    // before it, the image's (the same bytes).
    let recorded = manifest
        .file_sha256
        .as_ref()
        .or(match manifest.compression {
            crate::backup::Compression::None => Some(&manifest.sha256),
            crate::backup::Compression::Zstd => None,
        });
    let differs =
        content.bytes != manifest.compressed_size || recorded.is_some_and(|h| *h != content.sha256);
    if differs {
        // Ours to remove: the conditional create made it, and no manifest names it yet.
        if put == Put::Created {
            remote.delete(&file_key)?;
        }
        return Err(Error::BackupCorrupt {
            path,
            reason: format!(
                "the file holds {} bytes with SHA-256 {}, its manifest recorded {} bytes{}; not copied off the machine",
                content.bytes,
                content.sha256,
                manifest.compressed_size,
                recorded.map_or(String::new(), |h| format!(" with SHA-256 {h}"))
            ),
        });
    }
    let mut shipped = manifest.clone();
    shipped.file_sha256 = Some(content.sha256);
    remote.put_bytes(
        &key(&format!("{}.json", manifest.id)),
        shipped.to_json().as_bytes(),
    )?;
    tracing::info!(bytes = content.bytes, ?put, "backup copied off the machine");
    Ok(Pushed {
        id: manifest.id.clone(),
        url: remote.shown().to_owned(),
        file: put,
        bytes: content.bytes,
    })
}

/// The backups in a store: the usable ones oldest first, and the rejected ones with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Manifests that agree with their names and with the listing.
    pub backups: Vec<Manifest>,
    /// Manifests that do not, never acted on.
    pub rejected: Vec<Rejected>,
}

/// Lists the store's backups, each manifest read and checked against the listing.
///
/// # Errors
///
/// [`Error::Remote`] when the store cannot be listed or a manifest cannot be read.
pub fn list(remote: &Remote) -> Result<Listing, Error> {
    let objects = remote.list_in(FOLDER)?;
    let sizes: BTreeMap<&str, u64> = objects
        .iter()
        .filter_map(|o| Some((o.key.strip_prefix(&format!("{FOLDER}/"))?, o.bytes)))
        .collect();
    let mut listing = Listing::default();
    for name in sizes
        .keys()
        .filter(|n| n.ends_with(".json") && !n.contains('/'))
    {
        let shown = PathBuf::from(format!("{}/{}", remote.shown(), key(name)));
        // One manifest that cannot be read (too large, gone since the listing) is one backup
        // not used, not a listing that fails.
        let read = remote
            .read_bytes(&key(name), MANIFEST_LIMIT)
            .map_err(|e| format!("cannot be read: {e}"));
        match read.and_then(|bytes| checked(&bytes, &shown, &sizes)) {
            Ok(manifest) => listing.backups.push(manifest),
            Err(reason) => listing.rejected.push(Rejected {
                path: shown,
                reason,
            }),
        }
    }
    listing
        .backups
        .sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(listing)
}

/// A remote manifest, if it is one this tool may act on.
fn checked(bytes: &[u8], shown: &Path, sizes: &BTreeMap<&str, u64>) -> Result<Manifest, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let manifest = Manifest::parse(text, shown).map_err(|e| match e {
        Error::BackupCorrupt { reason, .. } => reason,
        other => other.to_string(),
    })?;
    if manifest.file_sha256.is_none() {
        return Err("a manifest in a store must carry its file's SHA-256 (file_sha256)".to_owned());
    }
    let file = manifest.file_name();
    match sizes.get(file.as_str()) {
        None => Err(format!("its file `{file}` is not in the store")),
        Some(&bytes) if bytes != manifest.compressed_size => Err(format!(
            "the store lists `{file}` with {bytes} bytes; the manifest says {}",
            manifest.compressed_size
        )),
        Some(_) => Ok(manifest),
    }
}

/// The store's backup `id` (or `latest`).
///
/// # Errors
///
/// [`Error::NoSuchBackup`] when the store holds no such usable backup; [`Error::Remote`] as
/// [`list`].
pub fn find(remote: &Remote, id: &str) -> Result<Manifest, Error> {
    let listing = list(remote)?;
    let place = format!("{}/{FOLDER}", remote.shown());
    store::choose(listing.backups, id, &place).map_err(|reason| Error::NoSuchBackup {
        dir: PathBuf::from(&place),
        id: id.to_owned(),
        reason,
    })
}

/// Brings the store's backup `id` (or `latest`) into the directory `dir`, unless the same
/// backup is there already, and returns its manifest (see the module documentation).
///
/// # Errors
///
/// [`Error::RemoteMismatch`] when the object does not hash to its manifest's `file_sha256`
/// (nothing is left in `dir`), or when `dir` holds another backup of that id; as [`find`];
/// [`Error::Io`] when `dir` cannot be written.
pub fn fetch(remote: &Remote, dir: &Path, id: &str) -> Result<Manifest, Error> {
    let span = tracing::info_span!("backup_fetch", id = %id);
    let _entered = span.enter();
    let manifest = find(remote, id)?;
    let manifest_path = store::manifest_path(dir, &manifest.id);
    if manifest_path.exists() {
        let local = Manifest::read(&manifest_path)?;
        if local.sha256 != manifest.sha256 {
            return Err(Error::RemoteMismatch {
                url: remote.shown().to_owned(),
                key: key(&format!("{}.json", manifest.id)),
                expected: format!(
                    "the backup {} holds, an image with SHA-256 {}",
                    manifest_path.display(),
                    local.sha256
                ),
                found: format!("an image with SHA-256 {}", manifest.sha256),
            });
        }
        return Ok(local);
    }
    store::create_dir(dir)?;
    let file_sha256 = manifest.file_sha256.clone().expect("checked by list");
    remote.download(
        &key(&manifest.file_name()),
        &manifest.file_path(dir),
        &file_sha256,
    )?;
    store::write_atomically(&manifest_path, &manifest.to_json())?;
    tracing::info!(id = %manifest.id, "backup fetched from the store");
    Ok(manifest)
}

/// Reads the store's backup `id` through and checks it against its manifest's size and
/// `file_sha256`, returning the manifest.
///
/// # Errors
///
/// [`Error::RemoteMismatch`] when it does not hash as recorded; as [`find`].
pub fn verify(remote: &Remote, id: &str) -> Result<Manifest, Error> {
    let manifest = find(remote, id)?;
    let file_key = key(&manifest.file_name());
    let found = remote.content(&file_key)?;
    let expected = manifest.file_sha256.as_deref().expect("checked by list");
    if found.sha256 != expected || found.bytes != manifest.compressed_size {
        return Err(Error::RemoteMismatch {
            url: remote.shown().to_owned(),
            key: file_key,
            expected: format!("{} bytes, SHA-256 {expected}", manifest.compressed_size),
            found: format!("{} bytes, SHA-256 {}", found.bytes, found.sha256),
        });
    }
    Ok(manifest)
}

/// Deletes the store's backups `policy` does not keep (each manifest first, so that one half
/// deleted is a leftover file, never listed, rather than a manifest rejected at every
/// listing), returning their ids, oldest first. Rejected manifests and what they name are left
/// alone.
///
/// # Errors
///
/// [`Error::Remote`] when the store cannot be listed or refuses a delete.
pub fn prune(remote: &Remote, policy: &Retention) -> Result<Vec<String>, Error> {
    let listing = list(remote)?;
    let doomed = to_delete(&listing.backups, policy);
    for id in &doomed {
        let manifest = listing
            .backups
            .iter()
            .find(|m| &m.id == id)
            .expect("listed");
        remote.delete(&key(&format!("{id}.json")))?;
        remote.delete(&key(&manifest.file_name()))?;
    }
    Ok(doomed)
}

/// Deletes the store's copy of backup `id` (its manifest, then its file) when the store holds
/// a usable one; returns whether it did. Rejected manifests are left alone.
///
/// # Errors
///
/// [`Error::Remote`] when the store cannot be listed or refuses a delete.
pub fn remove(remote: &Remote, id: &str) -> Result<bool, Error> {
    let listing = list(remote)?;
    let Some(manifest) = listing.backups.iter().find(|m| m.id == id) else {
        return Ok(false);
    };
    remote.delete(&key(&format!("{id}.json")))?;
    remote.delete(&key(&manifest.file_name()))?;
    Ok(true)
}
