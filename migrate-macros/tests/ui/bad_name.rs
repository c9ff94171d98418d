static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/bad_name");

fn main() {
    let _ = &MIGRATIONS;
}
