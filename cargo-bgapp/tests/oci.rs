//! `cargo bgapp package --format oci`, judged by the tools that consume
//! images: skopeo and umoci read the archive and the layout back, podman
//! loads and runs each template's image (with runc, read-only, no
//! capabilities, no network, a named volume for state) through its
//! lifecycle, a real registry on 127.0.0.1 receives a push, and a
//! containerd of the test's own (k3s's runtime) imports and runs an image.
//!
//! Each podman test has a storage root, run root and containers.conf of its
//! own under a temporary directory (`runtime = "runc"` and explicit
//! `nofile`/`nproc` ulimits, which this kind of sandbox needs), so nothing
//! touches the machine's own images or containers. They need root and the
//! tools; without them they say so in one line (and fail under `CI=true`).

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{have_all, is_root, skip, success, text};

const EPOCH: &str = "1700000000";
const UID: &str = "65532";

/// The template apps, scaffolded once, and their images.
struct Apps {
    workspace: PathBuf,
    images: PathBuf,
    /// What `package` said for the `web` app, configured in `Cargo.toml`.
    web_stderr: String,
    /// `package --format oci` of `noargs`: the hello template (`args =
    /// "none"`) given packaging `args`; whether it succeeded, and stderr.
    noargs: (bool, String),
}

fn apps() -> &'static Apps {
    static APPS: OnceLock<Apps> = OnceLock::new();
    APPS.get_or_init(scaffold)
}

fn cargo_bgapp(dir: &Path) -> Command {
    let mut cmd = support::cargo_bgapp(dir);
    // A target directory of these tests' own: their apps are named like
    // the templates (`hello`, ...), and in the fixtures' shared one a
    // template's `release/hello` would replace the `hello` fixture's that
    // the package tests read (cargo sees that fixture as fresh).
    cmd.env(
        "CARGO_TARGET_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("oci-target"),
    )
    .env("SOURCE_DATE_EPOCH", EPOCH)
    .stdin(Stdio::null());
    cmd
}

fn scaffold() -> Apps {
    let workspace = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oci-templates");
    if workspace.exists() {
        std::fs::remove_dir_all(&workspace).expect("remove the old workspace");
    }
    std::fs::create_dir_all(&workspace).expect("create the workspace");
    std::fs::write(
        workspace.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = []\n",
    )
    .expect("write the workspace manifest");
    for (name, template, defines) in [
        ("hello", "hello", vec![]),
        ("timer", "timer", vec!["interval=1m"]),
        ("server", "server", vec!["port=127.0.0.1:8080"]),
        // The http template (axum, `ready = "explicit"`); not named `http`
        // like the crate axum depends on.
        ("web", "http", vec!["port=127.0.0.1:8080"]),
        ("noargs", "hello", vec![]),
    ] {
        let mut cmd = cargo_bgapp(&workspace);
        cmd.args(["new", name, "--template", template, "--vcs", "none", "-q"]);
        for d in defines {
            cmd.args(["-d", d]);
        }
        success(cmd.output().expect("cargo-bgapp runs"));
    }
    // The default task's `args` go into the image's `Cmd`; what a
    // container does not see is a warning.
    let manifest = workspace.join("web/Cargo.toml");
    let mut text_ = std::fs::read_to_string(&manifest).expect("read web's manifest");
    text_.push_str(concat!(
        "\n[package.metadata.bgapp.tasks.web]\n",
        "args = [\"--listen\", \"0.0.0.0:8081\"]\n",
        "environment-file = \"-/etc/default/web\"\n",
    ));
    std::fs::write(&manifest, text_).expect("write web's manifest");
    let images = workspace.join("images");
    let mut web_stderr = String::new();
    for name in ["hello", "timer", "server", "web"] {
        let mut cmd = cargo_bgapp(&workspace);
        cmd.arg("package");
        // `-q` silences warnings too.
        if name != "web" {
            cmd.arg("-q");
        }
        cmd.args(["-p", name, "--format", "oci", "--out-dir"])
            .arg(&images);
        let out = success(cmd.output().expect("cargo-bgapp runs"));
        if name == "web" {
            web_stderr = text(&out.stderr);
        }
    }
    // A task that takes no arguments given some: refused, before
    // anything is written (in the image they would be in `Cmd`, and every
    // start a usage error).
    let manifest = workspace.join("noargs/Cargo.toml");
    let mut text_ = std::fs::read_to_string(&manifest).expect("read noargs' manifest");
    text_.push_str("\n[package.metadata.bgapp.tasks.noargs]\nargs = [\"--verbose\"]\n");
    std::fs::write(&manifest, text_).expect("write noargs' manifest");
    let out = cargo_bgapp(&workspace)
        .args(["package", "-p", "noargs", "--format", "oci", "--out-dir"])
        .arg(&images)
        .output()
        .expect("cargo-bgapp runs");
    let noargs = (out.status.success(), text(&out.stderr));
    Apps {
        workspace,
        images,
        web_stderr,
        noargs,
    }
}

