//! The layer's state, a circuit breaker: writable, or degraded (open) with a reason. A full
//! disk or a disk under the threshold opens it at once; I/O errors open it after `threshold` in
//! a row (one success in between starts the count again). Only a successful probe closes it.
//! Pure: the caller says when, and does the I/O.

use serde::Serialize;

use crate::vocab::degraded::Reason;

/// Whether the layer takes writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Reads and writes are served.
    Writable,
    /// Reads are served; writes are refused at once with [`crate::Error::Degraded`].
    Degraded {
        /// Why.
        reason: Reason,
        /// Since when (RFC 3339).
        since: String,
    },
}

/// A change of state, as logged and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// When (RFC 3339).
    pub at: String,
    /// The state entered.
    #[serde(flatten)]
    pub state: State,
}

/// The breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    state: State,
    io_streak: u32,
    threshold: u32,
}

impl Breaker {
    /// A closed breaker that opens after `threshold` I/O errors in a row.
    pub fn new(threshold: u32) -> Self {
        Breaker {
            state: State::Writable,
            io_streak: 0,
            threshold: threshold.max(1),
        }
    }

    /// The state now.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Why writes are refused, when they are.
    pub fn refusal(&self) -> Option<&Reason> {
        match &self.state {
            State::Writable => None,
            State::Degraded { reason, .. } => Some(reason),
        }
    }

    /// I/O errors counted in a row so far.
    pub fn io_streak(&self) -> u32 {
        self.io_streak
    }

    /// A new threshold for I/O errors in a row (a reload).
    pub fn set_threshold(&mut self, threshold: u32) {
        self.threshold = threshold.max(1);
    }

    /// A write committed.
    pub fn on_success(&mut self) {
        self.io_streak = 0;
    }

    /// SQLite said the disk is full.
    pub fn on_full(&mut self, detail: String, at: String) -> Option<Change> {
        self.open(Reason::DiskFull { detail }, at)
    }

    /// A write failed with an I/O error.
    pub fn on_io(&mut self, last: String, at: String) -> Option<Change> {
        self.io_streak = self.io_streak.saturating_add(1);
        if self.io_streak < self.threshold {
            return None;
        }
        let count = self.io_streak;
        self.open(Reason::IoErrors { count, last }, at)
    }

    /// Free disk was measured: under `threshold`, the breaker opens.
    pub fn on_disk(&mut self, free: u64, threshold: u64, at: String) -> Option<Change> {
        if free >= threshold {
            return None;
        }
        self.open(Reason::DiskLow { free, threshold }, at)
    }

    /// A probe write succeeded: writable again.
    pub fn recover(&mut self, at: String) -> Option<Change> {
        self.io_streak = 0;
        if self.state == State::Writable {
            return None;
        }
        self.state = State::Writable;
        Some(Change {
            at,
            state: State::Writable,
        })
    }

    fn open(&mut self, reason: Reason, at: String) -> Option<Change> {
        if self.state != State::Writable {
            return None;
        }
        self.state = State::Degraded {
            reason,
            since: at.clone(),
        };
        Some(Change {
            at,
            state: self.state.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: u32) -> String {
        format!("2026-12-06T00:00:0{n}.000Z")
    }

    #[test]
    fn io_errors_open_it_only_after_the_threshold_in_a_row() {
        let mut b = Breaker::new(3);
        assert!(b.on_io("e1".into(), at(1)).is_none());
        assert!(b.on_io("e2".into(), at(2)).is_none());
        b.on_success();
        assert!(b.on_io("e3".into(), at(3)).is_none());
        assert!(b.on_io("e4".into(), at(4)).is_none());
        let change = b.on_io("e5".into(), at(5)).unwrap();
        assert_eq!(
            change.state,
            State::Degraded {
                reason: Reason::IoErrors {
                    count: 3,
                    last: "e5".into()
                },
                since: at(5)
            }
        );
        assert!(b.refusal().is_some());
        // Already open: no second change, the first reason stays.
        assert!(b.on_full("full".into(), at(6)).is_none());
        assert!(matches!(b.refusal(), Some(Reason::IoErrors { .. })));
    }

    #[test]
    fn a_full_or_low_disk_opens_it_at_once_and_a_probe_closes_it() {
        let mut b = Breaker::new(0);
        assert!(
            b.on_disk(100, 100, at(1)).is_none(),
            "at the threshold is enough"
        );
        let change = b.on_disk(99, 100, at(2)).unwrap();
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            serde_json::json!({"at": at(2), "state": "degraded",
                "reason": {"kind": "disk_low", "free": 99, "threshold": 100}, "since": at(2)})
        );
        let back = b.recover(at(3)).unwrap();
        assert_eq!(back.state, State::Writable);
        assert!(b.recover(at(4)).is_none());
        assert!(
            b.on_full("database or disk is full".into(), at(5))
                .is_some()
        );
        b.set_threshold(2);
        assert!(matches!(b.state(), State::Degraded { .. }));
    }
}
