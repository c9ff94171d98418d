//! SQLite schema migrations with a safety net.
//!
//! A [`Migrator`] applies versioned migrations ([`Migrations`], read by [`source::read_dir`])
//! to a database file: under an exclusive file lock ([`lock`]), after validating that applied
//! migrations are unchanged and the schema did not drift ([`plan`]), all pending migrations in
//! one transaction by default ([`apply`]), each followed by its verification queries, with
//! foreign keys checked before commit. Every run with work to do is recorded ([`history`]).
//!
//! ```no_run
//! use migrate_core::{Migrator, source};
//!
//! let report = Migrator::new(source::read_dir("migrations")?).up("app.db")?;
//! for step in &report.steps {
//!     println!("applied {} {} in {} ms", step.version, step.name, step.duration_ms);
//! }
//! # Ok::<(), migrate_core::Error>(())
//! ```
#![warn(missing_docs)]

mod account;
mod adopt;
mod apply;
mod attempt;
pub mod audit;
pub mod backup;
pub mod checksum;
mod command;
mod connect;
mod direction;
mod directive;
mod drift;
mod error;
mod filename;
pub mod format;
pub mod history;
pub mod integrity;
pub mod marker;
mod migration;
mod migrator;
mod peer;
mod phase;
mod plan;
mod problem;
mod progress;
mod recover;
mod rehearse;
mod report;
mod request;
mod run;
mod safety;
mod schema;
mod schema_diff;
mod script;
mod set;
pub mod source;
mod state;
mod statements;
mod status;
mod takeover;
mod touched;
mod version;

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
/// with it (`migrate_core::rusqlite::Connection`), so that both are the same version.
pub use rusqlite;

pub use adopt::{Adoption, Peer, SchemaCheck};
pub use apply::{DEFAULT_CHECK_TIMEOUT, TransactionScope};
pub use belay_guard::database::fence::WriteLock;
pub use belay_guard::database::writers::Token;
pub use belay_guard::vocab::holder::Holder;
pub use command::Command;
pub use connect::Hook;
pub use direction::Direction;
pub use directive::TransactionMode;
pub use drift::DriftAccepted;
pub use error::Error;
pub use migration::{Migration, Script, Version};
pub use migrator::{Migrator, VerifyReport};
pub use plan::{AppliedMigration, Plan, SchemaState, Step};
pub use problem::{Allow, Problem};
pub use progress::{Observer, Progress};
pub use report::{DatabaseState, Failure, FkViolation, Interrupted, RunReport, StepReport};
pub use request::{DownTarget, Request};
pub use run::Rotation;
pub use safety::Backups;
pub use schema_diff::{Change, Difference};
pub use set::Migrations;
pub use status::MigratedBy;
pub use status::{Named, Status};
pub use version::version_text;