/// `args = "none"` in the attribute and `args` in `Cargo.toml`: the image
/// is refused with the units' and the workloads' error, and nothing of it
/// is written.
#[test]
fn an_image_refuses_args_for_a_task_that_takes_none() {
    let (ok, stderr) = &apps().noargs;
    assert!(!ok, "packaged:\n{stderr}");
    assert!(
        stderr.contains(
            "error: task `noargs` takes no arguments (`args = \"none\"` in its attribute)"
        ),
        "{stderr}"
    );
    let written: Vec<_> = std::fs::read_dir(&apps().images)
        .expect("read the images folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("noargs"))
        .collect();
    assert!(written.is_empty(), "written: {written:?}");
}

fn archive(app: &str) -> PathBuf {
    let arch = host_arch();
    apps().images.join(format!("{app}_0.1.0_{arch}.oci.tar"))
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no Debian architecture known for {other} in this test"),
    }
}

fn json(output: Output) -> Value {
    serde_json::from_slice(&success(output).stdout).expect("JSON")
}

fn skopeo(args: &[&str]) -> Value {
    json(
        Command::new("skopeo")
            .args(args)
            .output()
            .expect("skopeo runs"),
    )
}

#[test]
fn skopeo_and_umoci_read_the_archive_and_the_layout() {
    if !have_all(&["skopeo", "umoci"]) {
        return;
    }
    let file = archive("hello");
    let inspected = skopeo(&["inspect", &format!("oci-archive:{}", file.display())]);
    assert_eq!(
        inspected["Architecture"],
        "amd64".replace("amd64", host_arch())
    );
    assert_eq!(inspected["Os"], "linux");
    assert_eq!(inspected["Created"], "2023-11-14T22:13:20Z");
    let labels = &inspected["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "hello");
    assert_eq!(labels["org.opencontainers.image.version"], "0.1.0");
    assert_eq!(
        labels["org.opencontainers.image.licenses"],
        "MIT OR Apache-2.0"
    );
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    let tasks: Value = serde_json::from_str(
        labels["dev.bgapp.manifest"]
            .as_str()
            .expect("the manifest label"),
    )
    .unwrap();
    assert_eq!(tasks[0]["name"], "hello");
    assert_eq!(tasks[0]["stop_timeout_ms"], 5000);

    let config = skopeo(&[
        "inspect",
        "--config",
        &format!("oci-archive:{}", file.display()),
    ]);
    let c = &config["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/bin/hello"]));
    assert_eq!(c["Cmd"], serde_json::json!(["hello"]));
    assert_eq!(c["User"], format!("{UID}:{UID}"));
    assert_eq!(c["StopSignal"], "SIGTERM");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(env.contains(&"STATE_DIRECTORY=/var/lib/hello"), "{env:?}");
    assert!(env.contains(&"BGAPP_ENGINE=oci"), "{env:?}");
    assert_eq!(
        c["Volumes"],
        serde_json::json!({"/tmp": {}, "/var/lib/hello": {}})
    );
    for h in config["history"].as_array().unwrap() {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z");
    }

    // The layout, written by --oci-layout next to a second image: both stay.
    let dir = support::tempdir();
    let layout = dir.path().join("layout");
    for app in ["hello", "timer"] {
        let mut cmd = cargo_bgapp(&apps().workspace);
        cmd.args([
            "package",
            "-q",
            "--no-build",
            "-p",
            app,
            "--format",
            "oci",
            "--out-dir",
        ])
        .arg(dir.path().join("out"))
        .arg("--oci-layout")
        .arg(&layout);
        success(cmd.output().unwrap());
    }
    let from_layout = skopeo(&["inspect", &format!("oci:{}:hello:0.1.0", layout.display())]);
    assert_eq!(from_layout["Digest"], inspected["Digest"]);
    let timer = skopeo(&["inspect", &format!("oci:{}:timer:0.1.0", layout.display())]);
    assert_eq!(timer["Labels"]["org.opencontainers.image.title"], "timer");

    let bundle = dir.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:hello:0.1.0", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    success(out);
    let rootfs = bundle.join("rootfs");
    use std::os::unix::fs::MetadataExt as _;
    let state = std::fs::metadata(rootfs.join("var/lib/hello")).unwrap();
    if is_root() {
        assert_eq!((state.uid(), state.gid()), (65532, 65532));
    }
    assert_eq!(state.mode() & 0o7777, 0o700);
    assert_eq!(
        std::fs::metadata(rootfs.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd.contains(&format!("hello:x:{UID}:{UID}:")),
        "{passwd}"
    );
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap();
    assert!(group.contains(&format!("hello:x:{UID}:")), "{group}");
    let bin = std::fs::read(rootfs.join("usr/bin/hello")).unwrap();
    assert_eq!(&bin[..4], b"\x7fELF");
    // The loader and libc it needs, for this architecture.
    assert!(std::fs::read_link(rootfs.join("lib")).is_ok());
    let libdir = std::fs::read_dir(rootfs.join("usr/lib")).unwrap();
    let gnu = libdir
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with("-linux-gnu"))
        .expect("a multiarch library directory");
    assert!(gnu.path().join("libc.so.6").is_file());
}

