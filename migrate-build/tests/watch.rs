//! `watch` as cargo sees it: the directive on the build script's stdout, one line, nothing
//! else. The test runs itself as a child process (as cargo runs a build script) and reads
//! what the child printed.

use std::process::Command;

const CHILD: &str = "BELAY_BUILD_WATCH_CHILD";

/// In the child: what a build script does.
#[test]
fn child_calls_watch() {
    if std::env::var_os(CHILD).is_some() {
        belay_build::watch("db/migrations");
    }
}

/// The child's stdout holds exactly the directive cargo reads.
#[test]
fn watch_prints_the_rerun_directive_on_stdout() {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .args([
            "--exact",
            "child_calls_watch",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The harness writes its own words around the child's (on the same line, too).
    let directives: Vec<&str> = stdout
        .split_whitespace()
        .filter(|w| w.starts_with("cargo:"))
        .collect();
    assert_eq!(
        directives,
        ["cargo::rerun-if-changed=db/migrations"],
        "{stdout}"
    );
}
