//! The command line of `cargo bgapp` beyond scaffolding: its own messages
//! on stderr, cargo's feature flags, the checks `package` makes before it
//! writes anything, and tasks that a library defines.

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

mod support;
// Its waits are all `cli.rs` needs of it.
#[allow(dead_code)]
#[path = "support/run.rs"]
mod harness;

use support::{cargo_bgapp, tempdir, text};

/// Runs `cargo bgapp ARGS` in `cwd` with stderr on a `SOCK_SEQPACKET`
/// socket, which keeps the boundary of every `write(2)`: returns each
/// write as it was made.
fn stderr_writes(cwd: &Path, args: &[&str]) -> (ExitStatus, Vec<String>) {
    let mut fds = [0; 2];
    // SAFETY: socketpair(2) fills the two descriptors, which we then own.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptors, owned here only.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut child = Command::new(support::cargo_bgapp_exe())
        .arg("bgapp")
        .args(args)
        .current_dir(cwd)
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(theirs))
        .spawn()
        .expect("cargo-bgapp runs");
    let mut writes = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        // SAFETY: reads into a buffer of the length given.
        let n = unsafe { libc::recv(ours.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            break;
        }
        writes.push(String::from_utf8_lossy(&buf[..n as usize]).into_owned());
    }
    (child.wait().unwrap(), writes)
}

/// Every status line, warning, note and error `cargo bgapp` prints is one
/// `write(2)`, so that nothing can come between its pieces (under `cargo
/// bgapp run`, the tasks' lines). Was a write per piece: `     Created`,
/// ` `, the message, `\n`, and more once colour is stripped.
#[test]
fn every_message_reaches_stderr_in_one_write() {
    let root = tempdir();
    let (status, writes) = stderr_writes(root.path(), &["new", "app", "--vcs", "none"]);
    assert!(status.success(), "{writes:?}");
    assert_eq!(
        writes,
        ["     Created background app `app` from template `hello`\n"]
    );

    // A warning, then a status line.
    let dir = root.path().join("kept");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("README.md"), "# Kept\n").unwrap();
    let (status, writes) = stderr_writes(&dir, &["init", "--vcs", "none"]);
    assert!(status.success(), "{writes:?}");
    assert_eq!(
        writes,
        [
            "warning: kept the existing `README.md`; the template's is not written\n",
            " Initialized background app `kept` from template `hello`\n",
        ]
    );

    // An error with its help, and one with its causes: one write each.
    let (status, writes) = stderr_writes(root.path(), &["new", "x", "-t", "nope"]);
    assert!(!status.success());
    assert_eq!(
        writes,
        ["error: unknown template `nope`\n\nhelp: the templates are `hello`, `http`, `server`, `timer`, `watcher`\n"]
    );
    std::fs::write(root.path().join("Cargo.toml"), "[package\n").unwrap();
    let (status, writes) = stderr_writes(root.path(), &["manifest"]);
    assert!(!status.success());
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(
        writes[0].starts_with("error: ") && writes[0].ends_with('\n'),
        "{writes:?}"
    );
}

