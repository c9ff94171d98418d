//! A real full disk: a small tmpfs mounted for one test and unmounted when its guard drops.
//! Mounting needs root (CAP_SYS_ADMIN), which the suite has on its CI machine; without it the
//! test fails and says why, rather than passing without having filled a disk.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs of a fixed size; unmounted (lazily, so a file still open cannot keep it)
/// on drop.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` at `dir` (created if missing).
    ///
    /// # Panics
    ///
    /// When the mount is refused (not root, or no `mount`): the test needs a real full disk.
    pub fn mount(dir: &Path, bytes: u64) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes}"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("running mount: {e}"));
        assert!(
            out.status.success(),
            "mounting a {bytes}-byte tmpfs at {} needs root: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
