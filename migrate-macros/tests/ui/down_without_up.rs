static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/down_without_up");

fn main() {
    let _ = &MIGRATIONS;
}
