//! The calls: [`Layer::write`], [`Layer::read`], [`Layer::write_or_queue`], [`Layer::reload`],
//! and what the layer can tell ([`Layer::state`], [`Layer::changes`]). While the layer is
//! read-only, a thread of its own tries a probe write every `probe_every`, replays the queue,
//! and turns it writable again; it ends with the layer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use backon::{BlockingRetryable, ExponentialBuilder, StdSleeper};
use rusqlite::Connection;
use rusqlite::types::Value;

use super::breaker::{Breaker, Change, State};
use super::classify::{Failure, classify};
use super::disk;
use super::options::Options;
use super::queue::{Queue, Replayed, Written};
use super::readers::{ReadGuard, Readers};
use super::record::record;
use crate::Error;
use crate::database::lock::MigrationLock;
use crate::database::{db, settings};
use crate::files::owned;
use crate::vocab::clock::now_rfc3339;
use crate::vocab::degraded::Reason;

/// Bytes a probe writes (and syncs, and removes) beside the database before its probe commit:
/// a disk with less room than this stays read-only, so that a few freed bytes do not turn the
/// layer writable only to fill again at the next commit.
pub const PROBE_BYTES: usize = 256 * 1024;

/// Pages a probe asks room for under the database's `max_page_count`.
const PROBE_PAGES: i64 = 16;

/// An application's connections to one database. Cheap to share: wrap it in an `Arc`.
pub struct Layer {
    inner: Arc<Inner>,
}

struct Inner {
    db: PathBuf,
    options: RwLock<Options>,
    writer: Mutex<Connection>,
    readers: Readers,
    breaker: Mutex<Breaker>,
    disk_checked: Mutex<Option<Instant>>,
    queue: Mutex<Queue>,
    changes: Mutex<Vec<Change>>,
    probing: AtomicBool,
    /// The breaker refuses writes: mirrors it, so that a write asks a lock only then.
    open: AtomicBool,
    /// I/O errors are being counted: mirrors it, so that a success asks a lock only then.
    streak: AtomicBool,
}

/// What one call needs of the options, read once.
#[derive(Clone, Copy)]
struct Timing {
    deadline: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    disk_low: Option<u64>,
}

/// Why one try of a write or read did not finish.
enum Failed {
    Busy,
    Full(String),
    Io(rusqlite::Error),
    Other(rusqlite::Error),
    Refused(Reason),
    /// The layer's own error (a reader that could not be opened or set up).
    Layer(Error),
}

impl From<rusqlite::Error> for Failed {
    fn from(e: rusqlite::Error) -> Self {
        match classify(&e) {
            Failure::Busy => Failed::Busy,
            Failure::Full => Failed::Full(e.to_string()),
            Failure::Io => Failed::Io(e),
            Failure::Other => Failed::Other(e),
        }
    }
}

/// How a write's transaction begins: `BEGIN IMMEDIATE` around the work, or one statement
/// alone, its own transaction (SQLite takes the write lock at its first write; a statement
/// that read first and found another commit since is retried whole, as a busy one is).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Begin {
    Immediate,
    Single,
}

