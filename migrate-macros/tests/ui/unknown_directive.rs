static MIGRATIONS: migrate_core::Migrations = migrate_macros::embed_migrations!("tests/fixtures/unknown_directive");

fn main() {
    let _ = &MIGRATIONS;
}
