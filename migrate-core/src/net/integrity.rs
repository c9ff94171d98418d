//! Integrity checks and the repair ladder: the safety crate's (`belay_guard::integrity`,
//! `belay_guard::repair`), with a repair recorded as an attempt (command `repair`) in the
//! database's `_migrate_attempts` and the audit journal.
//!
//! ```no_run
//! use belay_migrate::integrity::{self, Depth, Options};
//!
//! let report = integrity::check("app.db".as_ref(), &Options::new(Depth::Quick))?;
//! for finding in &report.findings {
//!     println!("{finding}");
//! }
//! # Ok::<(), belay_migrate::Error>(())
//! ```

use std::path::Path;

pub use belay_guard::integrity::*;

use crate::vocab::error::Error;

/// Checks the database at `db`, read-only (see `belay_guard::integrity::check`).
///
/// # Errors
///
/// As `belay_guard::integrity::check`.
pub fn check(db: &Path, options: &Options) -> Result<Report, Error> {
    Ok(belay_guard::integrity::check(db, options)?)
}

/// The repair ladder (`belay_guard::repair`), recorded.
pub mod repair {
    use std::path::Path;

    pub use belay_guard::repair::*;

    use crate::record::account::Account;
    use crate::vocab::command::Command;
    use crate::vocab::error::Error;

    /// Checks the database at `db` and repairs what the check finds (see
    /// `belay_guard::repair::repair`); a repair that changed anything is recorded as an
    /// attempt (command `repair`).
    ///
    /// # Errors
    ///
    /// As `belay_guard::repair::repair`.
    pub fn repair(db: &Path, options: &Options) -> Result<RepairReport, Error> {
        let dir = options
            .backup_dir
            .clone()
            .unwrap_or_else(|| belay_guard::backup::default_dir(db));
        let mut account = Account::new(Command::Repair, &dir, options.busy_timeout);
        Ok(belay_guard::repair::repair(db, options, &mut account)?)
    }
}
