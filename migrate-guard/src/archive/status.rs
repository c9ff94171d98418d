//! Where the archive stands against the database, read from the files only (no SQLite
//! connection: looking never checkpoints): the points it holds, the gaps, its size, and what the
//! WAL holds that it does not yet.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::catalog::{Catalog, Gap, Generation, Point};
use super::walfile::WalFile;
use crate::Error;
use crate::vocab::clock;

/// A point as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PointView {
    /// Its commit id (`--at-commit`).
    pub id: u64,
    /// Its time, RFC 3339.
    pub at: String,
    /// The schema version, where the archive knows it.
    pub version: Option<i64>,
    /// Its generation.
    pub generation: String,
}

/// A gap as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GapView {
    /// The last point before it (none: the archive had none).
    pub after: Option<u64>,
    /// Its time.
    pub after_at: Option<String>,
    /// The first point after it (a generation's base).
    pub before: u64,
    /// Its time.
    pub before_at: String,
    /// Why.
    pub reason: String,
}

/// Where the archive stands, without its list of points: what health reads on every evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The archive's directory.
    pub dir: String,
    /// The database it follows.
    pub database: Option<String>,
    /// Generations.
    pub generations: usize,
    /// Restorable points.
    pub commits: u64,
    /// The oldest point.
    pub first: Option<PointView>,
    /// The newest point.
    pub last: Option<PointView>,
    /// Whether the WAL still continues from the archive's newest point (false: it restarted
    /// since, or the archive is empty; the next archiver round proves or records a gap).
    pub following: bool,
    /// Committed frames in the WAL the archive does not hold yet, in bytes (all of the WAL's
    /// valid frames when it is not `following`).
    pub unarchived_bytes: u64,
    /// Commits in the WAL the archive does not hold yet.
    pub unarchived_commits: u64,
    /// Seconds since the newest point when something is waiting (0 when nothing is).
    pub lag_seconds: f64,
    /// Every gap.
    pub gaps: Vec<GapView>,
    /// Bytes of base snapshots and segments.
    pub bytes: u64,
}

/// `migrate archive status`: the summary and every point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Where the archive stands.
    #[serde(flatten)]
    pub summary: Summary,
    /// Every point, oldest first.
    pub points: Vec<PointView>,
}

fn view_gap(g: &Gap) -> GapView {
    GapView {
        after: g.after.as_ref().map(|e| e.commit),
        after_at: g.after.as_ref().map(|e| clock::format_unix_millis(e.at_ms)),
        before: g.before.commit,
        before_at: clock::format_unix_millis(g.before.at_ms),
        reason: g.reason.clone(),
    }
}

/// Fills in each point's schema version from the runs' marks ([`super::marks::versions`]):
/// the version the newest unit committed at or before it left, `null` before the first.
///
/// # Errors
///
/// As [`super::marks::versions`].
pub fn with_versions(mut status: Status) -> Result<Status, Error> {
    let catalog = Catalog::read(Path::new(&status.summary.dir))?;
    let changes = super::marks::versions(&catalog)?;
    let at = |id: u64| {
        changes
            .iter()
            .take_while(|&&(from, _)| from <= id)
            .last()
            .map(|&(_, v)| v)
    };
    for p in &mut status.points {
        p.version = p.version.or(at(p.id));
    }
    status.summary.first = status.points.first().cloned();
    status.summary.last = status.points.last().cloned();
    Ok(status)
}

fn view_point(p: Point, version: Option<i64>, generation: &Generation) -> PointView {
    PointView {
        id: p.id,
        at: clock::format_unix_millis(p.at_ms),
        version,
        generation: generation.base.generation.clone(),
    }
}

/// The status of the archive at `dir` for the database `db`, every point listed.
///
/// # Errors
///
/// As [`summary`].
pub fn status(db: &Path, dir: &Path) -> Result<Status, Error> {
    let catalog = Catalog::read(dir)?;
    let summary = summarise(&catalog, db, dir)?;
    let mut points = Vec::new();
    for g in &catalog.generations {
        for p in g.points() {
            let version = (p.id == g.base.commit).then_some(g.base.version).flatten();
            points.push(view_point(p, version, g));
        }
    }
    Ok(Status { summary, points })
}

/// Where the archive at `dir` stands against the database `db`, without listing its points.
///
/// # Errors
///
/// As [`Catalog::read`]; [`Error::Io`] when the WAL cannot be read.
pub fn summary(db: &Path, dir: &Path) -> Result<Summary, Error> {
    summarise(&Catalog::read(dir)?, db, dir)
}

fn summarise(catalog: &Catalog, db: &Path, dir: &Path) -> Result<Summary, Error> {
    let mut commits = 0;
    let mut bytes = 0;
    for g in &catalog.generations {
        bytes += g.base.bytes + g.segments.iter().map(|e| e.bytes).sum::<u64>();
        commits += 1 + g
            .segments
            .iter()
            .map(|e| e.points.len() as u64)
            .sum::<u64>();
    }
    let first = catalog.generations.first().map(|g| {
        let base = g.points().next().expect("a generation has its base");
        view_point(base, g.base.version, g)
    });
    let last = catalog.generations.last().map(|g| {
        let version = (g.segments.is_empty()).then_some(g.base.version).flatten();
        view_point(g.last(), version, g)
    });
    let mut wal = WalFile::open(db)?;
    let header = wal.header()?;
    let (following, from) = match (catalog.generations.last(), &header) {
        (Some(g), Some(h)) if wal.still_at(h, &g.position())? => (true, Some(g.position())),
        (Some(g), None) => (g.position().frame == 0, None),
        (_, Some(h)) => (false, Some(h.start())),
        (None, None) => (false, None),
    };
    let (mut unarchived_commits, mut unarchived_bytes) = (0, 0);
    if let (Some(h), Some(from)) = (&header, from) {
        let mut at = from;
        while let Some(frame) = wal.next(h, &at)? {
            at.frame = frame.index;
            at.checksum = frame.checksum;
            if frame.commit_size != 0 {
                unarchived_commits += 1;
                unarchived_bytes = u64::from(at.frame - from.frame) * (24 + u64::from(h.page_size));
            }
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let last_ms = catalog.last().map(|p| p.at_ms);
    let lag_seconds = match last_ms {
        Some(ms) if unarchived_commits > 0 || !following => (now - ms).max(0) as f64 / 1000.0,
        Some(_) => 0.0,
        None => f64::NAN,
    };
    Ok(Summary {
        dir: dir.display().to_string(),
        database: catalog.identity.as_ref().map(|i| i.database.clone()),
        generations: catalog.generations.len(),
        commits,
        first,
        last,
        following,
        unarchived_bytes,
        unarchived_commits,
        lag_seconds,
        gaps: catalog.gaps.iter().map(view_gap).collect(),
        bytes,
    })
}
