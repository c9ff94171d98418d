//! Free space on a file system: what an unprivileged process may still write there.

use std::path::Path;

use crate::Error;

/// Bytes an unprivileged process may still write on the file system holding `dir`.
///
/// # Errors
///
/// [`Error::Io`] when `statvfs` fails (naming `dir`).
pub fn available(dir: &Path) -> Result<u64, Error> {
    let stat = rustix::fs::statvfs(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e.into(),
    })?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}
