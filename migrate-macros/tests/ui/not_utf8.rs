static MIGRATIONS: migrate_core::Migrations = migrate_macros::embed_migrations!("tests/fixtures/not_utf8");

fn main() {
    let _ = &MIGRATIONS;
}
