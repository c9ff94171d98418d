//! The manifest written beside each backup file: what the backup holds and how to check it.
//! A backup exists only once its manifest does (the manifest is written last).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::backup::store;

/// Why a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Asked for by hand (`migrate backup create`).
    Manual,
    /// Taken by a migration run before it changed anything.
    PreMigrate,
    /// Taken on a schedule.
    Scheduled,
}

impl Reason {
    /// The reason as it appears in ids and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Manual => "manual",
            Reason::PreMigrate => "pre-migrate",
            Reason::Scheduled => "scheduled",
        }
    }
}

/// How the backup file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain SQLite database file (`<id>.db`).
    None,
    /// zstd-compressed (`<id>.db.zst`), the default.
    Zstd,
}

impl Compression {
    /// The backup file's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "db",
            Compression::Zstd => "db.zst",
        }
    }
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Unique, sortable by creation time, safe as a file name.
    pub id: String,
    /// When it was taken (RFC 3339 UTC).
    pub created_at: String,
    /// Why.
    pub reason: Reason,
    /// The highest applied migration version at the time, if the database had any.
    pub schema_version: Option<i64>,
    /// SQLite page size.
    pub page_size: u64,
    /// Pages in the database.
    pub page_count: u64,
    /// Size of the uncompressed database image.
    pub byte_size: u64,
    /// SHA-256 (hex) of the uncompressed database image.
    pub sha256: String,
    /// How the file is stored.
    pub compression: Compression,
    /// Size of the backup file as stored.
    pub compressed_size: u64,
    /// The backup file's name, in the same directory.
    pub file: String,
    /// The database it was taken from.
    pub source: String,
}

impl Manifest {
    /// The backup file's path in `dir`.
    pub fn file_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.file)
    }

    /// Reads a manifest.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read, [`Error::BackupCorrupt`] when it is not a manifest.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::BackupCorrupt {
            path: path.to_path_buf(),
            reason: format!("not a backup manifest: {e}"),
        })?;
        if !store::is_valid_id(&manifest.id) || manifest.file.contains(['/', '\\']) {
            return Err(Error::BackupCorrupt {
                path: path.to_path_buf(),
                reason: "the manifest names a file outside the backup directory".to_owned(),
            });
        }
        Ok(manifest)
    }

    /// The manifest as written to disk.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifests serialize")
    }
}
