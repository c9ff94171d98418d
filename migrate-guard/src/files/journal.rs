//! The journal beside the backups: one JSON line per entry appended to
//! `<backup dir>/audit.jsonl`, synced, in a file of mode 0600 that is never rewritten.
//!
//! It lives beside the backups, outside the database, so a restore (which brings back the
//! database as it was) does not erase the record of what restored it. What an entry holds is
//! the caller's: the migration engine writes one per attempt; lines are appended with
//! `O_APPEND` and synced.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;
use crate::files::{durable, owned};

/// The journal's file name, in the backup directory.
pub const FILE: &str = "audit.jsonl";

/// The journal of the backup directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Whether the journal in `dir` can be appended to safely, checked before anything is written
/// (where the directory or the journal do not exist yet, they will be made ours).
///
/// # Errors
///
/// [`Error::UnsafePath`] for a directory or journal that is not the running user's own regular
/// directory or file (see [`owned`]).
pub fn ready(dir: &Path) -> Result<(), Error> {
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    owned::check_dir(dir)?;
    let path = path(dir);
    // Where it exists, it must open as `append` will: `owned::open_file` refuses a link.
    match std::fs::symlink_metadata(&path) {
        Err(_) => Ok(()),
        Ok(_) => owned::open_file(&path, std::fs::OpenOptions::new().read(true)).map(drop),
    }
}

/// Appends `entry` as one JSON line to the journal in `dir` (created 0600, with the directory,
/// if needed), and syncs it.
///
/// # Errors
///
/// [`Error::Io`] when it cannot be written; [`Error::UnsafePath`] as [`ready`].
pub fn append(dir: &Path, entry: &impl Serialize) -> Result<(), Error> {
    durable::create_dir(dir)?;
    let path = path(dir);
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    // Never through a link, only a regular file of ours (see `owned`).
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        owned::open_file(
            &path,
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600),
        )?
    };
    let mut line = serde_json::to_string(entry).map_err(|e| io(std::io::Error::other(e)))?;
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_one_line_each_in_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("app.db.backups");
        ready(&backups).unwrap();
        append(&backups, &serde_json::json!({"n": 1})).unwrap();
        append(&backups, &serde_json::json!({"n": 2})).unwrap();
        let text = std::fs::read_to_string(path(&backups)).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":2}\n");
        let mode = std::fs::metadata(path(&backups))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        ready(&backups).unwrap();
    }
}
