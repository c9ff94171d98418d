static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/empty");

fn main() {
    let _ = &MIGRATIONS;
}
