//! The example program (`examples/standalone.rs`) uses the safety crate alone on an
//! application database: it runs, and leaves what it says.

use std::process::Command;

#[test]
fn the_standalone_example_checks_backs_up_verifies_and_restores_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "-p",
            "belay-guard",
            "--example",
            "standalone",
            "--",
        ])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("check: ok"), "{stdout}");
    assert!(
        stdout.contains("verify: checksum and integrity ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("restored table products from ") && stdout.contains(": 3 rows (was 3)"),
        "{stdout}"
    );
    // The table came back at its backed-up prices; the other kept its later row.
    assert!(
        stdout.contains("now: prices sum to 1160, 4 orders"),
        "{stdout}"
    );
    // Nothing of a migration engine was made: no history table, no marker.
    let conn = rusqlite::Connection::open(dir.path().join("shop.db")).unwrap();
    let ours: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_migrate%' ESCAPE '\\'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ours, 0);
}
