//! Compaction: each archiver round writes one small segment, so a generation that runs for a
//! day holds tens of thousands of them. Consecutive small segments are merged into one file
//! holding the same records (every commit keeps its own point, time and page hash: nothing
//! restorable is lost, only files), compressed as one stream.
//!
//! [`plan`] is pure: which runs of the index to merge. [`merge`] writes the merged file beside
//! them; [`publish`] replaces their lines of the index in one rename. The merged-away files are
//! left for the caller to delete once readers holding the old index are done with them (the
//! archiver waits [`RETIRE_AFTER`]; one that stops first leaves them to the next start, which
//! removes every file its index does not list).

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use super::catalog::{self, Entry, Generation};
use super::segment::{self, Record};
use crate::Error;
use crate::files::durable;

/// How long merged-away files are kept for readers that read the index before it changed.
pub const RETIRE_AFTER: Duration = Duration::from_secs(60);

/// The runs of `entries` to merge: consecutive segments of one WAL (one salt: a merged line
/// keeps every WAL restart visible in the index, where restore points find their commit),
/// each smaller than half of `target` bytes, at most `target` bytes together, two or more.
pub fn plan(entries: &[Entry], target: u64) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut sum = 0u64;
    let close = |from: usize, to: usize, runs: &mut Vec<Range<usize>>| {
        if to - from >= 2 {
            runs.push(from..to);
        }
    };
    for (i, e) in entries.iter().enumerate() {
        let other_wal = i > start && entries[start].from.salt != e.from.salt;
        if e.bytes.saturating_mul(2) >= target || e.from.salt != e.to.salt {
            close(start, i, &mut runs);
            start = i + 1;
            sum = 0;
        } else if other_wal || sum + e.bytes > target {
            close(start, i, &mut runs);
            start = i;
            sum = e.bytes;
        } else {
            sum += e.bytes;
        }
    }
    close(start, entries.len(), &mut runs);
    runs
}

/// Writes the segments `run` of `g` into one file beside them and returns its index line.
/// Each segment is read against its SHA-256 first: a damaged one is never merged (its damage
/// stays reported by range).
///
/// # Errors
///
/// [`Error::BackupCorrupt`] when a segment of the run is missing or damaged; [`Error::Io`].
pub fn merge(g: &Generation, run: Range<usize>) -> Result<Entry, Error> {
    let entries = &g.segments[run];
    let (first, last) = (&entries[0], &entries[entries.len() - 1]);
    let name = segment::merged_name(first.first, last.last);
    let path = g.dir.join(&name);
    let mut writer = segment::Writer::create(&path, g.base.page_size, first.from.salt)?;
    for e in entries {
        let from = segment::path_in(&g.dir, &e.file).ok_or_else(|| Error::BackupCorrupt {
            path: catalog::index_path(&g.dir),
            reason: format!("names {:?}, which is not a segment of this archive", e.file),
        })?;
        segment::read(&from, &e.sha256, |record| match record {
            Record::Frame { pgno, page } => writer.frame(pgno, &page),
            Record::Commit(c) => writer.commit(&c),
        })?;
    }
    let written = writer.finish(&path)?;
    Ok(Entry {
        file: name,
        first: first.first,
        last: last.last,
        points: entries.iter().flat_map(|e| e.points.clone()).collect(),
        bytes: written.bytes,
        sha256: written.sha256,
        from: first.from,
        to: last.to,
        hash: last.hash.clone(),
        pages: last.pages,
    })
}

/// Rewrites `g`'s index with each merged run replaced by its one line (`merged`, in the order
/// of `runs`), in one rename; returns the files no longer listed.
///
/// # Errors
///
/// [`Error::Io`] when the index cannot be written (it is then as it was).
pub fn publish(
    g: &Generation,
    runs: &[Range<usize>],
    merged: &[Entry],
) -> Result<Vec<PathBuf>, Error> {
    let mut lines = String::new();
    let mut retired = Vec::new();
    let mut i = 0;
    let mut next = runs.iter().zip(merged).peekable();
    while i < g.segments.len() {
        match next.peek() {
            Some((run, entry)) if run.start == i => {
                lines.push_str(&serde_json::to_string(entry).expect("serialisable"));
                lines.push('\n');
                retired.extend((run.start..run.end).map(|j| g.dir.join(&g.segments[j].file)));
                i = run.end;
                next.next();
            }
            _ => {
                lines.push_str(&serde_json::to_string(&g.segments[i]).expect("serialisable"));
                lines.push('\n');
                i += 1;
            }
        }
    }
    durable::write_atomically(&catalog::index_path(&g.dir), &lines)?;
    Ok(retired)
}

/// Merges what [`plan`] finds in `g` (a generation whose index has no torn line), returning
/// the files merged away. A run that cannot be merged (a damaged segment) is left as it is.
///
/// # Errors
///
/// [`Error::Io`] when the index cannot be rewritten; the merged files written are then
/// removed and the index is as it was.
pub fn compact(g: &Generation, target: u64) -> Result<Vec<PathBuf>, Error> {
    if g.torn != 0 {
        return Ok(Vec::new());
    }
    let mut runs = Vec::new();
    let mut merged = Vec::new();
    for run in plan(&g.segments, target) {
        match merge(g, run.clone()) {
            Ok(entry) => {
                runs.push(run);
                merged.push(entry);
            }
            Err(e) => tracing::warn!(error = %e, "a run of segments was not compacted"),
        }
    }
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    publish(g, &runs, &merged).inspect_err(|_| {
        for entry in &merged {
            let _ = std::fs::remove_file(g.dir.join(&entry.file));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::walfile::Position;

    fn entry(bytes: u64) -> Entry {
        let at = Position {
            salt: [1, 2],
            frame: 0,
            checksum: [0, 0],
        };
        Entry {
            file: segment::file_name(1),
            first: 1,
            last: 1,
            points: vec![(1, 0)],
            bytes,
            sha256: String::new(),
            from: at,
            to: at,
            hash: String::new(),
            pages: 1,
        }
    }

    #[test]
    fn runs_are_small_neighbours_up_to_the_target() {
        let sizes = |s: &[u64]| s.iter().map(|&b| entry(b)).collect::<Vec<_>>();
        assert_eq!(plan(&sizes(&[10, 10, 10]), 100), vec![0..3]);
        assert_eq!(plan(&sizes(&[10]), 100), Vec::<Range<usize>>::new());
        // A big one ends a run and is never rewritten.
        assert_eq!(plan(&sizes(&[10, 10, 60, 10, 10]), 100), vec![0..2, 3..5]);
        assert_eq!(plan(&sizes(&[10, 60, 10]), 100), Vec::<Range<usize>>::new());
        // The target splits runs.
        assert_eq!(plan(&sizes(&[40, 40, 40, 40]), 100), vec![0..2, 2..4]);
        // So does a WAL restart (another salt).
        let mut restarted = sizes(&[10, 10, 10, 10, 10]);
        for e in &mut restarted[2..] {
            e.from.salt = [3, 4];
            e.to.salt = [3, 4];
        }
        assert_eq!(plan(&restarted, 100), vec![0..2, 2..5]);
        assert_eq!(plan(&sizes(&[]), 100), Vec::<Range<usize>>::new());
    }
}
