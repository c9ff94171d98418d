static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/not_utf8");

fn main() {
    let _ = &MIGRATIONS;
}
