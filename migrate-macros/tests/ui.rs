//! Compile errors of `embed_migrations!`, pinned with trybuild: each names the file and says
//! what is wrong, instead of panicking in the macro.

#[test]
fn ui() {
    // trybuild compiles these from a generated crate whose CARGO_MANIFEST_DIR is elsewhere; the
    // macro resolves its directory against this override instead.
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("MIGRATE_MACROS_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR")) };
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/ok.rs");
    t.pass("tests/ui/skip_check.rs");
    t.pass("tests/ui/check_true.rs");
    t.compile_fail("tests/ui/bad_name.rs");
    t.compile_fail("tests/ui/down_without_up.rs");
    t.compile_fail("tests/ui/duplicate.rs");
    t.compile_fail("tests/ui/not_utf8.rs");
    t.compile_fail("tests/ui/unknown_directive.rs");
    t.compile_fail("tests/ui/syntax_error.rs");
    t.compile_fail("tests/ui/verify_fails.rs");
    t.compile_fail("tests/ui/missing_dir.rs");
    t.compile_fail("tests/ui/unknown_option.rs");
    t.compile_fail("tests/ui/empty_dir.rs");
    t.compile_fail("tests/ui/trailing_tokens.rs");
}
