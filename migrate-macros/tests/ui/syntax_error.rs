static MIGRATIONS: migrate_core::Migrations = migrate_macros::embed_migrations!("tests/fixtures/syntax_error");

fn main() {
    let _ = &MIGRATIONS;
}
