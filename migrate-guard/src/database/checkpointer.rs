//! The checkpoint policy for long-running use (an application's connection layer, `migrate
//! watch`): PASSIVE routinely, which never waits; TRUNCATE when the WAL has grown past its limit
//! and before a backup, waiting at most a short bound for readers (a blocking checkpoint holds
//! new writers back while it waits); never RESTART, which would wait the same way without
//! giving the space back. A reader that keeps frames from being copied is never waited on
//! forever: the time frames have been held back is kept ([`Checkpointer::blocked_for`], the
//! `migrate_checkpoint_blocked_seconds` of the metrics) and reported with who holds the
//! database open.
//!
//! [`decide`] is the policy alone (no I/O); [`Checkpointer`] carries it out.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::holders::{self, Holders};
use super::wal::{self, CheckpointMode, Checkpointed};
use crate::Error;

/// The policy's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A WAL larger than this is truncated (when its readers allow it).
    pub wal_limit: u64,
    /// How long a truncating checkpoint may wait for readers and writers: new writers wait
    /// behind it meanwhile, so this bounds what our checkpoints add to a commit's latency.
    pub truncate_wait: Duration,
}

impl Default for Policy {
    /// 64 MiB, 100 ms.
    fn default() -> Self {
        Self {
            wal_limit: 64 << 20,
            truncate_wait: Duration::from_millis(100),
        }
    }
}

/// Why a checkpoint is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The routine tick.
    Routine,
    /// Just before a backup: the WAL's frames go into the file first, and the WAL is emptied
    /// so the backup does not wait behind it.
    BeforeBackup,
}

/// The mode the policy picks for a WAL of `wal_bytes` (pure).
pub fn decide(policy: &Policy, wal_bytes: u64, purpose: Purpose) -> CheckpointMode {
    match purpose {
        Purpose::BeforeBackup => CheckpointMode::Truncate,
        Purpose::Routine if wal_bytes > policy.wal_limit => CheckpointMode::Truncate,
        Purpose::Routine => CheckpointMode::Passive,
    }
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// The mode the policy chose.
    pub mode: CheckpointMode,
    /// What SQLite did.
    pub outcome: Checkpointed,
    /// How long frames have been held back without a break (zero once a checkpoint copied
    /// everything).
    pub blocked_for: Duration,
    /// Who holds the database open, when frames were left.
    pub held_back_by: Option<Holders>,
}

/// Carries out the policy on one database, remembering since when frames have been held back.
#[derive(Debug)]
pub struct Checkpointer {
    db: PathBuf,
    policy: Policy,
    blocked_since: Option<Instant>,
}

impl Checkpointer {
    /// A checkpointer for the database at `db`.
    pub fn new(db: &Path, policy: Policy) -> Self {
        Self {
            db: db.to_path_buf(),
            policy,
            blocked_since: None,
        }
    }

    /// How long frames have been held back without a break, as of now.
    pub fn blocked_for(&self) -> Duration {
        self.blocked_since.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// One checkpoint, as the policy says for `purpose`.
    ///
    /// # Errors
    ///
    /// As [`wal::checkpoint`]; a database not in WAL mode is not an error (its outcome says
    /// so).
    pub fn tick(&mut self, purpose: Purpose) -> Result<Tick, Error> {
        let wal_bytes =
            std::fs::metadata(super::db::sibling(&self.db, "-wal")).map_or(0, |m| m.len());
        let mode = decide(&self.policy, wal_bytes, purpose);
        let wait = match mode {
            CheckpointMode::Passive => Duration::ZERO,
            _ => self.policy.truncate_wait,
        };
        let outcome = wal::checkpoint(&self.db, mode, wait)?;
        let held_back = match &outcome {
            Checkpointed::Done(done) => done.busy || done.frames_left() > 0,
            Checkpointed::NotWal { .. } => false,
        };
        if held_back {
            self.blocked_since.get_or_insert_with(Instant::now);
            tracing::debug!(
                mode = mode.as_sql(),
                blocked_ms = self.blocked_for().as_millis() as u64,
                "checkpoint left frames: a reader still needs them"
            );
        } else {
            self.blocked_since = None;
        }
        Ok(Tick {
            mode,
            outcome,
            blocked_for: self.blocked_for(),
            held_back_by: held_back.then(|| holders::open_by(&self.db)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_routinely_truncate_past_the_limit_and_before_a_backup_never_restart() {
        let policy = Policy::default();
        assert_eq!(
            decide(&policy, 0, Purpose::Routine),
            CheckpointMode::Passive
        );
        assert_eq!(
            decide(&policy, 64 << 20, Purpose::Routine),
            CheckpointMode::Passive
        );
        assert_eq!(
            decide(&policy, (64 << 20) + 1, Purpose::Routine),
            CheckpointMode::Truncate
        );
        assert_eq!(
            decide(&policy, 0, Purpose::BeforeBackup),
            CheckpointMode::Truncate
        );
        for bytes in [0, 1, 1 << 40] {
            for purpose in [Purpose::Routine, Purpose::BeforeBackup] {
                assert_ne!(decide(&policy, bytes, purpose), CheckpointMode::Restart);
            }
        }
    }
}
