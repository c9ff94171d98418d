//! `check = false` embeds a set that would not apply to an empty database.
static MIGRATIONS: belay_migrate::Migrations =
    belay_macros::embed_migrations!("tests/fixtures/verify_fails", check = false);

fn main() {
    assert_eq!(MIGRATIONS.len(), 1);
}
