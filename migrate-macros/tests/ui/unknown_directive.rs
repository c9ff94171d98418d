static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/unknown_directive");

fn main() {
    let _ = &MIGRATIONS;
}
