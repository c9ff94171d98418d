//! The archive's files and what they say, read without trusting a name in them.
//!
//! ```text
//! <archive>/archive.json                   which database, its page size
//! <archive>/archive.lock                   held by the one archiver
//! <archive>/gaps.jsonl                     each hole, by range, as it was found
//! <archive>/gen-<base commit id>/base.db.zst, base.json   the generation's base snapshot
//! <archive>/gen-<base commit id>/segments.jsonl           one line per segment, appended
//! <archive>/gen-<base commit id>/<first commit id>.seg    the segments
//! ```
//!
//! A generation is a base snapshot and the segments of commits after it, each continuing the
//! one before. A new generation starts when the archiver cannot prove that the WAL continues
//! where the last one stopped; the commits it could not see are a gap.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::walfile::Position;
use crate::Error;

/// `archive.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The format (1).
    pub format: u32,
    /// The database archived, as an absolute path.
    pub database: String,
    /// Its page size.
    pub page_size: u32,
    /// Drawn at random when the archive began: an archive begun again for the same path (on
    /// a new machine, say) is another archive, whose commit ids start over, and a store holding
    /// the first refuses it. Absent from archives begun before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// A fresh value for [`Identity::instance`]: the time and a per-process random key, hashed.
pub fn new_instance() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// `base.json`: a generation's base snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    /// The generation (its directory's name).
    pub generation: String,
    /// The point it is: a commit id like any other.
    pub commit: u64,
    /// When it was taken (ms since the Unix epoch).
    pub at_ms: i64,
    /// Its page size.
    pub page_size: u32,
    /// Pages in it.
    pub pages: u32,
    /// The page hash of the database it holds.
    pub hash: String,
    /// Compressed bytes of `base.db.zst`.
    pub bytes: u64,
    /// SHA-256 of `base.db.zst`.
    pub sha256: String,
    /// Where it stands in the WAL: the segments after it continue from here.
    pub wal: Position,
    /// The schema version it holds, when the engine's history says.
    #[serde(default)]
    pub version: Option<i64>,
}

/// One line of `segments.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The file, in the generation's directory.
    pub file: String,
    /// Its first and last commit ids.
    pub first: u64,
    /// Its last commit id.
    pub last: u64,
    /// Each commit's id and time (ms since the Unix epoch).
    pub points: Vec<(u64, i64)>,
    /// Compressed bytes.
    pub bytes: u64,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Where in the WAL it began (the position before its first frame).
    pub from: Position,
    /// Where in the WAL it ended.
    pub to: Position,
    /// The page hash after its last commit.
    pub hash: String,
    /// Pages after its last commit.
    pub pages: u32,
}

/// One end of a gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// The commit.
    pub commit: u64,
    /// Its time (ms since the Unix epoch).
    pub at_ms: i64,
}

/// A line of `gaps.jsonl`: commits the archive cannot restore one by one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The last point before the hole (none when the archive had no point).
    pub after: Option<Edge>,
    /// The base of the generation that resumed after it.
    pub before: Edge,
    /// Why the WAL could not be followed.
    pub reason: String,
    /// When it was found (RFC 3339).
    pub found_at: String,
}

/// A restorable point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Point {
    /// Its commit id.
    pub id: u64,
    /// Its time (ms since the Unix epoch).
    pub at_ms: i64,
}

/// A generation as read.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Its directory.
    pub dir: PathBuf,
    /// Its base.
    pub base: Base,
    /// Its segments, in order (a line that cannot be read ends the list; see `torn`).
    pub segments: Vec<Entry>,
    /// Lines of the index that could not be read (a crash mid-append leaves one at the end).
    pub torn: usize,
}

impl Generation {
    /// Reads the generation at `gdir`: its `base.json` and `segments.jsonl`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be read; [`Error::BackupCorrupt`] when `base.json` is
    /// not what the archive writes.
    pub fn read(gdir: &Path) -> Result<Self, Error> {
        let base: Base = read_json(&gdir.join("base.json"))?;
        let (segments, torn) = read_lines(&index_path(gdir))?;
        Ok(Self {
            dir: gdir.to_path_buf(),
            base,
            segments,
            torn,
        })
    }

    /// Rewrites the index with only the lines that can be read (a line torn by a crash
    /// mid-append, and whatever follows a damaged line, can never be read again; appending
    /// after them would hide every later line too). The segments they named become files no
    /// index lists.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the index cannot be written (it is then as it was).
    pub fn drop_torn(&mut self) -> Result<(), Error> {
        if self.torn == 0 {
            return Ok(());
        }
        let mut text = String::new();
        for e in &self.segments {
            text.push_str(&serde_json::to_string(e).expect("serialisable"));
            text.push('\n');
        }
        crate::files::durable::write_atomically(&index_path(&self.dir), &text)?;
        tracing::warn!(
            generation = %self.base.generation,
            lines = self.torn,
            "unreadable lines dropped from the archive's index"
        );
        self.torn = 0;
        Ok(())
    }

