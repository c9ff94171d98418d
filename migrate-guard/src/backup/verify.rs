//! Verifying a backup: the SHA-256 of its uncompressed content against the manifest, then an
//! integrity check of the database image itself.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::Error;
use crate::backup::image::{self, Digested};
use crate::backup::manifest::{Compression, Manifest};
use crate::backup::store::{self, Staged};
use crate::vocab::error::SqliteContext;

/// How thoroughly the image is checked after its checksum: the integrity check's depth.
use crate::integrity::Depth;

/// A verified backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupVerification {
    /// The backup.
    pub id: String,
    /// Its file.
    pub file: PathBuf,
    /// The uncompressed size that was hashed.
    pub bytes: u64,
    /// The SHA-256 that matched the manifest.
    pub sha256: String,
    /// The integrity check that passed.
    pub check: String,
}

/// A verified database image ready to be read: the backup file itself for a plain backup, or a
/// decompressed copy, removed when this is dropped.
pub(crate) struct VerifiedImage {
    path: PathBuf,
    staged: Option<Staged>,
}

impl VerifiedImage {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps a staged copy as the file at `to` (fsynced, renamed), or copies a plain backup
    /// there.
    pub fn publish(self, to: &Path) -> Result<(), Error> {
        match self.staged {
            Some(staged) => staged.publish(to),
            None => {
                let copy = Staged::new(store::temp_path(to));
                std::fs::copy(&self.path, copy.path()).map_err(|source| Error::Io {
                    path: copy.path().to_path_buf(),
                    source,
                })?;
                copy.publish(to)
            }
        }
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::BackupCorrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Checks that the backup in `dir` described by `manifest` matches its checksum, staging a
/// compressed one at `stage` (a path that must not exist; the copy is removed on error and when
/// the result is dropped). The image's integrity is not checked yet: see [`check`].
///
/// # Errors
///
/// [`Error::BackupCorrupt`] naming the backup file when it is missing, unreadable or does not
/// match its checksum; [`Error::Io`] when staging fails.
pub(crate) fn stage_unchecked(
    dir: &Path,
    manifest: &Manifest,
    stage: &Path,
) -> Result<VerifiedImage, Error> {
    let file = manifest.file_path(dir);
    match std::fs::symlink_metadata(&file) {
        Ok(meta) if meta.is_file() && meta.len() == manifest.compressed_size => {}
        Ok(meta) if meta.is_file() => {
            return Err(corrupt(
                &file,
                format!(
                    "it holds {} bytes, its manifest says {}",
                    meta.len(),
                    manifest.compressed_size
                ),
            ));
        }
        Ok(_) => return Err(corrupt(&file, "it is not a regular file")),
        Err(_) => return Err(corrupt(&file, "the backup file is missing")),
    }
    // A read error on the backup file itself means the backup is unusable.
    let unreadable = |e: Error| match e {
        Error::Io { path, source } if path == file => corrupt(&file, source.to_string()),
        other => other,
    };
    let (image, digested): (VerifiedImage, Digested) = match manifest.compression {
        Compression::None => {
            let digested = image::digest(&file).map_err(unreadable)?;
            let image = VerifiedImage {
                path: file.clone(),
                staged: None,
            };
            (image, digested)
        }
        Compression::Zstd => {
            let (staged, mut out) = Staged::create(stage.to_path_buf())?;
            let digested = image::decompress(&file, &mut out, staged.path()).map_err(unreadable)?;
            drop(out);
            let image = VerifiedImage {
                path: staged.path().to_path_buf(),
                staged: Some(staged),
            };
            (image, digested)
        }
    };
    if digested.sha256 != manifest.sha256 || digested.bytes != manifest.byte_size {
        return Err(corrupt(
            &file,
            format!(
                "its content does not match the manifest: SHA-256 {} over {} bytes, expected {} over {} bytes",
                digested.sha256, digested.bytes, manifest.sha256, manifest.byte_size
            ),
        ));
    }
    let page_size = header_page_size(image.path()).map_err(|e| corrupt(&file, e.to_string()))?;
    if page_size != manifest.page_size {
        return Err(corrupt(
            &file,
            format!(
                "its image has pages of {page_size} bytes, its manifest says {}",
                manifest.page_size
            ),
        ));
    }
    Ok(image)
}

/// The page size an SQLite database image's header declares (bytes 16..18; 1 means 65536).
fn header_page_size(path: &Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut header = [0u8; 18];
    std::fs::File::open(path)?.read_exact(&mut header)?;
    Ok(match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u64::from(n),
    })
}

/// Checks the backup in `dir` described by `manifest` as [`stage_unchecked`] does, then runs the
/// integrity check of `depth` on the image.
///
/// # Errors
///
/// As [`stage_unchecked`], and [`Error::BackupCorrupt`] when the image fails its check.
pub(crate) fn stage(
    dir: &Path,
    manifest: &Manifest,
    stage: &Path,
    depth: Depth,
) -> Result<VerifiedImage, Error> {
    let image = stage_unchecked(dir, manifest, stage)?;
    check(dir, manifest, image.path(), (depth, 1))?;
    Ok(image)
}

/// Runs the integrity check of `depth` on `workers` connections on the staged image of
/// `manifest`'s backup.
///
/// # Errors
///
/// [`Error::BackupCorrupt`] naming the backup file when the image fails it.
pub(crate) fn check(
    dir: &Path,
    manifest: &Manifest,
    image: &Path,
    (depth, workers): (Depth, usize),
) -> Result<(), Error> {
    check_image(image, depth, workers).map_err(|problems| {
        corrupt(
            &manifest.file_path(dir),
            format!("the image fails its integrity check: {problems}"),
        )
    })
}

/// Runs the integrity check on a database image (the same fail-safe check as `migrate check`:
/// only SQLite's exact `ok` passes), returning its first findings. Foreign-key violations are
/// the data's, copied faithfully: they do not make a backup unusable.
fn check_image(path: &Path, depth: Depth, workers: usize) -> Result<(), String> {
    let report = crate::integrity::check(
        path,
        &crate::integrity::Options {
            workers,
            ..crate::integrity::Options::new(depth)
        },
    )
    .map_err(|e| e.to_string())?;
    if report.damage == 0 {
        return Ok(());
    }
    let first: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.is_damage())
        .take(5)
        .map(ToString::to_string)
        .collect();
    Err(format!(
        "{} problem(s): {}",
        report.damage,
        first.join("; ")
    ))
}

