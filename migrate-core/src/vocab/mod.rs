//! The vocabulary: versions, directions, what an attempt was asked to do and where a run was,
//! the peers whose bookkeeping is read, what refuses a run, what a run is asked and what it
//! reports, two schemas' differences, progress events, and the one error. Data, no I/O; uses
//! nothing of this crate above it (the safety crate's vocabulary only).

pub(crate) mod command;
pub(crate) mod direction;
pub(crate) mod error;
pub(crate) mod peer;
pub(crate) mod phase;
pub(crate) mod problem;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod request;
pub(crate) mod schema_diff;
pub(crate) mod version;
