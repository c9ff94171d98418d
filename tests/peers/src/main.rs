//! `peer-fixtures sqlx <migrations dir> <database>`: migrates the database with sqlx's own
//! migrator, as an application using `sqlx::migrate!` would at start-up.

use std::path::PathBuf;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tool, dir, db] = args.as_slice() else {
        return Err("usage: peer-fixtures sqlx <migrations dir> <database>".into());
    };
    if tool != "sqlx" {
        return Err(format!("unknown tool {tool}").into());
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await?;
    let migrator = sqlx::migrate::Migrator::new(PathBuf::from(dir)).await?;
    migrator.run(&pool).await?;
    pool.close().await;
    Ok(())
}
