//! `embed_migrations!`: embeds a migrations directory into the binary at compile time.
//!
//! ```ignore
//! static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("migrations");
//!
//! fn main() -> Result<(), belay_migrate::Error> {
//!     belay_migrate::Migrator::new(MIGRATIONS.clone()).up("app.db")?;
//!     Ok(())
//! }
//! ```
//!
//! The directory (relative to the crate's `Cargo.toml`) is read with belay-migrate's own parser,
//! so compile time and run time accept exactly the same files, and checksums are computed at
//! compile time. A malformed set is a compile error naming the file and what is wrong with it.
//! The whole set is also applied to an in-memory SQLite database, verification queries
//! included, and a migration that cannot apply fails the build with its file, line, statement
//! and SQLite's message. `embed_migrations!("migrations", check = false)` skips that step (for
//! migrations that need a database the build cannot reproduce).
//!
//! Every embedded file is also `include_str!`ed, so editing one rebuilds the crate. Adding a
//! file is seen only on the next build of the crate for another reason, because a procedural
//! macro cannot watch a directory on stable Rust: call `belay_build::watch("migrations")`
//! from a one-line `build.rs` for that (see docs/embedding.md).

mod expand;
mod input;

use proc_macro::TokenStream;

/// Embeds a migrations directory; evaluates to a `belay_migrate::Migrations` (usable in a
/// `static`). See the crate documentation.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as input::Input);
    expand::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
