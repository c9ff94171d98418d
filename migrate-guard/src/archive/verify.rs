//! `archive verify`: every file of the archive read back (each base and segment against its
//! SHA-256, each commit against its page hash, each segment continuing the one before), then
//! the newest point rebuilt and checked by SQLite. Every damaged or missing piece is reported
//! with the range of commits it makes unrestorable.

use std::path::Path;

use serde::Serialize;

use super::archiver::replay_to_failure;
use super::catalog::Catalog;
use super::rebuild;
use crate::Error;

/// Commits the archive cannot restore, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The generation.
    pub generation: String,
    /// The first commit affected.
    pub from: u64,
    /// The last commit affected.
    pub to: u64,
    /// What is wrong.
    pub reason: String,
}

/// What `archive verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Generations read.
    pub generations: usize,
    /// Segments read.
    pub segments: usize,
    /// Points that can be restored.
    pub restorable: u64,
    /// Damage, by range.
    pub problems: Vec<Problem>,
    /// The newest restorable point, rebuilt and checked (`None` when there is none).
    pub newest: Option<u64>,
    /// Whether the newest point's rebuild matched its hash and passed `quick_check`.
    pub newest_ok: bool,
}

impl Verification {
    /// Nothing damaged, and the newest point rebuilt cleanly.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && (self.newest.is_none() || self.newest_ok)
    }
}

/// Verifies the archive at `dir`.
///
/// # Errors
///
/// As [`Catalog::read`]; [`Error::Io`] when the scratch file cannot be written.
#[tracing::instrument(name = "archive_verify", level = "info", skip_all, fields(dir = %dir.display()), err(level = "warn"))]
pub fn verify(dir: &Path) -> Result<Verification, Error> {
    let catalog = Catalog::read(dir)?;
    let mut problems = Vec::new();
    let mut restorable = 0;
    let mut newest = None;
    let mut prev_last: Option<u64> = None;
    for g in &catalog.generations {
        let last = g.last().id;
        if let Some(prev) = prev_last {
            let covered = catalog
                .gaps
                .iter()
                .any(|gap| gap.before.commit == g.base.commit);
            if g.base.commit != prev + 1 && !covered {
                problems.push(Problem {
                    generation: g.base.generation.clone(),
                    from: prev + 1,
                    to: g.base.commit - 1,
                    reason: "commits missing between generations, with no gap recorded".into(),
                });
            }
        }
        prev_last = Some(last);
        let mut good_last = None;
        let (_, failed) = replay_to_failure(g);
        match failed {
            None => good_last = Some(last),
            Some((None, e)) => problems.push(Problem {
                generation: g.base.generation.clone(),
                from: g.base.commit,
                to: last,
                reason: e.to_string(),
            }),
            Some((Some(i), e)) => {
                good_last = Some(if i == 0 {
                    g.base.commit
                } else {
                    g.segments[i - 1].last
                });
                problems.push(Problem {
                    generation: g.base.generation.clone(),
                    from: g.segments[i].first,
                    to: last,
                    reason: e.to_string(),
                });
            }
        }
        for (i, pair) in g.segments.windows(2).enumerate() {
            let (a, b) = (&pair[0], &pair[1]);
            if b.first != a.last + 1 || (b.from != a.to && b.from.frame != 0) {
                problems.push(Problem {
                    generation: g.base.generation.clone(),
                    from: a.last + 1,
                    to: b.last,
                    reason: format!(
                        "segment {} does not continue segment {} (index line {})",
                        b.file,
                        a.file,
                        i + 2
                    ),
                });
            }
        }
        if g.torn > 0 {
            problems.push(Problem {
                generation: g.base.generation.clone(),
                from: last + 1,
                to: last + 1,
                reason: format!("{} line(s) of segments.jsonl cannot be read; commits after {last} listed there are lost", g.torn),
            });
        }
        if let Some(l) = good_last {
            restorable += g.points().take_while(|p| p.id <= l).count() as u64;
            newest = Some(l);
        }
    }
    let mut newest_ok = false;
    if let Some(id) = newest {
        let scratch = dir.join(format!(".verify-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&scratch);
        match rebuild::rebuild(&catalog, id, &scratch, 0o600) {
            Ok(_) => newest_ok = true,
            Err(e) => problems.push(Problem {
                generation: catalog
                    .find(id)
                    .map(|(g, _)| g.base.generation.clone())
                    .unwrap_or_default(),
                from: id,
                to: id,
                reason: e.to_string(),
            }),
        }
        let _ = std::fs::remove_file(&scratch);
    }
    Ok(Verification {
        generations: catalog.generations.len(),
        segments: catalog.generations.iter().map(|g| g.segments.len()).sum(),
        restorable,
        problems,
        newest,
        newest_ok,
    })
}
