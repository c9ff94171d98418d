//! For `build.rs`: makes cargo rebuild the crate when a migration file is added to or removed
//! from a directory embedded with `belay_macros::embed_migrations!`.
//!
//! A procedural macro cannot ask cargo to watch a directory on stable Rust; it can only make it
//! watch the files it reads (`embed_migrations!` does, so edits rebuild without this). New files
//! are what needs a build script:
//!
//! ```text
//! // build.rs
//! fn main() {
//!     belay_build::watch("migrations");
//! }
//! ```
//!
//! This crate has no dependencies, so it adds nothing to build times.
#![warn(missing_docs)]

use std::path::Path;

/// Prints `cargo::rerun-if-changed=<dir>`: cargo then rebuilds when the directory's
/// modification time changes, which adding, removing or renaming a file does.
pub fn watch(dir: impl AsRef<Path>) {
    println!("{}", directive(dir.as_ref()));
}

fn directive(dir: &Path) -> String {
    format!("cargo::rerun-if-changed={}", dir.display())
}

#[cfg(test)]
mod tests {
    #[test]
    fn prints_the_rerun_directive() {
        assert_eq!(
            super::directive("migrations".as_ref()),
            "cargo::rerun-if-changed=migrations"
        );
    }
}
