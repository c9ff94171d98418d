static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/verify_fails");

fn main() {
    let _ = &MIGRATIONS;
}
