static MIGRATIONS: migrate_core::Migrations = migrate_macros::embed_migrations!("tests/fixtures/down_without_up");

fn main() {
    let _ = &MIGRATIONS;
}
