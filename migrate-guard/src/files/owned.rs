//! The files and the directory the tool writes beside a database (the migration lock, the audit
//! journal, the backup directory), opened so that whoever can write the database's directory
//! cannot make a run write anywhere else: never through a symbolic link, only regular files and
//! directories, only ones the running user owns, and a backup directory nobody else can write.
//! (The run marker, manifests, backups and staging files are created exclusively, `O_EXCL`,
//! and renamed into place, which never follows a link either.)

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::Error;

/// Opens (creating where `options` says) a file the tool owns, refusing a symbolic link, a
/// file that is not a regular one (a FIFO, a device) or one owned by another user.
///
/// # Errors
///
/// [`Error::UnsafePath`] for such a file; [`Error::Io`] when it cannot be opened.
pub fn open_file(path: &Path, options: &mut OpenOptions) -> Result<File, Error> {
    let unsafe_path = |reason: &str| Error::UnsafePath {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    // `O_NONBLOCK` so that opening a FIFO planted here does not wait for a writer.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = match options.custom_flags(flags.bits() as i32).open(path) {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(unsafe_path(
                "a symbolic link where the tool keeps its own file",
            ));
        }
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let meta = file.metadata().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(unsafe_path("not a regular file"));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(unsafe_path(&format!(
            "owned by user {}, not by the user running the tool",
            meta.uid()
        )));
    }
    // Back to blocking I/O for the caller (`O_APPEND` and the rest kept).
    rustix::fs::fcntl_getfl(&file)
        .and_then(|flags| {
            rustix::fs::fcntl_setfl(&file, flags.difference(rustix::fs::OFlags::NONBLOCK))
        })
        .map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
    Ok(file)
}

/// Appends `text` to the file at `path` (created 0600; never through a link, only a regular
/// file of ours: see [`open_file`]) in one write, and syncs its data. The journal and its spool.
///
/// A line someone else left torn (a crash mid-write) is ended first, so this one starts on a
/// line of its own. When the write or the sync fails, what this call added is cut back off
/// (unless the file grew past it since), so that a retry neither repeats the line nor joins a
/// partial one.
pub(crate) fn append_synced(path: &Path, text: &str) -> Result<(), Error> {
    use std::os::unix::fs::FileExt;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = open_file(
        path,
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600),
    )?;
    let before = file.metadata().map_err(io)?.len();
    let mut last = [b'\n'];
    if before > 0 {
        file.read_exact_at(&mut last, before - 1).map_err(io)?;
    }
    let text = if last[0] == b'\n' {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(format!("\n{text}"))
    };
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_data());
    if let Err(e) = written {
        let mine = before + text.len() as u64;
        if file.metadata().is_ok_and(|m| m.len() <= mine) {
            let _ = file.set_len(before);
        }
        return Err(io(e));
    }
    Ok(())
}

/// Checks the backup directory at `dir` (which exists): a real directory, not a link, owned by
/// the running user, writable by nobody else.
///
/// # Errors
///
/// [`Error::UnsafePath`] saying what is wrong; [`Error::Io`] when it cannot be examined.
pub fn check_dir(dir: &Path) -> Result<(), Error> {
    let unsafe_path = |reason: String| Error::UnsafePath {
        path: dir.to_path_buf(),
        reason,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_path(
            "a symbolic link where the backups go (configure the directory it points to instead)"
                .to_owned(),
        ));
    }
    if !meta.is_dir() {
        return Err(unsafe_path("not a directory".to_owned()));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(unsafe_path(format!(
            "owned by user {}, not by the user running the tool",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_path(format!(
            "writable by {} (mode {:o}): backups hold all the data; `chmod 700` it",
            if meta.mode() & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn links_fifos_and_shared_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "precious").unwrap();
        let link = dir.path().join("lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        let e = open_file(&link, &mut options).unwrap_err();
        assert!(matches!(e, Error::UnsafePath { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");

        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = open_file(&fifo, &mut options).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");

        let plain = dir.path().join("plain");
        open_file(&plain, &mut options).unwrap();

        let backups = dir.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        std::fs::set_permissions(&backups, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_dir(&backups).unwrap_err();
        assert!(e.to_string().contains("writable by everyone"), "{e}");
        std::fs::set_permissions(&backups, std::fs::Permissions::from_mode(0o700)).unwrap();
        check_dir(&backups).unwrap();
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&backups, &linked).unwrap();
        assert!(check_dir(&linked).is_err());
    }
}
