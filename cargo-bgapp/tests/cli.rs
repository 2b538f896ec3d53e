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
        ["error: unknown template `nope`\n\nhelp: the templates are `hello`, `server`, `timer`, `watcher`\n"]
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