#[test]
fn the_same_binary_gives_the_same_digest() {
    if !have_all(&["skopeo"]) {
        return;
    }
    let dir = support::tempdir();
    let mut bytes = Vec::new();
    for out in ["a", "b"] {
        let mut cmd = cargo_bgapp(&apps().workspace);
        cmd.args([
            "package",
            "-q",
            "--no-build",
            "-p",
            "hello",
            "--format",
            "oci",
            "--out-dir",
        ])
        .arg(dir.path().join(out));
        let path = support::run(&mut cmd);
        bytes.push(std::fs::read(path.trim()).unwrap());
    }
    assert!(bytes[0] == bytes[1], "two builds of one binary differ");
    let digest = |out: &str| {
        skopeo(&[
            "inspect",
            &format!(
                "oci-archive:{}",
                dir.path()
                    .join(out)
                    .join(format!("hello_0.1.0_{}.oci.tar", host_arch()))
                    .display()
            ),
        ])["Digest"]
            .clone()
    };
    assert_eq!(digest("a"), digest("b"));
    // `--message-format json` says the digest a registry will show.
    let mut cmd = cargo_bgapp(&apps().workspace);
    cmd.args([
        "package",
        "-q",
        "--no-build",
        "-p",
        "hello",
        "--format",
        "oci",
    ])
    .args(["--message-format", "json", "--out-dir"])
    .arg(dir.path().join("c"));
    let line: Value = serde_json::from_str(support::run(&mut cmd).trim()).unwrap();
    assert_eq!(line["format"], "oci");
    assert_eq!(line["digest"], digest("a"));
    assert_eq!(
        digest("a"),
        skopeo(&[
            "inspect",
            &format!("oci-archive:{}", archive("hello").display())
        ])["Digest"]
    );
}

