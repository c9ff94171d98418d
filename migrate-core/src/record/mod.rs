//! The record: what the database holds of its migrations (`_migrate_history`, the schema
//! fingerprint, read in one snapshot), every attempt (`_migrate_attempts` and the audit
//! journal's lines), the bookkeeping that rides inside a run's transactions, the run marker
//! left while a run is under way, and the account of what the safety net did by hand. Uses
//! planning, reading, the vocabulary and the safety crate.

pub(crate) mod account;
pub(crate) mod attempt;
pub mod audit;
pub mod history;
pub(crate) mod journal;
pub mod marker;
pub(crate) mod schema;
pub(crate) mod state;
