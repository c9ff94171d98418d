// The example app embeds ../migrations: rebuild when a migration file is added.
fn main() {
    migrate_build::watch("../migrations");
}
