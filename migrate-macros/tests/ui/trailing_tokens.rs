static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/ok" "again");

fn main() {
    let _ = &MIGRATIONS;
}
