//! What cargo-bgapp's integration tests share: the binary under test, the
//! target directory the fixture apps build into, temporary directories,
//! running commands, and the one way a test says it cannot run.
//!
//! Use it with `mod support;` (a test in `tests/<name>.rs`) or
//! `#[path = "../support/mod.rs"] mod support;` (a test in
//! `tests/<name>/main.rs`). Each test uses part of it.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `cargo-bgapp` binary under test.
pub fn cargo_bgapp_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cargo-bgapp"))
}

/// The target directory every fixture app builds into, shared by the
/// tests of one run so that `bgapp` and its dependencies compile once.
pub fn fixtures_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("bgapp-fixtures")
}

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The `bgapp` crate of this repository, for apps made by the tests.
pub fn bgapp_crate() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cargo-bgapp is in the repository")
        .join("bgapp")
}

/// `cargo-bgapp bgapp` run in `dir`, building into [`fixtures_target`],
/// for the host (`CARGO_BUILD_TARGET` removed).
pub fn cargo_bgapp(dir: &Path) -> Command {
    let mut cmd = Command::new(cargo_bgapp_exe());
    cmd.arg("bgapp")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", fixtures_target())
        .env_remove("CARGO_BUILD_TARGET");
    cmd
}

/// A temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bgapp-test-")
        .tempdir()
        .expect("a temporary directory")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `output`, after checking that its command succeeded.
#[track_caller]
pub fn success(output: Output) -> Output {
    assert!(
        output.status.success(),
        "failed: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// Runs `cmd`, checks that it succeeds, and returns its stdout.
#[track_caller]
pub fn run(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    text(&success(output).stdout)
}

/// Whether the tests run under CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says in one line on stderr that a check did not run and why; under CI
/// fails instead, so CI never passes without having checked.
#[track_caller]
pub fn skip(why: &str) {
    if in_ci() {
        panic!("{why}, and under CI=true nothing may be skipped (.ci/run sets the machine up)");
    }
    // Straight to the stream: the harness hides a passing test's
    // `println!`, and a skipped check must never be silent.
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// Whether `tool` is on `PATH`; if not, prints `skipped: <tool> is not
/// installed` (or fails under CI) and the caller returns.
#[track_caller]
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v '{tool}'"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(&format!("{tool} is not installed"));
    }
    found
}

/// [`have`] for each of `tools`, reporting every missing one.
#[track_caller]
pub fn have_all(tools: &[&str]) -> bool {
    // Not `all`: it would stop at the first missing tool.
    let missing = tools.iter().filter(|tool| !have(tool)).count();
    missing == 0
}
