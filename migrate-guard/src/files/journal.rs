//! The journal beside the backups: one JSON line per entry appended to
//! `<backup dir>/audit.jsonl`, synced, in a file of mode 0600 that is never rewritten.
//!
//! It lives beside the backups, outside the database, so a restore (which brings back the
//! database as it was) does not erase the record of what restored it. What an entry holds is
//! the caller's: the migration engine writes one per attempt; lines are appended with
//! `O_APPEND` and synced.

use std::path::{Path, PathBuf};

use backon::{BlockingRetryable, ExponentialBuilder};
use serde::Serialize;

use crate::Error;
use crate::files::{durable, owned, spool};

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
    let line = serde_json::to_string(entry).map_err(|e| Error::Io {
        path: path(dir),
        source: std::io::Error::other(e),
    })?;
    append_line(dir, &line)
}

/// Appends `block` (whole lines) to the journal in `dir` (created 0600, with the directory,
/// if needed) in one write, and syncs it.
fn append_block(dir: &Path, block: &str) -> Result<(), Error> {
    durable::create_dir(dir)?;
    owned::append_synced(&path(dir), block)
}

/// A journal that cannot be written is tried three times, 10 ms then 20 ms apart (with
/// jitter), before the entry goes to the spool: long enough for a passing error, short enough
/// for the run that waits on it.
const RETRY: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(std::time::Duration::from_millis(10))
    .with_max_delay(std::time::Duration::from_millis(20))
    .with_jitter()
    .with_max_times(2);

/// Where an entry went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Into the journal (after whatever waited in the spool).
    Journal,
    /// Into the spool beside the database, because the journal could not take it: it is
    /// replayed, in order, by the next append the journal takes.
    Spooled {
        /// Why the journal could not take it.
        reason: String,
    },
}

/// Appends `entry` to the journal in `dir`, losing nothing: entries waiting in the spool file
/// `spool` (by default [`spool::path`] of the database) go first, in order (each exactly once,
/// even when a replay is cut short by a crash); when the journal cannot be written (after a
/// few tries with backoff, for a passing error), the entry waits in the spool instead.
///
/// # Errors
///
/// When neither the journal nor the spool can be written: the spool's error.
pub fn append_or_spool(
    dir: &Path,
    spool: &Path,
    entry: &impl Serialize,
) -> Result<Appended, Error> {
    let line = serde_json::to_string(entry).map_err(|e| Error::Internal {
        reason: format!("writing a journal entry: {e}"),
    })?;
    // One writer of this journal and its spools at a time, across threads and processes: a
    // replay renames, reads and removes files another append could be writing.
    let _held = hold(dir);
    let written = (|| replay(dir, spool).and_then(|()| append_line(dir, &line)))
        .retry(RETRY)
        .sleep(backon::StdSleeper)
        .when(|e| matches!(e, Error::Io { .. }))
        .call();
    match written {
        Ok(()) => Ok(Appended::Journal),
        Err(e) => {
            spool::put(spool, &line)?;
            tracing::warn!(
                journal = %path(dir).display(),
                spool = %spool.display(),
                error = %e,
                "the audit journal could not be written: the entry waits in the spool"
            );
            Ok(Appended::Spooled {
                reason: e.to_string(),
            })
        }
    }
}

/// An exclusive `flock` on the backup directory itself, released when dropped; `None` (and
/// the append goes on unserialised) when the directory cannot be made or opened.
fn hold(dir: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    durable::create_dir(dir).ok()?;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::DIRECTORY;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(dir);
    match opened.and_then(|d| d.lock().map(|()| d)) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "the journal's lock could not be taken");
            None
        }
    }
}

