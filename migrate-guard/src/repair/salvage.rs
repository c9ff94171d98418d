//! Reading every row that can still be read from a damaged table, in row-id order, skipping
//! around pages that cannot be read and recording exactly which row ids were skipped.
//!
//! The search is written against [`Rows`], so it is tested on a simulated table without
//! SQLite. A damaged leaf page makes every seek that lands on it fail; seeks past it succeed.
//! After a failure the reader probes ever further ahead until a seek succeeds, then bisects back
//! to the first row id it can resume at: what lies between is a [`Gap`].

use serde::Serialize;

/// Row ids that could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Gap {
    /// This row's id was readable but its content was not.
    Row {
        /// The row id.
        rowid: i64,
    },
    /// Any rows with ids strictly between these bounds (open when `None`) were on pages that
    /// could not be read.
    Between {
        /// The last row id read before the damage.
        after: Option<i64>,
        /// The first row id read after it.
        before: Option<i64>,
    },
}

impl Gap {
    /// Whether `rowid` falls in this gap.
    pub fn contains(&self, rowid: i64) -> bool {
        match *self {
            Gap::Row { rowid: r } => r == rowid,
            Gap::Between { after, before } => {
                after.is_none_or(|a| rowid > a) && before.is_none_or(|b| rowid < b)
            }
        }
    }
}

/// A table read by row id, storing what it reads wherever the rows go. Read errors carry
/// nothing (any read error means "damaged here"); `Fatal` errors (the destination failing)
/// stop the salvage.
pub(crate) trait Rows {
    /// What stops the salvage.
    type Fatal;

    /// Reads and stores rows with ids greater than `after` (all rows when `None`) in order,
    /// telling `stored` each id, until the end (`Ok`) or a read error (`Err`).
    fn scan(
        &mut self,
        after: Option<i64>,
        stored: &mut dyn FnMut(i64),
    ) -> Result<Result<(), ()>, Self::Fatal>;

    /// The first row id greater than `after`: `Ok(None)` when there is none, `Err` when the
    /// seek hits damage.
    fn next_id(&mut self, after: Option<i64>) -> Result<Option<i64>, ()>;

    /// Reads and stores the row `rowid` (known to exist); `Err(())` when its content cannot be
    /// read.
    fn read(&mut self, rowid: i64) -> Result<Result<(), ()>, Self::Fatal>;
}

/// Stores everything readable from `rows`, returning the gaps.
pub(crate) fn salvage<R: Rows>(rows: &mut R) -> Result<Vec<Gap>, R::Fatal> {
    let mut gaps = Vec::new();
    let mut last: Option<i64> = None;
    loop {
        // Damage can make a b-tree return row ids out of order: only ever move forward.
        let mut seen = last;
        let scanned = rows.scan(last, &mut |id| {
            if seen.is_none_or(|s| id > s) {
                seen = Some(id);
            }
        })?;
        last = seen;
        if scanned.is_ok() {
            return Ok(gaps);
        }
        // The scan failed after `last`: either one row's content is unreadable (its id is not),
        // or the b-tree itself cannot be walked here.
        let forward = |id: i64| last.is_none_or(|l| id > l);
        let next = match rows.next_id(last) {
            Ok(Some(id)) if forward(id) => id,
            Ok(None) => return Ok(gaps),
            Ok(Some(_)) | Err(()) => match resume_point(rows, last).filter(|id| forward(*id)) {
                Some(next) => {
                    gaps.push(Gap::Between {
                        after: last,
                        before: Some(next),
                    });
                    next
                }
                None => {
                    gaps.push(Gap::Between {
                        after: last,
                        before: None,
                    });
                    return Ok(gaps);
                }
            },
        };
        if rows.read(next)?.is_err() {
            gaps.push(Gap::Row { rowid: next });
        }
        last = Some(next);
    }
}

