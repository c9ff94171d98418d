//! Reading, checking and emitting the migrations.

use std::path::PathBuf;

use belay_migrate::{Migration, Migrations, Migrator, Request, Script, TransactionMode, source};
use proc_macro2::TokenStream;
use quote::quote;

use crate::input::{Check, Input};

pub fn expand(input: &Input) -> syn::Result<TokenStream> {
    let span = input.dir.span();
    let fail = |message: String| syn::Error::new(span, message);
    let dir = resolve(&input.dir.value()).map_err(&fail)?;
    let shown = input.dir.value();
    let files =
        source::read_files(&dir).map_err(|e| fail(format!("migrations in \"{shown}\": {e}")))?;
    let watched: Vec<String> = files
        .iter()
        .map(|f| dir.join(&f.name).to_string_lossy().into_owned())
        .collect();
    let set =
        source::assemble(files).map_err(|e| fail(format!("migrations in \"{shown}\": {e}")))?;
    if set.is_empty() {
        return Err(fail(format!(
            "no migrations in \"{shown}\": expected files such as 0001_create_users.up.sql"
        )));
    }
    if input.check == Check::Apply {
        apply_in_memory(&set).map_err(|e| {
            fail(format!(
                "migrations in \"{shown}\" do not apply to an empty database: {e}\n\
                 (use `embed_migrations!(\"{shown}\", check = false)` to skip this check)"
            ))
        })?;
    }
    let migrations = set.iter().map(migration);
    Ok(quote! {{
        // Read here so that editing a migration rebuilds the crate.
        #( const _: &str = include_str!(#watched); )*
        static MIGRATIONS: &[::belay_migrate::Migration] = &[ #(#migrations),* ];
        ::belay_migrate::Migrations::from_static(MIGRATIONS)
    }})
}

/// The directory, relative to the calling crate's manifest. Tests of this macro set
/// `MIGRATE_MACROS_MANIFEST_DIR`, because trybuild compiles them from a generated crate.
fn resolve(dir: &str) -> Result<PathBuf, String> {
    let base = std::env::var_os("MIGRATE_MACROS_MANIFEST_DIR")
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR"))
        .map(PathBuf::from)
        .ok_or("CARGO_MANIFEST_DIR is not set; embed_migrations! must be built by cargo")?;
    let path = base.join(dir);
    if !path.is_dir() {
        return Err(format!(
            "migrations directory \"{dir}\" not found (looked in {})",
            path.display()
        ));
    }
    Ok(path)
}

/// Applies the set to a scratch in-memory database; what failed, in words.
fn apply_in_memory(set: &Migrations) -> Result<(), String> {
    let conn = rusqlite::Connection::open_in_memory()
        .map_err(|e| format!("opening an in-memory database: {e}"))?;
    match Migrator::new(set.clone()).run_on(&conn, &Request::up()) {
        Ok(_) => Ok(()),
        // The scratch database's state after a failure says nothing to the reader.
        Err(belay_migrate::Error::RunFailed { failure, .. }) => Err(failure.to_string()),
        Err(other) => Err(other.to_string()),
    }
}

fn migration(m: &Migration) -> TokenStream {
    let version = m.version();
    let name = m.name();
    let checksum = m.checksum();
    let up = script(m.up());
    let down = optional(m.down());
    let verify = optional(m.verify());
    quote! {
        ::belay_migrate::Migration::from_static(#version, #name, #checksum, #up, #down, #verify)
    }
}

fn optional(s: Option<&Script>) -> TokenStream {
    match s {
        Some(s) => {
            let s = script(s);
            quote!(::core::option::Option::Some(#s))
        }
        None => quote!(::core::option::Option::None),
    }
}

fn script(s: &Script) -> TokenStream {
    let origin = s.origin();
    let sql = s.sql();
    let mode = match s.transaction() {
        TransactionMode::Transactional => quote!(Transactional),
        TransactionMode::NoTransaction => quote!(NoTransaction),
        TransactionMode::OwnTransaction => quote!(OwnTransaction),
    };
    quote! {
        ::belay_migrate::Script::from_static(#origin, #sql, ::belay_migrate::TransactionMode::#mode)
    }
}
