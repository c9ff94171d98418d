//! Integrity checks: the file header, SQLite's b-tree checks (quick or full, whole or table by
//! table) and foreign keys, with every message parsed into a structured [`Finding`] mapped to
//! its table.
//!
//! ```no_run
//! use migrate_core::integrity::{self, Depth, Options};
//!
//! let report = integrity::check("app.db".as_ref(), &Options::new(Depth::Quick))?;
//! for finding in &report.findings {
//!     println!("{finding}");
//! }
//! # Ok::<(), migrate_core::Error>(())
//! ```

mod check;
mod finding;
mod objects;
mod parallel;
mod pragma;
pub mod repair;
pub(crate) mod report;
mod verdict;

/// The foreign-key violations of the whole database, as the run's check before COMMIT finds
/// them (read only).
pub use crate::foreign_keys::violations as foreign_key_violations;
pub use check::{Options, available_workers, check};
pub use finding::{Finding, FindingKind};
pub(crate) use pragma::{Stop, btree_check, classify, message};
pub use report::{Depth, Report};
pub use verdict::{Obstacle, Verdict};
