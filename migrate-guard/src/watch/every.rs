//! When a task of the watchman runs: an interval (`2s`, `15m`, `1h`, `1d`) or a cron
//! expression (five fields, or six with seconds first, parsed by `croner`); and the sizes and
//! durations its thresholds are written in (`256MiB`, `200ms`). Pure.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

/// A task's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Every {
    /// Again this long after the last run began.
    Interval(Duration),
    /// At the times a cron expression names (UTC).
    Cron(Box<croner::Cron>),
}

impl Every {
    /// Parses `2s`, `15m`, `1h`, `1d` (an interval) or a cron expression.
    ///
    /// # Errors
    ///
    /// What is wrong with the text, in words.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.split_whitespace().count() >= 5 || text.starts_with('@') {
            return croner::Cron::from_str(text)
                .map(|cron| Every::Cron(Box::new(cron)))
                .map_err(|e| format!("`{text}` is not a cron expression: {e}"));
        }
        let interval = duration(text)?;
        if interval.is_zero() {
            return Err(format!("`{text}`: an interval must be longer than 0"));
        }
        Ok(Every::Interval(interval))
    }

    /// The first time after `t` the task is due.
    pub fn next_after(&self, t: SystemTime) -> Option<SystemTime> {
        match self {
            Every::Interval(d) => t.checked_add(*d),
            Every::Cron(cron) => {
                // Beyond what a calendar can name (a hostile state file), there is no next time.
                let millis =
                    i64::try_from(t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_millis())
                        .ok()?;
                let at = DateTime::<Utc>::from_timestamp_millis(millis)?;
                cron.find_next_occurrence(&at, false)
                    .ok()
                    .map(SystemTime::from)
            }
        }
    }

    /// Whether a task last begun at `last` is due at `now`. A task that never ran is due, and
    /// so is one whose last run is dated after `now` (the clock went back): waiting for the
    /// clock to catch up could skip it for as long.
    pub fn due(&self, last: Option<SystemTime>, now: SystemTime) -> bool {
        match last {
            None => true,
            Some(last) if last > now => true,
            Some(last) => self.next_after(last).is_none_or(|next| next <= now),
        }
    }

    /// The time between two runs from `now` on (for a cron expression, between its next two
    /// times): what "overdue" is measured against.
    pub fn period(&self, now: SystemTime) -> Option<Duration> {
        match self {
            Every::Interval(d) => Some(*d),
            Every::Cron(_) => {
                let first = self.next_after(now)?;
                self.next_after(first)?.duration_since(first).ok()
            }
        }
    }

    /// Whether the schedule ever comes round again after `now` (a cron expression may name
    /// no time at all, `0 0 30 2 *`).
    pub fn recurs(&self, now: SystemTime) -> bool {
        self.next_after(now).is_some()
    }
}

/// Parses a duration: a number and a unit, `ms`, `s`, `m`, `h` or `d` (`200ms`, `1.5s`, `2h`).
///
/// # Errors
///
/// What is wrong with the text.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit: write it as 200ms, 2s, 15m, 1h or 1d"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (ms, s, m, h or d)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

/// Parses a size: bytes, or a number with `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024) or
/// `KB`, `MB`, `GB`, `TB` (powers of 1000).
///
/// # Errors
///
/// What is wrong with the text.
pub fn bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let scale: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"
            ));
        }
    };
    let total = value * scale;
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(total as u64)
}

/// Seconds since the Unix epoch of an RFC 3339 time, as recorded in manifests and the state.
pub fn unix_seconds(rfc3339: &str) -> Option<f64> {
    DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// `t` as seconds since the Unix epoch.
pub fn seconds_of(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds since the Unix epoch back to a time (the epoch itself for what no time can be).
pub fn time_of(seconds: f64) -> SystemTime {
    Duration::try_from_secs_f64(seconds.max(0.0))
        .ok()
        .and_then(|d| SystemTime::UNIX_EPOCH.checked_add(d))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_units() {
        assert_eq!(
            Every::parse("15m").unwrap(),
            Every::Interval(Duration::from_secs(900))
        );
        assert_eq!(duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(duration("15").unwrap_err().contains("no unit"));
        assert!(duration("15w").unwrap_err().contains("unknown unit `w`"));
        assert!(duration("m").unwrap_err().contains("number"));
        assert!(Every::parse("0s").unwrap_err().contains("longer than 0"));
        assert!(duration("1e400s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes("256MiB").unwrap(), 256 << 20);
        assert_eq!(bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(bytes("1.5KB").unwrap(), 1500);
        assert_eq!(bytes("4096").unwrap(), 4096);
        assert!(bytes("1PiB").unwrap_err().contains("unknown unit"));
        assert!(bytes("lots").is_err());
        assert!(bytes("1e30TB").is_err());
    }

    #[test]
    fn cron_expressions_find_their_next_time() {
        let every = Every::parse("*/5 * * * *").unwrap();
        let start = time_of(1_795_314_084.0); // 2026-11-22T02:21:24Z
        let next = every.next_after(start).unwrap();
        assert_eq!(seconds_of(next), 1_795_314_300.0); // 02:25:00
        assert!(!every.due(Some(start), start));
        assert!(every.due(Some(start), next));
        assert!(every.due(None, start));
        assert!(
            Every::parse("61 * * * *")
                .unwrap_err()
                .contains("not a cron expression")
        );
        assert!(matches!(Every::parse("@daily").unwrap(), Every::Cron(_)));
    }

    #[test]
    fn hostile_times_neither_panic_nor_wait_forever() {
        let cron = Every::parse("*/5 * * * *").unwrap();
        let far = time_of(1e300);
        assert_eq!(far, SystemTime::UNIX_EPOCH);
        // Past the calendar: no next time, and no panic.
        assert_eq!(cron.next_after(time_of(9.2e15)), None);
        let now = time_of(1_795_314_084.0);
        let future = time_of(1_995_314_084.0);
        assert!(cron.due(Some(future), now), "a run dated after now is due");
        assert!(Every::Interval(Duration::from_secs(60)).due(Some(future), now));
        let never = Every::parse("0 0 30 2 *").unwrap();
        assert!(!never.recurs(now), "30 February");
        assert!(cron.recurs(now));
        assert_eq!(cron.period(now), Some(Duration::from_secs(300)));
        assert_eq!(never.period(now), None);
    }

    #[test]
    fn times_round_trip() {
        assert_eq!(
            unix_seconds("2026-11-22T02:21:24.000Z"),
            Some(1_795_314_084.0)
        );
        assert_eq!(unix_seconds("yesterday"), None);
        assert_eq!(seconds_of(time_of(12.5)), 12.5);
    }
}