/// A podman of the test's own: storage, run root and configuration in a
/// temporary directory.
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    #[track_caller]
    fn new() -> Option<Podman> {
        if !is_root() {
            skip("running images with podman needs root here (no subordinate ids for rootless podman)");
            return None;
        }
        if !have_all(&["podman", "runc"]) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("podman-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        // Each test's podman is a world of its own: its storage (`--root`,
        // `--runroot`) and also libpod's state directory (`tmp_dir`, by
        // default the machine's `/run/libpod`) and its locks (by default one
        // shared memory segment). With those shared, one test's `system
        // reset` (in `Drop`) removed `/run/libpod` under a test still
        // running a container: podman took it for a reboot, reset the
        // container to `created` with exit code 0, and refused `exec` into
        // it, while the process ran on.
        std::fs::write(
            dir.path().join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=4096:4096\", \"nproc=4096:4096\"]\n\n\
                 [engine]\nruntime = \"runc\"\nevents_logger = \"file\"\n\
                 tmp_dir = \"{}\"\nlock_type = \"file\"\n",
                dir.path().join("libpod").display()
            ),
        )
        .unwrap();
        Some(Podman { dir })
    }

    fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .stdin(Stdio::null());
        cmd
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("podman runs");
        text(&success(out).stdout)
    }

    fn load(&self, app: &str) -> String {
        self.run(&["load", "-i", archive(app).to_str().unwrap()])
    }

    /// The container's output so far, without podman's own warnings.
    fn logs(&self, name: &str) -> String {
        let out = self.cmd().args(["logs", name]).output().unwrap();
        let all = text(&out.stdout) + &text(&out.stderr);
        all.lines()
            .filter(|l| !l.starts_with("time=") && !l.contains("level=warning"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Waits until the logs hold `needle` `times` times.
    #[track_caller]
    fn wait_log(&self, name: &str, needle: &str, times: usize) -> String {
        let start = Instant::now();
        loop {
            let logs = self.logs(name);
            if logs.matches(needle).count() >= times {
                return logs;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no {times}x `{needle}` in the logs of {name}:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The container's exit status, once it has exited: what `podman wait`
    /// prints. (`inspect`'s `.State.ExitCode` read right after `wait` was
    /// seen saying 0 for a process that exited with 1, once under load.)
    fn exit_code(&self, name: &str) -> String {
        self.run(&["wait", name]).trim().to_string()
    }

    fn volume_dir(&self, volume: &str) -> PathBuf {
        PathBuf::from(
            self.run(&["volume", "inspect", volume, "--format", "{{.Mountpoint}}"])
                .trim(),
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "-af", "-t", "0"]).output();
        let _ = self.cmd().args(["system", "reset", "-f"]).output();
    }
}

/// The tests' podman worlds do not share libpod's state: one's `system
/// reset` (what each test's `Drop` runs) leaves another's running
/// container running, with its state, its exit code and `exec`.
#[test]
fn one_tests_podman_reset_leaves_anothers_container_running() {
    let Some(a) = Podman::new() else { return };
    let Some(b) = Podman::new() else { return };
    a.load("hello");
    let mut args = vec!["run", "-d", "--name", "h", "--network", "none"];
    args.extend(LOCKED);
    args.push("hello:0.1.0");
    a.run(&args);
    a.wait_log("h", "task `hello` started", 1);
    b.run(&["system", "reset", "-f"]);
    let state = a.run(&["inspect", "--format", "{{.State.Status}}", "h"]);
    assert_eq!(state.trim(), "running");
    a.run(&["exec", "h", "/usr/bin/hello", "--bgapp-ready", "hello"]);
    a.run(&["stop", "h"]);
    assert_eq!(a.exit_code("h"), "0", "{}", a.logs("h"));
}

/// The sandbox every run gets, as the systemd units have it.
const LOCKED: &[&str] = &[
    "--read-only",
    "--cap-drop=all",
    "--security-opt",
    "no-new-privileges",
];

#[test]
fn podman_loads_hello_by_name_and_runs_its_lifecycle() {
    let Some(podman) = Podman::new() else { return };
    let loaded = podman.load("hello");
    assert!(
        loaded
            .lines()
            .any(|l| l.starts_with("Loaded image: ") && l.ends_with("/hello:0.1.0")),
        "{loaded}"
    );
    let names = podman.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        names.lines().any(|n| n.ends_with("/hello:0.1.0")),
        "{names}"
    );

    podman.run(&["volume", "create", "hello-state"]);
    let mut args = vec!["run", "-d", "--name", "h", "--network", "none"];
    args.extend(LOCKED);
    args.extend(["-v", "hello-state:/var/lib/hello", "hello:0.1.0"]);
    podman.run(&args);
    podman.wait_log("h", "previous execution: not-running", 1);
    let user = podman.run(&["top", "h", "user", "huser"]);
    assert!(user.contains(UID), "runs as the image's user: {user}");
    assert!(
        !user
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().any(|w| w == "root" || w == "0")),
        "{user}"
    );

    // `podman stop`: SIGTERM, ended in time with status 0 (the stop timeout is 5 s).
    let started = Instant::now();
    podman.run(&["stop", "-t", "7", "h"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert_eq!(podman.exit_code("h"), "0");
    let logs = podman.logs("h");
    assert!(logs.contains("stopped (stop-requested) in time"), "{logs}");

    podman.run(&["start", "h"]);
    let logs = podman.wait_log("h", "previous execution: closed-by-user", 1);
    assert!(
        logs.contains("run 2 of `hello`, after closed-by-user"),
        "the counter saved at the stop is restored:\n{logs}"
    );

    podman.run(&["kill", "-s", "KILL", "h"]);
    podman.run(&["wait", "h"]);
    podman.run(&["start", "h"]);
    podman.wait_log("h", "previous execution: crashed", 1);
    podman.run(&["stop", "-t", "7", "h"]);
}

#[test]
fn timer_exits_zero_for_new_data_and_for_no_data_in_a_container() {
    let Some(podman) = Podman::new() else { return };
    podman.load("timer");
    podman.run(&["volume", "create", "timer-state"]);
    let run = |name: &str| {
        let mut args = vec!["run", "--name", name, "--network", "none"];
        args.extend(LOCKED);
        args.extend(["-v", "timer-state:/var/lib/timer", "timer:0.1.0"]);
        let out = podman.cmd().args(&args).output().unwrap();
        (out.status.code(), podman.logs(name))
    };
    let (code, logs) = run("t1");
    assert!(logs.contains("finished: no data"), "{logs}");
    assert_eq!(
        code,
        Some(0),
        "no data is a success, and a container engine knows only 0:\n{logs}"
    );
    let source = podman.volume_dir("timer-state").join("source.txt");
    std::fs::write(&source, "one\ntwo\n").unwrap();
    let (code, logs) = run("t2");
    assert!(logs.contains("finished: new data"), "{logs}");
    assert_eq!(code, Some(0), "{logs}");
    let (code, logs) = run("t3");
    assert!(logs.contains("finished: no data"), "{logs}");
    assert_eq!(code, Some(0), "{logs}");
}

#[test]
fn server_answers_on_a_published_port_and_finishes_a_request_in_flight_at_stop() {
    let Some(podman) = Podman::new() else { return };
    podman.load("server");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let publish = format!("127.0.0.1:{port}:8080");
    let mut args = vec!["run", "-d", "--name", "s", "-p", &publish];
    args.extend(LOCKED);
    args.push("server:0.1.0");
    podman.run(&args);
    podman.wait_log("s", "listening on 0.0.0.0:8080", 1);
    let connect = || {
        let start = Instant::now();
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => return s,
                Err(e) => assert!(start.elapsed() < Duration::from_secs(60), "connect: {e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let mut stream = connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream.write_all(b"first\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "first\n");

    // A request sent just before the stop is answered before the
    // connection closes.
    stream.write_all(b"in flight\n").unwrap();
    let stop = podman.cmd().args(["stop", "-t", "10", "s"]).output();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    success(stop.unwrap());
    assert_eq!(rest, "in flight\n", "{}", podman.logs("s"));
    assert_eq!(podman.exit_code("s"), "0", "{}", podman.logs("s"));
}

/// One HTTP/1.1 request on its own connection; the whole response.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The http template (axum, `ready = "explicit"`) in a container, run with
/// the `args` its `Cargo.toml` gives (`--listen 0.0.0.0:8081`, in the
/// image's `Cmd`): it answers on a published loopback port, is ready by
/// its own probe, and answers a request in flight at `podman stop` whole
/// before it exits 0.
#[test]
fn http_answers_on_a_published_port_and_finishes_a_request_in_flight_at_stop() {
    // What the image cannot carry was a warning, not dropped.
    let stderr = &apps().web_stderr;
    assert!(
        stderr.contains("warning: task `web`: its `environment-file` (`-/etc/default/web`) is not read in the container"),
        "{stderr}"
    );
    let Some(podman) = Podman::new() else { return };
    podman.load("web");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let publish = format!("127.0.0.1:{port}:8081");
    let mut args = vec!["run", "-d", "--name", "w", "-p", &publish];
    args.extend(LOCKED);
    args.extend(["-e", "BGAPP_LOG=info,web=debug", "web:0.1.0"]);
    podman.run(&args);
    podman.wait_log("w", "listening on 0.0.0.0:8081", 1);
    // Ready (`task.ready()`), as its Kubernetes readiness probe asks.
    wait_until(
        || {
            podman
                .cmd()
                .args(["exec", "w", "/usr/bin/web", "--bgapp-ready", "web"])
                .output()
                .is_ok_and(|o| o.status.success())
        },
        "the web task to be ready",
    );
    let health = http_get(port, "/health").unwrap();
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");

    // A request the task is working on when the stop comes is answered
    // whole before the container exits.
    let in_flight = std::thread::spawn(move || http_get(port, "/work/5000"));
    podman.wait_log("w", "working 5000 ms", 1);
    let stop = podman.cmd().args(["stop", "-t", "15", "w"]).output();
    let answer = in_flight.join().unwrap().unwrap();
    success(stop.unwrap());
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("worked 5000 ms\n"), "{answer}");
    assert_eq!(podman.exit_code("w"), "0", "{}", podman.logs("w"));
}

/// Whether `rustup` has the aarch64 standard library and Debian's cross
/// gcc is installed.
fn have_aarch64() -> bool {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    let ok = listed
        .lines()
        .any(|l| l.trim() == "aarch64-unknown-linux-gnu")
        && Path::new("/usr/bin/aarch64-linux-gnu-gcc").exists()
        && Path::new("/usr/aarch64-linux-gnu/lib/libc.so.6").exists();
    if !ok {
        skip("the aarch64 target is not installed (rustup target add aarch64-unknown-linux-gnu; apt-get install gcc-aarch64-linux-gnu)");
    }
    ok
}

/// `--target` twice: one image index, amd64 and arm64, each image with its
/// own architecture's libraries; skopeo picks by `--override-arch`.
fn multi_arch() -> Option<PathBuf> {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FILE.get_or_init(|| {
        if host_arch() != "amd64" || !have_aarch64() {
            if host_arch() != "amd64" {
                skip("the multi-arch test builds amd64 + arm64 from an amd64 machine");
            }
            return None;
        }
        let out = apps().workspace.join("multi");
        let mut cmd = cargo_bgapp(&apps().workspace);
        cmd.args(["package", "-q", "-p", "hello", "--format", "oci"])
            .args([
                "--target",
                "x86_64-unknown-linux-gnu",
                "--target",
                "aarch64-unknown-linux-gnu",
            ])
            .arg("--out-dir")
            .arg(&out)
            .env(
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
                "aarch64-linux-gnu-gcc",
            );
        let path = support::run(&mut cmd);
        let path = PathBuf::from(path.trim());
        assert_eq!(path, out.join("hello_0.1.0.oci.tar"));
        Some(path)
    })
    .clone()
}

#[test]
fn several_targets_make_one_multi_arch_index() {
    if !have_all(&["skopeo"]) {
        return;
    }
    let Some(file) = multi_arch() else { return };
    let src = format!("oci-archive:{}", file.display());
    let raw = skopeo(&["inspect", "--raw", &src]);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let platforms: Vec<String> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    let arm = skopeo(&["--override-arch", "arm64", "inspect", &src]);
    assert_eq!(arm["Architecture"], "arm64");
    let amd = skopeo(&["--override-arch", "amd64", "inspect", &src]);
    assert_eq!(amd["Architecture"], "amd64");
    // `Digest` is the index's for both; the layers are each platform's own.
    assert_eq!(arm["Digest"], raw_digest(&src));
    assert_ne!(arm["Layers"][0], amd["Layers"][0]);
    // The arm64 image carries arm64's loader, from the cross sysroot.
    let dir = support::tempdir();
    success(
        Command::new("skopeo")
            .args(["--override-arch", "arm64", "copy", &src])
            .arg(format!("dir:{}", dir.path().display()))
            .output()
            .unwrap(),
    );
    let mut found = false;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(paths) = tar_entries(&data) else {
            continue;
        };
        found |= paths.iter().any(|p| p.ends_with("ld-linux-aarch64.so.1"));
    }
    assert!(found, "the arm64 image has the aarch64 loader");
}

/// The digest of the top manifest or index of `src`, as skopeo reads it.
fn raw_digest(src: &str) -> String {
    use sha2::Digest as _;
    let raw = success(
        Command::new("skopeo")
            .args(["inspect", "--raw", src])
            .output()
            .unwrap(),
    )
    .stdout;
    format!("sha256:{:x}", sha2::Sha256::digest(&raw))
}

/// The paths in a gzipped tar, if `data` is one.
fn tar_entries(data: &[u8]) -> Result<Vec<String>, ()> {
    if data.len() < 2 || data[..2] != [0x1f, 0x8b] {
        return Err(());
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(data));
    let entries = archive.entries().map_err(|_| ())?;
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|e| e.path().ok().map(|p| p.to_string_lossy().into_owned()))
        .collect())
}

/// Debian's `docker-registry`, on a free loopback port, with its own
/// configuration and storage; stopped when dropped.
struct Registry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Option<Registry> {
        if !have_all(&["docker-registry", "skopeo"]) {
            return None;
        }
        let dir = support::tempdir();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the registry did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Registry {
            child,
            port,
            _dir: dir,
        })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_to_a_registry_on_loopback_keeps_the_digest() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let reference = format!("127.0.0.1:{}/apps/hello", registry.port);
    let mut cmd = cargo_bgapp(&apps().workspace);
    cmd.args([
        "package",
        "--no-build",
        "-p",
        "hello",
        "--format",
        "oci",
        "--out-dir",
    ])
    .arg(apps().workspace.join("push"))
    .args(["--push", &reference]);
    let out = success(cmd.output().unwrap());
    let stderr = text(&out.stderr);
    let local = skopeo(&[
        "inspect",
        &format!("oci-archive:{}", archive("hello").display()),
    ]);
    let remote = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{reference}:0.1.0"),
    ]);
    assert_eq!(remote["Digest"], local["Digest"]);
    assert!(
        stderr.contains(local["Digest"].as_str().unwrap()),
        "{stderr}"
    );

    // A multi-arch index pushes whole: both platforms, the index's digest.
    let Some(file) = multi_arch() else { return };
    let multi = format!("127.0.0.1:{}/apps/hello-multi:1", registry.port);
    let mut cmd = cargo_bgapp(&apps().workspace);
    cmd.args([
        "package",
        "-q",
        "--no-build",
        "-p",
        "hello",
        "--format",
        "oci",
    ])
    .args([
        "--target",
        "x86_64-unknown-linux-gnu",
        "--target",
        "aarch64-unknown-linux-gnu",
    ])
    .arg("--out-dir")
    .arg(file.parent().unwrap())
    .args(["--push", &multi]);
    success(cmd.output().unwrap());
    let raw_local = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            &format!("oci-archive:{}", file.display()),
        ])
        .output()
        .unwrap();
    let raw_remote = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{multi}"),
        ])
        .output()
        .unwrap();
    assert_eq!(success(raw_remote).stdout, success(raw_local).stdout);
    let arm = skopeo(&[
        "--override-arch",
        "arm64",
        "inspect",
        "--tls-verify=false",
        &format!("docker://{multi}"),
    ]);
    assert_eq!(arm["Architecture"], "arm64");
}