/// How many seeks the search for a resume point may spend when probing ahead overshoots (the
/// last leaf damaged, so every seek past the end fails too).
const SEARCH_BUDGET: u32 = 4_096;

/// The first readable row id after the damage that follows `last`, or `None` when nothing
/// after it can be read.
fn resume_point(rows: &mut impl Rows, last: Option<i64>) -> Option<i64> {
    // Probe points are i128 so that stepping past i64::MAX is not an overflow. Damage before
    // the first row read is probed from 0 upwards, where row ids almost always are (rows with
    // negative ids on the way are inside the reported gap, never silently skipped).
    let start = last.map_or(-1, i128::from);
    let end = i128::from(i64::MAX);
    let mut ok = |rows: &mut _, at: i128| Rows::next_id(rows, Some(at as i64)).is_ok();
    // Probe ever further ahead until a seek succeeds...
    let mut failing = start;
    let mut step: i128 = 1;
    let mut working = None;
    while working.is_none() {
        let at = (start + step).min(end);
        if ok(rows, at) {
            working = Some(at);
        } else if at == end {
            break;
        } else {
            failing = at;
            step *= 2;
        }
    }
    // ...or, when every probe failed (seeks past the end land on a damaged last leaf), look for
    // any working point, lowest first.
    let (mut failing, mut working) = match working {
        Some(w) => (failing, w),
        None => {
            let mut budget = SEARCH_BUDGET;
            search(rows, start, end, &mut budget, &mut ok)?
        }
    };
    // Then bisect back to the first probe point that works.
    while working - failing > 1 {
        let mid = failing + (working - failing) / 2;
        if ok(rows, mid) {
            working = mid;
        } else {
            failing = mid;
        }
    }
    rows.next_id(Some(working as i64)).ok().flatten()
}

