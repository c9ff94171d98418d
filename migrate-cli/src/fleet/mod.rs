//! Fleets: the same migrations over many databases (one per tenant), each under its own net,
//! with a journal that lets a killed fleet run resume exactly (docs/fleet.md).
//!
//! Pure parts: [`outcome`] (a database's row, the fleet's exit code), [`schedule`] (stages and
//! the error budget), [`summary`]. I/O: [`targets`] (the glob or the list), [`journal`],
//! [`runner`] (the workers), [`tally`] (progress).

pub mod journal;
pub mod outcome;
pub mod runner;
pub mod schedule;
pub mod summary;
pub mod tally;
pub mod targets;
