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

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A scratch system to run install scripts in for real: an overlay of this
/// machine's root, mounted in a private mount namespace for each command
/// and entered with a plain `chroot`, as an image is built. It has `/dev`,
/// but no `/proc` and an empty `/run` (no running systemd), and what the
/// commands change lands in its own upper directory, never on this machine.
pub struct ScratchRoot {
    dir: tempfile::TempDir,
}

const SCRATCH_ENTER: &str = r#"set -eu
d="$1"
rm -rf "$d/work" && mkdir "$d/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$d/upper,workdir=$d/work" "$d/root"
mount --rbind /dev "$d/root/dev"
mount -t tmpfs -o mode=755 tmpfs "$d/root/run"
mount -t tmpfs -o mode=1777 tmpfs "$d/root/tmp"
exec chroot "$d/root" /bin/sh -c "$2"
"#;

impl ScratchRoot {
    /// A fresh scratch system; `None` (after [`skip`] said why) when this
    /// process is not root or lacks `unshare` or `chroot`.
    #[track_caller]
    pub fn new() -> Option<ScratchRoot> {
        if !is_root() {
            skip("running install scripts in a scratch root needs root (mount namespaces, overlayfs, chroot)");
            return None;
        }
        if !have_all(&["unshare", "chroot"]) {
            return None;
        }
        // Not under /tmp: the scratch system gets a /tmp of its own.
        let dir = tempfile::Builder::new()
            .prefix("scratch-root-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a scratch directory");
        for sub in ["upper", "work", "root"] {
            std::fs::create_dir(dir.path().join(sub)).expect("a scratch directory");
        }
        std::fs::write(dir.path().join("enter.sh"), SCRATCH_ENTER).expect("the enter script");
        Some(ScratchRoot { dir })
    }

    /// Copies `file` into the scratch system at `at` (absolute).
    pub fn put(&self, file: &Path, at: &str) {
        let dest = self.upper(at);
        std::fs::create_dir_all(dest.parent().expect("a parent")).expect("a directory");
        std::fs::copy(file, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
    }

    /// Where `path` of the scratch system is in its upper directory, if
    /// a command wrote it.
    pub fn upper(&self, path: &str) -> PathBuf {
        self.dir
            .path()
            .join("upper")
            .join(path.trim_start_matches('/'))
    }

    /// Runs `script` with `/bin/sh` inside the scratch system.
    pub fn sh(&self, script: &str) -> Output {
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh"])
            .arg(self.dir.path().join("enter.sh"))
            .arg(self.dir.path())
            .arg(script)
            .env_remove("DPKG_ROOT")
            .output()
            .expect("unshare runs")
    }

    /// Runs `script` inside the scratch system, checks that it succeeded,
    /// and returns its stdout and stderr, together.
    #[track_caller]
    pub fn run(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "failed in the scratch root: {}\n{script}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout) + &text(&out.stderr)
    }

    /// Whether `path` exists in the scratch system (`test -e`).
    pub fn exists(&self, path: &str) -> bool {
        self.sh(&format!("test -e {}", sh_quote(path)))
            .status
            .success()
    }
}

/// `word` as one single-quoted POSIX sh word.
pub fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}
