//! The migration lock: an exclusive OS file lock on `<db file>.migrate-lock`.
//!
//! ```no_run
//! use std::time::Duration;
//! let lock = belay_guard::database::lock::MigrationLock::acquire("app.db".as_ref(), Duration::from_secs(60))?;
//! // ... migrate ...
//! drop(lock); // released here, or when the process dies
//! # Ok::<(), belay_guard::Error>(())
//! ```
//!
//! The lock is `flock`-style (`std::fs::File::lock`), so the kernel releases it when the holder
//! exits or is killed: a crashed run never leaves a stale lock. The holder writes its pid, host
//! and start time into the file so that a waiter that times out can say who holds it, and
//! empties it when it lets go. The file itself is left in place: deleting it would let two
//! processes lock two different files.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;
use crate::vocab::holder::Holder;

/// The default time to wait for the lock.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The lock file's path for a database: `<db file>.migrate-lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    crate::database::db::sibling(db, ".migrate-lock")
}

/// A held migration lock, released when dropped.
#[derive(Debug)]
pub struct MigrationLock {
    file: File,
    path: PathBuf,
}

impl MigrationLock {
    /// Takes the lock for `db`, waiting up to `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::LockTimeout`] naming the holder when it is still held after `timeout`;
    /// [`Error::Io`] when the lock file cannot be opened.
    pub fn acquire(db: &Path, timeout: Duration) -> Result<Self, Error> {
        Self::acquire_reporting(db, timeout, &mut |_, _| {})
    }

    /// [`MigrationLock::acquire`], telling `waiting` about once a second who holds the lock
    /// and how long this process has waited.
    ///
    /// # Errors
    ///
    /// As [`MigrationLock::acquire`].
    #[tracing::instrument(name = "migration_lock", level = "debug", skip_all, fields(db = %db.display()), err(level = "warn"))]
    pub fn acquire_reporting(
        db: &Path,
        timeout: Duration,
        waiting: &mut dyn FnMut(Option<String>, Duration),
    ) -> Result<Self, Error> {
        Self::acquire_file(lock_path(db), timeout, waiting)
    }

    /// A lock of the same kind on another file beside a database (the watchman's
    /// `<db>.migrate-watch`), waiting up to `timeout` and telling `waiting` as
    /// [`MigrationLock::acquire_reporting`] does.
    ///
    /// # Errors
    ///
    /// As [`MigrationLock::acquire`].
    pub fn acquire_file(
        path: PathBuf,
        timeout: Duration,
        waiting: &mut dyn FnMut(Option<String>, Duration),
    ) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        // Never through a link, only a regular file of ours (see `owned`).
        let mut file = crate::files::owned::open_file(
            &path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600),
        )?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut told: Option<Duration> = None;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(Error::LockTimeout {
                            holder: read_holder(&mut file),
                            path,
                            waited,
                        });
                    }
                    // Told at once (who holds it), then about once a second.
                    if told.is_none_or(|t| waited >= t + Duration::from_secs(1)) {
                        told = Some(waited);
                        waiting(Some(read_holder(&mut file)), waited);
                    }
                    std::thread::sleep(pause.min(timeout - waited));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(TryLockError::Error(source)) => return Err(io(source)),
            }
        }
        let holder = Holder::current();
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{holder}")
        };
        write(&mut file).map_err(io)?;
        Ok(Self { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "another process (no holder information written yet)".to_owned()
    } else {
        text.to_owned()
    }
}

impl Drop for MigrationLock {
    /// The file names a holder only while one holds it: emptied, then unlocked. (A process
    /// that is killed leaves its name until the next holder writes its own.)
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_times_out_naming_the_first_then_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let first = MigrationLock::acquire(&db, Duration::ZERO).unwrap();
        assert_eq!(first.path(), dir.path().join("app.db.migrate-lock"));
        let err = MigrationLock::acquire(&db, Duration::from_millis(30)).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        // Released: the file no longer names anyone.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("app.db.migrate-lock")).unwrap(),
            ""
        );
        MigrationLock::acquire(&db, Duration::ZERO).unwrap();
    }
}