/// Verifies the backup `id` (or `latest`) in `dir`: checksum, then the full integrity check on
/// `workers` connections (see [`crate::integrity::Options::workers`]).
///
/// # Errors
///
/// As [`stage`], and [`Error::InvalidRequest`] for an unknown id.
pub fn verify(dir: &Path, id: &str, workers: usize) -> Result<BackupVerification, Error> {
    let manifest = store::find(dir, id)?;
    // This process's own scratch name: a drill and a `backup verify` of the same backup at once
    // never take each other's file away.
    let stage = dir.join(format!(
        ".{}.verify-{}.tmp",
        manifest.id,
        std::process::id()
    ));
    let image = stage_unchecked(dir, &manifest, &stage)?;
    let workers = workers.max(1);
    check(dir, &manifest, image.path(), (Depth::Full, workers))?;
    drop(image);
    Ok(BackupVerification {
        file: manifest.file_path(dir),
        id: manifest.id,
        bytes: manifest.byte_size,
        sha256: manifest.sha256,
        check: match workers {
            1 => "integrity_check".to_owned(),
            n => format!("a full check on {n} connections"),
        },
    })
}

/// Re-reads a backup just written and checks its content against its manifest, without
/// staging it (the pre-migration backup's check that what reached the disk is what was hashed).
///
/// # Errors
///
/// [`Error::BackupCorrupt`] naming the file when it does not match.
pub fn verify_checksum(dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    let file = manifest.file_path(dir);
    let digested = match manifest.compression {
        Compression::None => image::digest(&file),
        Compression::Zstd => image::digest_compressed(&file),
    }
    .map_err(|e| corrupt(&file, e.to_string()))?;
    if digested.sha256 != manifest.sha256 || digested.bytes != manifest.byte_size {
        return Err(corrupt(
            &file,
            "its content does not match the manifest just written",
        ));
    }
    Ok(())
}

/// Checks that a backup this process has just written reads back whole, one hash pass cheaper
/// than [`verify_checksum`]: a compressed one must decode to its manifest's length with every
/// zstd content checksum right. That checksum was computed by the encoder over the very bytes
/// whose SHA-256 the manifest holds (hashed as they streamed), so the file decodes to the image
/// the manifest names; only a file without that checksum (written by an earlier version) is
/// hashed again. A plain backup is hashed again: it has no checksum of its own. Restores and
/// `backup verify` still check the SHA-256.
///
/// # Errors
///
/// [`Error::BackupCorrupt`] naming the file when it does not read back whole.
pub fn verify_written(dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    let file = manifest.file_path(dir);
    if manifest.compression == Compression::Zstd {
        let decoded = image::decodes_whole(&file);
        if let Ok(bytes) = decoded {
            // The file is the one this manifest was written for: its size too.
            let stored = std::fs::metadata(&file).map_or(0, |m| m.len());
            if stored != manifest.compressed_size {
                return Err(corrupt(
                    &file,
                    format!(
                        "it holds {stored} bytes, its manifest says {}",
                        manifest.compressed_size
                    ),
                ));
            }
            if bytes != manifest.byte_size {
                return Err(corrupt(
                    &file,
                    format!(
                        "it decodes to {bytes} bytes, its manifest says {}",
                        manifest.byte_size
                    ),
                ));
            }
            return Ok(());
        }
        // A frame without a checksum is hashed whole below; one that fails to decode fails
        // there too, with the decoder's words.
    }
    verify_checksum(dir, manifest)
}

/// Reads the database image of the backup `manifest` describes in `dir`: checked against its
/// checksum first (a compressed one decompressed to a file beside it, removed afterwards), then
/// opened read-only and handed to `read`. How a run learns what stood before it, after the
/// fact, without having counted it beforehand.
///
/// # Errors
///
/// As [`stage_unchecked`]; [`Error::Sqlite`] when the image cannot be opened or `read` fails.
pub fn read_image<T>(
    dir: &Path,
    manifest: &Manifest,
    read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T, Error> {
    let stage = dir.join(format!(".{}.read.tmp", manifest.id));
    let image = stage_unchecked(dir, manifest, &stage)?;
    let conn = open_image(&image)?;
    read(&conn).context("reading the backup image")
}

/// Opens a verified image for reading.
pub(crate) fn open_image(image: &VerifiedImage) -> Result<Connection, Error> {
    open_read_only(image.path()).context("opening the verified backup image")
}

/// Opens a database image read-only.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
}
