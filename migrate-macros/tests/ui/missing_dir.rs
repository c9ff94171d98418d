static MIGRATIONS: migrate_core::Migrations = migrate_macros::embed_migrations!("tests/fixtures/nope");

fn main() {
    let _ = &MIGRATIONS;
}
