static MIGRATIONS: migrate_core::Migrations = migrate_macros::embed_migrations!("tests/fixtures/duplicate");

fn main() {
    let _ = &MIGRATIONS;
}
