//! Free space on the file system of the database, and when to look again: at most every
//! [`EVERY`] on the write path, so that a write pays for a `statvfs` a few times a second at
//! most.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::Error;

/// How often the write path looks at free disk.
pub const EVERY: Duration = Duration::from_millis(250);

/// Bytes an unprivileged process may still write on the file system holding `path`.
///
/// # Errors
///
/// [`Error::Io`] when `statvfs` fails.
pub fn free_bytes(path: &Path) -> Result<u64, Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    crate::files::space::available(dir)
}

/// Whether the write path should look at the disk now, having last looked at `last`.
pub fn due(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|last| now.duration_since(last) >= EVERY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_read_and_looked_at_a_few_times_a_second() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(&dir.path().join("x.db")).unwrap() > 0);
        assert!(free_bytes(Path::new("x.db")).is_ok());
        let e = free_bytes(&dir.path().join("missing/x.db")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        let now = Instant::now();
        assert!(due(None, now));
        assert!(!due(Some(now), now));
        assert!(due(Some(now), now + EVERY));
    }
}
