//! Rotation: which backups a retention policy keeps. Pure, so it is tested with a fixed clock.

use serde::Serialize;

use crate::backup::manifest::Manifest;

/// How many generations to keep. A backup is kept when any rule keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// The newest N backups.
    pub keep_last: usize,
    /// The newest backup of each of the last D days that have one.
    pub keep_daily: usize,
    /// The newest backup of each of the last W ISO weeks that have one.
    pub keep_weekly: usize,
}

impl Default for Retention {
    /// 10 most recent, 7 daily, 4 weekly.
    fn default() -> Self {
        Self {
            keep_last: 10,
            keep_daily: 7,
            keep_weekly: 4,
        }
    }
}

/// The ids to delete under `policy`, oldest first. `backups` may come in any order.
pub fn to_delete(backups: &[Manifest], policy: &Retention) -> Vec<String> {
    let mut newest_first: Vec<&Manifest> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let mut keep = vec![false; newest_first.len()];
    for k in keep.iter_mut().take(policy.keep_last) {
        *k = true;
    }
    keep_newest_per(&newest_first, &mut keep, policy.keep_daily, |m| {
        day(m).to_owned()
    });
    keep_newest_per(&newest_first, &mut keep, policy.keep_weekly, |m| {
        iso_week(day(m))
    });
    let mut doomed: Vec<String> = newest_first
        .iter()
        .zip(&keep)
        .filter(|(_, k)| !**k)
        .map(|(m, _)| m.id.clone())
        .collect();
    doomed.reverse();
    doomed
}

/// Keeps the newest backup of each of the first `count` distinct periods.
fn keep_newest_per(
    newest_first: &[&Manifest],
    keep: &mut [bool],
    count: usize,
    period: impl Fn(&Manifest) -> String,
) {
    let mut seen: Vec<String> = Vec::new();
    for (i, m) in newest_first.iter().enumerate() {
        if seen.len() == count {
            break;
        }
        let p = period(m);
        if !seen.contains(&p) {
            seen.push(p);
            keep[i] = true;
        }
    }
}

/// `YYYY-MM-DD` of an RFC 3339 timestamp.
fn day(m: &Manifest) -> &str {
    m.created_at.get(..10).unwrap_or(&m.created_at)
}

/// The ISO year and week of a `YYYY-MM-DD` date, as `YYYY-Www`.
fn iso_week(date: &str) -> String {
    let parse = |range: std::ops::Range<usize>| date.get(range).and_then(|s| s.parse::<i64>().ok());
    let (Some(y), Some(m), Some(d)) = (parse(0..4), parse(5..7), parse(8..10)) else {
        return date.to_owned();
    };
    let days = days_from_civil(y, m, d);
    // 1970-01-01 was a Thursday; ISO weeks start on Monday and belong to their Thursday's year.
    let weekday = (days + 3).rem_euclid(7); // 0 = Monday
    let thursday = days - weekday + 3;
    let (year, _, _) = crate::vocab::clock::civil_from_days(thursday);
    let jan1 = days_from_civil(year, 1, 1);
    format!("{year}-W{:02}", (thursday - jan1) / 7 + 1)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::{Compression, Reason};

    fn backup(created_at: &str) -> Manifest {
        Manifest {
            id: created_at.to_owned(),
            created_at: created_at.to_owned(),
            reason: Reason::Scheduled,
            schema_version: None,
            page_size: 4096,
            page_count: 1,
            byte_size: 4096,
            sha256: String::new(),
            compression: Compression::Zstd,
            sample: None,
            compressed_size: 1,
            file_sha256: None,
            file: "x".to_owned(),
            source: "app.db".to_owned(),
        }
    }

    #[test]
    fn iso_weeks() {
        assert_eq!(iso_week("2026-11-22"), "2026-W47"); // a Sunday
        assert_eq!(iso_week("2026-11-23"), "2026-W48"); // the Monday after
        assert_eq!(iso_week("2021-01-01"), "2020-W53");
        assert_eq!(iso_week("2024-12-30"), "2025-W01");
    }

    #[test]
    fn keeps_last_n_then_daily_then_weekly() {
        // Two backups a day, at 06:00 and 18:00, for 30 days ending 2026-11-22.
        let mut all = Vec::new();
        for day in 0..30 {
            let date =
                crate::vocab::clock::format_unix_millis((1_795_305_600 - day * 86_400) * 1000);
            let date = &date[..10];
            all.push(backup(&format!("{date}T06:00:00.000Z")));
            all.push(backup(&format!("{date}T18:00:00.000Z")));
        }
        let policy = Retention {
            keep_last: 3,
            keep_daily: 5,
            keep_weekly: 3,
        };
        let deleted = to_delete(&all, &policy);
        let mut kept: Vec<&str> = all
            .iter()
            .map(|m| m.id.as_str())
            .filter(|id| !deleted.iter().any(|d| d == id))
            .collect();
        kept.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(
            kept,
            [
                // last 3
                "2026-11-22T18:00:00.000Z",
                "2026-11-22T06:00:00.000Z",
                "2026-11-21T18:00:00.000Z",
                // newest of each of the last 5 days (22 and 21 already kept)
                "2026-11-20T18:00:00.000Z",
                "2026-11-19T18:00:00.000Z",
                "2026-11-18T18:00:00.000Z",
                // newest of each of the last 3 ISO weeks: W47 is the 22nd (kept), W46 ends
                // Sunday the 15th, W45 the 8th
                "2026-11-15T18:00:00.000Z",
                "2026-11-08T18:00:00.000Z",
            ]
        );
        assert_eq!(deleted.len(), 60 - 8);
        // Oldest first.
        assert!(deleted.first().unwrap() < deleted.last().unwrap());
    }

    #[test]
    fn nothing_to_delete_when_under_the_limits() {
        let all = vec![backup("2026-11-22T06:00:00.000Z")];
        assert!(to_delete(&all, &Retention::default()).is_empty());
    }
}
