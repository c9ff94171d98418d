//! A valid set embeds, and carries its checksums and directives.
static MIGRATIONS: belay_migrate::Migrations = belay_macros::embed_migrations!("tests/fixtures/ok");

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
    let first = MIGRATIONS.get(1).unwrap();
    assert_eq!(first.name(), "a");
    assert_eq!(first.checksum().len(), 64);
    assert!(first.down().is_some() && first.verify().is_some());
    assert_eq!(
        MIGRATIONS.get(2).unwrap().up().transaction(),
        belay_migrate::TransactionMode::NoTransaction
    );
}
