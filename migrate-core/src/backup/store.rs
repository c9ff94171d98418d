//! The backup directory: where backups live, their ids, listing, and writing files so that a
//! crash or a full disk never leaves something that looks like a valid backup.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::backup::manifest::Manifest;

/// The default backup directory for a database: `<db file>.backups` beside it.
pub fn default_dir(db: &Path) -> PathBuf {
    crate::db::sibling(db, ".backups")
}

/// Whether `id` can name a backup: ASCII letters, digits, `-` and `_` only, so that an id from
/// the command line can never leave the backup directory.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new id: the UTC time to the millisecond, then the reason, e.g.
/// `20261122T041500123Z-manual`. Sorting ids sorts backups by age.
pub fn new_id(created_at: &str, reason: &str) -> String {
    let digits: String = created_at
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T' || *c == 'Z')
        .collect();
    format!("{digits}-{reason}")
}

/// Every backup in `dir` (those with a readable manifest), oldest first. A directory that does
/// not exist holds none.
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be read, or a manifest cannot be parsed.
pub fn list(dir: &Path) -> Result<Vec<Manifest>, Error> {
    Ok(scan(dir)?.0)
}

/// A file in the backup directory that looks like a manifest but is not a usable one (it
/// cannot be parsed, or its fields contradict each other or its name): listed, never acted on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// The manifest file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// The manifests in `dir` that [`list`] leaves out, and why.
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be read.
pub fn rejected(dir: &Path) -> Result<Vec<Rejected>, Error> {
    Ok(scan(dir)?.1)
}

/// Every `*.json` in `dir` (hidden staging files aside), read as a manifest: the usable ones
/// oldest first, and the rejected ones.
fn scan(dir: &Path) -> Result<(Vec<Manifest>, Vec<Rejected>), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let (mut manifests, mut rejected) = (Vec::new(), Vec::new());
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        match Manifest::read(&entry.path()) {
            Ok(manifest) => manifests.push(manifest),
            Err(e) => rejected.push(Rejected {
                path: entry.path(),
                reason: match e {
                    Error::BackupCorrupt { reason, .. } => reason,
                    other => other.to_string(),
                },
            }),
        }
    }
    manifests.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok((manifests, rejected))
}

/// The backup named `id`, or the newest for `latest`.
///
/// # Errors
///
/// [`Error::InvalidRequest`] for an id that is malformed or names no backup.
pub fn find(dir: &Path, id: &str) -> Result<Manifest, Error> {
    if id == "latest" {
        return list(dir)?.pop().ok_or_else(|| Error::InvalidRequest {
            reason: format!("there is no backup in {}", dir.display()),
        });
    }
    if !is_valid_id(id) {
        return Err(Error::InvalidRequest {
            reason: format!(
                "`{id}` is not a backup id (ids are letters, digits, `-` and `_`; see `migrate backup list`)"
            ),
        });
    }
    let path = manifest_path(dir, id);
    if !path.exists() {
        return Err(Error::InvalidRequest {
            reason: format!("there is no backup `{id}` in {}", dir.display()),
        });
    }
    Manifest::read(&path)
}

/// The manifest path of `id`.
pub fn manifest_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// Creates the backup directory (mode 0700: backups hold all the data), or checks the one
/// there: a real directory of the running user's that nobody else can write (see `owned`).
pub(crate) fn create_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    crate::owned::check_dir(dir)
}

/// Creates a new file readable by its owner only (0600 on Unix), failing if it exists.
pub(crate) fn create_private(path: &Path) -> Result<File, Error> {
    let mut options = OpenOptions::new();
    options.write(true).read(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A file under construction: removed on drop unless [`Staged::publish`] renamed it into place.
pub(crate) struct Staged {
    path: PathBuf,
    published: bool,
}

impl Staged {
    /// Claims `path` for a file under construction. Staging paths are this process's own (a
    /// unique backup id, or a fixed name used only under the migration lock), so a file
    /// already there is the leftover of a process that was stopped part-way: it is removed.
    pub fn new(path: PathBuf) -> Self {
        let _ = std::fs::remove_file(&path);
        Self {
            path,
            published: false,
        }
    }

    /// Takes charge of a file already written in full at `path` (to publish it, or remove it).
    pub fn adopt(path: PathBuf) -> Self {
        Self {
            path,
            published: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// fsyncs the file, renames it to `to`, and fsyncs the directory, so that after a crash the
    /// file is either absent or complete.
    pub fn publish(mut self, to: &Path) -> Result<(), Error> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(io(&self.path))?;
        std::fs::rename(&self.path, to).map_err(io(to))?;
        self.published = true;
        sync_dir(to)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `text` to `path` through a staged file.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    let staged = Staged::new(temp_path(path));
    let mut file = create_private(staged.path())?;
    file.write_all(text.as_bytes())
        .map_err(|source| Error::Io {
            path: staged.path().to_path_buf(),
            source,
        })?;
    drop(file);
    staged.publish(path)
}

/// A hidden temporary name beside `path`: `.<name>.tmp`.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

pub(crate) fn sync_dir(file: &Path) -> Result<(), Error> {
    // The parent of a bare relative name (`out.db`) is the empty path: the current directory.
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_and_sortable() {
        let id = new_id("2026-11-22T04:15:00.123Z", "manual");
        assert_eq!(id, "20261122T041500123Z-manual");
        assert!(is_valid_id(&id));
        for bad in ["", "../x", "a/b", "x.json", "a b", "x;DROP TABLE t"] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn find_refuses_ids_that_could_escape() {
        let dir = tempfile::tempdir().unwrap();
        let err = find(dir.path(), "../../etc/passwd").unwrap_err();
        assert!(err.to_string().contains("is not a backup id"), "{err}");
    }

    #[test]
    fn a_leftover_from_a_stopped_process_does_not_block_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marker");
        std::fs::write(temp_path(&path), "half of an old write").unwrap();
        write_atomically(&path, "whole").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "whole");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn staged_files_vanish_unless_published() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        {
            let staged = Staged::new(temp_path(&path));
            std::fs::write(staged.path(), "partial").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomically(&path, "whole").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "whole");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