    /// The last point (the base's when there is no segment).
    pub fn last(&self) -> Point {
        self.segments.last().map_or(
            Point {
                id: self.base.commit,
                at_ms: self.base.at_ms,
            },
            |e| {
                let (id, at_ms) = *e.points.last().expect("a segment has a commit");
                Point { id, at_ms }
            },
        )
    }

    /// Where the WAL stood after the last point.
    pub fn position(&self) -> Position {
        self.segments.last().map_or(self.base.wal, |e| e.to)
    }

    /// Every point, in order, the base first.
    pub fn points(&self) -> impl Iterator<Item = Point> + '_ {
        std::iter::once(Point {
            id: self.base.commit,
            at_ms: self.base.at_ms,
        })
        .chain(
            self.segments
                .iter()
                .flat_map(|e| e.points.iter().map(|&(id, at_ms)| Point { id, at_ms })),
        )
    }
}

/// The archive's directory, read.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The directory.
    pub dir: PathBuf,
    /// `archive.json`, when there is one.
    pub identity: Option<Identity>,
    /// Generations, oldest first.
    pub generations: Vec<Generation>,
    /// Gaps, oldest first.
    pub gaps: Vec<Gap>,
}

/// A generation's index of segments.
pub fn index_path(gdir: &Path) -> PathBuf {
    gdir.join("segments.jsonl")
}

/// The generation directory for a base at commit `id`.
pub fn generation_name(id: u64) -> String {
    format!("gen-{id:016}")
}

/// Whether `name` is a generation directory's name (`gen-` and 16 digits).
pub fn is_generation_name(name: &str) -> bool {
    name.len() == 20 && name.starts_with("gen-") && name[4..].bytes().all(|b| b.is_ascii_digit())
}

/// `archive.json` in `dir`.
pub fn identity_path(dir: &Path) -> PathBuf {
    dir.join("archive.json")
}

/// `gaps.jsonl` in `dir`.
pub fn gaps_path(dir: &Path) -> PathBuf {
    dir.join("gaps.jsonl")
}

/// The lock an archiver holds.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join("archive.lock")
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| Error::BackupCorrupt {
        path: path.to_path_buf(),
        reason: format!("not readable as the archive wrote it: {e}"),
    })
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(Vec<T>, usize), Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    let mut torn = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(v) if torn == 0 => out.push(v),
            _ => torn += 1,
        }
    }
    Ok((out, torn))
}

impl Catalog {
    /// Reads the archive at `dir` (an absent directory is an empty archive).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be read; [`Error::BackupCorrupt`] when `archive.json`
    /// or a `base.json` is not what the archive writes.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        let identity = match std::fs::symlink_metadata(identity_path(dir)) {
            Ok(_) => Some(read_json(&identity_path(dir))?),
            Err(_) => None,
        };
        let mut names = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(io(dir))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if is_generation_name(&name) && entry.path().join("base.json").exists() {
                        names.push(name);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
        names.sort();
        let mut generations = Vec::new();
        for name in names {
            generations.push(Generation::read(&dir.join(&name))?);
        }
        let (gaps, _) = read_lines(&gaps_path(dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            identity,
            generations,
            gaps,
        })
    }

    /// The newest point of the archive.
    pub fn last(&self) -> Option<Point> {
        self.generations.last().map(Generation::last)
    }

    /// The next commit id to give.
    pub fn next_id(&self) -> u64 {
        self.last().map_or(1, |p| p.id + 1)
    }

    /// The generation holding point `id`, and the point.
    pub fn find(&self, id: u64) -> Option<(&Generation, Point)> {
        let g = self
            .generations
            .iter()
            .rev()
            .find(|g| g.base.commit <= id)?;
        let p = g.points().find(|p| p.id == id)?;
        Some((g, p))
    }

    /// The last point at or before `at_ms`, or the gap that holds that moment.
    pub fn at_time(&self, at_ms: i64) -> Result<Point, Located<'_>> {
        let mut best: Option<Point> = None;
        for g in &self.generations {
            for p in g.points() {
                if p.at_ms <= at_ms {
                    best = Some(p);
                }
            }
        }
        let Some(best) = best else {
            return Err(Located::Before);
        };
        // A moment after a gap's last point and before the next generation's base falls in
        // commits the archive never saw.
        for gap in &self.gaps {
            let after = gap.after.as_ref().map_or(i64::MIN, |e| e.at_ms);
            if at_ms > after && at_ms < gap.before.at_ms {
                return Err(Located::InGap(gap));
            }
        }
        Ok(best)
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 time (`2026-12-06T09:30:00Z`, or with an
/// offset: `2026-12-06T10:30:00+01:00`).
///
/// # Errors
///
/// What is wrong with `text`, in a sentence.
pub fn parse_time(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!("`{text}` is not an RFC 3339 time with its offset, such as 2026-12-06T09:30:00Z or 2026-12-06T10:30:00+01:00 ({e})")
        })
}

/// Why a moment has no point.
#[derive(Debug)]
pub enum Located<'a> {
    /// The archive begins later.
    Before,
    /// The moment falls in this gap.
    InGap(&'a Gap),
}
