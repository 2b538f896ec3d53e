//! `args = "none"` through the real process entry: the test binary is a
//! bgapp app of one task and runs itself. bgapp answers `--help` and
//! `--version`, refuses any other argument with exit 2, and none of these
//! is a run (no run record, no "started" line); no argument is a run.

use std::path::Path;
use std::process::{Command, ExitCode, Output};

/// Set in the child: run as the app.
const CHILD: &str = "BGAPP_TEST_OWN_ARGS_CHILD";

#[bgapp::background_task(
    name = "quiet",
    description = "Says one line and takes no arguments",
    args = "none"
)]
async fn quiet(_task: bgapp::TaskInstance) {
    println!("the task ran");
}

fn app(state: &Path, args: &[&str]) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(args)
        .env(CHILD, "1")
        .env("BGAPP_STATE_DIR", state)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .env_remove("BGAPP_CONTROL_FD")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn record(state: &Path) -> Option<String> {
    std::fs::read_to_string(state.join("quiet.run")).ok()
}

fn main() -> ExitCode {
    if std::env::var_os(CHILD).is_some() {
        return bgapp::run();
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let bin = std::env::current_exe().unwrap().display().to_string();

    let version = app(state, &["--version"]);
    assert_eq!(version.status.code(), Some(0), "{version:?}");
    assert_eq!(
        text(&version.stdout),
        format!("bgapp {}\n", env!("CARGO_PKG_VERSION"))
    );
    let short = app(state, &["-V"]);
    assert_eq!(short.stdout, version.stdout);

    let help = app(state, &["--help"]);
    assert_eq!(help.status.code(), Some(0), "{help:?}");
    assert_eq!(
        text(&help.stdout),
        format!(
            "Says one line and takes no arguments\n\nUsage: {bin}\n\nOptions:\n  -h, --help     Print help\n  -V, --version  Print version\n"
        )
    );
    // Named, the task's name is in the usage line.
    let named = app(state, &["quiet", "-h"]);
    assert!(
        text(&named.stdout).contains(&format!("Usage: {bin} quiet\n")),
        "{named:?}"
    );

    for args in [&["-p", "9586"][..], &["extra"], &["--help", "--version"]] {
        let refused = app(state, args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {refused:?}");
        assert!(refused.stdout.is_empty(), "{args:?}: {refused:?}");
        let first = if args[0] == "--help" {
            args[1]
        } else {
            args[0]
        };
        assert_eq!(
            text(&refused.stderr),
            format!("error: unexpected argument `{first}`; task `quiet` takes no arguments (`args = \"none\"`); try `{bin} --help`\n"),
            "{args:?}"
        );
    }
    for out in [&version, &help, &named] {
        assert!(!text(&out.stdout).contains("the task ran"), "{out:?}");
        assert!(!text(&out.stderr).contains("started"), "{out:?}");
    }
    assert_eq!(record(state), None, "answers and refusals are not runs");

    // No argument: a run, recorded.
    let run = app(state, &[]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(text(&run.stdout), "the task ran\n");
    assert!(text(&run.stderr).contains("started"), "{run:?}");
    assert!(record(state).is_some(), "a run is recorded");
    println!("test own_args ... ok");
    ExitCode::SUCCESS
}
