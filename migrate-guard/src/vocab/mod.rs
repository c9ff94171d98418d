//! The vocabulary every other part uses (and the one error), and that uses nothing of this crate: RFC 3339 times,
//! who holds a lock, identifiers quoted for SQL, bytes as hex, what a check can say and how
//! SQLite's result codes are read into it. Pure, no I/O but the clock and
//! the process's own identity.

pub mod clock;
pub mod degraded;
pub mod error;
pub mod hex;
pub mod holder;
pub mod sql;
pub mod verdict;
