//! The entry point: a [`Migrator`] runs a set of migrations against a database.
//!
//! ```no_run
//! use belay_migrate::{Migrator, source};
//!
//! let migrator = Migrator::new(source::read_dir("migrations")?);
//! let report = migrator.up("app.db")?;
//! println!("now at version {:?}", report.to_version);
//! # Ok::<(), belay_migrate::Error>(())
//! ```
//!
//! A run: read the state and plan without the lock (the common "nothing pending" case ends
//! here, writing nothing); otherwise take the lock, read and plan again (another process may
//! have migrated meanwhile), and apply, recording the attempt and the new schema fingerprint
//! inside the run's own transactions.

mod adoption;
pub(crate) mod drift;
mod rehearse;
pub(crate) mod tenants;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::planning::plan::{self, Allow, Direction, Plan, Request};
use crate::planning::status::{self, Status};
use crate::read::migration::Version;
use crate::read::set::Migrations;
use crate::record::attempt::Attempt;
use crate::record::history::{self, DownScripts};
use crate::record::state::DbState;
use crate::run::apply::TransactionScope;
use crate::run::log;
use crate::run::place::Place;
use crate::run::procedure::{self as run, Config, Rotation};
use crate::run::safety::{self, Backups};
use crate::vocab::command::Command;
use crate::vocab::error::Error;
use crate::vocab::error::SqliteContext;
use crate::vocab::report::{DatabaseState, RunReport};
use belay_guard::database::db;
use belay_guard::database::fence::WriteLock;
use belay_guard::database::lock::{self, MigrationLock};
use belay_guard::integrity::Depth;

// Each setter twice: `name(&mut self, …) -> &mut Self` for a migrator held in a variable
// (`migrator.lock_timeout(d);`), and `with_name(self, …) -> Self` to configure in one
// expression (`let m = Migrator::new(set).with_lock_timeout(d);`).
macro_rules! by_value {
    ($($with:ident => $set:ident($arg:ident: $ty:ty);)*) => {$(
        #[doc = concat!("[`Migrator::", stringify!($set), "`], by value, for one expression.")]
        #[must_use]
        pub fn $with(mut self, $arg: $ty) -> Self {
            self.$set($arg);
            self
        }
    )*};
}

/// Runs migrations against database files.
///
/// Configured either way Rust builders are:
///
/// ```
/// use std::time::Duration;
/// use belay_migrate::{Migrations, Migrator, TransactionScope};
///
/// // In one expression, by value:
/// let set = Migrations::new(vec![])?;
/// let migrator = Migrator::new(set.clone())
///     .with_lock_timeout(Duration::from_secs(5))
///     .with_transaction_scope(TransactionScope::PerMigration);
/// # let _ = migrator;
/// // Or held in a variable, by reference:
/// let mut migrator = Migrator::new(set);
/// migrator.lock_timeout(Duration::from_secs(5));
/// if std::env::var_os("PER_MIGRATION").is_some() {
///     migrator.transaction_scope(TransactionScope::PerMigration);
/// }
/// # Ok::<(), belay_migrate::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Migrator {
    pub(crate) migrations: Migrations,
    pub(crate) config: Config,
}

impl Migrator {
    /// A migrator for `migrations`, with the default configuration.
    pub fn new(migrations: Migrations) -> Self {
        Self {
            migrations,
            config: Config {
                lock_timeout: lock::DEFAULT_TIMEOUT,
                scope: TransactionScope::Run,
                allow: Allow::default(),
                backups: Backups::Take,
                backup_dir: None,
                archive_dir: None,
                backup_min_ratio: Some(belay_guard::backup::DEFAULT_MIN_RATIO),
                verification: Depth::Quick,
                write_lock: WriteLock::PerUnit,
                rotation: Rotation::default(),
                setup: crate::run::connect::Setup::default(),
                progress: None,
                budgets: crate::run::apply::Budgets::default(),
                database: belay_guard::database::settings::Settings::default(),
            },
        }
    }

