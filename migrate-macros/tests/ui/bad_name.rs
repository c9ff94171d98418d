static MIGRATIONS: migrate_core::Migrations = migrate_macros::embed_migrations!("tests/fixtures/bad_name");

fn main() {
    let _ = &MIGRATIONS;
}
