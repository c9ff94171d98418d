//! The backup directory: where backups live, their ids, listing, and writing files so that a
//! crash or a full disk never leaves something that looks like a valid backup.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use crate::Error;
pub use crate::backup::id::{is_valid_id, new_id};
use crate::backup::manifest::Manifest;
pub use crate::files::durable::{
    Staged, create_dir, create_private, sync_dir, temp_path, write_atomically,
};

/// The default backup directory for a database: `<db file>.backups` beside it.
pub fn default_dir(db: &Path) -> PathBuf {
    crate::database::db::sibling(db, ".backups")
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

/// The files the tool keeps in the backup directory that are not manifests: the last
/// checkpoint's record, the watchman's state, and the records of copies off the machine
/// (`backup::offsite`).
pub(crate) const KEPT_BESIDE: [&str; 4] = [
    "last-checkpoint.json",
    "watch-state.json",
    "offsite-backup.json",
    "offsite-archive.json",
];

/// Every `*.json` in `dir` (hidden staging files and [`KEPT_BESIDE`] aside), read as a manifest: the usable ones
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
        if name.starts_with('.') || !name.ends_with(".json") || KEPT_BESIDE.contains(&name) {
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

/// The backup named `id`, or for `latest` the newest backup of the database as it was
/// (pre-migrate, manual or scheduled; never a pre-restore copy, see
/// [`crate::backup::Reason::may_be_latest`]).
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
        return choose(list(dir)?, id, &dir.display().to_string()).map_err(missing);
    }
    if !is_valid_id(id) {
        return Err(missing(not_an_id(id)));
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

/// The backup `id` names among `all` (oldest first), `latest` as [`find`] takes it; else why
/// not, naming `place`.
pub(crate) fn choose(all: Vec<Manifest>, id: &str, place: &str) -> Result<Manifest, String> {
    if id == "latest" {
        return all
            .into_iter()
            .rev()
            .find(|m| m.reason.may_be_latest())
            .ok_or_else(|| {
                format!(
                    "there is no backup in {place} but pre-restore copies (restore one by its id)"
                )
            });
    }
    if !is_valid_id(id) {
        return Err(not_an_id(id));
    }
    all.into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| format!("there is no backup `{id}` in {place}"))
}

fn not_an_id(id: &str) -> String {
    format!("`{id}` is not a backup id (ids are letters, digits, `-` and `_`)")
}

/// The manifest path of `id`.
pub fn manifest_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.json"))
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
        let Ok(file) = crate::files::owned::open_file(&path, &mut options) else {
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

#[cfg(test)]
mod tests {
    use std::fs::File;

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