    by_value! {
        with_extension => extension(path: impl Into<PathBuf>);
        with_connection_hook => on_connection(hook: impl Fn(&Connection) -> rusqlite::Result<()> + Send + Sync + 'static);
        with_progress => on_progress(observer: impl Fn(&crate::vocab::progress::Progress) + Send + Sync + 'static);
        with_lock_timeout => lock_timeout(timeout: Duration);
        with_transaction_scope => transaction_scope(scope: TransactionScope);
        with_backups => backups(backups: Backups);
        with_backup_dir => backup_dir(dir: impl Into<PathBuf>);
        with_archive_dir => archive_dir(dir: impl Into<PathBuf>);
        with_backup_min_ratio => backup_min_ratio(ratio: Option<f64>);
        with_verification => verification(depth: Depth);
        with_write_lock => write_lock(lock: WriteLock);
        with_rotation => rotation(rotation: Rotation);
        with_allow => allow(allow: Allow);
        with_check_timeout => check_timeout(limit: Option<Duration>);
        with_migration_timeout => migration_timeout(limit: Option<Duration>);
        with_database_settings => database_settings(settings: belay_guard::database::settings::Settings);
    }

    /// How long each migration's verify queries, and each transaction's checks before its
    /// COMMIT (foreign keys and integrity), may run before they are interrupted and the run
    /// fails (rolled back); `None` for no limit. By default, ten minutes
    /// ([`crate::run::apply::DEFAULT_CHECK_TIMEOUT`]): a query that never ends must not hold the migration
    /// lock and a write transaction until someone kills the process.
    pub fn check_timeout(&mut self, limit: Option<Duration>) -> &mut Self {
        self.config.budgets.checks = limit;
        self
    }

    /// How long each migration's own script may run before it is interrupted and the run fails
    /// (rolled back, or, for a file that commits on its own, under the safety net's rules);
    /// `None` for no limit. By default, no limit.
    pub fn migration_timeout(&mut self, limit: Option<Duration>) -> &mut Self {
        self.config.budgets.migrations = limit;
        self
    }

    /// `[database]` settings: `journal_mode` is set under the migration lock by every `up` and
    /// `down` (with or without pending migrations) when the database has another; the
    /// per-connection settings (`synchronous`, `wal_autocheckpoint`, `journal_size_limit`,
    /// `cache_size`, `mmap_size`) are applied to the connection migrations run on and read back
    /// (a value SQLite did not take is [`Error::SettingNotApplied`], before anything is
    /// written). The run keeps its own busy timeout (the lock timeout) and foreign-key
    /// enforcement (off around its transaction, checked before COMMIT).
    pub fn database_settings(
        &mut self,
        settings: belay_guard::database::settings::Settings,
    ) -> &mut Self {
        self.config.database = settings;
        self
    }

    /// Whether the configured journal mode is not the database's: the run then takes the lock
    /// to set it even with nothing pending.
    fn journal_mode_pending(&self, conn: &Connection) -> Result<bool, Error> {
        match self.config.database.journal_mode {
            None => Ok(false),
            // An in-memory database has no lock to set it under; its mode is its own.
            Some(_) if conn.path().is_none_or(str::is_empty) => Ok(false),
            Some(mode) => Ok(!crate::run::procedure::current_journal_mode(conn)?
                .eq_ignore_ascii_case(mode.as_str())),
        }
    }

    /// Loads the SQLite extension at `path` (a shared library, as `load_extension()` takes it)
    /// into the connection migrations run on, before they run: for migrations that create
    /// virtual tables of an extension (sqlite-vec) or call its functions.
    pub fn extension(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.config.setup.extensions.push(path.into());
        self
    }

    /// Runs `hook` on the connection migrations run on, before they run (after the
    /// extensions): to register the SQL functions, collations or modules the application's
    /// migrations use.
    ///
    /// ```
    /// # let migrations = belay_migrate::Migrations::new(vec![])?;
    /// let mut migrator = belay_migrate::Migrator::new(migrations);
    /// migrator.on_connection(|conn| {
    ///     conn.create_scalar_function("slugify", 1, belay_migrate::rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
    ///         Ok(ctx.get::<String>(0)?.to_lowercase().replace(' ', "-"))
    ///     })
    /// });
    /// # Ok::<(), belay_migrate::Error>(())
    /// ```
    pub fn on_connection(
        &mut self,
        hook: impl Fn(&Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    ) -> &mut Self {
        self.config.setup.hooks.push(std::sync::Arc::new(hook));
        self
    }

    /// Tells `observer` what a run is doing as it does it: waiting for the lock (with the
    /// holder), the pre-flight check and backup, each migration and its statements, the checks
    /// and commit, a restore. For progress bars and logs; it is called on the run's thread, so
    /// it should return quickly.
    pub fn on_progress(
        &mut self,
        observer: impl Fn(&crate::vocab::progress::Progress) + Send + Sync + 'static,
    ) -> &mut Self {
        self.config.progress = Some(crate::vocab::progress::Observer::new(observer));
        self
    }

    /// [`Migrator::on_progress`] with an observer already made (one shared with other work,
    /// such as a restore's).
    pub fn on_progress_observer(
        &mut self,
        observer: crate::vocab::progress::Observer,
    ) -> &mut Self {
        self.config.progress = Some(observer);
        self
    }

    /// How long to wait for the migration lock (and, on connections this crate opens, for
    /// SQLite's own locks). By default, 60 s.
    pub fn lock_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.lock_timeout = timeout;
        self
    }

    /// Whether the run is one transaction or one per migration. By default, one for the run.
    pub fn transaction_scope(&mut self, scope: TransactionScope) -> &mut Self {
        self.config.scope = scope;
        self
    }

    /// Whether a run with work to do first checks the database and backs it up (restoring from
    /// that backup if it fails after committing part of its work). By default, it does.
    pub fn backups(&mut self, backups: Backups) -> &mut Self {
        self.config.backups = backups;
        self
    }

    /// Where pre-run backups go. By default, `<db file>.backups` beside the database.
    pub fn backup_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.config.backup_dir = Some(dir.into());
        self
    }

    /// The point-in-time archive of the database (`belay_guard::archive`): each transaction
    /// of a run records there where the WAL stood just before it, so that `restore
    /// --at-version N` finds the state just before migration N ran. A point that cannot be
    /// recorded is logged, and the run goes on. By default, none is recorded.
    pub fn archive_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.config.archive_dir = Some(dir.into());
        self
    }

