//! A fleet run's summary (pure): counts by outcome, timings, the slowest, every failure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::outcome::{Outcome, Row};

/// How many of the slowest databases the summary names.
const SLOWEST: usize = 5;

/// The summary of a fleet run's rows.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Databases covered.
    pub total: usize,
    /// How many ended each way.
    pub counts: BTreeMap<Outcome, usize>,
    /// The median and 99th percentile of the databases this run opened, in ms.
    pub median_ms: u64,
    pub p99_ms: u64,
    /// The slowest databases this run opened, slowest first.
    pub slowest: Vec<Timed>,
    /// Every database that failed, with its exit code and error.
    pub failures: Vec<Failed>,
    /// Why new databases stopped being started, when they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// A database and its time.
#[derive(Debug, Serialize)]
pub struct Timed {
    pub db: PathBuf,
    pub duration_ms: u64,
}

/// A database that failed.
#[derive(Debug, Serialize)]
pub struct Failed {
    pub db: PathBuf,
    pub outcome: Outcome,
    pub exit_code: u8,
    pub error: String,
}

impl Summary {
    /// The summary of `rows`; `stopped` says why databases were not started.
    pub fn of(rows: &[Row], stopped: Option<String>) -> Self {
        let mut counts = BTreeMap::new();
        for row in rows {
            *counts.entry(row.outcome).or_insert(0) += 1;
        }
        let mut ran: Vec<&Row> = rows
            .iter()
            .filter(|r| !matches!(r.outcome, Outcome::DoneEarlier | Outcome::NotStarted))
            .collect();
        ran.sort_by_key(|r| std::cmp::Reverse(r.duration_ms));
        let mut times: Vec<u64> = ran.iter().map(|r| r.duration_ms).collect();
        times.sort_unstable();
        Self {
            total: rows.len(),
            counts,
            median_ms: percentile(&times, 50),
            p99_ms: percentile(&times, 99),
            slowest: ran
                .iter()
                .take(SLOWEST)
                .map(|r| Timed {
                    db: r.db.clone(),
                    duration_ms: r.duration_ms,
                })
                .collect(),
            failures: rows
                .iter()
                .filter(|r| r.outcome.failed())
                .map(|r| Failed {
                    db: r.db.clone(),
                    outcome: r.outcome,
                    exit_code: r.exit_code,
                    error: r.error.clone().unwrap_or_default(),
                })
                .collect(),
            stopped,
        }
    }

    /// The summary for people.
    pub fn text(&self) -> String {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(outcome, n)| format!("{n} {}", outcome.word()))
            .collect();
        let mut text = format!(
            "fleet: {} database(s): {}; per database run: median {} ms, p99 {} ms\n",
            self.total,
            counts.join(", "),
            self.median_ms,
            self.p99_ms
        );
        if !self.slowest.is_empty() {
            let slowest: Vec<String> = self
                .slowest
                .iter()
                .map(|t| format!("{} ({} ms)", t.db.display(), t.duration_ms))
                .collect();
            text.push_str(&format!("slowest: {}\n", slowest.join(", ")));
        }
        for f in &self.failures {
            text.push_str(&format!(
                "{} (exit {}): {}: {}\n",
                f.outcome.word(),
                f.exit_code,
                f.db.display(),
                f.error.replace('\n', "\n  ")
            ));
        }
        if let Some(why) = &self.stopped {
            text.push_str(&format!("stopped early: {why}\n"));
        }
        text
    }
}

/// The `p`th percentile of sorted `times` (nearest rank); 0 for none.
fn percentile(times: &[u64], p: usize) -> u64 {
    if times.is_empty() {
        return 0;
    }
    let rank = (times.len() * p).div_ceil(100).max(1);
    times[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, outcome: Outcome, ms: u64) -> Row {
        let mut row = Row::untouched(PathBuf::from(name), outcome, None);
        row.duration_ms = ms;
        if outcome.failed() {
            row.exit_code = 5;
            row.error = Some("boom\nsecond line".into());
        }
        row
    }

    #[test]
    fn counts_timings_slowest_and_failures() {
        let rows = vec![
            row("a", Outcome::Migrated, 10),
            row("b", Outcome::Migrated, 30),
            row("c", Outcome::Failed, 20),
            row("d", Outcome::DoneEarlier, 999),
            row("e", Outcome::NotStarted, 0),
        ];
        let s = Summary::of(&rows, Some("not started: the canary stage failed".into()));
        assert_eq!(s.total, 5);
        assert_eq!(s.counts[&Outcome::Migrated], 2);
        assert_eq!((s.median_ms, s.p99_ms), (20, 30));
        assert_eq!(s.slowest[0].db, PathBuf::from("b"));
        assert_eq!(s.failures.len(), 1);
        let text = s.text();
        assert!(text.contains("2 migrated"), "{text}");
        assert!(
            text.contains("failed (exit 5): c: boom\n  second line"),
            "{text}"
        );
        assert!(
            text.contains("stopped early: not started: the canary"),
            "{text}"
        );
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[7], 99), 7);
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 50), 50);
        assert_eq!(percentile(&hundred, 99), 99);
    }
}
