//! `diesel-oracle <migrations dir> <database>`: applies the directory with diesel's own
//! harness and prints each version diesel ran, in its order, one per line; on failure, diesel's
//! error on stderr and exit 1.

use diesel::Connection;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, db] = args.as_slice() else {
        eprintln!("usage: diesel-oracle <migrations dir> <database>");
        std::process::exit(2);
    };
    let outcome = (|| -> Result<Vec<String>, String> {
        let migrations = FileBasedMigrations::from_path(dir).map_err(|e| e.to_string())?;
        let mut conn = SqliteConnection::establish(db).map_err(|e| e.to_string())?;
        let ran = conn
            .run_pending_migrations(migrations)
            .map_err(|e| e.to_string())?;
        Ok(ran.iter().map(ToString::to_string).collect())
    })();
    match outcome {
        Ok(versions) => {
            for v in versions {
                println!("{v}");
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