    /// When the pre-run backup is stored plain rather than zstd-compressed: when a sample of
    /// its pages, spread over the file, does not shrink `ratio` times (compressing pages that
    /// barely shrink costs more time than writing them). `None` compresses whatever the data.
    /// By default [`belay_guard::backup::DEFAULT_MIN_RATIO`]; the manifest records the sample.
    pub fn backup_min_ratio(&mut self, ratio: Option<f64>) -> &mut Self {
        self.config.backup_min_ratio = ratio;
        self
    }

    /// How thoroughly what the run wrote is checked before each COMMIT (step 6), inside the
    /// transaction: by default `quick_check` of every table the migrations wrote or created,
    /// with its indexes; [`Depth::Full`], `integrity_check` of the whole file. Damage found
    /// fails the run, whose transaction rolls back (a no-transaction file's changes are
    /// already committed: the safety net's restore, with proof, applies).
    pub fn verification(&mut self, depth: Depth) -> &mut Self {
        self.config.verification = depth;
        self
    }

    /// Whether the run holds SQLite's write lock from before its backup to its end, so that
    /// application writers wait (within their busy timeout) instead of committing during the
    /// run. With [`WriteLock::WholeRun`] the run is one transaction: it cannot be combined with
    /// [`TransactionScope::PerMigration`] or run `-- migrate:no-transaction` files. By default,
    /// [`WriteLock::PerUnit`].
    pub fn write_lock(&mut self, lock: WriteLock) -> &mut Self {
        self.config.write_lock = lock;
        self
    }

    /// Which older pre-migrate backups a run that took a backup and succeeded deletes. By
    /// default [`Rotation::default`] (10 most recent, 7 daily, 4 weekly pre-migrate backups are
    /// kept); manual and scheduled backups are never deleted by a run.
    pub fn rotation(&mut self, rotation: Rotation) -> &mut Self {
        self.config.rotation = rotation;
        self
    }

    /// Which validation problems to accept. By default, none.
    pub fn allow(&mut self, allow: Allow) -> &mut Self {
        self.config.allow = allow;
        self
    }

    /// The migrations this migrator runs.
    pub fn migrations(&self) -> &Migrations {
        &self.migrations
    }

    /// Applies every pending migration to the database file at `db`.
    ///
    /// # Errors
    ///
    /// As [`Migrator::run`].
    pub fn up(&self, db: impl AsRef<Path>) -> Result<RunReport, Error> {
        self.run(db, &Request::up())
    }

    /// Carries out `request` on the database file at `db`, opening (or creating) it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTarget`]/[`Error::Irreversible`] for a request that does not fit,
    /// [`Error::Refused`] when validation fails (nothing changed), [`Error::LockTimeout`],
    /// [`Error::RunFailed`] when a migration or its verification failed (its report says
    /// whether the database is unchanged), [`Error::Sqlite`] for anything else.
    pub fn run(&self, db: impl AsRef<Path>, request: &Request) -> Result<RunReport, Error> {
        let db = db.as_ref();
        if !db.exists() {
            // Nothing is created for a request that fails validation or has nothing to do.
            let plan = self.plan_state(&DbState::empty(), request)?;
            if plan.steps.is_empty() {
                return Ok(run::unchanged(plan, Instant::now(), None));
            }
        }
        let conn = db::open(db, self.config.lock_timeout)?;
        self.run_on(&conn, request)
    }

