//! The safety net as the engine offers it: the safety crate's backups and integrity checks
//! under this crate's paths and error, with what they do by hand recorded as attempts. Uses the
//! record, the run's pre-flight, and the safety crate.

pub mod backup;
pub mod integrity;
