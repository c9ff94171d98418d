static MIGRATIONS: migrate_core::Migrations = migrate_macros::embed_migrations!("tests/fixtures/verify_fails");

fn main() {
    let _ = &MIGRATIONS;
}