/// Whether a write first asks the breaker (the application's writes) or not (the probe and
/// the replay, which run while it is open).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    Breaker,
    Bypass,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Layer {
    /// Opens the layer over `db` (created if missing): the writer, set up with the settings
    /// and verified; the journal mode, where set and different, changed under the migration
    /// lock (waiting at most `deadline` for it); readers are opened as reads need them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for a bad option; [`Error::SettingNotApplied`] naming a
    /// setting SQLite did not take; [`Error::LockTimeout`] when a run holds the lock;
    /// [`Error::InvalidDatabase`] or [`Error::Sqlite`] when the database cannot be opened.
    pub fn open(db: &Path, options: Options) -> Result<Layer, Error> {
        options.check()?;
        let writer = open_writer(db, &options)?;
        let _span = tracing::info_span!("connection_layer", database = %db.display()).entered();
        tracing::debug!(readers = options.readers, "opened");
        Ok(Layer {
            inner: Arc::new(Inner {
                db: db.to_path_buf(),
                readers: Readers::new(db, options.readers, options.connection_settings()),
                breaker: Mutex::new(Breaker::new(options.io_errors)),
                options: RwLock::new(options),
                writer: Mutex::new(writer),
                disk_checked: Mutex::new(None),
                queue: Mutex::new(Queue::default()),
                changes: Mutex::new(Vec::new()),
                probing: AtomicBool::new(false),
                open: AtomicBool::new(false),
                streak: AtomicBool::new(false),
            }),
        })
    }

    /// The database.
    pub fn path(&self) -> &Path {
        &self.inner.db
    }

    /// Runs `work` in a `BEGIN IMMEDIATE` transaction on the writer and commits it. A busy or
    /// locked database is tried again (the whole of `work`: it must not have effects outside
    /// the transaction) with capped exponential backoff and jitter until the deadline.
    ///
    /// # Errors
    ///
    /// [`Error::Degraded`] at once while the layer is read-only, or when this write found the
    /// disk full (nothing of it was written); [`Error::Busy`] after the deadline;
    /// [`Error::Sqlite`] for `work`'s own error or an I/O error (rolled back, not retried).
    pub fn write<T>(
        &self,
        mut work: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        self.inner.write(Gate::Breaker, Begin::Immediate, &mut work)
    }

    /// Runs one statement with `params` (its own transaction: no `BEGIN`/`COMMIT` around it,
    /// so a little cheaper than [`Layer::write`]), retried, refused and counted as
    /// [`Layer::write`] does: rows changed.
    ///
    /// # Errors
    ///
    /// As [`Layer::write`]; [`Error::Sqlite`] for more than one statement in `sql`.
    pub fn execute(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<usize, Error> {
        self.inner
            .write(Gate::Breaker, Begin::Single, &mut |conn: &Connection| {
                conn.prepare_cached(sql)?.execute(params)
            })
    }

    /// Runs `work` on a reader (`query_only`), waiting at most the deadline for one to be free
    /// and retrying a busy database as writes do. Served while read-only too.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] after the deadline; [`Error::Sqlite`] for `work`'s own error.
    pub fn read<T>(
        &self,
        mut work: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let inner = &self.inner;
        let started = Instant::now();
        let timing = inner.timing();
        let mut attempts = 0;
        let result = inner.retrying(timing, started, &mut attempts, || {
            let reader = inner.readers.get(timing.deadline)?;
            work(&reader).map_err(Failed::from)
        });
        inner.settle(result, started, attempts, "reading")
    }

    /// A reader to use directly (`query_only`), handed back when the guard is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] when none is free within the deadline.
    pub fn reader(&self) -> Result<ReadGuard<'_>, Error> {
        let deadline = self.inner.options().deadline;
        self.inner.readers.get(deadline)
    }

    /// Runs one statement with `values` as [`Layer::write`] does; while the layer is read-only
    /// (or writes queued earlier still wait), queues it instead, when the queue is on and not
    /// full, to be replayed in order on recovery, exactly once. Take the outcomes of replayed
    /// writes with [`Layer::take_replayed`].
    ///
    /// # Errors
    ///
    /// As [`Layer::write`]; [`Error::Degraded`] when read-only with the queue off or full.
    pub fn write_or_queue(&self, sql: &str, values: Vec<Value>) -> Result<Written, Error> {
        let inner = &self.inner;
        loop {
            let limit = inner.options().queue;
            if limit > 0 {
                let mut queue = lock(&inner.queue);
                let refused = inner.breaker(|b| b.refusal().cloned());
                if refused.is_some() || !queue.is_empty() {
                    let waiting = queue.len();
                    let pushed = queue.push(sql, values, limit);
                    drop(queue);
                    // Whatever waits, a prober replays (one is running unless it just ended).
                    inner.ensure_probing();
                    return match pushed {
                        Some(ticket) => Ok(Written::Queued { ticket }),
                        None => Err(Error::Degraded {
                            path: inner.db.clone(),
                            reason: refused.unwrap_or(Reason::Replaying { waiting }),
                        }),
                    };
                }
            }
            let written = inner.write(Gate::Breaker, Begin::Single, &mut |conn: &Connection| {
                conn.prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(&values))
            });
            match written {
                Ok(changes) => return Ok(Written::Done { changes }),
                // Nothing of it was written: looked at again under the queue's lock, it waits
                // (or, when the layer recovered meanwhile, is written).
                Err(Error::Degraded { .. }) if limit > 0 => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes waiting in the queue.
    pub fn queued(&self) -> usize {
        lock(&self.inner.queue).len()
    }

    /// The outcomes of queued writes replayed since last asked, in order.
    pub fn take_replayed(&self) -> Vec<Replayed> {
        lock(&self.inner.queue).take_replayed()
    }

    /// Whether the layer takes writes now.
    pub fn state(&self) -> State {
        self.inner.breaker(|b| b.state().clone())
    }

    /// Every change of state since the layer was opened, oldest first.
    pub fn changes(&self) -> Vec<Change> {
        lock(&self.inner.changes).clone()
    }

    /// The options in force.
    pub fn options(&self) -> Options {
        self.inner.options().clone()
    }

    /// Hands the layer new options: the writer is set up with the new settings at once
    /// (verified), the readers as they are next handed out; the deadline, backoff, disk
    /// threshold, breaker and queue limits hold from the next call. The journal mode is the
    /// database's and changes only under the migration lock, at open.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] naming a bad option or a changed journal mode;
    /// [`Error::SettingNotApplied`] naming a setting SQLite did not take. Either way the old
    /// options stay, on every connection.
    pub fn reload(&self, options: Options) -> Result<(), Error> {
        options.check()?;
        let inner = &self.inner;
        // One reload at a time, and no write while the writer is replaced.
        let mut writer = lock(&inner.writer);
        let old = inner.options().clone();
        if options.settings.journal_mode != old.settings.journal_mode {
            return Err(Error::InvalidRequest {
                reason: "connection layer setting `journal_mode`: it is the database's, changed only under the migration lock when the layer is opened".to_owned(),
            });
        }
        let waiting = lock(&inner.queue).len();
        if waiting > options.queue {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "connection layer setting `queue`: {waiting} queued write(s) still wait, more than {}",
                    options.queue
                ),
            });
        }
        // A new writer set up with the new settings and read back; the old one stays in use
        // unless it is.
        *writer = open_writer(&inner.db, &options)?;
        inner
            .readers
            .reconfigure(options.connection_settings(), options.readers);
        inner.breaker(|b| b.set_threshold(options.io_errors));
        tracing::info!(database = %inner.db.display(), "connection layer settings reloaded");
        *inner
            .options
            .write()
            .unwrap_or_else(PoisonError::into_inner) = options;
        Ok(())
    }
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        match e {
            Error::Busy { .. } => Failed::Busy,
            other => Failed::Layer(other),
        }
    }
}

