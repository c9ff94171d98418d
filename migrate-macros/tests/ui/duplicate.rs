static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/duplicate");

fn main() {
    let _ = &MIGRATIONS;
}
