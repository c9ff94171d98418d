//! Rebuilding the database as it was at one point of the archive: the generation's base, then
//! each commit of its segments up to the point, written into a new file that is checked
//! against the page hash recorded for the point and then by SQLite before it is put in place.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::catalog::{Catalog, Generation, Point};
use super::pagehash;
use super::segment::{self, Record};
use crate::Error;
use crate::files::durable::Staged;

/// A point rebuilt into a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rebuilt {
    /// The point.
    pub point: Point,
    /// The file written.
    pub path: PathBuf,
    /// Its page hash (the one recorded for the point).
    pub hash: String,
    /// Its pages.
    pub pages: u32,
    /// How long it took, checks included.
    pub duration_ms: u64,
}

/// Where a rebuild's time went (logged at info): the base, the segments, then the page hash and
/// `quick_check`, which run side by side.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug
struct Phases {
    base_ms: u64,
    segments_ms: u64,
    hash_ms: u64,
    quick_check_ms: u64,
    total_ms: u64,
}

/// Hands every page of `g`'s base to `each`, checking the file's SHA-256 as it goes.
///
/// # Errors
///
/// [`Error::BackupCorrupt`] when the base is missing, not zstd, or not what its SHA-256 says;
/// whatever `each` returns.
pub fn read_base(
    g: &Generation,
    mut each: impl FnMut(u32, &[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let path = g.dir.join("base.db.zst");
    let corrupt = |reason: String| Error::BackupCorrupt {
        path: path.clone(),
        reason,
    };
    let file = File::open(&path).map_err(|e| corrupt(format!("cannot be read: {e}")))?;
    let mut tee = Tee {
        inner: BufReader::new(file),
        hash: Sha256::new(),
    };
    {
        let mut dec =
            zstd::Decoder::new(&mut tee).map_err(|e| corrupt(format!("not zstd: {e}")))?;
        let mut page = vec![0u8; g.base.page_size as usize];
        for pgno in 1..=g.base.pages {
            dec.read_exact(&mut page)
                .map_err(|e| corrupt(format!("ends before page {pgno}: {e}")))?;
            each(pgno, &page)?;
        }
    }
    std::io::copy(&mut tee, &mut std::io::sink())
        .map_err(|e| corrupt(format!("cannot be read: {e}")))?;
    let found = crate::vocab::hex::hex(&tee.hash.finalize());
    if found != g.base.sha256 {
        return Err(corrupt(format!(
            "its SHA-256 is {found}, base.json says {}",
            g.base.sha256
        )));
    }
    Ok(())
}

struct Tee<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes the database as it was at point `id` into a new file at `to` (mode `mode`), checked
/// against the point's recorded page hash and by SQLite's `quick_check` before it is renamed
/// into place.
///
/// # Errors
///
/// [`Error::TargetExists`] when `to` exists; [`Error::InvalidRequest`] for an id the archive
/// does not hold; [`Error::BackupCorrupt`] when a file of the archive is damaged or the result
/// does not match the recorded hash or fails SQLite's check (nothing is left at `to`);
/// [`Error::Io`].
#[tracing::instrument(name = "archive_rebuild", level = "info", skip_all, fields(id, to = %to.display()), err(level = "warn"))]
pub fn rebuild(catalog: &Catalog, id: u64, to: &Path, mode: u32) -> Result<Rebuilt, Error> {
    let started = Instant::now();
    if to.exists() {
        return Err(Error::TargetExists {
            path: to.to_path_buf(),
            reason: "a restore to a point writes a new file only".to_owned(),
        });
    }
    let (g, point) = catalog.find(id).ok_or_else(|| Error::InvalidRequest {
        reason: format!(
            "the archive {} holds no commit {id} (see `migrate archive status --json`)",
            catalog.dir.display()
        ),
    })?;
    let (staged, file) = Staged::create(crate::files::durable::temp_path(to))?;
    let io = |source| Error::Io {
        path: staged.path().to_path_buf(),
        source,
    };
    let ps = u64::from(g.base.page_size);
    read_base(g, |pgno, page| {
        file.write_all_at(page, u64::from(pgno - 1) * ps)
            .map_err(io)
    })?;
    let based = started.elapsed();
    let mut expected = (g.base.hash.clone(), g.base.pages);
    for entry in g.segments.iter().take_while(|e| e.first <= id) {
        let path = segment::path_in(&g.dir, &entry.file).ok_or_else(|| Error::BackupCorrupt {
            path: g.dir.join("segments.jsonl"),
            reason: format!(
                "names {:?}, which is not a segment of this archive",
                entry.file
            ),
        })?;
        // The frames of a commit come before its record: in the segment holding the point,
        // count those that belong to commits up to it, then apply only those. A segment wholly
        // before the point is applied in one read.
        let keep = if entry.last <= id {
            usize::MAX
        } else {
            let mut frames = 0usize;
            let mut keep = 0usize;
            segment::read(&path, &entry.sha256, |record| {
                match record {
                    Record::Frame { .. } => frames += 1,
                    Record::Commit(c) if c.id <= id => keep = frames,
                    Record::Commit(_) => {}
                }
                Ok(())
            })?;
            keep
        };
        let mut seen = 0usize;
        segment::read(&path, &entry.sha256, |record| {
            match record {
                Record::Frame { pgno, page } if seen < keep => {
                    seen += 1;
                    file.write_all_at(&page, u64::from(pgno - 1) * ps)
                        .map_err(io)?;
                }
                Record::Frame { .. } => {}
                Record::Commit(c) if c.id <= id => {
                    let len = file.metadata().map_err(io)?.len();
                    if len > u64::from(c.pages) * ps {
                        file.set_len(u64::from(c.pages) * ps).map_err(io)?;
                    }
                    expected = (c.hash, c.pages);
                }
                Record::Commit(_) => {}
            }
            Ok(())
        })?;
    }
    let replayed = started.elapsed();
    file.set_len(u64::from(expected.1) * ps).map_err(io)?;
    // The file is whole: it is made durable, hashed and checked by SQLite at once (each only
    // reads it), and put in place only when all three agree.
    let (synced, found, checked) = std::thread::scope(|scope| {
        let sync = scope.spawn(|| file.sync_all());
        let check = scope.spawn(|| {
            let t = Instant::now();
            (quick_check(staged.path()), t.elapsed())
        });
        let t = Instant::now();
        let found = pagehash::hash_of(g.base.page_size, expected.1, |pgno, buf| {
            file.read_exact_at(buf, u64::from(pgno - 1) * ps).is_ok()
        });
        let hashed = t.elapsed();
        let synced = sync.join().expect("fsync does not panic");
        let checked = check.join().expect("quick_check does not panic");
        let phases = Phases {
            base_ms: based.as_millis() as u64,
            segments_ms: (replayed - based).as_millis() as u64,
            hash_ms: hashed.as_millis() as u64,
            quick_check_ms: checked.1.as_millis() as u64,
            total_ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(?phases, "rebuild timed, before its checks are judged");
        (synced, found, checked.0)
    });
    synced.map_err(io)?;
    drop(file);
    if found != expected.0 {
        return Err(Error::BackupCorrupt {
            path: to.to_path_buf(),
            reason: format!(
                "the state rebuilt for commit {id} has page hash {found}, the archive recorded {}; nothing was written there",
                expected.0
            ),
        });
    }
    checked.map_err(|reason| Error::BackupCorrupt {
        path: to.to_path_buf(),
        reason: format!(
            "the state rebuilt for commit {id} matches its hash but SQLite's quick_check says: {reason}; nothing was written there"
        ),
    })?;
    std::fs::set_permissions(
        staged.path(),
        std::os::unix::fs::PermissionsExt::from_mode(mode),
    )
    .map_err(|source| Error::Io {
        path: staged.path().to_path_buf(),
        source,
    })?;
    staged.publish(to)?;
    Ok(Rebuilt {
        point,
        path: to.to_path_buf(),
        hash: expected.0,
        pages: expected.1,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// SQLite's `quick_check` of a file nobody else has open, read as it is (`immutable`: no WAL,
/// no lock, nothing created beside it): `Ok` only for exactly "ok".
fn quick_check(path: &Path) -> Result<(), String> {
    let uri = crate::database::db::read_only_uri(path) + "&immutable=1";
    let conn = rusqlite::Connection::open_with_flags(
        &uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| e.to_string())?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    if lines == ["ok"] {
        Ok(())
    } else {
        Err(lines.join("; "))
    }
}
