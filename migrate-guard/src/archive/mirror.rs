//! The point-in-time archive off the machine: what the archiver wrote, copied to a remote store
//! under `archive/` of its prefix, and pulled back into a local copy a restore reads.
//!
//! ```text
//! archive/archive.json                          the identity (another database's is refused)
//! archive/gaps/<base commit>.json               one object per gap
//! archive/gen-<id>/base.db.zst, base.json       the base: its file first, then its manifest
//! archive/gen-<id>/<segment file>               each segment ...
//! archive/gen-<id>/index/<first>-<last>.json    ... then its index line: it exists once this does
//! ```
//!
//! Every object is created once (a conditional create: a retry of the same bytes is accepted,
//! other bytes refused) and checked against the hash the archive recorded for it as it is
//! uploaded. Only what the store lacks is pushed: segments past the last commit the store holds
//! of each generation. A compaction merges small segments locally; the store keeps the small
//! ones, and a merged segment reaching past them is pushed whole, so the store may hold two
//! segments covering a commit. [`pull`] follows each generation from its base through the
//! segments that hold the next commit each (the longest when two do), checks every file
//! against its recorded SHA-256, and writes the archive's own layout; a restore then checks
//! each point's page hash and SQLite's verdict as for a local archive.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::catalog::{self, Base, Catalog, Edge, Entry, Gap, Identity, Point};
use super::segment;
use crate::Error;
use crate::files::durable;
use crate::remote::{Put, Remote};

/// The folder of the store's prefix that the archive lives in.
pub const FOLDER: &str = "archive";

/// The longest a failing store waits before the next try.
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(300);

/// The largest identity, base manifest, gap or index line read from a store.
const SMALL_LIMIT: usize = 16 << 20;

fn key(rest: &str) -> String {
    format!("{FOLDER}/{rest}")
}

fn index_key(generation: &str, e: &Entry) -> String {
    key(&format!(
        "{generation}/index/{:016}-{:016}.json",
        e.first, e.last
    ))
}

/// The commit range an index key names, if it is one.
fn index_range(name: &str) -> Option<(u64, u64)> {
    let (first, last) = name.strip_suffix(".json")?.split_once('-')?;
    let digits = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit());
    (digits(first) && digits(last)).then(|| Some((first.parse().ok()?, last.parse().ok()?)))?
}

/// What one [`Shipper::push`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shipped {
    /// Objects created (or found there already, the same bytes).
    pub objects: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Pushes the archive to a store round after round, remembering what the store holds (listed
/// once, then kept up to date by its own pushes).
#[derive(Debug, Default)]
pub struct Shipper {
    known: Option<BTreeSet<String>>,
    /// The last push failed: the next round pushes whatever it did.
    behind: bool,
    /// Pushes failed in a row, and when the next may be tried.
    failures: u32,
    retry_at: Option<std::time::Instant>,
    /// Keys compared with the store's object in this process.
    compared: BTreeSet<String>,
    /// The store holds another archive: every later push is refused with this mismatch (its
    /// store, key, expected and found).
    refused: Option<[String; 4]>,
}

/// What an object already in the store is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// Ours, by its key: a segment's index line, under a base that was compared.
    Trusted,
    /// Ours only if its bytes are: the identity and each base's manifest, which another
    /// database's archive under the same prefix would hold other bytes at.
    Compared,
}

/// Whether an archiver round changed the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It shipped commits, began a generation, found a gap, compacted or removed generations.
    Changed,
    /// Nothing new.
    Unchanged,
}

/// What [`Shipper::follow`] is told of the round it follows.
#[derive(Debug, Clone, Copy)]
pub struct Following<'a> {
    /// Whether the round changed the archive.
    pub change: Change,
    /// When given, the store's generations are pruned at this cutoff ([`prune`]).
    pub cutoff_ms: Option<i64>,
    /// The backup directory, where the outcome is recorded for `health`.
    pub record_in: &'a Path,
}

impl Shipper {
    /// A shipper that lists the store on its first push.
    pub fn new() -> Self {
        Self::default()
    }