/// The names of the tasks `cargo bgapp manifest ARGS` prints.
fn manifest_tasks(fixture: &str, args: &[&str]) -> Vec<String> {
    let stdout = support::run(
        cargo_bgapp(&support::fixture(fixture))
            .arg("manifest")
            .args(args),
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut names: Vec<String> = doc["binaries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["tasks"].as_array().unwrap().iter())
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// `--features`, `--all-features` and `--no-default-features` reach the
/// build, as cargo spells and applies them: a feature-gated task can be
/// listed, run and packaged.
#[test]
fn features_select_the_tasks_built_in() {
    let all = ["always", "base", "extra"];
    assert_eq!(manifest_tasks("features", &[]), ["always", "base"]);
    assert_eq!(manifest_tasks("features", &["--features", "extra"]), all);
    assert_eq!(
        manifest_tasks("features", &["-F", "base extra", "--no-default-features"]),
        all
    );
    assert_eq!(manifest_tasks("features", &["--features=base,extra"]), all);
    assert_eq!(
        manifest_tasks("features", &["--no-default-features"]),
        ["always"]
    );
    assert_eq!(
        manifest_tasks("features", &["--all-features", "--no-default-features"]),
        all
    );

    // Packaged: the bundle has the task's units.
    let out = tempdir();
    let stdout = support::run(
        cargo_bgapp(&support::fixture("features"))
            .args([
                "package",
                "--features",
                "extra",
                "--format",
                "tar",
                "--message-format",
                "json",
                "--out-dir",
            ])
            .arg(out.path()),
    );
    let message: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let units: Vec<&str> = message["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(units.contains(&"features-extra.timer"), "{units:?}");

    // Run: the task is there to run, and without the feature it is not.
    let output = cargo_bgapp(&support::fixture("features"))
        .args(["run", "--task", "extra"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("error: no task named `extra` in package `features`"),
        "{}",
        text(&output.stderr)
    );
    let mut run = harness::Run::spawn(
        {
            let mut cmd = cargo_bgapp(&support::fixture("features"));
            cmd.args(["run", "--features", "extra", "--task", "extra"]);
            cmd
        },
        "cargo bgapp run --features extra",
        "Running features: extra (timer)",
        std::time::Duration::from_secs(300),
    );
    run.end();

    // An unknown feature is cargo's error.
    let output = cargo_bgapp(&support::fixture("features"))
        .args(["manifest", "--features", "nope"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("nope"),
        "{}",
        text(&output.stderr)
    );
}

/// `cargo bgapp ARGS` in fixture `name`: its output, which must be a
/// failure, and its stderr.
#[track_caller]
fn fails(fixture: &str, args: &[&str]) -> String {
    let output = cargo_bgapp(&support::fixture(fixture))
        .args(args)
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{args:?} did not fail:\n{stderr}"
    );
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    stderr
}

/// The error's lines, from `error:` on (cargo's own output comes first).
fn error_of(stderr: &str) -> &str {
    &stderr[stderr
        .find("error: ")
        .unwrap_or_else(|| panic!("no error in:\n{stderr}"))..]
}

/// A task that a library defines is in the binary only when the binary
/// names the crate; when it does not, `manifest`, `run` and `package` say
/// so, and how to link it in (was: the task was missing from the binary,
/// its manifest and its units without a word).
#[test]
fn tasks_of_a_library_the_binary_never_names_are_reported() {
    let expected = "error: task `cleanup` of crate `jobs` is not in binary `app`: the binary never names the crate, so it is not linked in\n\n\
                    help: add `use jobs as _;` to `src/main.rs`\n\n\
                    note: a task that a binary should not have can be left out of `jobs` with a cargo feature\n";
    assert_eq!(
        error_of(&fails("libtasks", &["manifest", "-p", "app"])),
        expected
    );
    let out = tempdir();
    let bundles = out.path().join("bundles");
    let stderr = fails(
        "libtasks",
        &[
            "package",
            "-p",
            "app",
            "--format",
            "tar",
            "--out-dir",
            bundles.to_str().unwrap(),
        ],
    );
    assert_eq!(error_of(&stderr), expected);
    assert!(!bundles.exists(), "the output directory was created");
    assert_eq!(
        error_of(&fails("libtasks", &["run", "-p", "app"])),
        expected
    );

    // Named (`use jobs as _;`), they are linked in; the binary without a
    // task is left out with a note.
    let output = support::success(
        cargo_bgapp(&support::fixture("libtasks"))
            .args(["manifest", "-p", "named"])
            .output()
            .unwrap(),
    );
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let binaries = doc["binaries"].as_array().unwrap();
    assert_eq!(binaries.len(), 1, "{doc}");
    let mut tasks: Vec<&str> = binaries[0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    tasks.sort();
    assert_eq!(tasks, ["cleanup", "named"]);
    assert!(
        text(&output.stderr).contains("note: binary `tool` has no task; it is not listed\n"),
        "{}",
        text(&output.stderr)
    );
    let output = support::success(
        cargo_bgapp(&support::fixture("libtasks"))
            .args(["package", "-p", "named", "--format", "tar", "--out-dir"])
            .arg(out.path())
            .output()
            .unwrap(),
    );
    assert!(
        text(&output.stderr)
            .contains("note: binary `tool` has no task; it is left out of the bundles\n"),
        "{}",
        text(&output.stderr)
    );
}

/// `--out-dir` naming a file says so, before the build (was "failed to
/// create the output directory ... File exists").
#[test]
fn an_out_dir_that_is_a_file_is_refused_first() {
    let tmp = tempdir();
    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    let help = "\n\nhelp: give `--out-dir` a directory, or a path that does not exist yet\n";
    let stderr = fails("hello", &["package", "--out-dir", file.to_str().unwrap()]);
    assert_eq!(
        stderr,
        format!(
            "error: `--out-dir` `{}` is a file, not a directory{help}",
            file.display()
        )
    );
    let below = file.join("bundles");
    let stderr = fails("hello", &["package", "--out-dir", below.to_str().unwrap()]);
    assert_eq!(
        stderr,
        format!(
            "error: `--out-dir` `{}` cannot be created: `{}` is a file, not a directory{help}",
            below.display(),
            file.display()
        )
    );
}

/// `package --no-build` that finds no binary fails before it creates
/// anything (was: `bgapp/` in the empty target directory).
#[test]
fn no_build_without_a_binary_creates_nothing() {
    let target = tempdir();
    let stderr = fails(
        "hello",
        &[
            "package",
            "--no-build",
            "--target-dir",
            target.path().to_str().unwrap(),
        ],
    );
    assert!(
        stderr.starts_with("error: binary `") && stderr.contains("` does not exist"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(target.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
