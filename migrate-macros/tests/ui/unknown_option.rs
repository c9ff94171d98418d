static MIGRATIONS: belay_migrate::Migrations =
    belay_macros::embed_migrations!("tests/fixtures/ok", verify = false);

fn main() {
    let _ = &MIGRATIONS;
}
