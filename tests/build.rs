// The example app embeds ../migrations: rebuild when a migration file is added.
fn main() {
    belay_build::watch("../migrations");
    // Where the bundled SQLite's headers are (libsqlite3-sys says so to its dependents), so that
    // the extension tests can compile a loadable extension against the very same SQLite.
    if let Ok(dir) = std::env::var("DEP_SQLITE3_INCLUDE") {
        println!("cargo::rustc-env=MIGRATE_TESTS_SQLITE_INCLUDE={dir}");
    }
}
