//! Integrity checks: SQLite's b-tree checks (quick or full, whole or table by table) and
//! foreign keys, with every message parsed into a structured [`Finding`] mapped to its table,
//! and a [`Verdict`] of three: ok, damaged, or could not check and why.
//!
//! ```no_run
//! use belay_guard::integrity::{self, Depth, Options};
//!
//! let report = integrity::check("app.db".as_ref(), &Options::new(Depth::Quick))?;
//! for finding in &report.findings {
//!     println!("{finding}");
//! }
//! # Ok::<(), belay_guard::Error>(())
//! ```

mod check;
mod finding;
mod objects;
mod parallel;
mod pragma;
pub(crate) mod report;
mod stepwise;

/// The foreign-key violations of the whole database, as the run's check before COMMIT finds
/// them (read only).
pub use crate::foreign_keys::violations as foreign_key_violations;
pub use crate::vocab::verdict::{Obstacle, Verdict};
pub use check::{ForeignKeys, Options, available_workers, check};
pub use finding::{Finding, FindingKind};
pub use pragma::{Answer, btree_check};
pub use report::{Depth, Report};
pub use stepwise::{Stage, Step, Stepper};

/// What stopped a check that gave no verdict, as an error naming the database: its obstacle,
/// the first thing SQLite said, and what would clear it.
pub fn unavailable(db: &std::path::Path, report: &Report) -> crate::Error {
    let first = report.findings.iter().find(|f| f.obstacle.is_some());
    let obstacle = report.obstacle.unwrap_or(Obstacle::Unknown);
    crate::Error::Unavailable {
        path: db.to_path_buf(),
        obstacle,
        reason: format!(
            "{}; {}",
            first.map_or("the check stopped", |f| f.message.as_str()),
            obstacle.explain()
        ),
    }
}
