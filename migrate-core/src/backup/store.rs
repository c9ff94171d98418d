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
/// [`Error::NoSuchBackup`] for an id that is malformed or names no backup.
pub fn find(dir: &Path, id: &str) -> Result<Manifest, Error> {
    let missing = |reason: String| Error::NoSuchBackup {
        dir: dir.to_path_buf(),
        id: id.to_owned(),
        reason,
    };
    if id == "latest" {
        return list(dir)?
            .pop()
            .ok_or_else(|| missing(format!("there is no backup in {}", dir.display())));
    }
    if !is_valid_id(id) {
        return Err(missing(format!(
            "`{id}` is not a backup id (ids are letters, digits, `-` and `_`; see `migrate backup list`)"
        )));
    }
    let path = manifest_path(dir, id);
    if !path.exists() {
        return Err(missing(format!(
            "there is no backup `{id}` in {}",
            dir.display()
        )));
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
    /// An advisory lock (`flock`) on the file while it is under construction, released when this
    /// drops (or the process dies): what tells [`sweep`] a live owner from a stopped one.
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
    let (staged, mut file) = Staged::create(temp_path(path))?;
    file.write_all(text.as_bytes())
        .map_err(|source| Error::Io {
            path: staged.path().to_path_buf(),
            source,
        })?;
    drop(file);
    staged.publish(path)
}

/// What [`sweep`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Swept {
    /// The files and directories removed.
    pub removed: Vec<PathBuf>,
    /// Their size in bytes (directories counted as their files).
    pub bytes: u64,
}

/// Removes what stopped processes left in the backup directory `dir`: staging files
/// (`.<name>.tmp`) whose advisory lock nobody holds (a live writer holds it until it publishes
/// or drops them; a process that dies releases it), and rehearsal copies (`.rehearsal-<pid>…`)
/// whose process is gone. Never anything a live process is writing; never through a link.
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be read.
pub fn sweep(dir: &Path) -> Result<Swept, Error> {
    let mut swept = Swept::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(swept),
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if let Some(pid) = rehearsal_pid(&name) {
            if process_gone(pid) {
                let size = if meta.is_dir() {
                    tree_size(&path)
                } else {
                    meta.len()
                };
                let removed = if meta.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                if removed.is_ok() {
                    swept.bytes += size;
                    swept.removed.push(path);
                }
            }
            continue;
        }
        if !(name.starts_with('.') && name.ends_with(".tmp") && meta.file_type().is_file()) {
            continue;
        }
        // A file created this instant may not be locked by its writer yet.
        let recent = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_none_or(|age| age < SWEEP_AFTER);
        if recent {
            continue;
        }
        let mut options = OpenOptions::new();
        options.read(true);
        let Ok(file) = crate::owned::open_file(&path, &mut options) else {
            continue;
        };
        // Held by a live writer: not ours to remove.
        if file.try_lock().is_err() {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            swept.bytes += meta.len();
            swept.removed.push(path);
        }
    }
    Ok(swept)
}

/// How long a staging file must have been left unchanged before [`sweep`] considers it.
const SWEEP_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The process id in a rehearsal copy's name (`.rehearsal-<pid>.db`, its journal, its backup
/// directory), if it is one.
fn rehearsal_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(".rehearsal-")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if !rest[digits.len()..].starts_with(".db") {
        return None;
    }
    digits.parse().ok()
}

/// Whether no process has the id `pid` (a reused id counts as alive: nothing is removed).
fn process_gone(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(pid) => rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH),
        None => false,
    }
}

fn tree_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match std::fs::symlink_metadata(e.path()) {
                    Ok(m) if m.is_dir() => tree_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
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
    fn sweep_removes_what_stopped_processes_left_and_nothing_a_live_one_holds() {
        let dir = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        let age = |path: &Path| {
            File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(old)
                .unwrap();
        };
        // A leftover nobody holds, and one a live writer holds.
        let leftover = dir.path().join(".x.db.zst.tmp");
        std::fs::write(&leftover, vec![0u8; 1000]).unwrap();
        age(&leftover);
        let (live, _file) = Staged::create(dir.path().join(".y.db.zst.tmp")).unwrap();
        age(live.path());
        // A rehearsal copy of a process that is gone, and one of this process.
        let dead = dir.path().join(".rehearsal-999999999.db");
        std::fs::write(&dead, "x").unwrap();
        let ours = dir
            .path()
            .join(format!(".rehearsal-{}.db", std::process::id()));
        std::fs::write(&ours, "x").unwrap();
        // A link to a file elsewhere, named like a leftover.
        let elsewhere = tempfile::tempdir().unwrap();
        let precious = elsewhere.path().join("precious");
        std::fs::write(&precious, "keep").unwrap();
        std::os::unix::fs::symlink(&precious, dir.path().join(".z.tmp")).unwrap();

        let swept = sweep(dir.path()).unwrap();
        let mut removed = swept.removed.clone();
        removed.sort();
        assert_eq!(removed, vec![dead.clone(), leftover.clone()]);
        assert_eq!(swept.bytes, 1001);
        assert!(live.path().exists() && ours.exists());
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
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
