//! The journal's spool: where entries wait when the journal beside the backups cannot be
//! written (a read-only or full backup directory), in `<db file>.audit-spool.jsonl` beside the
//! database, one synced JSON line each, until the journal takes them again (see
//! `journal::append_or_spool`, which replays them in order, exactly once).

use std::path::{Path, PathBuf};

use crate::Error;

/// The spool of the database at `db`.
pub fn path(db: &Path) -> PathBuf {
    with_suffix(db, ".audit-spool.jsonl")
}

/// The spool being replayed: renamed aside first, so that a crash part-way leaves something
/// the next replay can tell is already in the journal.
pub(crate) fn replaying_path(db: &Path) -> PathBuf {
    with_suffix(db, ".audit-spool.replaying")
}

fn with_suffix(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Appends `line` (one JSON object, without its newline) to the spool of `db`, synced, in a
/// file of mode 0600 that is the running user's own.
///
/// # Errors
///
/// [`Error::Io`] when it cannot be written; [`Error::UnsafePath`] for a spool that is a link or
/// someone else's.
pub(crate) fn put(db: &Path, line: &str) -> Result<(), Error> {
    crate::files::owned::append_synced(&path(db), &format!("{line}\n"))
}

/// The lines waiting for the journal, oldest first: a replay cut short, then the spool.
///
/// # Errors
///
/// [`Error::Io`] when one cannot be read.
pub fn waiting(db: &Path) -> Result<Vec<String>, Error> {
    let mut lines = read_lines(&replaying_path(db))?;
    lines.extend(read_lines(&path(db))?);
    Ok(lines)
}

pub(crate) fn read_lines(path: &Path) -> Result<Vec<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}