/// A probe point in `(lo, hi)` whose seek works, with a failing one below it (`lo` fails).
fn search<R: Rows>(
    rows: &mut R,
    lo: i128,
    hi: i128,
    budget: &mut u32,
    ok: &mut impl FnMut(&mut R, i128) -> bool,
) -> Option<(i128, i128)> {
    if hi - lo < 2 || *budget == 0 {
        return None;
    }
    *budget -= 1;
    let mid = lo + (hi - lo) / 2;
    if ok(rows, mid) {
        return Some((lo, mid));
    }
    search(rows, lo, mid, budget, ok).or_else(|| search(rows, mid, hi, budget, ok))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Rows on pages of `per_page` rows; a damaged page fails every seek landing on it, a
    /// damaged row fails only reads of its content.
    struct Simulated {
        ids: Vec<i64>,
        per_page: usize,
        damaged_pages: Vec<usize>,
        damaged_rows: Vec<i64>,
        got: Vec<i64>,
    }

    impl Simulated {
        fn page_of(&self, index: usize) -> usize {
            index / self.per_page
        }
        /// The index of the first id > after.
        fn seek(&self, after: Option<i64>) -> usize {
            after.map_or(0, |a| self.ids.partition_point(|&id| id <= a))
        }
        fn page_ok(&self, index: usize) -> bool {
            !self.damaged_pages.contains(&self.page_of(index))
        }
    }

    impl Rows for Simulated {
        type Fatal = ();

        fn scan(
            &mut self,
            after: Option<i64>,
            stored: &mut dyn FnMut(i64),
        ) -> Result<Result<(), ()>, ()> {
            for i in self.seek(after)..self.ids.len() {
                if !self.page_ok(i) || self.damaged_rows.contains(&self.ids[i]) {
                    return Ok(Err(()));
                }
                self.got.push(self.ids[i]);
                stored(self.ids[i]);
            }
            Ok(Ok(()))
        }
        fn next_id(&mut self, after: Option<i64>) -> Result<Option<i64>, ()> {
            let i = self.seek(after);
            if i == self.ids.len() {
                // The seek ends on the last page.
                return if self.ids.is_empty() || self.page_ok(i - 1) {
                    Ok(None)
                } else {
                    Err(())
                };
            }
            if self.page_ok(i) {
                Ok(Some(self.ids[i]))
            } else {
                Err(())
            }
        }
        fn read(&mut self, rowid: i64) -> Result<Result<(), ()>, ()> {
            if self.damaged_rows.contains(&rowid) {
                return Ok(Err(()));
            }
            self.got.push(rowid);
            Ok(Ok(()))
        }
    }

    fn run(sim: &mut Simulated) -> (Vec<i64>, Vec<Gap>) {
        let gaps = salvage(sim).unwrap();
        (std::mem::take(&mut sim.got), gaps)
    }

    fn check_accounting(sim: &Simulated, got: &[i64], gaps: &[Gap]) {
        let mut seen = BTreeMap::new();
        for id in got {
            *seen.entry(*id).or_insert(0) += 1;
        }
        assert!(seen.values().all(|n| *n == 1), "a row read twice");
        for id in &sim.ids {
            let saved = seen.contains_key(id);
            let reported = gaps.iter().any(|g| g.contains(*id));
            assert!(saved || reported, "row {id} lost silently");
            assert!(!(saved && reported), "row {id} saved and reported lost");
        }
    }

    #[test]
    fn an_intact_table_is_read_whole() {
        let mut sim = Simulated {
            ids: (1..=100).collect(),
            per_page: 10,
            damaged_pages: vec![],
            damaged_rows: vec![],
            got: vec![],
        };
        let (got, gaps) = run(&mut sim);
        assert_eq!(got, sim.ids);
        assert!(gaps.is_empty());
    }

    #[test]
    fn a_damaged_page_loses_exactly_its_rows() {
        let mut sim = Simulated {
            ids: (1..=100).map(|i| i * 3).collect(),
            per_page: 10,
            damaged_pages: vec![4],
            damaged_rows: vec![],
            got: vec![],
        };
        let (got, gaps) = run(&mut sim);
        assert_eq!(got.len(), 90);
        assert_eq!(
            gaps,
            [Gap::Between {
                after: Some(120),
                before: Some(153)
            }]
        );
        check_accounting(&sim, &got, &gaps);
    }

    #[test]
    fn unreadable_rows_are_named_and_damage_at_either_end_is_bounded() {
        let mut sim = Simulated {
            ids: (-50..=5000).step_by(7).collect(),
            per_page: 16,
            damaged_pages: vec![0, 5, 6, 9],
            damaged_rows: vec![-50 + 7 * 20 * 7],
            got: vec![],
        };
        sim.damaged_pages.push(sim.ids.len() / 16);
        let (got, gaps) = run(&mut sim);
        check_accounting(&sim, &got, &gaps);
        assert!(gaps.contains(&Gap::Row { rowid: 930 }), "{gaps:?}");
        assert!(matches!(gaps[0], Gap::Between { after: None, .. }));
        assert!(matches!(
            gaps.last(),
            Some(Gap::Between { before: None, .. })
        ));
    }

    #[test]
    fn every_row_is_saved_or_reported_for_many_layouts() {
        for seed in 0..200u64 {
            let mut x = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let n = 1 + (next() % 400) as usize;
            let mut ids: Vec<i64> = (0..n).map(|_| (next() % 100_000) as i64 - 500).collect();
            ids.sort_unstable();
            ids.dedup();
            let per_page = 1 + (next() % 20) as usize;
            let pages = ids.len().div_ceil(per_page);
            let damaged_pages = (0..(next() % 4))
                .map(|_| (next() as usize) % pages)
                .collect();
            let damaged_rows = (0..(next() % 3))
                .map(|_| ids[(next() as usize) % ids.len()])
                .collect();
            let mut sim = Simulated {
                ids,
                per_page,
                damaged_pages,
                damaged_rows,
                got: vec![],
            };
            let (got, gaps) = run(&mut sim);
            check_accounting(&sim, &got, &gaps);
        }
    }
}