    /// Carries out `request` through a connection the application already holds, so that a
    /// start-up with nothing pending costs no second open (nor a second parse of the schema).
    /// The migration lock is taken beside the connection's file; an in-memory database, which
    /// no other process can reach, takes none. The connection's busy timeout is left as the
    /// caller set it, and foreign-key enforcement is restored after the run.
    ///
    /// # Errors
    ///
    /// As [`Migrator::run`].
    pub fn run_on(&self, conn: &Connection, request: &Request) -> Result<RunReport, Error> {
        let started = Instant::now();
        let db = conn.path().filter(|p| !p.is_empty()).map(Path::new);
        let span = log::run_span(db, request);
        let result = span.in_scope(|| self.carry_out_on(conn, request, started));
        log::finished(&span, &result, started);
        result
    }

    /// [`Migrator::run_on`] inside its span.
    fn carry_out_on(
        &self,
        conn: &Connection,
        request: &Request,
        started: Instant,
    ) -> Result<RunReport, Error> {
        // A marker left behind means an earlier run stopped part-way, maybe leaving changes
        // that validation would take for drift: deal with it first, under the lock, whatever
        // is pending. (One `stat` on the fast path.)
        if !Place::of(conn, None).marked() && !self.journal_mode_pending(conn)? {
            let plan = self.plan_on(conn, request)?;
            if plan.steps.is_empty() {
                return Ok(run::unchanged(plan, started, None));
            }
        }
        // A connection that cannot write is refused before the lock, the pre-flight check and
        // the backup, which would all be for nothing.
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
            return Err(Error::InvalidDatabase {
                path: conn.path().map(PathBuf::from).unwrap_or_default(),
                reason: "the connection was opened read-only: a run could not write it".to_owned(),
            });
        }
        self.config.setup.prepare(conn)?;
        // The run keeps its own busy timeout (the lock timeout) and foreign-key enforcement
        // (off around its transaction, checked before COMMIT).
        belay_guard::database::settings::apply(
            conn,
            &self.config.database,
            belay_guard::database::settings::Scope::LeavingLocksAndKeys,
        )?;
        run::carry_out(
            conn,
            &self.config,
            |conn| self.plan_on(conn, request),
            started,
        )
    }

    /// Accepts edited migration files after review: the recorded checksum of each applied
    /// migration whose file changed (or only `version`'s) becomes the file's, along with its
    /// down script. Under the lock, in one transaction, recorded in `_migrate_attempts` (command
    /// `fix-checksums`) and the audit journal.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] when `version` is given and its file has not changed (or it is
    /// not applied); [`Error::LockTimeout`]; [`Error::Sqlite`].
    pub fn fix_checksums(
        &self,
        db: impl AsRef<Path>,
        version: Option<Version>,
    ) -> Result<Vec<crate::planning::status::Named>, Error> {
        let db = db.as_ref();
        if !db.exists() {
            // Nothing applied, nothing to fix; and nothing created.
            return Ok(Vec::new());
        }
        let conn = db::open(db, self.config.lock_timeout)?;
        let _lock = MigrationLock::acquire(db, self.config.lock_timeout)?;
        let state = self.read_state(&conn, DownScripts::Skip)?;
        let changed: Vec<(Version, String, String)> =
            plan::inspect(&self.migrations, &state.applied, &state.schema)
                .into_iter()
                .filter_map(|p| match p {
                    plan::Problem::Changed {
                        version: v,
                        name,
                        found,
                        ..
                    } if version.is_none_or(|want| want == v) => Some((v, name, found)),
                    _ => None,
                })
                .collect();
        if let (Some(v), true) = (version, changed.is_empty()) {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "migration {v} is not an applied migration whose file changed; nothing to fix"
                ),
            });
        }
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let current = plan::current_version(&state.applied);
        let mut attempt = Attempt::new(
            Command::FixChecksums,
            current,
            changed.iter().map(|(v, ..)| *v).collect(),
        );
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .context("beginning fix-checksums")?;
        for (v, _, found) in &changed {
            let down = self
                .migrations
                .get(*v)
                .and_then(|m| m.down())
                .map(|s| s.sql());
            history::update_checksum(&tx, *v, found, down)?;
        }
        attempt.succeed_in(&tx).context("recording fix-checksums")?;
        tx.commit().context("committing fix-checksums")?;
        let dir = safety::dir(self.config.backup_dir.as_ref(), db);
        // The journal is a record; the fix itself is committed.
        let _ = attempt.audit(&dir, db, &DatabaseState::Unchanged);
        Ok(changed
            .into_iter()
            .map(|(version, name, _)| crate::planning::status::Named {
                version,
                name,
                no_statement: false,
            })
            .collect())
    }

    /// Checks without changing anything: the validation of step 3 (checksums, missing files,
    /// order, schema drift) and a quick integrity check with foreign keys.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] when there is no database; [`Error::Sqlite`].
    pub fn verify(&self, db: impl AsRef<Path>) -> Result<VerifyReport, Error> {
        let db = db.as_ref();
        let status = self.status(db)?;
        if !db.is_file() {
            return Err(Error::NoDatabase {
                path: db.to_path_buf(),
            });
        }
        let integrity = belay_guard::integrity::check(
            db,
            &belay_guard::integrity::Options {
                busy_timeout: self.config.lock_timeout,
                ..belay_guard::integrity::Options::new(Depth::Quick)
            },
        )?;
        Ok(VerifyReport { status, integrity })
    }

    /// What `request` would do now, without changing anything.
    ///
    /// # Errors
    ///
    /// As [`Migrator::run`], except that nothing is locked or applied.
    pub fn plan(&self, db: impl AsRef<Path>, request: &Request) -> Result<Plan, Error> {
        self.settled(db.as_ref())?;
        match db::open_read_only(db.as_ref(), self.config.lock_timeout)? {
            Some(conn) => self.plan_on(&conn, request),
            None => self.plan_state(&DbState::empty(), request),
        }
    }

    fn plan_on(&self, conn: &Connection, request: &Request) -> Result<Plan, Error> {
        // Only reverting needs the recorded down scripts; start-up need not read them.
        let down = match request.direction() {
            Direction::Up => DownScripts::Skip,
            Direction::Down => DownScripts::Load,
        };
        let state = self.read_state(conn, down)?;
        // A database another tool migrated would fail on its first CREATE: say what it is.
        if state.applied.is_empty()
            && request.direction() == Direction::Up
            && let Some(peer) = crate::takeover::detect(conn)?
        {
            return Err(Error::PeerManaged {
                peer,
                table: peer.table(),
            });
        }
        self.plan_state(&state, request)
    }

    /// Lets SQLite finish what a killed process left before the database is read (see
    /// [`belay_guard::database::settle`]); a recovery this process may not run is an error.
    fn settled(&self, db: &Path) -> Result<(), Error> {
        belay_guard::database::settle::readable(
            db,
            self.config.lock_timeout,
            belay_guard::database::settle::Locking::TakeLock,
        )?;
        Ok(())
    }

    /// What the database records, or the damage that stops it being read (see
    /// `safety::damage_behind`).
    pub(crate) fn read_state(
        &self,
        conn: &Connection,
        down: DownScripts,
    ) -> Result<DbState, Error> {
        DbState::read(conn, down)
            .map_err(|e| safety::damage_behind(conn, e, self.config.lock_timeout))
    }

    pub(crate) fn plan_state(&self, state: &DbState, request: &Request) -> Result<Plan, Error> {
        plan::plan(
            &self.migrations,
            &state.applied,
            &state.schema,
            request,
            &self.config.allow,
        )
        .map_err(Error::from)
    }

    /// Where the database stands: applied, pending, changed, missing, drift. Changes nothing
    /// (a database that does not exist yet has everything pending).
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] when the database cannot be read.
    pub fn status(&self, db: impl AsRef<Path>) -> Result<Status, Error> {
        self.settled(db.as_ref())?;
        let (state, peer) = match db::open_read_only(db.as_ref(), self.config.lock_timeout)? {
            Some(conn) => {
                let state = self.read_state(&conn, DownScripts::Skip)?;
                let peer = match state.applied.is_empty() {
                    true => crate::takeover::detect(&conn)?,
                    false => None,
                };
                (state, peer)
            }
            None => (DbState::empty(), None),
        };
        let mut status = status::status(&self.migrations, state.applied, &state.schema);
        status.database_exists = db.as_ref().is_file();
        status.migrated_by = peer.map(|peer| status::MigratedBy {
            peer,
            table: peer.table(),
        });
        Ok(status)
    }
}

/// What [`Migrator::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Where the database stands: changed, missing, out-of-order migrations, drift.
    pub status: Status,
    /// The quick integrity check with foreign keys.
    pub integrity: belay_guard::integrity::Report,
}

impl VerifyReport {
    /// Whether validation would refuse a run.
    pub fn refused(&self) -> bool {
        !self.status.problems.is_empty()
    }
}
