//! The version of a migration.

/// A migration version: an integer (positive, except golang-migrate's and diesel's 0), unique
/// within a set.
pub type Version = i64;

/// A version as messages and reports write it: the number, or `none` before the first
/// migration.
pub fn version_text(version: Option<Version>) -> String {
    version.map_or_else(|| "none".to_owned(), |v| v.to_string())
}