#[test]
fn image_options_without_format_oci_are_refused() {
    // Refused before anything is built or written.
    let dir = support::tempdir();
    let mut cmd = cargo_bgapp(&apps().workspace);
    cmd.args(["package", "-p", "hello", "--format", "deb", "--out-dir"])
        .arg(dir.path().join("out"))
        .args(["--push", "registry.example/hello"]);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: `--oci-layout` and `--push` write the OCI image"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists());

    // A directory that is not a layout is refused before the build.
    let not_layout = dir.path().join("docs");
    std::fs::create_dir(&not_layout).unwrap();
    std::fs::write(not_layout.join("README"), "mine").unwrap();
    let mut cmd = cargo_bgapp(&apps().workspace);
    cmd.args(["package", "-p", "hello", "--format", "oci", "--out-dir"])
        .arg(dir.path().join("out"))
        .arg("--oci-layout")
        .arg(&not_layout);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is a directory that is not an OCI image layout"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Compiling") && !stderr.contains("Imaging"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists());
    assert_eq!(std::fs::read_dir(&not_layout).unwrap().count(), 1);
}

/// A container engine has no watchdog: the runtime enforces the task's
/// itself (BGAPP_ENGINE=oci). The contract app's `e2e-contract` task
/// (`watchdog = "2s"`) stops beating when a `stall` file appears in its
/// state directory; the runtime then stops it (status 1), where without
/// the engine's watchdog it would run on forever.
#[test]
fn a_task_that_stops_beating_is_stopped_in_a_container() {
    let Some(podman) = Podman::new() else { return };
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/contract");
    let out = apps().workspace.join("contract");
    let mut cmd = cargo_bgapp(&app);
    cmd.args(["package", "-q", "--locked", "--format", "oci", "--out-dir"])
        .arg(&out);
    let path = support::run(&mut cmd);
    podman.run(&["load", "-i", path.trim()]);
    podman.run(&["volume", "create", "contract-state"]);
    let mut args = vec!["run", "-d", "--name", "c", "--network", "none"];
    args.extend(LOCKED);
    args.extend([
        "-v",
        "contract-state:/var/lib/e2e-contract",
        "e2e-contract:0.1.0",
    ]);
    podman.run(&args);
    podman.wait_log("c", "task `e2e-contract` started", 1);
    // The exec liveness probe a Kubernetes workload uses.
    let probe = |name: &str, flag: &str| {
        podman
            .cmd()
            .args(["exec", name, "/usr/bin/e2e-contract", flag, "e2e-contract"])
            .output()
            .unwrap()
            .status
            .code()
    };
    wait_until(
        || probe("c", "--bgapp-alive") == Some(0),
        "the probe to pass",
    );
    // And the readiness probe (the task's readiness is the default one:
    // ready once started).
    wait_until(
        || probe("c", "--bgapp-ready") == Some(0),
        "the readiness probe to pass",
    );
    std::fs::write(podman.volume_dir("contract-state").join("stall"), "").unwrap();
    let logs = podman.wait_log("c", "exited with status 1 (failed)", 1);
    assert!(logs.contains("sent no heartbeat for 2s"), "{logs}");
    assert!(logs.contains("stopped (watchdog) in time"), "{logs}");
    // The status the runtime exits with: podman's, and the run record in
    // the state volume.
    let code = podman.exit_code("c");
    assert_eq!(code, "1", "{}", podman.logs("c"));
    let record =
        std::fs::read_to_string(podman.volume_dir("contract-state").join("e2e-contract.run"))
            .unwrap();
    assert!(
        record.lines().any(|l| l == "exit_code=1") && record.contains("running=false"),
        "run record:\n{record}\npodman's exit code: {code}\n{}",
        podman.logs("c")
    );

    // A runtime whose thread is blocked cannot stop the task: the probe
    // fails, for the engine to kill it.
    podman.run(&["rm", "c"]);
    podman.run(&args);
    podman.wait_log("c", "task `e2e-contract` started", 1);
    wait_until(
        || probe("c", "--bgapp-alive") == Some(0),
        "the probe to pass",
    );
    std::fs::write(podman.volume_dir("contract-state").join("freeze"), "").unwrap();
    podman.wait_log("c", "freezing", 1);
    wait_until(
        || probe("c", "--bgapp-alive") == Some(1),
        "the probe to fail",
    );
    podman.run(&["kill", "-s", "KILL", "c"]);
}

