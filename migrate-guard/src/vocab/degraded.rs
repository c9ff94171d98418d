//! Why the connection layer refuses writes for now (`crate::connect`): what a
//! [`crate::Error::Degraded`] says, and what a change of state records.

use std::fmt;

use serde::Serialize;

/// Why writes are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// SQLite answered `SQLITE_FULL`: the disk (or a file-size limit) is full.
    DiskFull {
        /// SQLite's message.
        detail: String,
    },
    /// The file system holding the database has less free space than the threshold.
    DiskLow {
        /// Free bytes found.
        free: u64,
        /// The threshold configured.
        threshold: u64,
    },
    /// Writes queued while read-only are being replayed, and the queue is full: a write waits
    /// behind them or is refused (only for `write_or_queue`).
    Replaying {
        /// Writes waiting.
        waiting: usize,
    },
    /// Writes kept failing with I/O errors: the circuit is open.
    IoErrors {
        /// How many in a row.
        count: u32,
        /// The last one, as SQLite said it.
        last: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::DiskFull { detail } => write!(f, "the disk is full: {detail}"),
            Reason::DiskLow { free, threshold } => write!(
                f,
                "free disk {free} bytes is under the threshold of {threshold} bytes"
            ),
            Reason::Replaying { waiting } => {
                write!(
                    f,
                    "{waiting} queued write(s) are being replayed first, and the queue is full"
                )
            }
            Reason::IoErrors { count, last } => {
                write!(
                    f,
                    "{count} write(s) in a row failed with I/O errors, the last: {last}"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_says_what_and_serializes_with_its_kind() {
        let full = Reason::DiskFull {
            detail: "database or disk is full".to_owned(),
        };
        assert_eq!(
            full.to_string(),
            "the disk is full: database or disk is full"
        );
        let low = Reason::DiskLow {
            free: 10,
            threshold: 20,
        };
        assert!(low.to_string().contains("under the threshold of 20 bytes"));
        let io = Reason::IoErrors {
            count: 3,
            last: "disk I/O error".to_owned(),
        };
        assert!(io.to_string().starts_with("3 write(s) in a row"));
        let replaying = Reason::Replaying { waiting: 4 };
        assert!(replaying.to_string().starts_with("4 queued write(s)"));
        assert_eq!(
            serde_json::to_value(&low).unwrap(),
            serde_json::json!({"kind": "disk_low", "free": 10, "threshold": 20})
        );
    }
}
