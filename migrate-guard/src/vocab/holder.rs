//! Who is running: process id, host name and start time, written into the lock file and the
//! attempts log so an operator can tell which process to look at.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::vocab::clock;

/// The identity of a running migration process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// When it started the run (RFC 3339 UTC).
    pub started_at: String,
}

impl Holder {
    /// This process, now.
    pub fn current() -> Self {
        Self {
            pid: std::process::id(),
            host: host_name(),
            started_at: clock::now_rfc3339(),
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on {} since {}",
            self.pid, self.host, self.started_at
        )
    }
}

/// The machine's host name, without a dependency: the kernel's on Linux, else `HOSTNAME` or
/// `COMPUTERNAME`, else `unknown`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