    /// After an archiver round: pushes what the store lacks when the round changed the
    /// archive, or when the last push failed or none ran yet; prunes the store when asked; and
    /// records the outcome beside the backups (`backup::offsite`, of the archive) on the first
    /// round, when something was pushed or failed, and when a failure is mended.
    ///
    /// # Errors
    ///
    /// As [`Shipper::push`] and [`prune`]; the archive here is untouched either way.
    pub fn follow(
        &mut self,
        remote: &Remote,
        dir: &Path,
        round: Following<'_>,
    ) -> Result<Shipped, Error> {
        let first = self.known.is_none();
        if round.change == Change::Unchanged && !self.behind && !first {
            return Ok(Shipped::default());
        }
        // While the store fails, tries wait longer and longer (up to five minutes), so that a
        // store that is down does not hold every round for its client's retries.
        if self.behind
            && self
                .retry_at
                .is_some_and(|at| std::time::Instant::now() < at)
        {
            return Ok(Shipped::default());
        }
        let was_behind = self.behind;
        let result = self.push(remote, dir).and_then(|shipped| {
            if let Some(cutoff) = round.cutoff_ms {
                for gone in prune(remote, cutoff)? {
                    let under = key(&format!("{gone}/"));
                    if let Some(known) = self.known.as_mut() {
                        known.retain(|k| !k.starts_with(&under));
                    }
                }
            }
            Ok(shipped)
        });
        self.behind = result.is_err();
        if self.behind {
            self.failures = self.failures.saturating_add(1);
            let wait = std::time::Duration::from_secs(1u64 << self.failures.min(8)).min(RETRY_MAX);
            self.retry_at = Some(std::time::Instant::now() + wait);
        } else {
            (self.failures, self.retry_at) = (0, None);
        }
        let worth = match &result {
            Ok(shipped) => first || was_behind || shipped.objects > 0,
            Err(_) => true,
        };
        if worth {
            let newest = Catalog::read(dir)
                .ok()
                .and_then(|c| c.generations.last().map(|g| g.base.generation.clone()))
                .unwrap_or_default();
            let shipping = crate::backup::offsite::Shipping::of(
                remote,
                crate::backup::offsite::Kind::Archive,
                &newest,
                result.as_ref().err(),
            );
            if let Err(e) = shipping.record(round.record_in) {
                tracing::warn!(error = %e, "the record of the archive's copy off the machine could not be written");
            }
        }
        result
    }