/// Moves what waits in the spool file `spool` to the end of the journal in `dir`, oldest first: a replay a crash
/// cut short (the spool renamed aside), then the spool. The spool is renamed aside before it is
/// appended; one found aside is appended only when the journal does not already end with it.
/// On an error, what was not appended stays where it was, in order.
fn replay(dir: &Path, spool: &Path) -> Result<(), Error> {
    let aside = spool::replaying_path(spool);
    if aside.exists() {
        replay_aside(dir, &aside)?;
    }
    let waiting = spool.to_path_buf();
    match std::fs::symlink_metadata(&waiting) {
        Err(_) => Ok(()),
        Ok(meta) if !meta.is_file() => Err(Error::UnsafePath {
            path: waiting,
            reason: "the audit spool is not a regular file".to_owned(),
        }),
        Ok(_) => {
            std::fs::rename(&waiting, &aside).map_err(|source| Error::Io {
                path: waiting.clone(),
                source,
            })?;
            durable::sync_dir(&aside)?;
            replay_aside(dir, &aside)
        }
    }
}

/// Appends the lines of the spool set aside at `aside` to the journal unless it already ends
/// with them, then removes it.
fn replay_aside(dir: &Path, aside: &Path) -> Result<(), Error> {
    let lines = spool::read_lines(aside)?;
    let block: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let journal = std::fs::read(path(dir)).unwrap_or_default();
    if !block.is_empty() && !journal.ends_with(block.as_bytes()) {
        append_block(dir, &block)?;
    }
    std::fs::remove_file(aside).map_err(|source| Error::Io {
        path: aside.to_path_buf(),
        source,
    })?;
    durable::sync_dir(aside)
}

/// Appends one line (a JSON object, without its newline) to the journal in `dir`, synced.
fn append_line(dir: &Path, line: &str) -> Result<(), Error> {
    append_block(dir, &format!("{line}\n"))
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

    #[test]
    fn entries_wait_in_the_spool_and_are_replayed_in_order_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let backups = dir.path().join("app.db.backups");
        // The backup directory's place is taken by a file: the journal cannot be written.
        std::fs::write(&backups, "").unwrap();
        for n in 1..=2 {
            let appended =
                append_or_spool(&backups, &spool::path(&db), &serde_json::json!({ "n": n }))
                    .unwrap();
            assert!(matches!(appended, Appended::Spooled { .. }), "{appended:?}");
        }
        assert_eq!(
            spool::waiting(&spool::path(&db)).unwrap(),
            vec!["{\"n\":1}", "{\"n\":2}"]
        );
        std::fs::remove_file(&backups).unwrap();
        assert_eq!(
            append_or_spool(&backups, &spool::path(&db), &serde_json::json!({"n": 3})).unwrap(),
            Appended::Journal
        );
        let text = std::fs::read_to_string(path(&backups)).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
        assert!(!spool::path(&db).exists());
        assert!(spool::waiting(&spool::path(&db)).unwrap().is_empty());

        // A replay cut short after its append (the aside file left): not appended twice.
        std::fs::write(spool::replaying_path(&spool::path(&db)), "{\"n\":3}\n").unwrap();
        append_or_spool(&backups, &spool::path(&db), &serde_json::json!({"n": 4})).unwrap();
        // Cut short before its append: appended once.
        std::fs::write(spool::replaying_path(&spool::path(&db)), "{\"n\":5}\n").unwrap();
        append_or_spool(&backups, &spool::path(&db), &serde_json::json!({"n": 6})).unwrap();
        let text = std::fs::read_to_string(path(&backups)).unwrap();
        assert_eq!(
            text,
            "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n{\"n\":5}\n{\"n\":6}\n"
        );
        assert!(!spool::replaying_path(&spool::path(&db)).exists());
    }

    #[test]
    fn with_neither_journal_nor_spool_writable_the_error_names_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("app.db.backups");
        std::fs::write(&backups, "").unwrap();
        // The spool's place is a directory.
        let db = dir.path().join("app.db");
        std::fs::create_dir(spool::path(&db)).unwrap();
        let e =
            append_or_spool(&backups, &spool::path(&db), &serde_json::json!({"n": 1})).unwrap_err();
        assert!(e.to_string().contains("audit-spool.jsonl"), "{e}");
    }
}
