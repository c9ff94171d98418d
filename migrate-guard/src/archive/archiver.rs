//! The archiver: follows the WAL of one database and ships every committed transaction into the
//! archive, before any checkpoint can copy it away.
//!
//! How no commit is lost while it runs: it always holds a read transaction. A reader keeps
//! every checkpoint from copying frames past its snapshot into the database file, and keeps the
//! WAL from restarting while its snapshot uses the WAL; a reader whose snapshot needed no frame
//! (everything was already copied back) blocks every copy instead, so the WAL can restart only
//! before anything new is written to it. Each round begins a new reader, ships every commit
//! the WAL then holds (at least the new reader's snapshot), and only then ends the old reader:
//! so whenever the WAL restarts under a held reader, everything before the restart was shipped.
//! A WAL found restarted while no reader of this archiver was held (at start, after an error)
//! is followed only if the database then is exactly what the archive says plus the new WAL
//! (the page hashes agree); otherwise the archiver starts a new generation from a base snapshot
//! and records the commits it could not see as a gap.
//!
//! The archiver checkpoints too (past `checkpoint_bytes` of WAL): under a write transaction of
//! its own it ships the WAL to its end, checkpoints, and begins its next reader before letting
//! writers in again, so that the next writer restarts the WAL from its beginning and it stays
//! bounded.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use serde::Serialize;

use super::base;
use super::catalog::{self, Base, Catalog, Edge, Entry, Gap, Generation, Identity, Point};
use super::compact;
use super::pagehash::{PageTable, Undo};
use super::segment::{self, Commit, Record};
use super::walfile::{Header, Position, WalFile};
use crate::Error;
use crate::database::lock::MigrationLock;
use crate::files::durable;
use crate::vocab::clock;
use crate::vocab::error::SqliteContext;

/// How an archiver runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The WAL in use (frames since its last restart) past which the archiver checkpoints.
    /// By default, 4 MiB.
    pub checkpoint_bytes: u64,
    /// How long the archiver's checkpoint waits for the application's writers before leaving
    /// it for the next round. By default, 200 ms.
    pub checkpoint_wait: Duration,
    /// How often the archive begins a new generation from a fresh base snapshot (no gap: the
    /// base is the next point), so that retention can remove whole old generations. `None`:
    /// only when the WAL cannot be followed (or past `snapshot_wal_ratio`). By default, a day.
    pub snapshot_every: Option<Duration>,
    /// A new generation also begins once the WAL shipped since the base exceeds this many
    /// times the database's size (and 64 MiB), so that a restore never replays more than that
    /// after its base, however busy the writers are. By default, 1.
    pub snapshot_wal_ratio: f64,
    /// Segments written after which the generation is compacted ([`super::compact`]). By
    /// default, 32 (a round writes at most one).
    pub compact_after: usize,
    /// The size small segments are merged up to, compressed. By default, 16 MiB.
    pub compact_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            checkpoint_bytes: 4 << 20,
            checkpoint_wait: Duration::from_millis(200),
            snapshot_every: Some(Duration::from_secs(24 * 3600)),
            snapshot_wal_ratio: 1.0,
            compact_after: 32,
            compact_bytes: 16 << 20,
        }
    }
}

/// Whether a round may checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpointing {
    /// Past `checkpoint_bytes`, it does.
    Allowed,
    /// It does not (a migration run holds the migration lock).
    HeldBack,
    /// It does, whatever the WAL's size (the watchman's checkpoint task while archiving).
    Now,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Round {
    /// Commits shipped.
    pub commits: u64,
    /// The newest point of the archive after it.
    pub last: Option<Point>,
    /// A generation begun (a base snapshot taken), by name.
    pub generation: Option<String>,
    /// The gap found, if one was.
    pub gap: Option<Gap>,
    /// Whether the archiver checkpointed.
    pub checkpointed: bool,
    /// Segments merged away by compaction.
    pub compacted: usize,
    /// WAL bytes shipped (frames with their headers). A round that shipped `checkpoint_bytes`
    /// or more is worth following at once, without waiting for the next interval: the
    /// writers are busy and the WAL only restarts once it is shipped.
    pub wal_bytes: u64,
}

