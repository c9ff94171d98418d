static MIGRATIONS: migrate_core::Migrations =
    migrate_macros::embed_migrations!("tests/fixtures/ok", verify = false);

fn main() {
    let _ = &MIGRATIONS;
}
