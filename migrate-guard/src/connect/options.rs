//! What the layer can be set to, and the check a new value passes before it is used (at open
//! and at a reload): a bad value is refused naming its key, and nothing changes.

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;
use crate::database::settings::Settings;

/// The layer's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The `[database]` settings every connection is set up with (verified after applying).
    /// Where `busy_timeout` is not set, connections wait [`Options::DEFAULT_BUSY_TIMEOUT`].
    pub settings: Settings,
    /// Readers open at most at once (1 to 64).
    pub readers: usize,
    /// How long a read waits for a free reader, and a write's deadline for finding the
    /// database unlocked (its retries stop there).
    pub deadline: Duration,
    /// The first pause between two tries of a busy write; it doubles, with jitter ...
    pub backoff_min: Duration,
    /// ... up to this.
    pub backoff_max: Duration,
    /// Free disk under this many bytes turns the layer read-only.
    pub disk_low: Option<u64>,
    /// I/O errors in a row that turn the layer read-only (the circuit breaker).
    pub io_errors: u32,
    /// While read-only, how often a probe write is tried.
    pub probe_every: Duration,
    /// Writes that may wait in the queue while read-only (see `Layer::write_or_queue`); 0
    /// turns queueing off.
    pub queue: usize,
    /// Where changes of state are recorded, besides the log.
    pub audit: Option<Audit>,
}

/// The audit journal the layer records its changes of state in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// The backup directory whose `audit.jsonl` takes them.
    pub dir: PathBuf,
    /// Where they wait when it cannot be written (`files::spool::path` of the database by
    /// default; better on another file system than the database's).
    pub spool: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// What a connection waits for a lock when `busy_timeout` is not set: short, since the
    /// layer itself retries with backoff.
    pub const DEFAULT_BUSY_TIMEOUT: u32 = 100;

    /// The defaults: 4 readers, a 10 s deadline, backoff from 2 ms to 100 ms, no disk
    /// threshold, 3 I/O errors in a row, a probe each second, no queue, no journal.
    pub fn new() -> Self {
        Options {
            settings: Settings::default(),
            readers: 4,
            deadline: Duration::from_secs(10),
            backoff_min: Duration::from_millis(2),
            backoff_max: Duration::from_millis(100),
            disk_low: None,
            io_errors: 3,
            probe_every: Duration::from_secs(1),
            queue: 0,
            audit: None,
        }
    }

    /// The settings connections are set up with: `busy_timeout` defaulted.
    pub fn connection_settings(&self) -> Settings {
        let mut settings = self.settings.clone();
        settings
            .busy_timeout
            .get_or_insert(Self::DEFAULT_BUSY_TIMEOUT);
        settings
    }

    /// Checks every value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] naming the first key out of range.
    pub fn check(&self) -> Result<(), Error> {
        let refuse = |key: &str, why: &str| {
            Err(Error::InvalidRequest {
                reason: format!("connection layer setting `{key}`: {why}"),
            })
        };
        if !(1..=64).contains(&self.readers) {
            return refuse(
                "readers",
                &format!("{} is not between 1 and 64", self.readers),
            );
        }
        if self.deadline.is_zero() {
            return refuse("deadline", "must be more than zero");
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return refuse(
                "backoff_min",
                "must be more than zero and at most backoff_max",
            );
        }
        if self.backoff_max > self.deadline {
            return refuse("backoff_max", "must be at most the deadline");
        }
        if self.io_errors == 0 {
            return refuse("io_errors", "must be at least 1");
        }
        if self.probe_every < Duration::from_millis(10) {
            return refuse("probe_every", "must be at least 10ms");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(change: impl FnOnce(&mut Options)) -> String {
        let mut o = Options::new();
        change(&mut o);
        o.check().unwrap_err().to_string()
    }

    #[test]
    fn the_defaults_pass_and_each_bad_value_is_named() {
        Options::default().check().unwrap();
        assert!(refused(|o| o.readers = 0).contains("`readers`: 0 is not"));
        assert!(refused(|o| o.readers = 65).contains("`readers`"));
        assert!(refused(|o| o.deadline = Duration::ZERO).contains("`deadline`"));
        assert!(refused(|o| o.backoff_min = Duration::ZERO).contains("`backoff_min`"));
        assert!(refused(|o| o.backoff_min = Duration::from_secs(1)).contains("`backoff_min`"));
        assert!(refused(|o| o.backoff_max = Duration::from_secs(60)).contains("`backoff_max`"));
        assert!(refused(|o| o.io_errors = 0).contains("`io_errors`"));
        assert!(refused(|o| o.probe_every = Duration::from_millis(1)).contains("`probe_every`"));
    }

    #[test]
    fn the_busy_timeout_is_defaulted_and_a_set_one_kept() {
        let mut o = Options::new();
        assert_eq!(o.connection_settings().busy_timeout, Some(100));
        o.settings.busy_timeout = Some(7);
        assert_eq!(o.connection_settings().busy_timeout, Some(7));
    }
}
