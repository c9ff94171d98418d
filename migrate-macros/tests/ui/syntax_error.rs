static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/syntax_error");

fn main() {
    let _ = &MIGRATIONS;
}
