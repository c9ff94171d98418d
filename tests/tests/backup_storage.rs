//! Compression that pays for itself: a backup asked to be compressed is stored plain when a
//! sample of its pages, spread over the file, does not shrink by `[backup] min_ratio` under
//! zstd; the manifest records the sample, and every reader (verify, restore, the run's own
//! restore) reads either format.

use std::path::Path;

use belay_migrate::backup::{self, Compression};
use migrate_tests::{Scratch, count, example_migrations, user_dump};

/// A database whose rows are random bytes: zstd cannot shrink them.
fn incompressible(s: &Scratch) {
    s.conn()
        .execute_batch(
            "CREATE TABLE blobs (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000)
             INSERT INTO blobs SELECT x, randomblob(1000) FROM n;",
        )
        .unwrap();
}

/// A database of repetitive text, which zstd shrinks many times.
fn compressible(s: &Scratch) {
    s.conn()
        .execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000)
             INSERT INTO notes SELECT x, 'note number ' || x || ' of the quarterly report' FROM n;",
        )
        .unwrap();
}

fn only_backup(dir: &Path) -> backup::Manifest {
    let mut all = backup::list(dir).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.pop().unwrap()
}

#[test]
fn random_pages_are_stored_plain_and_say_why() {
    let s = Scratch::new();
    incompressible(&s);
    let run = s.migrate(&["backup", "create"]).expect(0);
    assert!(
        run.stdout
            .contains("stored plain: a sample of its pages compressed only"),
        "{}",
        run.stdout
    );
    let dir = s.db().with_extension("db.backups");
    let manifest = only_backup(&dir);
    assert_eq!(manifest.compression, Compression::None);
    assert!(manifest.file.ends_with(".db"), "{}", manifest.file);
    let sample = manifest.sample.expect("the sample is recorded");
    assert!(sample.ratio() < backup::DEFAULT_MIN_RATIO, "{sample:?}");
    assert!(sample.bytes > 0);
    // The manifest says so in its JSON too, and the backup verifies and restores.
    let json = std::fs::read_to_string(dir.join(format!("{}.json", manifest.id))).unwrap();
    assert!(json.contains("\"sample\""), "{json}");
    s.migrate(&["backup", "verify", &manifest.id]).expect(0);
    let before = user_dump(&s.db());
    s.conn().execute_batch("DELETE FROM blobs").unwrap();
    s.migrate(&["restore", &manifest.id, "--yes"]).expect(0);
    assert_eq!(user_dump(&s.db()), before);
}

#[test]
fn compressible_pages_stay_compressed() {
    let s = Scratch::new();
    compressible(&s);
    let run = s.migrate(&["backup", "create"]).expect(0);
    assert!(!run.stdout.contains("stored plain"), "{}", run.stdout);
    let manifest = only_backup(&s.db().with_extension("db.backups"));
    assert_eq!(manifest.compression, Compression::Zstd);
    let sample = manifest.sample.unwrap();
    assert!(sample.ratio() >= 3.0, "{sample:?}");
    assert!(manifest.compressed_size < manifest.byte_size / 3);
}

#[test]
fn the_ratio_is_configurable_and_checked() {
    let s = Scratch::new();
    compressible(&s);
    let config = s.dir.path().join("migrate.toml");
    let with = |text: &str| {
        std::fs::write(&config, text).unwrap();
    };
    let create =
        |s: &Scratch| s.migrate(&["--config", config.to_str().unwrap(), "backup", "create"]);
    // A ratio no data reaches: plain even for text.
    with("[backup]\nmin_ratio = 1000\n");
    create(&s).expect(0);
    let dir = s.db().with_extension("db.backups");
    assert_eq!(only_backup(&dir).compression, Compression::None);
    std::fs::remove_dir_all(&dir).unwrap();
    // 0: always compressed, random bytes included.
    let r = Scratch::new();
    incompressible(&r);
    let config_r = r.dir.path().join("migrate.toml");
    std::fs::write(&config_r, "[backup]\nmin_ratio = 0\n").unwrap();
    r.migrate(&["--config", config_r.to_str().unwrap(), "backup", "create"])
        .expect(0);
    assert_eq!(
        only_backup(&r.db().with_extension("db.backups")).compression,
        Compression::Zstd
    );
    // `config` shows the setting and where it came from.
    let shown = r
        .migrate(&["--config", config_r.to_str().unwrap(), "--json", "config"])
        .expect(0)
        .json();
    let text = shown.to_string();
    assert!(text.contains("backup.min_ratio"), "{text}");
    // A value that is no ratio is refused, naming the key and the line, before anything.
    with("db = 'app.db'\n[backup]\nmin_ratio = -2\n");
    let refused = create(&s).expect(2);
    assert!(refused.stderr.contains("min_ratio"), "{}", refused.stderr);
    assert!(refused.stderr.contains("line 3"), "{}", refused.stderr);
    assert!(!dir.exists());
}

/// The run's own backup adapts too, and the run's restore reads the plain file: a run of two
/// migrations, each committed on its own, whose second fails is put back from it.
#[test]
fn a_run_restores_from_its_plain_backup() {
    let s = Scratch::with_migrations(&example_migrations());
    s.migrate(&["up"]).expect(0);
    incompressible(&s);
    s.migrate(&["accept-drift"]).expect(0);
    let before = user_dump(&s.db());
    std::fs::write(
        s.migrations().join("0100_fine.up.sql"),
        "CREATE TABLE later (id INTEGER PRIMARY KEY);",
    )
    .unwrap();
    std::fs::write(
        s.migrations().join("0101_broken.up.sql"),
        "INSERT INTO no_such_table VALUES (1);",
    )
    .unwrap();
    let run = s.migrate(&["up", "--per-migration"]).expect(5);
    assert!(run.stderr.contains("restored"), "{}", run.stderr);
    assert_eq!(user_dump(&s.db()), before);
    let pre_migrate: Vec<_> = backup::list(&s.db().with_extension("db.backups"))
        .unwrap()
        .into_iter()
        .filter(|m| m.reason == backup::Reason::PreMigrate)
        .collect();
    assert_eq!(pre_migrate.len(), 1);
    assert_eq!(pre_migrate[0].compression, Compression::None);
    assert_eq!(count(&s.conn(), "SELECT count(*) FROM blobs"), 3000);
}
