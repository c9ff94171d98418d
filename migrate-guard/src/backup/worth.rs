//! Whether compressing a backup pays for itself. zstd spends about a second of CPU per GB;
//! on pages that barely shrink (random payloads, already compressed blobs, encrypted columns)
//! that buys little space and makes the backup slower than writing the pages plain. Before the
//! file is created, a sample of the pages, spread evenly over the file, is compressed as the
//! backup would compress it; the backup is stored plain when the sample does not shrink by the
//! ratio asked for. The sample is recorded in the manifest, and restores read either format.
//!
//! [`sample_pages`] and [`decide`] are pure; [`take_sample`] reads.

use rusqlite::Connection;

use crate::backup::image;
use crate::backup::manifest::{Compression, Sample};

/// The ratio a sample must shrink by for a backup to stay compressed, unless told otherwise:
/// zstd must make the pages at least 1.2 times smaller (save a sixth of the space).
pub const DEFAULT_MIN_RATIO: f64 = 1.2;

/// Places in the file the sample is taken from.
const SPOTS: u64 = 16;

/// Consecutive pages read at each place (256 KiB at 4 KiB pages: 4 MiB in all).
const RUN: u64 = 64;

/// The page numbers sampled from a file of `page_count` pages: runs of consecutive pages at
/// evenly spread places, or every page of a small file.
pub(crate) fn sample_pages(page_count: u64) -> Vec<u64> {
    if page_count <= SPOTS * RUN {
        return (1..=page_count).collect();
    }
    let stride = page_count / SPOTS;
    (0..SPOTS)
        .flat_map(|spot| {
            let first = 1 + spot * stride;
            first..first + RUN
        })
        .collect()
}

/// How a backup asked to be stored as `asked` is stored: plain when it was asked compressed
/// with a `min_ratio` and the sample shrank less than that.
pub(crate) fn decide(asked: Compression, min_ratio: Option<f64>, sample: &Sample) -> Compression {
    match (asked, min_ratio) {
        (Compression::Zstd, Some(min)) if sample.ratio() < min => Compression::None,
        _ => asked,
    }
}

/// Compresses the pages [`sample_pages`] names, read from `sqlite_dbpage` inside the
/// backup's snapshot, as the backup would.
///
/// # Errors
///
/// SQLite's error when a page cannot be read (the caller then compresses as asked: the backup
/// itself reports what stops it).
pub(crate) fn take_sample(conn: &Connection, page_count: u64) -> rusqlite::Result<Sample> {
    let mut stmt = conn.prepare("SELECT data FROM sqlite_dbpage('main') WHERE pgno = ?1")?;
    let mut pages = Vec::new();
    for pgno in sample_pages(page_count) {
        let page: Vec<u8> = stmt.query_row([pgno as i64], |r| r.get(0))?;
        pages.extend_from_slice(&page);
    }
    let compressed = zstd::bulk::compress(&pages, image::LEVEL)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(Sample {
        bytes: pages.len() as u64,
        compressed: compressed.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_file_is_sampled_whole() {
        assert_eq!(sample_pages(0), Vec::<u64>::new());
        assert_eq!(sample_pages(3), vec![1, 2, 3]);
        assert_eq!(sample_pages(SPOTS * RUN).len() as u64, SPOTS * RUN);
    }

    #[test]
    fn a_large_file_is_sampled_in_runs_spread_over_it() {
        let pages = sample_pages(1_000_000);
        assert_eq!(pages.len() as u64, SPOTS * RUN);
        assert_eq!(pages[0], 1);
        assert_eq!(pages[RUN as usize], 1 + 1_000_000 / SPOTS);
        assert!(*pages.last().unwrap() <= 1_000_000);
        assert!(pages.windows(2).all(|w| w[0] < w[1]));
        // Just above the whole-file size: every page still exists.
        let edge = sample_pages(SPOTS * RUN + 1);
        assert!(*edge.last().unwrap() <= SPOTS * RUN + 1);
    }

    #[test]
    fn plain_only_when_asked_compressed_with_a_ratio_the_sample_misses() {
        let poor = Sample {
            bytes: 1000,
            compressed: 990,
        };
        let good = Sample {
            bytes: 1000,
            compressed: 400,
        };
        let zstd = Compression::Zstd;
        assert_eq!(decide(zstd, Some(1.2), &poor), Compression::None);
        assert_eq!(decide(zstd, Some(1.2), &good), zstd);
        assert_eq!(decide(zstd, None, &poor), zstd);
        assert_eq!(
            decide(Compression::None, Some(1.2), &good),
            Compression::None
        );
        // An empty compression (a zero-byte output) never divides by zero.
        let empty = Sample {
            bytes: 0,
            compressed: 0,
        };
        assert_eq!(empty.ratio(), 0.0);
        assert!((good.ratio() - 2.5).abs() < 1e-9);
    }
}