impl Round {
    /// Whether the next round should follow at once (see [`Round::wal_bytes`]).
    pub fn busy(&self, options: &Options) -> bool {
        self.wal_bytes >= options.checkpoint_bytes
    }
}

/// Why a generation begins.
enum Cause<'a> {
    /// The WAL could not be followed: the commits since the newest point are a gap.
    Gap(&'a str),
    /// `snapshot_every` passed: the base is the next point, nothing is missed.
    Scheduled,
}

/// An archiver on one database, holding the archive's lock.
pub struct Archiver {
    db: PathBuf,
    dir: PathBuf,
    options: Options,
    _lock: MigrationLock,
    readers: [Connection; 2],
    held: Option<usize>,
    writer: Connection,
    table: PageTable,
    position: Position,
    generation: Option<(PathBuf, String)>,
    last: Option<Point>,
    next_id: u64,
    /// A reader has been held without a break since a round that shipped the WAL to its end.
    in_step: bool,
    /// Why the archive's newest generation could not be followed at start, if it could not.
    broken: Option<String>,
    /// When the current generation's base was taken (ms since the epoch).
    base_at_ms: i64,
    /// Segments written since the last compaction.
    unmerged: usize,
    /// WAL bytes shipped since the current generation's base.
    since_base: u64,
    /// Files merged away, deleted once [`compact::RETIRE_AFTER`] has passed.
    retired: Vec<(Instant, PathBuf)>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn open(db: &Path) -> Result<Connection, Error> {
    let conn = crate::database::db::open(db, Duration::from_secs(5))?;
    // Closing the archiver's connections never checkpoints (nor deletes the WAL): only its
    // own checkpoint, which ships first, copies frames back.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .context("setting up the archiver's connection")?;
    Ok(conn)
}

impl Archiver {
    /// Takes the archive at `dir` for `db` (creating it), refusing a database that is not in
    /// WAL mode and an archive that belongs to another database, and reads where it stands.
    ///
    /// # Errors
    ///
    /// [`Error::LockTimeout`] when another archiver holds it; [`Error::InvalidRequest`] for a
    /// database not in WAL mode or an archive of another database; [`Error::Io`],
    /// [`Error::Sqlite`].
    #[tracing::instrument(name = "archive_start", level = "info", skip_all, fields(db = %db.display(), dir = %dir.display()), err(level = "warn"))]
    pub fn start(db: &Path, dir: &Path, options: Options) -> Result<Self, Error> {
        if crate::database::db::regular_file(db)?.is_none() {
            return Err(Error::NoDatabase {
                path: db.to_path_buf(),
            });
        }
        durable::create_dir(dir)?;
        let lock =
            MigrationLock::acquire_file(catalog::lock_path(dir), Duration::ZERO, &mut |_, _| {})?;
        let writer = open(db)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .context("reading the journal mode")?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "{} is in {mode} journal mode; archiving follows the WAL, so it needs journal_mode = wal ([database] journal_mode in migrate.toml, applied by the next run); nothing was archived",
                    db.display()
                ),
            });
        }
        let page_size: u32 = writer
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .context("reading the page size")?;
        let database = std::fs::canonicalize(db)
            .map_err(|source| Error::Io {
                path: db.to_path_buf(),
                source,
            })?
            .to_string_lossy()
            .into_owned();
        let catalog = Catalog::read(dir)?;
        match &catalog.identity {
            Some(id) if id.database != database => {
                return Err(Error::InvalidRequest {
                    reason: format!(
                        "the archive {} belongs to {}, not {database}; nothing was archived",
                        dir.display(),
                        id.database
                    ),
                });
            }
            Some(_) => {}
            None => {
                let identity = Identity {
                    format: 1,
                    database,
                    page_size,
                    instance: Some(catalog::new_instance()),
                };
                durable::write_atomically(
                    &catalog::identity_path(dir),
                    &serde_json::to_string_pretty(&identity).expect("serialisable"),
                )?;
            }
        }
        let mut archiver = Self {
            db: db.to_path_buf(),
            dir: dir.to_path_buf(),
            options,
            _lock: lock,
            readers: [open(db)?, open(db)?],
            held: None,
            writer,
            table: PageTable::new(page_size),
            position: Position {
                salt: [0, 0],
                frame: 0,
                checksum: [0, 0],
            },
            generation: None,
            last: catalog.last(),
            next_id: catalog.next_id(),
            in_step: false,
            broken: None,
            base_at_ms: 0,
            unmerged: 0,
            since_base: 0,
            retired: Vec::new(),
        };
        let mut generations = catalog.generations;
        if let Some((g, older)) = generations.split_last_mut() {
            // Files of older generations no index lists (merged away before a stop) go too.
            older.iter().for_each(remove_orphans);
            // The archive goes on from the last line it can read: what the WAL still holds
            // after it is shipped again; what it no longer holds becomes a gap.
            g.drop_torn()?;
            let g = &*g;
            let (table, failed) = replay_to_failure(g);
            match failed {
                None => {
                    remove_orphans(g);
                    archiver.table = table;
                    archiver.position = g.position();
                    archiver.generation = Some((g.dir.clone(), g.base.generation.clone()));
                    archiver.base_at_ms = g.base.at_ms;
                    archiver.unmerged = g.segments.len();
                    let frame = 24 + u64::from(g.base.page_size);
                    archiver.since_base = g
                        .segments
                        .iter()
                        .map(|e| u64::from(e.to.frame.saturating_sub(e.from.frame)) * frame)
                        .sum();
                }
                Some((at, e)) => {
                    // The gap begins at the last point that can still be restored.
                    archiver.last = match at {
                        Some(i) if i > 0 => g.segments[i - 1]
                            .points
                            .last()
                            .map(|&(id, at_ms)| Point { id, at_ms }),
                        _ => Some(Point {
                            id: g.base.commit,
                            at_ms: g.base.at_ms,
                        }),
                    };
                    archiver.broken =
                        Some(format!("its newest generation cannot be read back: {e}"));
                }
            }
        }
        Ok(archiver)
    }

    /// The archive's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest point shipped.
    pub fn last(&self) -> Option<Point> {
        self.last
    }

    /// Ships what the WAL holds now, checkpointing when it has grown past the limit.
    ///
    /// # Errors
    ///
    /// As [`Archiver::round_with`].
    pub fn round(&mut self) -> Result<Round, Error> {
        self.round_with(Checkpointing::Allowed)
    }

    /// Ships what the WAL holds now; checkpoints past the limit when `checkpointing` allows
    /// (the watchman holds it back while a migration run holds the migration lock).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] and [`Error::Sqlite`] when a file or the database cannot be read or
    /// written; the archive then holds whole segments only, and the next round begins by
    /// proving where the WAL stands.
    #[tracing::instrument(name = "archive_round", level = "debug", skip_all, fields(db = %self.db.display()), err(level = "warn"))]
    pub fn round_with(&mut self, checkpointing: Checkpointing) -> Result<Round, Error> {
        let mut round = Round::default();
        let result = self.step(&mut round);
        if result.is_err() {
            self.in_step = false;
        }
        result?;
        let used = u64::from(self.position.frame) * (24 + u64::from(self.table.page_size()));
        let due = match checkpointing {
            Checkpointing::Allowed => used >= self.options.checkpoint_bytes,
            Checkpointing::HeldBack => false,
            Checkpointing::Now => true,
        };
        self.scheduled_snapshot(&mut round)?;
        if due {
            round.checkpointed = self.checkpoint(&mut round)?;
        }
        if self.unmerged >= self.options.compact_after.max(2) {
            round.compacted = self.compact()?;
        }
        self.retire();
        round.last = self.last;
        Ok(round)
    }

    /// Begins a new generation once `snapshot_every` has passed since the current one's base
    /// or the WAL shipped since it passed `snapshot_wal_ratio` of the database,
    /// under the reader the round holds (before any checkpoint of the round, so that reader
    /// normally uses the WAL and keeps it from restarting). A WAL restarted while the base
    /// was read leaves it for the next round.
    fn scheduled_snapshot(&mut self, round: &mut Round) -> Result<(), Error> {
        let old = self
            .options
            .snapshot_every
            .is_some_and(|every| now_ms() - self.base_at_ms >= every.as_millis() as i64);
        let database = u64::from(self.table.pages()) * u64::from(self.table.page_size());
        let limit = (database as f64 * self.options.snapshot_wal_ratio).max((64 << 20) as f64);
        let due = old || self.since_base as f64 >= limit;
        if !due || round.generation.is_some() || self.generation.is_none() {
            return Ok(());
        }
        let mut wal = WalFile::open(&self.db)?;
        let header = wal.header()?;
        match self.begin_generation(&mut wal, header.as_ref(), Cause::Scheduled, round) {
            Err(Error::Internal { reason }) => {
                tracing::debug!(reason, "scheduled base snapshot left for the next round");
                Ok(())
            }
            other => other,
        }
    }

    /// Merges the current generation's small segments (see [`compact`]).
    fn compact(&mut self) -> Result<usize, Error> {
        self.unmerged = 0;
        let Some((gdir, _)) = &self.generation else {
            return Ok(0);
        };
        let g = Generation::read(gdir)?;
        let retired = compact::compact(&g, self.options.compact_bytes)?;
        let count = retired.len();
        let now = Instant::now();
        self.retired.extend(retired.into_iter().map(|p| (now, p)));
        Ok(count)
    }

    /// Deletes the files merged away long enough ago.
    fn retire(&mut self) {
        self.retired.retain(|(when, path)| {
            if when.elapsed() < compact::RETIRE_AFTER {
                return true;
            }
            let _ = std::fs::remove_file(path);
            false
        });
    }

    /// Begins a reader on the connection not held, ships, then ends the one held before.
    fn step(&mut self, round: &mut Round) -> Result<(), Error> {
        let next = self.held.map_or(0, |h| 1 - h);
        begin_read(&self.readers[next])?;
        let shipped = self.ship(round);
        if let Err(e) = shipped {
            let _ = self.readers[next].execute_batch("ROLLBACK");
            return Err(e);
        }
        if let Some(old) = self.held.replace(next) {
            let _ = self.readers[old].execute_batch("ROLLBACK");
        }
        self.in_step = true;
        Ok(())
    }

    /// Ships every commit after the archive's position, first proving the WAL continues from
    /// it (or starting a new generation).
    fn ship(&mut self, round: &mut Round) -> Result<(), Error> {
        let mut wal = WalFile::open(&self.db)?;
        let header = wal.header()?;
        if self.generation.is_none() || self.broken.is_some() {
            let reason = self
                .broken
                .take()
                .unwrap_or_else(|| "the archive had no generation".to_owned());
            return self.begin_generation(&mut wal, header.as_ref(), Cause::Gap(&reason), round);
        }
        let Some(h) = header else {
            // No WAL: everything is in the database file. Under a held reader that is the
            // archive's newest state; otherwise the file must show it is.
            if self.in_step || self.continues(&mut wal, None)? {
                return Ok(());
            }
            return self.begin_generation(
                &mut wal,
                None,
                Cause::Gap("the WAL was checkpointed away while no archiver held it"),
                round,
            );
        };
        if wal.still_at(&h, &self.position)? {
            let from = self.position;
            return self.ship_from(&mut wal, &h, from, round);
        }
        if self.in_step && h.salt != self.position.salt {
            // Restarted under a held reader: everything before it was shipped.
            return self.ship_from(&mut wal, &h, h.start(), round);
        }
        if h.salt != self.position.salt && self.continues(&mut wal, Some(&h))? {
            return self.ship_from(&mut wal, &h, h.start(), round);
        }
        let reason = if h.salt == self.position.salt {
            format!(
                "WAL frame {} no longer holds what was archived (the WAL was rewritten)",
                self.position.frame
            )
        } else {
            "the WAL restarted while no archiver held it (a checkpoint ran with the archiver stopped)"
                .to_owned()
        };
        self.begin_generation(&mut wal, Some(&h), Cause::Gap(&reason), round)
    }

    /// Whether the database now is the archive's newest state plus the WAL from its start:
    /// a restart the archiver did not see, that lost nothing.
    fn continues(&mut self, wal: &mut WalFile, header: Option<&Header>) -> Result<bool, Error> {
        let scratch = self.dir.join(format!(".probe-{}.tmp", std::process::id()));
        let taken = base::take(&self.db, wal, header, &scratch)?;
        let mut table = self.table.clone();
        let mut undo = Undo::default();
        let Some(h) = header else {
            return Ok(table.pages() == taken.table.pages() && table.hash() == taken.table.hash());
        };
        let mut at = h.start();
        while at.frame < taken.wal.frame {
            let Some(frame) = wal.next(h, &at)? else {
                return Ok(false);
            };
            table.set(frame.pgno, &frame.page, &mut undo);
            if frame.commit_size != 0 {
                table.resize(frame.commit_size, &mut undo);
            }
            at = Position {
                salt: h.salt,
                frame: frame.index,
                checksum: frame.checksum,
            };
        }
        Ok(table.pages() == taken.table.pages() && table.hash() == taken.table.hash())
    }

    /// Ships the commits of the WAL after `from` as one segment.
    fn ship_from(
        &mut self,
        wal: &mut WalFile,
        h: &Header,
        from: Position,
        round: &mut Round,
    ) -> Result<(), Error> {
        let end = wal.last_commit(h, &from)?;
        if end.frame == from.frame {
            self.position = from;
            return Ok(());
        }
        let at_ms = now_ms();
        let (gdir, _) = self.generation.clone().expect("a generation");
        let first = self.next_id;
        let name = segment::file_name(first);
        let path = gdir.join(&name);
        let mut writer = segment::Writer::create(&path, h.page_size, h.salt)?;
        let mut undo = Undo::default();
        let mut points = Vec::new();
        let mut at = from;
        let written: Result<(), Error> = (|| {
            while at.frame < end.frame {
                let frame = wal.next(h, &at)?.ok_or_else(|| Error::Internal {
                    reason: format!("WAL frame {} changed while it was archived", at.frame + 1),
                })?;
                self.table.set(frame.pgno, &frame.page, &mut undo);
                writer.frame(frame.pgno, &frame.page)?;
                at = Position {
                    salt: h.salt,
                    frame: frame.index,
                    checksum: frame.checksum,
                };
                if frame.commit_size != 0 {
                    self.table.resize(frame.commit_size, &mut undo);
                    let id = first + points.len() as u64;
                    writer.commit(&Commit {
                        id,
                        at_ms,
                        pages: frame.commit_size,
                        wal_frame: frame.index,
                        checksum: frame.checksum,
                        hash: self.table.hash(),
                    })?;
                    points.push((id, at_ms));
                }
            }
            Ok(())
        })();
        let published = written.and_then(|()| writer.finish(&path));
        let entry = published.and_then(|w| {
            let entry = Entry {
                file: name,
                first,
                last: first + points.len() as u64 - 1,
                points: points.clone(),
                bytes: w.bytes,
                sha256: w.sha256,
                from,
                to: end,
                hash: self.table.hash(),
                pages: self.table.pages(),
            };
            let line = serde_json::to_string(&entry).expect("serialisable") + "\n";
            crate::files::owned::append_synced(&catalog::index_path(&gdir), &line)
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(&path);
                })
                .map(|()| entry)
        });
        match entry {
            Ok(entry) => {
                self.position = end;
                self.next_id = entry.last + 1;
                self.last = Some(Point {
                    id: entry.last,
                    at_ms,
                });
                round.commits += points.len() as u64;
                let shipped = u64::from(end.frame - from.frame) * (24 + u64::from(h.page_size));
                round.wal_bytes += shipped;
                self.since_base += shipped;
                self.unmerged += 1;
                tracing::debug!(commits = points.len(), last = entry.last, "archived");
                Ok(())
            }
            Err(e) => {
                self.table.undo(undo);
                Err(e)
            }
        }
    }

    /// Takes a base snapshot as a new generation, recording the gap before it when the WAL
    /// could not be followed from an archive to continue.
    fn begin_generation(
        &mut self,
        wal: &mut WalFile,
        header: Option<&Header>,
        cause: Cause<'_>,
        round: &mut Round,
    ) -> Result<(), Error> {
        let id = self.next_id;
        let name = catalog::generation_name(id);
        let gdir = self.dir.join(&name);
        let staging = self.dir.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_dir_all(&staging);
        durable::create_dir(&staging)?;
        let taken = base::take(&self.db, wal, header, &staging.join("base.db.zst"))?;
        let at_ms = now_ms();
        let base = Base {
            generation: name.clone(),
            commit: id,
            at_ms,
            page_size: taken.table.page_size(),
            pages: taken.table.pages(),
            hash: taken.table.hash(),
            bytes: taken.bytes,
            sha256: taken.sha256.clone(),
            wal: taken.wal,
            version: None,
        };
        taken.staged.publish(&staging.join("base.db.zst"))?;
        durable::write_atomically(
            &staging.join("base.json"),
            &serde_json::to_string_pretty(&base).expect("serialisable"),
        )?;
        std::fs::rename(&staging, &gdir).map_err(|source| Error::Io {
            path: gdir.clone(),
            source,
        })?;
        durable::sync_dir(&gdir)?;
        let reason = match cause {
            Cause::Gap(reason) => reason,
            Cause::Scheduled => {
                tracing::info!(generation = %name, "scheduled base snapshot");
                ""
            }
        };
        let follows_gap = matches!(cause, Cause::Gap(_));
        let gap = self.last.filter(|_| follows_gap).map(|after| Gap {
            after: Some(Edge {
                commit: after.id,
                at_ms: after.at_ms,
            }),
            before: Edge { commit: id, at_ms },
            reason: reason.to_owned(),
            found_at: clock::now_rfc3339(),
        });
        if let Some(gap) = &gap {
            let line = serde_json::to_string(gap).expect("serialisable") + "\n";
            crate::files::owned::append_synced(&catalog::gaps_path(&self.dir), &line)?;
            tracing::warn!(
                after = gap.after.as_ref().map(|e| e.commit),
                before = id,
                reason,
                "archive gap"
            );
        }
        self.table = taken.table;
        self.position = taken.wal;
        self.generation = Some((gdir, name.clone()));
        self.base_at_ms = at_ms;
        self.unmerged = 0;
        self.since_base = 0;
        self.next_id = id + 1;
        self.last = Some(Point { id, at_ms });
        round.generation = Some(name);
        round.gap = gap;
        Ok(())
    }

    /// Removes the generations whose newest point is older than `keep` (never the newest
    /// generation, which the archive goes on from), returning their names.
    ///
    /// # Errors
    ///
    /// As [`Catalog::read`]; [`Error::Io`] when a generation cannot be removed.
    pub fn prune(&self, keep: Duration) -> Result<Vec<String>, Error> {
        let catalog = Catalog::read(&self.dir)?;
        let cutoff = now_ms() - keep.as_millis().min(i64::MAX as u128) as i64;
        let mut removed = Vec::new();
        let current = self.generation.as_ref().map(|(_, name)| name.as_str());
        let count = catalog.generations.len();
        for g in catalog.generations.iter().take(count.saturating_sub(1)) {
            if g.last().at_ms >= cutoff || Some(g.base.generation.as_str()) == current {
                break;
            }
            // The base goes last: a generation without its base.json is no longer listed.
            let base = g.dir.join("base.json");
            durable::remove(&base, durable::Durability::Synced)?;
            std::fs::remove_dir_all(&g.dir).map_err(|source| Error::Io {
                path: g.dir.clone(),
                source,
            })?;
            removed.push(g.base.generation.clone());
        }
        Ok(removed)
    }

    /// Ships to the WAL's end under a write transaction of its own, checkpoints, and begins
    /// the next reader before writers may go on: `false` when the application's writers kept
    /// the write lock past `checkpoint_wait` (left for a later round).
    fn checkpoint(&mut self, round: &mut Round) -> Result<bool, Error> {
        // First, without blocking writers, copy back what the held reader's snapshot covers
        // (all of it shipped; the reader keeps the WAL from restarting): the write lock below
        // is then held only for what was committed since.
        let _ = self
            .writer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        crate::database::db::set_busy_timeout(&self.writer, self.options.checkpoint_wait);
        if self.writer.execute_batch("BEGIN IMMEDIATE").is_err() {
            return Ok(false);
        }
        let result = (|| {
            let mut wal = WalFile::open(&self.db)?;
            if let Some(h) = wal.header()? {
                if wal.still_at(&h, &self.position)? {
                    let from = self.position;
                    self.ship_from(&mut wal, &h, from, round)?;
                } else {
                    return Ok(false);
                }
            }
            if let Some(old) = self.held.take() {
                let _ = self.readers[old].execute_batch("ROLLBACK");
            }
            let checkpointer = &self.readers[0];
            let _ = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            begin_read(&self.readers[1])?;
            self.held = Some(1);
            Ok(true)
        })();
        let _ = self.writer.execute_batch("ROLLBACK");
        if result.is_err() {
            self.in_step = false;
        }
        result
    }
}

