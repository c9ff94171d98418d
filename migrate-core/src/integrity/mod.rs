//! Integrity checks: the file header, SQLite's b-tree checks (quick or full, whole or table by
//! table) and foreign keys, with every message parsed into a structured [`Finding`] mapped to
//! its table.
//!
//! ```no_run
//! use std::time::Duration;
//! use migrate_core::integrity::{self, Depth};
//!
//! let report = integrity::check("app.db".as_ref(), Depth::Quick, &[], Duration::from_secs(5))?;
//! for finding in &report.findings {
//!     println!("{finding}");
//! }
//! # Ok::<(), migrate_core::Error>(())
//! ```

mod check;
mod finding;
pub mod repair;

pub use check::{Depth, Report, check};
pub use finding::{Finding, FindingKind};
