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
    if spool.extension().is_some_and(|e| e == "jsonl") {
        spool.with_extension("replaying")
    } else {
        let mut name = spool.as_os_str().to_owned();
        name.push(".replaying");
        PathBuf::from(name)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spool_set_aside_is_named_from_the_spool_byte_for_byte() {
        assert_eq!(
            replaying_path(Path::new("/d/app.db.audit-spool.jsonl")),
            Path::new("/d/app.db.audit-spool.replaying")
        );
        assert_eq!(
            replaying_path(Path::new("/d/spool")),
            Path::new("/d/spool.replaying")
        );
        // A name that is not UTF-8 keeps its bytes.
        use std::os::unix::ffi::OsStrExt;
        let odd = Path::new(std::ffi::OsStr::from_bytes(b"/d/\xff.jsonl"));
        assert_eq!(
            replaying_path(odd).as_os_str().as_bytes(),
            b"/d/\xff.replaying"
        );
    }
}