impl Inner {
    fn options(&self) -> std::sync::RwLockReadGuard<'_, Options> {
        self.options.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn degraded(&self, reason: Reason) -> Error {
        Error::Degraded {
            path: self.db.clone(),
            reason,
        }
    }

    fn timing(&self) -> Timing {
        let o = self.options();
        Timing {
            deadline: o.deadline,
            backoff_min: o.backoff_min,
            backoff_max: o.backoff_max,
            disk_low: o.disk_low,
        }
    }

    /// Runs `f` on the breaker, keeping the flags that mirror it.
    /// Sets the flags that mirror `breaker`.
    fn mirror(&self, breaker: &Breaker) {
        self.open
            .store(breaker.refusal().is_some(), Ordering::Release);
        self.streak
            .store(breaker.io_streak() > 0, Ordering::Release);
    }

    fn breaker<R>(&self, f: impl FnOnce(&mut Breaker) -> R) -> R {
        let mut breaker = lock(&self.breaker);
        let r = f(&mut breaker);
        self.mirror(&breaker);
        r
    }

    /// Runs `f` on the breaker; a change it makes is kept, logged and recorded before the
    /// breaker is let go, so that changes are recorded in the order they happened, and a change
    /// to read-only starts the prober.
    fn transition(self: &Arc<Self>, f: impl FnOnce(&mut Breaker) -> Option<Change>) {
        let mut breaker = lock(&self.breaker);
        let change = f(&mut breaker);
        self.mirror(&breaker);
        if let Some(change) = change {
            let audit = self.options().audit.clone();
            record(&self.db, audit.as_ref(), &change);
            let degraded = matches!(change.state, State::Degraded { .. });
            lock(&self.changes).push(change);
            if degraded {
                self.ensure_probing();
            }
        }
    }

    /// Starts the prober unless one runs.
    fn ensure_probing(self: &Arc<Self>) {
        if self.probing.load(Ordering::Acquire) || self.probing.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("belay-probe".to_owned())
            .spawn(move || probe_until_writable(&weak));
        if let Err(e) = spawned {
            // The next refusal tries again.
            self.probing.store(false, Ordering::SeqCst);
            tracing::error!(error = %e, "the probe thread could not start");
        }
    }

