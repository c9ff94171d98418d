//! Files written so that a crash or a full disk never leaves half of one where a whole one is
//! expected: staged beside their place (0600, exclusively, under an advisory lock that tells a
//! live writer from a stopped one), fsynced, renamed into place, the directory fsynced. Used by
//! backups, manifests, the run marker and the audit journal's directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// The text of a record this tool keeps beside a database (written by [`write_atomically`]),
/// or `None` when there is none yet.
///
/// # Errors
///
/// [`Error::Io`] naming the file when it exists but cannot be read.
pub fn read_record(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// What a file written or removed here must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A power loss: the file is fsynced before its rename, the directory after it (and after
    /// a removal).
    Synced,
    /// A power loss for the file's bytes only: the file is fsynced before its rename, so it is
    /// never found empty or partial, but its directory is not, so after a power loss the
    /// rename may be undone (the file absent) or a removal undone (the file back, whole). For
    /// files whose name tells the next run nothing the database does not (the marker of a run
    /// on a database that was empty: see `docs/safety.md`).
    ContentOnly,
}

/// Creates the backup directory (mode 0700: backups hold all the data), or checks the one
/// there: a real directory of the running user's that nobody else can write (see `owned`).
pub fn create_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    crate::files::owned::check_dir(dir)
}

/// Creates a new file readable by its owner only (0600 on Unix), failing if it exists.
pub fn create_private(path: &Path) -> Result<File, Error> {
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
pub struct Staged {
    path: PathBuf,
    published: bool,
    /// An advisory lock (`flock`) on the file while it is under construction, released when this
    /// drops (or the process dies): what tells `backup::store::sweep` a live owner from a stopped one.
    hold: Option<File>,
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
            hold: None,
        }
    }

    /// Creates the file (0600, exclusively) for construction, holding its advisory lock while
    /// this lives, and returns it for writing.
    pub fn create(path: PathBuf) -> Result<(Self, File), Error> {
        let mut staged = Self::new(path);
        let file = create_private(&staged.path)?;
        let io = |source| Error::Io {
            path: staged.path.clone(),
            source,
        };
        let hold = file.try_clone().map_err(io)?;
        hold.try_lock().map_err(|e| io(e.into()))?;
        staged.hold = Some(hold);
        Ok((staged, file))
    }

    /// Takes charge of a file already written in full at `path` (to publish it, or remove it).
    pub fn adopt(path: PathBuf) -> Self {
        Self {
            path,
            published: false,
            hold: None,
        }
    }

    /// Where the file is written while staged.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// fsyncs the file, renames it to `to`, and fsyncs the directory, so that after a crash the
    /// file is either absent or complete.
    pub fn publish(self, to: &Path) -> Result<(), Error> {
        self.publish_as(to, Durability::Synced)
    }

    /// fsyncs the file and renames it to `to`, then fsyncs the directory when `durability`
    /// asks the name too to survive a power loss.
    pub fn publish_as(mut self, to: &Path, durability: Durability) -> Result<(), Error> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        // Never published unsynced: a rename of a file whose bytes are not on disk can leave
        // an empty file under the new name after a power loss.
        File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(io(&self.path))?;
        std::fs::rename(&self.path, to).map_err(io(to))?;
        self.published = true;
        match durability {
            Durability::Synced => sync_dir(to),
            Durability::ContentOnly => Ok(()),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `text` to `path` through a staged file, surviving a power loss.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    write_as(path, text, Durability::Synced)
}

/// Writes `text` to `path` through a staged file, as durably as `durability` says.
pub fn write_as(path: &Path, text: &str, durability: Durability) -> Result<(), Error> {
    let (staged, mut file) = Staged::create(temp_path(path))?;
    file.write_all(text.as_bytes())
        .map_err(|source| Error::Io {
            path: staged.path().to_path_buf(),
            source,
        })?;
    drop(file);
    staged.publish_as(path, durability)
}

/// Removes `path` if it is there, syncing its directory when `durability` asks a power loss
/// to be survived. `Ok(false)` when there was nothing to remove.
pub fn remove(path: &Path, durability: Durability) -> Result<bool, Error> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            match durability {
                Durability::Synced => sync_dir(path)?,
                Durability::ContentOnly => {}
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A hidden temporary name beside `path`: `.<name>.tmp`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Syncs the directory holding `file`, so that a rename or removal in it survives a crash.
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be opened or synced.
pub fn sync_dir(file: &Path) -> Result<(), Error> {
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
    fn a_leftover_from_a_stopped_process_does_not_block_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marker");
        std::fs::write(temp_path(&path), "half of an old write").unwrap();
        write_atomically(&path, "whole").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "whole");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn either_durability_replaces_a_file_whole_and_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marker");
        for durability in [Durability::ContentOnly, Durability::Synced] {
            write_as(&path, "first", durability).unwrap();
            write_as(&path, "second", durability).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
            assert!(!temp_path(&path).exists());
            assert!(remove(&path, durability).unwrap());
            assert!(!path.exists());
            assert!(!remove(&path, durability).unwrap());
        }
    }

    #[test]
    fn a_removal_that_fails_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        // A path under a regular file: neither there nor absent.
        let under = file.join("marker");
        let e = remove(&under, Durability::ContentOnly).unwrap_err();
        assert!(e.to_string().contains("plain/marker"), "{e}");
    }
}
