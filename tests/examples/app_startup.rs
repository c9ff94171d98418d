//! An application that migrates its database when it starts. The migrations are embedded in
//! the binary and checked at compile time; one call applies whatever is pending, under the
//! migration lock, so any number of instances can start at once.
//!
//! ```text
//! cargo run -p migrate-tests --example app_startup -- app.db
//! ```

use std::process::ExitCode;

use belay_migrate::{DatabaseState, Migrations, Migrator};

static MIGRATIONS: Migrations = belay_macros::embed_migrations!("../migrations");

fn main() -> ExitCode {
    let db = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "app.db".to_owned());
    match Migrator::new(MIGRATIONS.clone()).up(&db) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::json!({ "applied": report.steps.len(), "version": report.to_version })
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("not starting: {error}");
            match error.database_state() {
                DatabaseState::Unchanged => {
                    eprintln!("the database is still at its previous version")
                }
                state => eprintln!("{state}"),
            }
            ExitCode::FAILURE
        }
    }
}