    /// Calls `once` until it does not fail busy, or the deadline passes: capped exponential
    /// backoff with jitter between tries (`backon`). The first try goes straight through.
    fn retrying<T>(
        &self,
        timing: Timing,
        started: Instant,
        attempts: &mut u32,
        mut once: impl FnMut() -> Result<T, Failed>,
    ) -> Result<T, Failed> {
        *attempts = 1;
        match once() {
            Err(Failed::Busy) => {}
            done => return done,
        }
        let backoff = ExponentialBuilder::new()
            .with_min_delay(timing.backoff_min)
            .with_max_delay(timing.backoff_max)
            .with_jitter()
            .without_max_times()
            .with_total_delay(Some(timing.deadline));
        (|| {
            *attempts += 1;
            once()
        })
        .retry(backoff)
        .sleep(StdSleeper)
        .when(|f| matches!(f, Failed::Busy) && started.elapsed() < timing.deadline)
        .call()
    }

    fn write<T>(
        self: &Arc<Self>,
        gate: Gate,
        begin: Begin,
        work: &mut impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let timing = self.timing();
        let mut attempts = 0;
        let result = self.retrying(timing, started, &mut attempts, || {
            if gate == Gate::Breaker {
                self.admit(timing.disk_low)?;
            }
            let writer = lock(&self.writer);
            if gate == Gate::Breaker {
                // Opened while this write waited for the writer.
                self.refuse_if_open()?;
            }
            let done = match begin {
                Begin::Immediate => immediate(&writer, work),
                Begin::Single => single(&writer, work),
            };
            if gate == Gate::Breaker {
                // Told before the writer is let go: no write waiting for it slips past a
                // breaker this one opens.
                self.count(&done);
            }
            done
        });
        self.settle(result, started, attempts, "writing to")
    }

    /// Whether the breaker lets a write through: refused at once while open; the disk looked
    /// at a few times a second when a threshold is set.
    fn admit(self: &Arc<Self>, disk_low: Option<u64>) -> Result<(), Failed> {
        self.refuse_if_open()?;
        let Some(threshold) = disk_low else {
            return Ok(());
        };
        let now = Instant::now();
        {
            let mut last = lock(&self.disk_checked);
            if !disk::due(*last, now) {
                return Ok(());
            }
            *last = Some(now);
        }
        match disk::free_bytes(&self.db) {
            Ok(free) => {
                self.transition(|b| b.on_disk(free, threshold, now_rfc3339()));
                self.refuse_if_open()
            }
            Err(e) => {
                tracing::warn!(database = %self.db.display(), error = %e, "free disk could not be read");
                Ok(())
            }
        }
    }

    /// Refused while the breaker is open (asked through its flag first: no lock unless open);
    /// a prober is made sure of, in case the one that should run could not start.
    fn refuse_if_open(self: &Arc<Self>) -> Result<(), Failed> {
        if !self.open.load(Ordering::Acquire) {
            return Ok(());
        }
        match self.breaker(|b| b.refusal().cloned()) {
            Some(reason) => {
                self.ensure_probing();
                Err(Failed::Refused(reason))
            }
            None => Ok(()),
        }
    }

    /// Tells the breaker what became of a write.
    fn count<T>(self: &Arc<Self>, result: &Result<T, Failed>) {
        match result {
            Ok(_) if self.streak.load(Ordering::Acquire) => self.breaker(Breaker::on_success),
            Err(Failed::Full(detail)) => {
                self.transition(|b| b.on_full(detail.clone(), now_rfc3339()));
            }
            Err(Failed::Io(e)) => self.transition(|b| b.on_io(e.to_string(), now_rfc3339())),
            _ => {}
        }
    }

    fn settle<T>(
        &self,
        result: Result<T, Failed>,
        started: Instant,
        attempts: u32,
        doing: &str,
    ) -> Result<T, Error> {
        match result {
            Ok(v) => Ok(v),
            Err(Failed::Busy) => Err(Error::Busy {
                path: self.db.clone(),
                waited: started.elapsed(),
                attempts,
            }),
            Err(Failed::Full(detail)) => Err(self.degraded(Reason::DiskFull { detail })),
            Err(Failed::Refused(reason)) => Err(self.degraded(reason)),
            Err(Failed::Layer(e)) => Err(e),
            Err(Failed::Io(source) | Failed::Other(source)) => Err(Error::Sqlite {
                context: format!("{doing} {}", self.db.display()),
                source,
            }),
        }
    }

