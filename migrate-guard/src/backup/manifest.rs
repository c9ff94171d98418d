//! The manifest written beside each backup file: what the backup holds and how to check it.
//! A backup exists only once its manifest does (the manifest is written last).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::backup::id;

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
    /// The state a restore by hand replaced, taken just before it.
    PreRestore,
    /// A state rebuilt from the point-in-time archive, staged for a restore over the
    /// database (`restore --at`).
    PointInTime,
}

impl Reason {
    /// Whether a backup taken for this reason holds the database as it was, and so may be
    /// `latest`: every reason but [`Reason::PreRestore`], whose copy holds the state a restore
    /// by hand replaced (restorable by its id, never by `latest`: a second `restore latest`
    /// would otherwise undo the first), and [`Reason::PointInTime`], a past state staged for
    /// `restore --at`.
    pub fn may_be_latest(self) -> bool {
        !matches!(self, Reason::PreRestore | Reason::PointInTime)
    }

    /// The reason as it appears in ids and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Manual => "manual",
            Reason::PreMigrate => "pre-migrate",
            Reason::Scheduled => "scheduled",
            Reason::PreRestore => "pre-restore",
            Reason::PointInTime => "point-in-time",
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

/// What compressing a sample of the pages gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// The sample's size, uncompressed.
    pub bytes: u64,
    /// Its size compressed as the backup compresses.
    pub compressed: u64,
}

impl Sample {
    /// How many times smaller zstd made the sample.
    pub fn ratio(&self) -> f64 {
        self.bytes as f64 / self.compressed.max(1) as f64
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
    /// The sample of pages compressed to decide it, when one was taken (a backup asked to be
    /// compressed is stored plain when the sample shrank less than asked; see
    /// `CreateOptions::min_ratio`). Absent from manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Sample>,
    /// Size of the backup file as stored.
    pub compressed_size: u64,
    /// SHA-256 (hex) of the backup file as stored (the compressed bytes, or the plain image):
    /// what a copy off the machine, or one fetched back, is checked against. Absent from
    /// manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    /// The backup file's name, in the same directory.
    pub file: String,
    /// The database it was taken from.
    pub source: String,
}

impl Manifest {
    /// The backup file's name: derived from the id and the compression, never taken from the
    /// manifest's `file` field (a manifest is data, not a path; [`Manifest::read`] refuses one
    /// whose `file` says otherwise).
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.id, self.compression.extension())
    }

    /// The backup file's path in `dir`.
    pub fn file_path(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
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
        Self::parse(&text, path)
    }

    /// Parses a manifest read from `path` (a file, or an object shown as one), checked as
    /// [`Manifest::read`] checks it.
    ///
    /// # Errors
    ///
    /// [`Error::BackupCorrupt`] when it is not a manifest, or not the one its name says.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| Error::BackupCorrupt {
            path: path.to_path_buf(),
            reason: format!("not a backup manifest: {e}"),
        })?;
        manifest.inconsistency(path).map_or(Ok(manifest), |reason| {
            Err(Error::BackupCorrupt {
                path: path.to_path_buf(),
                reason,
            })
        })
    }

    /// What is wrong with a manifest read from `path`, if anything: every field checked against
    /// the others and against the manifest's own name, so that an edited manifest cannot point
    /// prune, verify or restore at another file, nor describe an image other than the one its
    /// checksum covers.
    fn inconsistency(&self, path: &Path) -> Option<String> {
        if !id::is_valid_id(&self.id) {
            return Some(format!("`{}` is not a backup id", self.id));
        }
        let own = format!("{}.json", self.id);
        if path.file_name().and_then(|n| n.to_str()) != Some(own.as_str()) {
            return Some(format!(
                "the manifest of backup `{}` should be named {own}",
                self.id
            ));
        }
        if self.file != self.file_name() {
            return Some(format!(
                "the manifest names the file `{}`; backup `{}` stored {} is `{}`",
                self.file,
                self.id,
                match self.compression {
                    Compression::None => "plain",
                    Compression::Zstd => "compressed",
                },
                self.file_name()
            ));
        }
        if !(512..=65536).contains(&self.page_size) || !self.page_size.is_power_of_two() {
            return Some(format!("{} is not an SQLite page size", self.page_size));
        }
        if self.page_count == 0
            || self.page_size.checked_mul(self.page_count) != Some(self.byte_size)
        {
            return Some(format!(
                "{} pages of {} bytes are not the {} bytes the manifest says the image holds",
                self.page_count, self.page_size, self.byte_size
            ));
        }
        let hex64 = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex64(&self.sha256) {
            return Some(format!("`{}` is not a SHA-256 in hex", self.sha256));
        }
        match &self.file_sha256 {
            Some(h) if !hex64(h) => {
                return Some(format!("file_sha256 `{h}` is not a SHA-256 in hex"));
            }
            Some(h) if self.compression == Compression::None && *h != self.sha256 => {
                return Some(format!(
                    "a plain backup's file is its image, but file_sha256 {h} is not its sha256 {}",
                    self.sha256
                ));
            }
            _ => {}
        }
        if self.compression == Compression::None && self.compressed_size != self.byte_size {
            return Some(format!(
                "a plain backup of {} bytes cannot be stored in {}",
                self.byte_size, self.compressed_size
            ));
        }
        None
    }

    /// The manifest as written to disk.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifests serialize")
    }
}
