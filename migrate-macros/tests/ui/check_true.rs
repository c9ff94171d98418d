//! `check = true` is the default said out loud: the set is applied at compile time.
static MIGRATIONS: belay_migrate::Migrations =
    belay_macros::embed_migrations!("tests/fixtures/ok", check = true);

fn main() {
    assert!(!MIGRATIONS.is_empty());
}
