//! Taking over a database another tool migrated (`adopt`), and the schema check that
//! `baseline` shares: the peer's account of what it applied is matched against the migration
//! files ([`reconcile`](reconcile::reconcile)), the schema is compared with what those
//! migrations make on a scratch database, and only then are they recorded as applied. The
//! peer's table is left in place.

mod ledger;
mod reconcile;

use serde::Serialize;

pub use crate::vocab::peer::Peer;
pub use ledger::detect;
pub(crate) use ledger::{present, read};
pub(crate) use reconcile::reconcile;

use crate::read::migration::Version;
use crate::vocab::report::RunReport;

/// Whether the schema is compared before migrations are recorded as applied without running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaCheck {
    /// Compared; any difference refuses (the default).
    Required,
    /// Not compared (`--force`), after the operator reviewed the differences.
    Waived,
}

/// What `adopt` took over.
#[derive(Debug, Clone, Serialize)]
pub struct Adoption {
    /// The tool that had migrated the database.
    pub peer: Peer,
    /// Where it kept its bookkeeping (left in place).
    pub table: &'static str,
    /// The versions recorded as applied.
    pub versions: Vec<Version>,
    /// The recording, as a run report.
    pub report: RunReport,
}
