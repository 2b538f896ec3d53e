//! The compile-time contract of `#[background_task]`: every misuse in
//! `tests/ui/*.rs` fails with the message (written by the macro, not by rustc) in its `.stderr`, and the cases in
//! `tests/ui/pass/` build and run. Regenerate the messages with
//! `TRYBUILD=overwrite cargo test -p bgapp --test compiletest` and read the
//! diff.

#[test]
fn ui() {
    // The pass cases run real tasks, which record their runs: keep that out
    // of the user's state directory.
    let state = tempfile::tempdir().unwrap();
    std::env::set_var(bgapp_manifest::env::STATE_DIR, state.path());
    std::env::set_var(bgapp_manifest::env::LOG, "warn");

    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
    // `TestCases` runs the cases when dropped, before `state` is removed.
    drop(t);
}