    /// Copies what the store lacks of the archive in `dir` (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`Error::RemoteMismatch`] when the store holds other bytes at one of the archive's keys
    /// (another archive there, or this database's archive begun again); [`Error::BackupCorrupt`]
    /// when a local file is not what the archive recorded for it (nothing is left in the store
    /// for it); [`Error::Remote`] when the store fails; [`Error::Io`] when the archive cannot
    /// be read. What was pushed before the error stays, and the next push goes on from there.
    pub fn push(&mut self, remote: &Remote, dir: &Path) -> Result<Shipped, Error> {
        let span = tracing::info_span!("archive_push", dir = %dir.display());
        let _entered = span.enter();
        // Another archive in the store stays another archive: refused on every push.
        if let Some([url, key, expected, found]) = &self.refused {
            return Err(Error::RemoteMismatch {
                url: url.clone(),
                key: key.clone(),
                expected: expected.clone(),
                found: found.clone(),
            });
        }
        if self.known.is_none() {
            let listed = remote.list_in(FOLDER)?;
            self.known = Some(listed.into_iter().map(|l| l.key).collect());
        }
        let catalog = Catalog::read(dir)?;
        let mut shipped = Shipped::default();
        if let Some(identity) = &catalog.identity {
            self.small(
                remote,
                &key("archive.json"),
                identity,
                &mut shipped,
                Held::Compared,
            )?;
        }
        for gap in &catalog.gaps {
            let k = key(&format!("gaps/{:016}.json", gap.before.commit));
            self.small(remote, &k, gap, &mut shipped, Held::Trusted)?;
        }
        // A generation whose files here are not what the archive recorded stops where it is;
        // the later ones still go (the store's copy then holds a gap), and the first such
        // error is the push's.
        let mut first_error = None;
        for g in &catalog.generations {
            match self.push_generation(remote, g, &mut shipped) {
                Ok(()) => {}
                Err(e @ (Error::BackupCorrupt { .. } | Error::Io { .. })) => {
                    tracing::warn!(generation = %g.base.generation, error = %e, "a generation of the archive stops here in the store");
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        if shipped.objects > 0 {
            tracing::info!(
                objects = shipped.objects,
                bytes = shipped.bytes,
                "archive copied off the machine"
            );
        }
        first_error.map_or(Ok(shipped), Err)
    }

    /// One generation: its base, then its segments past the last commit the store holds.
    fn push_generation(
        &mut self,
        remote: &Remote,
        g: &catalog::Generation,
        shipped: &mut Shipped,
    ) -> Result<(), Error> {
        let name = g.base.generation.clone();
        let base_key = key(&format!("{name}/base.db.zst"));
        if !self.has(&base_key) {
            self.file(
                remote,
                &g.dir.join("base.db.zst"),
                &base_key,
                (&g.base.sha256, g.base.bytes),
                shipped,
            )?;
        }
        self.small(
            remote,
            &key(&format!("{name}/base.json")),
            &g.base,
            shipped,
            Held::Compared,
        )?;
        // The last commit the store holds of this generation: the index lines go in order,
        // each after its segment, so everything before it is there.
        let index_prefix = key(&format!("{name}/index/"));
        let mut held = self
            .known()
            .iter()
            .filter_map(|k| index_range(k.strip_prefix(&index_prefix)?))
            .map(|(_, last)| last)
            .max()
            .unwrap_or(0);
        for e in &g.segments {
            if e.last <= held {
                continue;
            }
            let from = segment::path_in(&g.dir, &e.file).ok_or_else(|| Error::BackupCorrupt {
                path: catalog::index_path(&g.dir),
                reason: format!("names {:?}, which is not a segment of this archive", e.file),
            })?;
            let seg_key = key(&format!("{name}/{}", e.file));
            if !self.has(&seg_key) {
                self.file(remote, &from, &seg_key, (&e.sha256, e.bytes), shipped)?;
            }
            self.small(remote, &index_key(&name, e), e, shipped, Held::Trusted)?;
            held = e.last;
        }
        Ok(())
    }

    fn known(&self) -> &BTreeSet<String> {
        self.known.as_ref().expect("listed first")
    }

    fn has(&self, k: &str) -> bool {
        self.known().contains(k)
    }

    fn remember(&mut self, k: &str, bytes: u64, shipped: &mut Shipped) {
        self.known
            .as_mut()
            .expect("listed first")
            .insert(k.to_owned());
        shipped.objects += 1;
        shipped.bytes += bytes;
    }

    /// A small JSON object, unless the store holds it; one that says whose archive it is
    /// ([`Held::Compared`]) is compared with the store's, once a process.
    fn small(
        &mut self,
        remote: &Remote,
        k: &str,
        value: &impl serde::Serialize,
        shipped: &mut Shipped,
        held: Held,
    ) -> Result<(), Error> {
        let text = serde_json::to_string(value).expect("archive records serialize");
        let there = self.has(k);
        if there && (held == Held::Trusted || self.compared.contains(k)) {
            return Ok(());
        }
        // Created only if absent; there, compared byte for byte.
        match remote.put_bytes(k, text.as_bytes()) {
            Ok(_) => {}
            Err(Error::RemoteMismatch {
                url,
                key,
                expected,
                found,
            }) => {
                self.refused = Some([url.clone(), key.clone(), expected.clone(), found.clone()]);
                return Err(Error::RemoteMismatch {
                    url,
                    key,
                    expected,
                    found,
                });
            }
            Err(e) => return Err(e),
        }
        self.compared.insert(k.to_owned());
        if !there {
            self.remember(k, text.len() as u64, shipped);
        }
        Ok(())
    }

    /// A file, checked against the SHA-256 and size the archive recorded for it.
    fn file(
        &mut self,
        remote: &Remote,
        from: &Path,
        k: &str,
        (sha256, bytes): (&str, u64),
        shipped: &mut Shipped,
    ) -> Result<(), Error> {
        let (put, content) = remote.upload(from, k)?;
        if content.sha256 != sha256 || content.bytes != bytes {
            if put == Put::Created {
                remote.delete(k)?;
            }
            return Err(Error::BackupCorrupt {
                path: from.to_path_buf(),
                reason: format!(
                    "holds {} bytes with SHA-256 {}; the archive recorded {bytes} bytes with SHA-256 {sha256}; not copied off the machine",
                    content.bytes, content.sha256
                ),
            });
        }
        self.remember(k, content.bytes, shipped);
        Ok(())
    }
}

/// What [`pull`] made of the store's archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulled {
    /// Generations written.
    pub generations: usize,
    /// Segments in them.
    pub segments: usize,
    /// Files downloaded (the others were in the copy already, their hashes checked).
    pub downloaded: usize,
    /// Objects not used, with why (an index line that disagrees with its key or the listing, a
    /// file that does not hash as recorded, a generation without its base).
    pub rejected: Vec<String>,
    /// When the store names commits after the copy's newest point that it cannot prove (what
    /// was rejected was in the last generation): that point. A time after it is not in the
    /// copy, and is not to be taken for its newest point.
    pub proven_until: Option<Point>,
}

/// One generation as pulled: its base, where its chain ends, and whether the store named more.
struct Kept {
    base: Base,
    end: Point,
    short: bool,
    segments: usize,
}

/// Writes the store's archive into `to` in the archive's own layout (see the module
/// documentation), reusing the files already there whose hashes are the recorded ones.
/// Generations of `to` the store no longer holds are removed.
///
/// What cannot be proven is never taken for what can: a generation whose chain ends before
/// the commits the store names (a missing or damaged segment, an index line that disagrees)
/// is followed by a gap up to the next generation's base, or, in the last generation, sets
/// [`Pulled::proven_until`].
///
/// # Errors
///
/// [`Error::Remote`] when the store cannot be read; [`Error::Io`] when `to` cannot be
/// written.
pub fn pull(remote: &Remote, to: &Path) -> Result<Pulled, Error> {
    let span = tracing::info_span!("archive_pull", to = %to.display());
    let _entered = span.enter();
    let listed = remote.list_in(FOLDER)?;
    let sizes: BTreeMap<String, u64> = listed
        .into_iter()
        .filter_map(|l| Some((l.key.strip_prefix(&key(""))?.to_owned(), l.bytes)))
        .collect();
    durable::create_dir(to)?;
    let mut pulled = Pulled::default();
    if sizes.contains_key("archive.json") {
        let identity: Identity = read_small(remote, "archive.json")?;
        durable::write_atomically(
            &catalog::identity_path(to),
            &serde_json::to_string(&identity).expect("serializes"),
        )?;
    }
    let mut gaps: Vec<Gap> = Vec::new();
    for name in sizes.keys().filter(|k| k.starts_with("gaps/")) {
        match read_small::<Gap>(remote, name) {
            Ok(gap) => gaps.push(gap),
            Err(Error::BackupCorrupt { reason, .. }) => {
                pulled.rejected.push(format!("{name}: {reason}"));
            }
            Err(e) => return Err(e),
        }
    }
    let generations: BTreeSet<&str> = sizes
        .keys()
        .filter_map(|k| k.split_once('/').map(|(g, _)| g))
        .filter(|g| catalog::is_generation_name(g))
        .collect();
    // Each generation in order; a break in what can be proven becomes a gap.
    let mut before: Option<(Point, bool)> = None;
    for name in &generations {
        let kept = pull_generation(remote, to, name, &sizes, &mut pulled)?;
        // Generations go on in time and in commits: one that does not (another history under
        // this prefix) is not used.
        let kept = match (kept, before) {
            (Some(kept), Some((end, _)))
                if kept.base.commit <= end.id || kept.base.at_ms < end.at_ms =>
            {
                pulled.rejected.push(format!(
                    "{name}: its base (commit {}, {}) does not come after the generation before it (commit {}, {})",
                    kept.base.commit,
                    crate::vocab::clock::format_unix_millis(kept.base.at_ms),
                    end.id,
                    crate::vocab::clock::format_unix_millis(end.at_ms)
                ));
                pulled.generations -= 1;
                pulled.segments -= kept.segments;
                None
            }
            (kept, _) => kept,
        };
        match kept {
            Some(kept) => {
                if let Some((end, true)) = before {
                    gaps.push(unproven(end, &kept.base));
                }
                before = Some((kept.end, kept.short));
            }
            None => {
                let gdir = to.join(name);
                if gdir.exists() {
                    std::fs::remove_dir_all(&gdir).map_err(|source| Error::Io {
                        path: gdir.clone(),
                        source,
                    })?;
                }
                if let Some((end, _)) = before {
                    before = Some((end, true));
                }
            }
        }
    }
    if let Some((end, true)) = before {
        pulled.proven_until = Some(end);
    }
    gaps.sort_by_key(|g| g.before.commit);
    let mut text = String::new();
    for gap in &gaps {
        text.push_str(&serde_json::to_string(gap).expect("serializes"));
        text.push('\n');
    }
    durable::write_atomically(&catalog::gaps_path(to), &text)?;
    // Generations of an earlier pull the store no longer holds (pruned there).
    let entries = std::fs::read_dir(to).map_err(|source| Error::Io {
        path: to.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        if catalog::is_generation_name(&n) && !generations.contains(n.as_str()) {
            std::fs::remove_dir_all(entry.path()).map_err(|source| Error::Io {
                path: entry.path(),
                source,
            })?;
        }
    }
    Ok(pulled)
}

/// The gap between the last point a generation's copy can prove and the next base.
fn unproven(end: Point, next: &Base) -> Gap {
    Gap {
        after: Some(Edge {
            commit: end.id,
            at_ms: end.at_ms,
        }),
        before: Edge {
            commit: next.commit,
            at_ms: next.at_ms,
        },
        reason: "the store's copy of the archive cannot prove these commits (see what the pull rejected)".to_owned(),
        found_at: crate::vocab::clock::now_rfc3339(),
    }
}

/// One generation of the store written into `to`, or `None` when its base cannot be used.
fn pull_generation(
    remote: &Remote,
    to: &Path,
    name: &str,
    sizes: &BTreeMap<String, u64>,
    pulled: &mut Pulled,
) -> Result<Option<Kept>, Error> {
    let gdir = to.join(name);
    let base_json = format!("{name}/base.json");
    let base_file = format!("{name}/base.db.zst");
    let Some(&listed) = sizes.get(&base_file) else {
        pulled
            .rejected
            .push(format!("{name}: its base.db.zst is not in the store"));
        return Ok(None);
    };
    if !sizes.contains_key(&base_json) {
        pulled
            .rejected
            .push(format!("{name}: its base.json is not in the store"));
        return Ok(None);
    }
    let base: Base = match read_small::<Base>(remote, &base_json) {
        Ok(base) if base.generation != name => {
            pulled.rejected.push(format!(
                "{base_json}: names the generation {}",
                base.generation
            ));
            return Ok(None);
        }
        Ok(base) if base.bytes != listed => {
            pulled.rejected.push(format!(
                "{base_json}: says base.db.zst holds {} bytes; the store lists {listed}",
                base.bytes
            ));
            return Ok(None);
        }
        Ok(base) => base,
        Err(Error::BackupCorrupt { reason, .. }) => {
            pulled.rejected.push(format!("{base_json}: {reason}"));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    durable::create_dir(&gdir)?;
    if let Err(why) = fetch_checked(
        remote,
        &base_file,
        &gdir.join("base.db.zst"),
        &base.sha256,
        pulled,
    )? {
        pulled.rejected.push(format!("{base_file}: {why}"));
        return Ok(None);
    }
    let (entries, mut short) = index_lines(remote, (name, base.commit), &gdir, sizes, pulled)?;
    // The chain: from the base, each next segment holds the commit after the one before
    // (commit ids run on within a generation, across the WAL's restarts, which the archiver
    // proved by page hashes), the longest first.
    let mut chain: Vec<Entry> = Vec::new();
    let mut after = base.commit;
    while let Some(next) = entries
        .iter()
        .filter(|e| e.first == after + 1)
        .max_by_key(|e| e.last)
    {
        let seg = format!("{name}/{}", next.file);
        if let Err(why) = fetch_checked(remote, &seg, &gdir.join(&next.file), &next.sha256, pulled)?
        {
            pulled.rejected.push(format!("{seg}: {why}"));
            short = true;
            break;
        }
        after = next.last;
        chain.push(next.clone());
    }
    // The store names commits past the chain's end that nothing proves.
    if !short && entries.iter().any(|e| e.last > after) {
        pulled.rejected.push(format!(
            "{name}: the store holds segments after commit {after}, but none holding commit {}",
            after + 1
        ));
        short = true;
    }
    let mut text = String::new();
    for e in &chain {
        text.push_str(&serde_json::to_string(e).expect("serializes"));
        text.push('\n');
    }
    durable::write_atomically(&catalog::index_path(&gdir), &text)?;
    durable::write_atomically(
        &gdir.join("base.json"),
        &serde_json::to_string(&base).expect("serializes"),
    )?;
    // Files of an earlier pull the chain no longer uses.
    let used: BTreeSet<&str> = chain.iter().map(|e| e.file.as_str()).collect();
    for f in std::fs::read_dir(&gdir)
        .map_err(|source| Error::Io {
            path: gdir.clone(),
            source,
        })?
        .flatten()
    {
        let n = f.file_name().to_string_lossy().into_owned();
        if n.ends_with(".seg") && !used.contains(n.as_str()) {
            std::fs::remove_file(f.path()).map_err(|source| Error::Io {
                path: f.path(),
                source,
            })?;
        }
    }
    let end = chain.last().map_or(
        Point {
            id: base.commit,
            at_ms: base.at_ms,
        },
        |e| {
            let (id, at_ms) = *e.points.last().expect("a segment has a commit");
            Point { id, at_ms }
        },
    );
    pulled.generations += 1;
    pulled.segments += chain.len();
    Ok(Some(Kept {
        base,
        end,
        short,
        segments: chain.len(),
    }))
}

/// Every index line of generation `name` the store holds that agrees with its key and the
/// listing, and whether any did not.
fn index_lines(
    remote: &Remote,
    (name, base_commit): (&str, u64),
    gdir: &Path,
    sizes: &BTreeMap<String, u64>,
    pulled: &mut Pulled,
) -> Result<(Vec<Entry>, bool), Error> {
    let mut entries = Vec::new();
    let mut short = false;
    let index = format!("{name}/index/");
    for k in sizes.keys().filter(|k| k.starts_with(&index)) {
        let Some((first, last)) = index_range(&k[index.len()..]) else {
            pulled
                .rejected
                .push(format!("{k}: not an index name this archive writes"));
            continue;
        };
        let e: Entry = match read_small(remote, k) {
            Ok(e) => e,
            Err(Error::BackupCorrupt { reason, .. }) => {
                pulled.rejected.push(format!("{k}: {reason}"));
                short = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        let seg = format!("{name}/{}", e.file);
        let ids: Vec<u64> = e.points.iter().map(|&(id, _)| id).collect();
        let why = if (e.first, e.last) != (first, last) {
            Some(format!(
                "holds commits {} to {}, not the ones its name says",
                e.first, e.last
            ))
        } else if e.first <= base_commit || e.first > e.last {
            Some(format!(
                "holds commits {} to {}, which do not follow the base's commit {base_commit}",
                e.first, e.last
            ))
        } else if ids.first() != Some(&e.first)
            || ids.last() != Some(&e.last)
            || ids.windows(2).any(|w| w[1] != w[0] + 1)
        {
            Some(format!(
                "lists points that are not the commits {} to {} one by one",
                e.first, e.last
            ))
        } else if segment::path_in(gdir, &e.file).is_none() {
            Some(format!("names {:?}, which is not a segment name", e.file))
        } else {
            match sizes.get(&seg) {
                None => Some(format!("names {seg}, which is not in the store")),
                Some(&listed) if listed != e.bytes => Some(format!(
                    "says {seg} holds {} bytes; the store lists {listed}",
                    e.bytes
                )),
                Some(_) => None,
            }
        };
        match why {
            None => entries.push(e),
            Some(why) => {
                pulled.rejected.push(format!("{k}: {why}"));
                short = true;
            }
        }
    }
    Ok((entries, short))
}

/// Downloads `k` to `path` unless a file with the recorded hash is there; `Err(why)` inside
/// when the object does not hash as recorded (nothing is left at `path`).
fn fetch_checked(
    remote: &Remote,
    k: &str,
    path: &Path,
    sha256: &str,
    pulled: &mut Pulled,
) -> Result<Result<(), String>, Error> {
    if crate::remote::content::file_sha256(path).ok().as_deref() == Some(sha256) {
        return Ok(Ok(()));
    }
    match remote.download(&key(k), path, sha256) {
        Ok(_) => {
            pulled.downloaded += 1;
            Ok(Ok(()))
        }
        Err(e @ Error::RemoteMismatch { .. }) => {
            let _ = std::fs::remove_file(path);
            Ok(Err(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

fn read_small<T: serde::de::DeserializeOwned>(remote: &Remote, name: &str) -> Result<T, Error> {
    let bytes = remote.read_bytes(&key(name), SMALL_LIMIT)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::BackupCorrupt {
        path: PathBuf::from(format!("{}/{}", remote.shown(), key(name))),
        reason: format!("not readable as the archive writes it: {e}"),
    })
}

/// Removes from the store each generation a newer one follows whose base was taken before
/// `cutoff_ms` (so every point of the removed one is older than that), returning their names.
/// The newest generation is always kept. Each goes manifest first, so that a generation half
/// removed reads as absent, never as whole.
///
/// # Errors
///
/// [`Error::Remote`] when the store cannot be listed or refuses a delete.
pub fn prune(remote: &Remote, cutoff_ms: i64) -> Result<Vec<String>, Error> {
    let listed = remote.list_in(FOLDER)?;
    let mut by_generation: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in listed {
        let Some(rest) = l.key.strip_prefix(&key("")) else {
            continue;
        };
        if let Some((g, _)) = rest.split_once('/')
            && catalog::is_generation_name(g)
        {
            by_generation
                .entry(g.to_owned())
                .or_default()
                .push(l.key.clone());
        }
    }
    let names: Vec<String> = by_generation.keys().cloned().collect();
    let mut removed = Vec::new();
    for pair in names.windows(2) {
        // A base that cannot be read proves nothing: nothing at or after it is removed.
        let next: Base = match read_small(remote, &format!("{}/base.json", pair[1])) {
            Ok(base) => base,
            Err(Error::Remote { .. } | Error::BackupCorrupt { .. }) => break,
            Err(e) => return Err(e),
        };
        if next.at_ms >= cutoff_ms {
            break;
        }
        let mut keys = by_generation.remove(&pair[0]).unwrap_or_default();
        let manifest = key(&format!("{}/base.json", pair[0]));
        keys.retain(|k| *k != manifest);
        remote.delete(&manifest)?;
        for k in keys {
            remote.delete(&k)?;
        }
        removed.push(pair[0].clone());
    }
    Ok(removed)
}
