//! Restore points recorded by migration runs: where the WAL stood when a migration's
//! transaction began (under SQLite's write lock, so no commit came between), so that
//! `restore --at-version N` finds the commit just before migration N ran.
//!
//! A line of `<archive>/marks.jsonl` per committed unit. `before` is the WAL's last commit
//! (frame 0: its header only); a WAL that did not exist or was emptied is `null`, and then
//! `next_salt`, the salts of the WAL the migration's own commit began, places it: the point
//! before is the last one before that WAL's first commit.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::segment::{self, Record};
use super::walfile::{Position, WalFile};
use crate::Error;

/// One restore point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The migration about to run.
    pub version: i64,
    /// `up` or `down`.
    pub direction: String,
    /// Later migrations that ran in the same transaction (they have no state of their own
    /// just before them).
    #[serde(default)]
    pub within: Vec<i64>,
    /// When the transaction began (RFC 3339).
    pub at: String,
    /// The WAL's last commit then.
    pub before: Option<Position>,
    /// The salts of the WAL after the migration committed (what places a `before` of `null`
    /// or of frame 0).
    pub next_salt: Option<[u32; 2]>,
    /// The schema version once the unit committed (what `archive status` shows for the
    /// points from its commit on).
    #[serde(default)]
    pub version_after: Option<i64>,
}

/// `marks.jsonl` in the archive.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("marks.jsonl")
}

/// Where the WAL of `db` ends: its last commit, `Some` with frame 0 when it has a header and
/// no commit, `None` when there is no valid header. Call it holding SQLite's write lock.
///
/// # Errors
///
/// [`Error::Io`] when the WAL cannot be read.
pub fn wal_end(db: &Path) -> Result<Option<Position>, Error> {
    let mut wal = WalFile::open(db)?;
    let Some(h) = wal.header()? else {
        return Ok(None);
    };
    Ok(Some(wal.last_commit(&h, &h.start())?))
}

/// The salts of the WAL of `db` now.
///
/// # Errors
///
/// [`Error::Io`] when the WAL cannot be read.
pub fn wal_salt(db: &Path) -> Result<Option<[u32; 2]>, Error> {
    Ok(WalFile::open(db)?.header()?.map(|h| h.salt))
}

/// Appends `mark` to the archive at `dir` (which must exist: archiving has begun).
///
/// # Errors
///
/// [`Error::InvalidRequest`] when there is no archive there; [`Error::Io`].
pub fn record(dir: &Path, mark: &Mark) -> Result<(), Error> {
    if !super::catalog::identity_path(dir).exists() {
        return Err(Error::InvalidRequest {
            reason: format!(
                "there is no archive at {} yet (archiving begins with `migrate archive run` or `migrate watch`)",
                dir.display()
            ),
        });
    }
    let line = serde_json::to_string(mark).expect("serialisable") + "\n";
    crate::files::owned::append_synced(&path(dir), &line)
}

/// Every mark, oldest first (lines that cannot be read are skipped).
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read.
pub fn read(dir: &Path) -> Result<Vec<Mark>, Error> {
    match std::fs::read_to_string(path(dir)) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(Error::Io {
            path: path(dir),
            source,
        }),
    }
}

/// The commit just before migration `version` last ran up.
///
/// # Errors
///
/// [`Error::InvalidRequest`] saying why there is none: no run recorded it, it ran inside
/// another migration's transaction, or the archive does not hold that WAL position.
pub fn resolve(catalog: &Catalog, version: i64) -> Result<u64, Error> {
    let marks = read(&catalog.dir)?;
    let refuse = |reason: String| Err(Error::InvalidRequest { reason });
    let ups = marks.iter().filter(|m| m.direction == "up");
    let Some(mark) = ups.clone().rev().find(|m| m.version == version) else {
        if let Some(m) = ups.rev().find(|m| m.within.contains(&version)) {
            return refuse(format!(
                "migration {version} ran in the same transaction as migration {} (at {}): the state just before it was never committed; --at-version {} gives the state before that transaction",
                m.version, m.at, m.version
            ));
        }
        return refuse(format!(
            "no run recorded a restore point for migration {version} while archiving was on (see {})",
            path(&catalog.dir).display()
        ));
    };
    match point_before(catalog, mark)? {
        Some(id) => Ok(id),
        None => refuse(format!(
            "the archive does not hold the WAL position recorded before migration {version} ran (at {}): it was not archived, or falls in a gap (see `migrate archive status`)",
            mark.at
        )),
    }
}

/// The commit just before `mark`'s unit, when the archive holds it.
fn point_before(catalog: &Catalog, mark: &Mark) -> Result<Option<u64>, Error> {
    Ok(match (&mark.before, mark.next_salt) {
        (Some(p), _) if p.frame > 0 => at_frame(catalog, p)?,
        (Some(p), next) => {
            before_wal(catalog, p.salt).or_else(|| next.and_then(|s| before_wal(catalog, s)))
        }
        (None, Some(salt)) => before_wal(catalog, salt),
        (None, None) => None,
    })
}

/// The schema version from each commit on, as the runs' marks tell it: `(first commit,
/// version)`, in commit order. A unit's commit is the one right after its mark's point (it
/// held the write lock from there). Marks the archive cannot place are left out.
///
/// # Errors
///
/// As [`read`]; [`Error::BackupCorrupt`] for a segment that cannot be read.
pub fn versions(catalog: &Catalog) -> Result<Vec<(u64, i64)>, Error> {
    let mut out = Vec::new();
    for mark in read(&catalog.dir)? {
        let Some(version) = mark.version_after else {
            continue;
        };
        if let Some(before) = point_before(catalog, &mark)? {
            out.push((before + 1, version));
        }
    }
    out.sort_by_key(|&(id, _)| id);
    Ok(out)
}

/// The commit at WAL frame `p.frame` of the WAL with `p.salt`.
fn at_frame(catalog: &Catalog, p: &Position) -> Result<Option<u64>, Error> {
    for g in catalog.generations.iter().rev() {
        if g.base.wal.salt == p.salt && g.base.wal.frame == p.frame {
            return Ok(Some(g.base.commit));
        }
        for e in g.segments.iter().rev() {
            if e.to.salt != p.salt || e.to.frame < p.frame {
                continue;
            }
            if e.from.salt == p.salt && e.from.frame >= p.frame {
                continue;
            }
            let Some(path) = segment::path_in(&g.dir, &e.file) else {
                continue;
            };
            let mut id = None;
            segment::read(&path, &e.sha256, |r| {
                if let Record::Commit(c) = r
                    && c.wal_frame == p.frame
                {
                    id = Some(c.id);
                }
                Ok(())
            })?;
            if id.is_some() {
                return Ok(id);
            }
        }
    }
    Ok(None)
}

/// The last commit before the first commit of the WAL with `salt`.
fn before_wal(catalog: &Catalog, salt: [u32; 2]) -> Option<u64> {
    for g in catalog.generations.iter().rev() {
        if let Some(e) = g
            .segments
            .iter()
            .find(|e| e.from.salt == salt && e.from.frame == 0)
        {
            return Some(e.first - 1);
        }
        if g.base.wal.salt == salt && g.base.wal.frame == 0 {
            return Some(g.base.commit);
        }
    }
    None
}
