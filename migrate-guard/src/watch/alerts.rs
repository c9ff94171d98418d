//! Alerts: which conditions hold now, turned into one `firing` alert when a condition starts
//! to hold and one `resolved` when it stops, never again while it lasts. Pure: the conditions
//! come from the health facts, and the alerts go wherever the caller sends them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::Firing;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The last check found damage.
    Corruption,
    /// The last scheduled backup failed.
    BackupFailed,
    /// The last restore drill failed.
    DrillFailed,
    /// The newest backup is older than the RPO target (or there is none).
    RpoExceeded,
    /// The WAL is larger than its limit.
    WalOverLimit,
    /// Free disk is under its threshold.
    DiskLow,
    /// The database cannot be read, or the application's connection layer refuses writes.
    Degraded,
    /// The point-in-time archive recorded a gap (for a day after it was found).
    ArchiveGap,
    /// Commits have waited longer than the limit for the archive.
    ArchiveLag,
}

impl Kind {
    /// The name in alerts, the state file and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Corruption => "corruption",
            Kind::BackupFailed => "backup_failed",
            Kind::DrillFailed => "drill_failed",
            Kind::RpoExceeded => "rpo_exceeded",
            Kind::WalOverLimit => "wal_over_limit",
            Kind::DiskLow => "disk_low",
            Kind::Degraded => "degraded",
            Kind::ArchiveGap => "archive_gap",
            Kind::ArchiveLag => "archive_lag",
        }
    }
}

/// Whether an alert starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition began to hold.
    Firing,
    /// It no longer holds.
    Resolved,
}

/// One alert, as `on_alert` receives it (one JSON object) and the log prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What it is about.
    pub kind: Kind,
    /// Firing or resolved.
    pub state: AlertState,
    /// The database watched.
    pub database: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// What holds (or held), in words.
    pub message: String,
    /// For a resolved alert: since when it had fired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// The alerts for `conditions` (each kind with `Some(message)` when it holds now, `None` when
/// it does not), given what is `firing`, which is brought up to date. Kinds left out of
/// `conditions` are not judged this time and keep their state.
pub fn transitions(
    firing: &mut BTreeMap<String, Firing>,
    conditions: &[(Kind, Option<String>)],
    (database, at): (&str, &str),
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for (kind, holds) in conditions {
        let key = kind.as_str().to_owned();
        match (holds, firing.get(&key)) {
            (Some(message), None) => {
                firing.insert(
                    key,
                    Firing {
                        message: message.clone(),
                        since: at.to_owned(),
                    },
                );
                alerts.push(Alert {
                    kind: *kind,
                    state: AlertState::Firing,
                    database: database.to_owned(),
                    at: at.to_owned(),
                    message: message.clone(),
                    since: None,
                });
            }
            (None, Some(_)) => {
                let was = firing.remove(&key).expect("present");
                alerts.push(Alert {
                    kind: *kind,
                    state: AlertState::Resolved,
                    database: database.to_owned(),
                    at: at.to_owned(),
                    message: format!("resolved: {}", was.message),
                    since: Some(was.since),
                });
            }
            _ => {}
        }
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_and_resolves_once() {
        let mut firing = BTreeMap::new();
        let at = ("/db", "t1");
        let holds = [(Kind::DiskLow, Some("12 bytes free".to_owned()))];
        let first = transitions(&mut firing, &holds, at);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].state, AlertState::Firing);
        assert!(transitions(&mut firing, &holds, ("/db", "t2")).is_empty());
        // Not judged this time: still firing.
        assert!(transitions(&mut firing, &[(Kind::Corruption, None)], at).is_empty());
        let cleared = transitions(&mut firing, &[(Kind::DiskLow, None)], ("/db", "t3"));
        assert_eq!(cleared.len(), 1);
        assert_eq!(cleared[0].state, AlertState::Resolved);
        assert_eq!(cleared[0].since.as_deref(), Some("t1"));
        assert!(firing.is_empty());
        let json = serde_json::to_value(&cleared[0]).unwrap();
        assert_eq!(json["kind"], "disk_low");
        assert_eq!(json["state"], "resolved");
        assert_eq!(Kind::WalOverLimit.as_str(), "wal_over_limit");
    }
}
