//! The version of a migration.

/// A migration version: an integer (positive, except golang-migrate's and diesel's 0), unique
/// within a set.
pub type Version = i64;