fn begin_read(conn: &Connection) -> Result<(), Error> {
    conn.execute_batch("BEGIN DEFERRED")
        .context("beginning the archiver's read")?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        })
        .context("beginning the archiver's read")
}

/// Reads a generation back: its base and every segment, each checked against its SHA-256 and
/// each commit's page hash against the one recorded.
///
/// # Errors
///
/// [`Error::BackupCorrupt`] naming the file and what disagrees.
pub fn replay(g: &Generation) -> Result<PageTable, Error> {
    let (table, failed) = replay_to_failure(g);
    match failed {
        None => Ok(table),
        Some((_, e)) => Err(e),
    }
}

/// [`replay`] as far as it goes: the table after the last whole segment read, and the index
/// of the segment that failed (`None`: the base) with why.
pub fn replay_to_failure(g: &Generation) -> (PageTable, Option<(Option<usize>, Error)>) {
    let mut table = PageTable::new(g.base.page_size);
    let mut undo = Undo::default();
    let base = super::rebuild::read_base(g, |pgno, page| {
        table.set(pgno, page, &mut undo);
        undo = Undo::default();
        Ok(())
    })
    .and_then(|()| check_hash(&g.dir.join("base.json"), &table, &g.base.hash));
    if let Err(e) = base {
        return (table, Some((None, e)));
    }
    for (i, entry) in g.segments.iter().enumerate() {
        let mut undo = Undo::default();
        let read = segment::path_in(&g.dir, &entry.file)
            .ok_or_else(|| Error::BackupCorrupt {
                path: g.dir.join("segments.jsonl"),
                reason: format!(
                    "names {:?}, which is not a segment of this archive",
                    entry.file
                ),
            })
            .and_then(|path| {
                let mut next = entry.first;
                segment::read(&path, &entry.sha256, |record| {
                    match record {
                        Record::Frame { pgno, page } => table.set(pgno, &page, &mut undo),
                        Record::Commit(c) => {
                            table.resize(c.pages, &mut undo);
                            check_hash(&path, &table, &c.hash)?;
                            if c.id != next {
                                return Err(Error::BackupCorrupt {
                                    path: path.clone(),
                                    reason: format!("holds commit {} where {next} belongs", c.id),
                                });
                            }
                            next += 1;
                        }
                    }
                    Ok(())
                })
                .and_then(|_| {
                    if next == entry.last + 1 {
                        Ok(())
                    } else {
                        Err(Error::BackupCorrupt {
                            path: path.clone(),
                            reason: format!(
                                "ends at commit {}, the index says {}",
                                next.saturating_sub(1),
                                entry.last
                            ),
                        })
                    }
                })
            });
        if let Err(e) = read {
            table.undo(undo);
            return (table, Some((Some(i), e)));
        }
    }
    (table, None)
}

fn check_hash(path: &Path, table: &PageTable, expected: &str) -> Result<(), Error> {
    if table.hash() == expected {
        return Ok(());
    }
    Err(Error::BackupCorrupt {
        path: path.to_path_buf(),
        reason: format!(
            "the pages give hash {}, the archive recorded {expected}",
            table.hash()
        ),
    })
}

/// Removes segment files the index does not list (a round stopped between the two).
fn remove_orphans(g: &Generation) {
    let listed: std::collections::HashSet<&str> =
        g.segments.iter().map(|e| e.file.as_str()).collect();
    let Ok(entries) = std::fs::read_dir(&g.dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if segment::path_in(&g.dir, &name).is_some()
            && !listed.contains(name.as_str())
            && g.torn == 0
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