/// A containerd of the test's own (what k3s runs: `k3s ctr images import`
/// and k3s's images directory import through containerd's client): its
/// root, state and socket in a temporary directory, the CRI plugin off.
struct Containerd {
    dir: tempfile::TempDir,
    daemon: std::process::Child,
}

impl Containerd {
    fn start() -> Option<Containerd> {
        if !is_root() {
            skip("running containerd needs root");
            return None;
        }
        if !have_all(&["containerd", "ctr", "runc"]) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("containerd-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("config.toml"),
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\naddress = \"{0}/containerd.sock\"\n\
                 [ttrpc]\naddress = \"{0}/containerd-ttrpc.sock\"\n\
                 [debug]\naddress = \"\"\n[metrics]\naddress = \"\"\n",
                d.display()
            ),
        )
        .unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(d.join("log")).unwrap())
            .stderr(std::fs::File::create(d.join("err")).unwrap())
            .spawn()
            .expect("containerd starts");
        let ctrd = Containerd { dir, daemon };
        wait_until(
            || ctrd.ctr().arg("version").output().unwrap().status.success(),
            "containerd to answer",
        );
        Some(ctrd)
    }

    /// `ctr` on this containerd, in Kubernetes' namespace (`k8s.io`).
    fn ctr(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .args(["--namespace", "k8s.io"])
            .stdin(Stdio::null());
        cmd
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> String {
        text(&success(self.ctr().args(args).output().unwrap()).stdout)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for task in self.run(&["tasks", "list", "-q"]).lines() {
            let _ = self
                .ctr()
                .args(["tasks", "kill", "-s", "KILL", task])
                .output();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// k3s: the archive imported into containerd is named as the Kubernetes
/// workloads name their image (here a repository set in
/// `[package.metadata.bgapp.kubernetes]` and a version with build metadata,
/// which a tag cannot hold), and runs there as under podman. podman still
/// names it `<package>:<tag>`.
#[test]
fn containerd_imports_the_archive_under_the_workloads_image_name() {
    let Some(ctrd) = Containerd::start() else {
        return;
    };
    let Some(podman) = Podman::new() else { return };
    // The hello template, at version 0.2.0+git.5, its image repository set.
    let app = apps().workspace.join("edge");
    if !app.exists() {
        let mut cmd = cargo_bgapp(&apps().workspace);
        cmd.args(["new", "edge", "--template", "hello", "--vcs", "none", "-q"]);
        success(cmd.output().unwrap());
        let manifest = app.join("Cargo.toml");
        let toml = std::fs::read_to_string(&manifest).unwrap().replacen(
            "version = \"0.1.0\"",
            "version = \"0.2.0+git.5\"",
            1,
        )
            + "\n[package.metadata.bgapp.kubernetes]\nimage = \"registry.example/fleet/edge\"\n";
        std::fs::write(&manifest, toml).unwrap();
    }
    let out = apps().workspace.join("edge-out");
    let mut cmd = cargo_bgapp(&apps().workspace);
    cmd.args([
        "package",
        "-q",
        "-p",
        "edge",
        "--format",
        "oci,k8s",
        "--out-dir",
    ])
    .arg(&out);
    success(cmd.output().unwrap());
    let archive = out.join(format!("edge_0.2.0+git.5_{}.oci.tar", host_arch()));
    let yaml = std::fs::read_to_string(out.join("edge_0.2.0+git.5.k8s.yaml")).unwrap();
    let image = "registry.example/fleet/edge:0.2.0_git.5";
    assert!(yaml.contains(&format!("image: \"{image}\"\n")), "{yaml}");

    let loaded = podman.run(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("edge:0.2.0_git.5"), "{loaded}");

    let imported = ctrd.run(&[
        "images",
        "import",
        "--snapshotter",
        "native",
        archive.to_str().unwrap(),
    ]);
    assert!(imported.contains(image), "{imported}");
    let names = ctrd.run(&["images", "list", "-q"]);
    assert!(names.lines().any(|n| n == image), "{names}");

    // It runs, and a stop is the operator's stop: exit 0, saved in time.
    let log = ctrd.dir.path().join("edge.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut run = ctrd
        .ctr()
        .args(["run", "--rm", "--snapshotter", "native", image, "edge"])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let logs = || std::fs::read_to_string(&log).unwrap();
    wait_until(
        || logs().contains("task `edge` started"),
        "the app to start",
    );
    ctrd.run(&["tasks", "kill", "-s", "TERM", "edge"]);
    let status = run.wait().unwrap();
    let logs = logs();
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(
        logs.contains("task `edge` stopped (stop-requested) in time"),
        "{logs}"
    );
}

/// Polls `check` until it holds, for at most two minutes.
#[track_caller]
fn wait_until(mut check: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