    /// One probe: free disk over the threshold, [`PROBE_BYTES`] written and synced beside the
    /// database, and a commit (the header's `user_version` rewritten with the value it has:
    /// one page, no content changed).
    fn probe(self: &Arc<Self>) -> Result<(), Error> {
        if let Some(threshold) = self.options().disk_low {
            let free = disk::free_bytes(&self.db)?;
            if free < threshold {
                return Err(self.degraded(Reason::DiskLow { free, threshold }));
            }
        }
        let file = db::sibling(&self.db, ".migrate-probe");
        let written = write_probe_file(&file);
        let _ = std::fs::remove_file(&file);
        written?;
        self.write(Gate::Bypass, Begin::Immediate, &mut |conn: &Connection| {
            // A database at its `max_page_count` is full whatever the disk has: room for a
            // few pages (free ones count) is asked of it too.
            let room: i64 = conn.query_row(
                "SELECT m.max_page_count - c.page_count + f.freelist_count \
                 FROM pragma_max_page_count m, pragma_page_count c, pragma_freelist_count f",
                [],
                |r| r.get(0),
            )?;
            if room < PROBE_PAGES {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                    Some(format!(
                        "room for {room} more page(s) under the database's max_page_count"
                    )),
                ));
            }
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            conn.execute_batch(&format!("PRAGMA user_version = {version}"))
        })
    }

    /// Replays the queue in order, then turns the layer writable, unless a replay found it
    /// still unwritable: whether it did.
    fn replay_and_recover(self: &Arc<Self>) -> bool {
        loop {
            let next = lock(&self.queue).front().cloned();
            let Some(waiting) = next else {
                let queue = lock(&self.queue);
                if !queue.is_empty() {
                    continue;
                }
                self.transition(|b| {
                    self.probing.store(false, Ordering::SeqCst);
                    b.recover(now_rfc3339())
                });
                drop(queue);
                return true;
            };
            let result = self.write(Gate::Bypass, Begin::Single, &mut |conn: &Connection| {
                conn.prepare_cached(&waiting.sql)?
                    .execute(rusqlite::params_from_iter(&waiting.values))
            });
            match result {
                Ok(changes) => lock(&self.queue).done(waiting.ticket, Ok(changes)),
                Err(Error::Sqlite { source, .. }) if classify(&source) == Failure::Other => {
                    tracing::warn!(ticket = waiting.ticket, error = %source, "a queued write failed on replay");
                    lock(&self.queue).done(waiting.ticket, Err(source.to_string()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "replay stopped: not writable yet");
                    return false;
                }
            }
        }
    }
}

/// The prober: while the layer lives, every `probe_every`, a probe; on success, the queue
/// replayed and the layer writable.
fn probe_until_writable(weak: &Weak<Inner>) {
    loop {
        let Some(every) = weak.upgrade().map(|inner| inner.options().probe_every) else {
            return;
        };
        std::thread::sleep(every);
        let Some(inner) = weak.upgrade() else {
            return;
        };
        match inner.probe() {
            Ok(()) if inner.replay_and_recover() => return,
            Ok(()) => {}
            Err(e) => {
                tracing::debug!(database = %inner.db.display(), error = %e, "probe failed: still read-only")
            }
        }
    }
}

fn write_probe_file(path: &Path) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = owned::open_file(
        path,
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600),
    )?;
    file.write_all(&[0u8; PROBE_BYTES]).map_err(io)?;
    file.sync_all().map_err(io)
}

/// One try: `BEGIN IMMEDIATE`, `work`, `COMMIT`; rolled back on any error.
fn immediate<T>(
    conn: &Connection,
    work: &mut impl FnMut(&Connection) -> rusqlite::Result<T>,
) -> Result<T, Failed> {
    // A transaction left open by a `work` that panicked.
    rollback(conn);
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let done = work(conn).and_then(|v| {
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(v)
    });
    done.map_err(|e| {
        rollback(conn);
        Failed::from(e)
    })
}

/// One try of one statement in autocommit.
fn single<T>(
    conn: &Connection,
    work: &mut impl FnMut(&Connection) -> rusqlite::Result<T>,
) -> Result<T, Failed> {
    rollback(conn);
    work(conn).map_err(Failed::from)
}

/// Rolls back the transaction `conn` is in, if any.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(error = %e, "ROLLBACK failed");
    }
}

fn open_writer(db: &Path, options: &Options) -> Result<Connection, Error> {
    let writer = db::open(db, Duration::ZERO)?;
    settings::apply(
        &writer,
        &options.connection_settings(),
        settings::Scope::Every,
    )?;
    if let Some(mode) = options.settings.journal_mode {
        let now: String = writer
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|source| Error::Sqlite {
                context: "reading journal_mode".to_owned(),
                source,
            })?;
        if !now.eq_ignore_ascii_case(mode.as_str()) {
            let held = MigrationLock::acquire(db, options.deadline)?;
            settings::apply_journal_mode(&writer, mode, &held)?;
        }
    }
    Ok(writer)
}
