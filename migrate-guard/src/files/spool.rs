//! The journal's spool: where entries wait when the journal beside the backups cannot be
//! written (a read-only or full backup directory), one synced JSON line each, until the
//! journal takes them again (see `journal::append_or_spool`, which replays them in order,
//! exactly once). By default `<db file>.audit-spool.jsonl` beside the database ([`path`]); a
//! caller may name another file (on another file system than a disk that may fill).

use std::path::{Path, PathBuf};

use crate::Error;

/// The default spool of the database at `db`, beside it.
pub fn path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".audit-spool.jsonl");
    PathBuf::from(name)
}

/// The spool `spool` being replayed: renamed aside first, so that a crash part-way leaves
/// something the next replay can tell is already in the journal. `x.jsonl` becomes
/// `x.replaying`; another name gets `.replaying` added.
pub(crate) fn replaying_path(spool: &Path) -> PathBuf {
    let text = spool.as_os_str().to_string_lossy();
    match text.strip_suffix(".jsonl") {
        Some(stem) => PathBuf::from(format!("{stem}.replaying")),
        None => PathBuf::from(format!("{text}.replaying")),
    }
}

/// Appends `line` (one JSON object, without its newline) to the spool file `spool`, synced, in
/// a file of mode 0600 that is the running user's own.
///
/// # Errors
///
/// [`Error::Io`] when it cannot be written; [`Error::UnsafePath`] for a spool that is a link or
/// someone else's.
pub(crate) fn put(spool: &Path, line: &str) -> Result<(), Error> {
    crate::files::owned::append_synced(spool, &format!("{line}\n"))
}

/// The lines waiting in the spool file `spool` for the journal, oldest first: a replay cut short, then the spool.
///
/// # Errors
///
/// [`Error::Io`] when one cannot be read.
pub fn waiting(spool: &Path) -> Result<Vec<String>, Error> {
    let mut lines = read_lines(&replaying_path(spool))?;
    lines.extend(read_lines(spool)?);
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
