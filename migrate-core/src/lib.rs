//! SQLite schema migrations with a safety net.
//!
//! A [`Migrator`] applies versioned migrations ([`Migrations`], read by [`source::read_dir`])
//! to a database file: under an exclusive file lock ([`lock`]), after validating that applied
//! migrations are unchanged and the schema did not drift ([`Plan`]), all pending migrations in
//! one transaction by default, each followed by its verification queries, with foreign keys and
//! integrity checked before commit. Every run with work to do is recorded ([`history`]). The
//! safety net around it (checks, repair, backups) is the `belay_guard` crate ([`guard`]),
//! usable on its own.
//!
//! ```no_run
//! use belay_migrate::{Migrator, source};
//!
//! let report = Migrator::new(source::read_dir("migrations")?).up("app.db")?;
//! for step in &report.steps {
//!     println!("applied {} {} in {} ms", step.version, step.name, step.duration_ms);
//! }
//! # Ok::<(), belay_migrate::Error>(())
//! ```
#![warn(missing_docs)]

// The layers, bottom to top; each uses only those below it (tests/tests/layering.rs).
mod migrator;
mod net;
mod planning;
mod read;
mod record;
mod run;
mod takeover;
mod vocab;

/// The safety components this engine is built on (checks, repair, backups, the lock), usable
/// on their own: `belay_guard`.
pub use belay_guard as guard;
/// The migration lock (the safety crate's): `<db file>.migrate-lock`.
pub use belay_guard::database::lock;
/// Letting SQLite finish what a killed process left, before anything reads the database.
pub use belay_guard::database::settle;
/// Identifiers quoted for SQL, by one helper.
pub use belay_guard::vocab::sql;
/// The rusqlite this crate is built on: open the connection you hand to [`Migrator::run_on`]
/// with it (`belay_migrate::rusqlite::Connection`), so that both are the same version.
pub use rusqlite;

pub use belay_guard::database::fence::WriteLock;
pub use belay_guard::database::writers::Token;
pub use belay_guard::vocab::holder::Holder;
pub use migrator::drift::DriftAccepted;
pub use migrator::tenants::Tenants;
pub use migrator::{Migrator, VerifyReport};
pub use net::{backup, integrity};
pub use planning::plan::{AppliedMigration, Plan, SchemaState, Step};
pub use planning::status::{MigratedBy, Named, Status};
pub use read::directive::TransactionMode;
pub use read::migration::{Migration, Script};
pub use read::set::Migrations;
pub use read::{checksum, format, source};
pub use record::{audit, history, marker};
pub use run::apply::{DEFAULT_CHECK_TIMEOUT, TransactionScope};
pub use run::connect::Hook;
pub use run::procedure::Rotation;
pub use run::safety::Backups;
pub use takeover::{Adoption, Peer, SchemaCheck};
pub use vocab::command::Command;
pub use vocab::direction::Direction;
pub use vocab::error::Error;
pub use vocab::problem::{Allow, Problem};
pub use vocab::progress::{Observer, Progress};
pub use vocab::report::{DatabaseState, Failure, FkViolation, Interrupted, RunReport, StepReport};
pub use vocab::request::{DownTarget, Request};
pub use vocab::schema_diff::{Change, Difference};
pub use vocab::version::{Version, version_text};
