//! `cargo bgapp deploy`, `status`, `logs`, `remove`, `enable`, `disable`
//! against real devices over real SSH: three namespaced systemds (see
//! `deploy/devices.rs`), each with its own OpenSSH server on a loopback
//! port, reached through the test's own ssh config and known_hosts; the
//! third boots a lean image (`mmdebstrap --variant=minbase`, no D-Bus).
//!
//! It needs root (namespaces, overlay mounts, cgroups), sshd, ssh, sudo
//! and mmdebstrap. Without them it says so in one line and checks
//! nothing; under `CI=true` a missing requirement fails instead.

#[path = "deploy/devices.rs"]
mod devices;
#[path = "support/mod.rs"]
mod support;
#[allow(dead_code)]
#[path = "e2e/system.rs"]
mod system;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use devices::{Device, Keys};
use support::text;

const APP: &str = "dep-hello";
const UNIT: &str = "dep-hello.service";

fn requirements() -> Result<(), String> {
    if !support::is_root() {
        return Err(
            "needs root (namespaces, overlay mounts, cgroups); run as root, as `.ci/run` does"
                .into(),
        );
    }
    for tool in [
        "unshare",
        "nsenter",
        "dpkg",
        "systemctl",
        "ssh",
        "ssh-keygen",
        "sudo",
        "mmdebstrap",
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Err(format!("needs `{tool}`"));
        }
    }
    for file in ["/usr/sbin/sshd", "/lib/systemd/systemd"] {
        if !Path::new(file).is_file() {
            return Err(format!("needs `{file}` (openssh-server, systemd)"));
        }
    }
    Ok(())
}

/// The project: `cargo bgapp new --template hello`, in a workspace of its
/// own, whose versions the test writes.
struct Project {
    dir: PathBuf,
    manifest: String,
    main: String,
}

impl Project {
    fn new(root: &Path) -> Project {
        Project::from_template(root, APP, "hello", &[])
    }

    fn from_template(root: &Path, name: &str, template: &str, defines: &[&str]) -> Project {
        if root.exists() {
            std::fs::remove_dir_all(root).expect("remove the old project");
        }
        std::fs::create_dir_all(root).expect("create the project folder");
        support::run(
            support::cargo_bgapp(root)
                .args([
                    "new",
                    "-q",
                    name,
                    "--template",
                    template,
                    "--vcs",
                    "none",
                    "--no-workspace",
                ])
                .args(defines.iter().flat_map(|d| ["-d", d]))
                .arg("--bgapp-path")
                .arg(support::bgapp_crate()),
        );
        let dir = root.join(name);
        let mut manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("the manifest");
        // The hosts of the package (the packager leaves this table alone).
        manifest.push_str(
            "\n[package.metadata.bgapp.deploy]\nhosts = [\"dev1\", \"dev2\", \"dev3\"]\ngroups = { odd = [\"dev1\", \"dev3\"] }\n",
        );
        let main = std::fs::read_to_string(dir.join("src/main.rs")).expect("main.rs");
        assert!(manifest.contains("version = \"0.1.0\""), "{manifest}");
        Project {
            dir,
            manifest,
            main,
        }
    }

    /// Writes version `version`; `fail` makes its task exit 1 at start.
    fn version(&self, version: &str, fail: bool) {
        std::fs::write(
            self.dir.join("Cargo.toml"),
            self.manifest.replacen(
                "version = \"0.1.0\"",
                &format!("version = \"{version}\""),
                1,
            ),
        )
        .expect("write the manifest");
        let main = if fail {
            let at = "    let deferral = task.deferral();";
            assert!(self.main.contains(at));
            self.main.replacen(
                at,
                &format!(
                    "    if true {{\n        anyhow::bail!(\"version {version} cannot start\");\n    }}\n{at}"
                ),
                1,
            )
        } else {
            self.main.clone()
        };
        std::fs::write(self.dir.join("src/main.rs"), main).expect("write main.rs");
    }

    fn cargo_bgapp(&self, keys: &Keys, args: &[&str]) -> Output {
        let mut cmd = support::cargo_bgapp(&self.dir);
        cmd.args(args)
            .arg("--ssh-config")
            .arg(&keys.config)
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("BGAPP_SSH_CONFIG");
        cmd.output().expect("run cargo-bgapp")
    }
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[track_caller]
fn ok(out: Output) -> Output {
    assert!(out.status.success(), "failed: {}", describe(&out));
    out
}

fn version(dev: &Device) -> String {
    text(
        &dev.sys
            .sh(&format!(
                "dpkg-query -W -f '${{Status}} ${{Version}}' {APP}"
            ))
            .stdout,
    )
}

/// The run count the hello app last logged (`run N of ...`).
fn last_run(dev: &Device) -> u64 {
    dev.sys
        .journal(UNIT)
        .lines()
        .rev()
        .find_map(|l| l.split("run ").nth(1)?.split(" of `").next()?.parse().ok())
        .unwrap_or(0)
}

/// The `previous execution:` the unit's last start logged.
fn last_start(dev: &Device) -> String {
    dev.sys
        .journal(UNIT)
        .lines()
        .rfind(|l| l.contains("started (activation:"))
        .unwrap_or_default()
        .to_string()
}

/// Three devices: 0.1.0 to all, 0.2.0 keeping state, a failing 0.3.0
/// stopped at the canary and rolled back, status, logs, enable and
/// disable, remove --purge; then bad hosts, each failing alone in one
/// line while a good one deploys.
#[test]
fn deploy_rollout_rollback_status_logs_remove_and_bad_hosts() {
    if let Err(why) = requirements() {
        support::skip(&format!("the deploy suite {why}"));
        return;
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy");
    let project = Project::new(&tmp.join("apps"));
    let mut keys = Keys::new(&tmp.join("keys"));
    // dev3 is a lean device: Debian's minbase with systemd, OpenSSH's
    // server and sudo, no D-Bus, as a device's own image is built.
    let lean = devices::lean_image(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lean-device"));
    let devs: Vec<Device> = (1..=3)
        .map(|n| {
            devices::boot(
                &tmp.join(format!("dev{n}")),
                &format!("bgapp-deploy-{}-dev{n}", std::process::id()),
                &keys,
                if n == 3 {
                    devices::Image::Root(&lean)
                } else {
                    devices::Image::Host
                },
            )
        })
        .collect();
    assert!(
        devs[2].sys.sh("command -v dbus-daemon").stdout.is_empty(),
        "dev3 has no D-Bus"
    );
    // dev2 is reached as a user with passwordless sudo; the others as root.
    for (n, dev) in devs.iter().enumerate() {
        let user = if n == 1 { "deployer" } else { "root" };
        keys.add_host(&format!("dev{}", n + 1), dev.port, user, &dev.host_key);
    }
    // dev1 with a key that is not its own: a changed host key.
    let other = Keys::new(&tmp.join("other-keys"));
    let wrong = std::fs::read_to_string(other.key.with_extension("pub")).unwrap();
    let wrong: String = wrong
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    keys.add_host("dev1-changed", devs[0].port, "root", &wrong);
    keys.add_host("dev2-nosudo", devs[1].port, "nosudo", &devs[1].host_key);
    keys.write_config();
    let mut devs = devs;
    for dev in &mut devs {
        dev.sys.watch("dep-hello*");
    }
    let all = ["dev1", "dev2", "dev3"];

    // 0.1.0 to all three.
    project.version("0.1.0", false);
    let out = ok(project.cargo_bgapp(&keys, &[&["deploy", "--settle", "2s"][..], &all].concat()));
    let summary = text(&out.stdout);
    for host in all {
        let row = summary
            .lines()
            .find(|l| l.starts_with(host))
            .unwrap_or_else(|| panic!("no row for {host}:\n{}", describe(&out)));
        assert!(
            row.contains("succeeded") && row.contains("- -> 0.1.0-1") && row.contains("amd64"),
            "{row}"
        );
    }
    assert!(
        text(&out.stderr).contains("to 3 of 3 host(s)"),
        "{}",
        describe(&out)
    );
    for dev in &devs {
        assert_eq!(dev.sys.prop(UNIT, "ActiveState"), "active");
        assert_eq!(version(dev), "install ok installed 0.1.0-1");
        assert!(
            dev.sys
                .upper("/var/lib/bgapp-deploy/dep-hello/current.deb")
                .is_file(),
            "the bundle is kept for rollback"
        );
    }
    assert!(last_start(&devs[0]).contains("previous execution: not-running"));

    // The same version again: a no-op that says so.
    let pid = devs[0].sys.prop(UNIT, "MainPID");
    let out = ok(project.cargo_bgapp(&keys, &["deploy", "dev1", "--settle", "0"]));
    assert!(
        text(&out.stderr).contains("already has 0.1.0-1; nothing to do"),
        "{}",
        describe(&out)
    );
    assert!(
        text(&out.stdout).contains("unchanged"),
        "{}",
        describe(&out)
    );
    assert_eq!(devs[0].sys.prop(UNIT, "MainPID"), pid, "not restarted");
    let out = ok(project.cargo_bgapp(&keys, &["deploy", "dev1", "--settle", "0", "--force"]));
    assert!(
        text(&out.stdout).contains("succeeded"),
        "{}",
        describe(&out)
    );
    assert_ne!(
        devs[0].sys.prop(UNIT, "MainPID"),
        pid,
        "--force installs it again"
    );

    // 0.2.0, as JSON: state kept across the upgrade, whose stop the new
    // version's start names.
    project.version("0.2.0", false);
    let out = ok(project.cargo_bgapp(
        &keys,
        &[
            &["deploy", "--settle", "1s", "--message-format", "json"][..],
            &all,
        ]
        .concat(),
    ));
    let reports: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(reports.len(), 3, "{}", describe(&out));
    for (r, host) in reports.iter().zip(all) {
        assert_eq!(r["host"], host);
        assert_eq!(r["result"], "succeeded", "{r}");
        assert_eq!(r["old_version"], "0.1.0-1");
        assert_eq!(r["new_version"], "0.2.0-1");
        assert_eq!(r["arch"], "amd64");
    }
    for dev in &devs {
        assert_eq!(version(dev), "install ok installed 0.2.0-1");
        dev.sys
            .wait_for_log(UNIT, "run 2 of `dep-hello`", 1, Duration::from_secs(20));
        let start = last_start(dev);
        assert!(
            start.contains("previous execution: closed-by-user"),
            "the upgrade's stop (systemctl try-restart, an operator stop) is the previous execution: {start}"
        );
    }

    // 0.3.0 fails at start: the canary is rolled back, nobody else is touched.
    let before: Vec<String> = devs[1..]
        .iter()
        .map(|d| d.sys.prop(UNIT, "MainPID"))
        .collect();
    let runs_before = last_run(&devs[0]);
    project.version("0.3.0", true);
    let started = Instant::now();
    let out = project.cargo_bgapp(
        &keys,
        &[&["deploy", "--canary", "1", "--settle", "2s"][..], &all].concat(),
    );
    eprintln!(
        "deploy: the failed canary took {:?}\n{}",
        started.elapsed(),
        describe(&out)
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("version 0.3.0 cannot start"),
        "the failing unit's journal is shown: {}",
        describe(&out)
    );
    assert!(err.contains("rolled back to 0.2.0-1"), "{}", describe(&out));
    let summary = text(&out.stdout);
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("dev1") && l.contains("failed, rolled back")),
        "{summary}"
    );
    for host in ["dev2", "dev3"] {
        assert!(
            summary
                .lines()
                .any(|l| l.starts_with(host) && l.contains("skipped")),
            "{summary}"
        );
    }
    assert_eq!(version(&devs[0]), "install ok installed 0.2.0-1");
    assert_eq!(devs[0].sys.prop(UNIT, "ActiveState"), "active");
    // The state saved before 0.3.0 came back: the run count goes on.
    devs[0].sys.wait_for(
        "the restored version's next run",
        Duration::from_secs(20),
        || last_run(&devs[0]) == runs_before + 1,
    );
    for (dev, pid) in devs[1..].iter().zip(&before) {
        assert_eq!(version(dev), "install ok installed 0.2.0-1");
        assert_eq!(&dev.sys.prop(UNIT, "MainPID"), pid, "not touched");
        assert!(!dev.sys.journal(UNIT).contains("0.3.0"), "not touched");
    }

    // status: every host, as a table and as JSON.
    let out = ok(project.cargo_bgapp(&keys, &["status"]));
    let table = text(&out.stdout);
    for host in all {
        let row = table
            .lines()
            .find(|l| l.starts_with(host))
            .unwrap_or_else(|| panic!("no row for {host}:\n{table}"));
        assert!(
            row.contains("0.2.0-1") && row.contains(UNIT) && row.contains("active (running)"),
            "{row}"
        );
        assert!(row.contains("running (run"), "the last STATUS=: {row}");
    }
    let out = ok(project.cargo_bgapp(&keys, &["status", "dev2", "--message-format", "json"]));
    let status: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(status["version"], "0.2.0-1");
    let unit = &status["units"][0];
    assert_eq!(unit["unit"], UNIT);
    assert_eq!(
        unit["task"], APP,
        "the hello template's task is named after the package"
    );
    assert_eq!(unit["restarts"], 0);
    assert_eq!(unit["previous_execution"], "closed-by-user");
    assert_eq!(
        unit["main_pid"].as_u64().unwrap().to_string(),
        devs[1].sys.prop(UNIT, "MainPID")
    );

    // A user without sudo may still read the state (not the journal).
    let out = ok(project.cargo_bgapp(&keys, &["status", "dev2-nosudo"]));
    assert!(
        text(&out.stdout).contains("active (running)"),
        "{}",
        describe(&out)
    );

    // logs: the app's lines, through sudo for dev2's user.
    let out = ok(project.cargo_bgapp(&keys, &["logs", "dev2", "-n", "20"]));
    let logs = text(&out.stdout);
    assert!(logs.contains("run 2 of `dep-hello`"), "{logs}");
    assert!(logs.lines().count() <= 21, "{logs}");
    let out = ok(project.cargo_bgapp(&keys, &["logs", "dev1", "--task", APP, "-n", "5"]));
    assert!(
        text(&out.stdout).contains("dep-hello"),
        "{}",
        describe(&out)
    );
    // logs -f follows until interrupted (Ctrl-C: SIGINT to the group).
    let mut follow = {
        use std::os::unix::process::CommandExt as _;
        support::cargo_bgapp(&project.dir)
            .args(["logs", "dev3", "-f", "-n", "1", "--ssh-config"])
            .arg(&keys.config)
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run cargo-bgapp logs -f")
    };
    let mut lines = Lines::from(follow.stdout.take().unwrap());
    lines.wait_for("dep-hello");
    devs[2].sys.run(&format!("systemctl restart {UNIT}"));
    lines.wait_for("stopping (stop-requested");
    lines.wait_for("started (activation: boot");
    // SAFETY: kill(2) of the process group this test started.
    unsafe { libc::kill(-(follow.id() as i32), libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while follow.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "logs -f did not end on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = project.cargo_bgapp(&keys, &["logs", "dev1", "--task", "nope"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no task `nope`") && text(&out.stderr).contains(APP),
        "{}",
        describe(&out)
    );

    // disable and enable: start at boot.
    ok(project.cargo_bgapp(&keys, &["disable", "dev2", APP]));
    assert_eq!(devs[1].sys.prop(UNIT, "UnitFileState"), "disabled");
    assert_eq!(
        devs[1].sys.prop(UNIT, "ActiveState"),
        "active",
        "still running"
    );
    ok(project.cargo_bgapp(&keys, &["enable", "dev2", APP]));
    assert_eq!(devs[1].sys.prop(UNIT, "UnitFileState"), "enabled");

    // remove --purge: the unit, /var/lib/<package> and the kept bundles go.
    let hosts_file = tmp.join("hosts");
    std::fs::write(&hosts_file, "# the even ones\ndev2\n").unwrap();
    let out = ok(project.cargo_bgapp(
        &keys,
        &[
            "remove",
            "--purge",
            "--group",
            "odd",
            "--hosts-file",
            hosts_file.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        text(&out.stderr).matches("Purged").count(),
        3,
        "the group's two and the file's one: {}",
        describe(&out)
    );
    for dev in &devs {
        assert_eq!(dev.sys.prop(UNIT, "LoadState"), "not-found");
        assert_eq!(
            dev.sys.sh("test -e /var/lib/dep-hello").status.code(),
            Some(1)
        );
        assert_eq!(
            dev.sys
                .sh("test -e /var/lib/bgapp-deploy/dep-hello")
                .status
                .code(),
            Some(1)
        );
    }

    // Bad hosts, each failing alone in one line, while dev3 deploys: a
    // closed port, a changed host key, a user without sudo, and (dev2,
    // which now says it is s390x) an architecture without a Rust target.
    devs[1].sys.run(
        "set -e
         printf '#!/bin/sh\\n[ \"$1\" = --print-architecture ] && { echo s390x; exit 0; }\\nexec /usr/bin/dpkg \"$@\"\\n' > /usr/local/bin/dpkg
         printf '#!/bin/sh\\n[ \"$1\" = -m ] && { echo s390x; exit 0; }\\nexec /bin/uname \"$@\"\\n' > /usr/local/bin/uname
         chmod +x /usr/local/bin/dpkg /usr/local/bin/uname",
    );
    project.version("0.2.0", false);
    let closed = format!("root@127.0.0.1:{}", devices::free_port());
    // A host that takes the connection and never says a word (a hung
    // device): ssh's ConnectTimeout covers its banner too.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("root@{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = project.cargo_bgapp(
        &keys,
        &[
            "deploy",
            "--settle",
            "0",
            "--connect-timeout",
            "5",
            &closed,
            &silent,
            "dev1-changed",
            "dev2-nosudo",
            "dev2",
            "dev3",
        ],
    );
    let took = started.elapsed();
    eprintln!("deploy: bad hosts:\n{}", describe(&out));
    assert!(!out.status.success(), "{}", describe(&out));
    let err = text(&out.stderr);
    let line = |needle: &str| {
        err.lines()
            .find(|l| l.starts_with("error:") && l.contains(needle))
            .unwrap_or_else(|| panic!("no error line for {needle}:\n{}", describe(&out)))
            .to_string()
    };
    assert!(line(&closed).contains("Connection refused"), "{err}");
    assert!(line(&silent).contains("timed out"), "{err}");
    assert!(
        took < Duration::from_secs(40),
        "a silent host holds the others up for its connect timeout (5 s) only: {took:?}"
    );
    assert!(line("dev1-changed").contains("host key"), "{err}");
    assert!(line("dev2-nosudo").contains("sudo -n"), "{err}");
    let arch = line("`dev2`:");
    assert!(arch.contains("s390x"), "{arch}");
    assert!(
        err.contains("rustup target add s390x-unknown-linux-gnu"),
        "{err}"
    );
    let summary = text(&out.stdout);
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("dev3") && l.contains("succeeded")),
        "{}",
        describe(&out)
    );
    assert_eq!(version(&devs[2]), "install ok installed 0.2.0-1");
    eprintln!("deploy: bad hosts and one good one in {took:?}");

    // A device that says it is arm64 gets a bundle cross-built for
    // aarch64 (the machine's dpkg, which is amd64, then refuses it: the
    // refusal names the architecture that was sent).
    if Path::new("/usr/bin/aarch64-linux-gnu-gcc").is_file() {
        devs[1].sys.run(
            "sed -i 's/s390x/arm64/' /usr/local/bin/dpkg && sed -i 's/s390x/aarch64/' /usr/local/bin/uname",
        );
        let out = project.cargo_bgapp(&keys, &["deploy", "dev2", "--settle", "0"]);
        assert!(!out.status.success(), "{}", describe(&out));
        let err = text(&out.stderr);
        assert!(
            err.contains("(aarch64-unknown-linux-gnu)"),
            "built for aarch64: {}",
            describe(&out)
        );
        assert!(
            err.contains("package architecture (arm64) does not match system (amd64)"),
            "{}",
            describe(&out)
        );
        assert!(
            text(&out.stdout)
                .lines()
                .any(|l| l.starts_with("dev2") && l.contains("arm64")),
            "{}",
            describe(&out)
        );
    } else {
        support::skip("the cross deploy: aarch64-linux-gnu-gcc is not installed");
    }

    // A timer task: its trigger unit is gated, not its service (which
    // runs on each elapse); status lists both, with the task.
    let timer = Project::from_template(&tmp.join("timer"), "dep-timer", "timer", &["interval=1h"]);
    let out = ok(timer.cargo_bgapp(&keys, &["deploy", "dev3", "--settle", "0"]));
    assert!(
        text(&out.stdout).contains("succeeded"),
        "{}",
        describe(&out)
    );
    let out = ok(timer.cargo_bgapp(&keys, &["status", "dev3", "--message-format", "json"]));
    let status: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let units = status["units"].as_array().unwrap();
    let trigger = units
        .iter()
        .find(|u| u["unit"].as_str().unwrap().ends_with(".timer"))
        .unwrap_or_else(|| panic!("no timer unit: {status}"));
    assert_eq!(trigger["active_state"], "active", "{status}");
    assert!(
        units
            .iter()
            .any(|u| u["unit"].as_str().unwrap().ends_with(".service") && u["task"] != ""),
        "{status}"
    );
    ok(timer.cargo_bgapp(&keys, &["remove", "--purge", "dev3"]));

    // --no-rollback leaves the failed version for inspection; the next
    // deploy of a good version repairs it.
    project.version("0.3.0", true);
    let out = project.cargo_bgapp(&keys, &["deploy", "dev3", "--settle", "0", "--no-rollback"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("left as it is (`--no-rollback`)"),
        "{}",
        describe(&out)
    );
    assert_eq!(version(&devs[2]), "install ok installed 0.3.0-1");
    assert!(devs[2]
        .sys
        .journal(UNIT)
        .contains("version 0.3.0 cannot start"));
    project.version("0.2.0", false);
    let out = ok(project.cargo_bgapp(&keys, &["deploy", "dev3", "--settle", "1s"]));
    assert!(
        text(&out.stdout).contains("0.3.0-1 -> 0.2.0-1"),
        "{}",
        describe(&out)
    );
    assert_eq!(version(&devs[2]), "install ok installed 0.2.0-1");
    assert_eq!(devs[2].sys.prop(UNIT, "ActiveState"), "active");

    // A device without dpkg gets the tarball (`install.sh`): 0.2.0, then
    // a failing 0.3.0 rolled back from the kept tarball, then removed.
    // Its `head` is not GNU coreutils' (as on a BusyBox system): the
    // bundle goes in a session of its own, not over the shell.
    let dev1 = &devs[0];
    dev1.sys.run(
        "mv /usr/bin/dpkg /usr/bin/dpkg.hidden
         mv /usr/bin/head /usr/bin/head.gnu
         printf '#!/bin/sh\\ncase \"$1\" in --version) echo \"head (not GNU)\"; exit 1;; esac\\nexec /usr/bin/head.gnu \"$@\"\\n' > /usr/bin/head
         chmod 0755 /usr/bin/head",
    );
    // With dev3 (dpkg, 0.2.0 installed) beside it: one target, both
    // bundles, whichever host is probed first.
    let out = ok(project.cargo_bgapp(&keys, &["deploy", "dev1", "dev3", "--settle", "1s"]));
    let table = text(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("dev1") && l.contains("- -> 0.2.0-1")),
        "{}",
        describe(&out)
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("dev3") && l.contains("unchanged")),
        "{}",
        describe(&out)
    );
    assert_eq!(dev1.sys.prop(UNIT, "ActiveState"), "active");
    assert!(dev1
        .sys
        .upper("/var/lib/bgapp-deploy/dep-hello/current")
        .is_dir());
    let out = ok(project.cargo_bgapp(&keys, &["deploy", "dev1", "--settle", "0"]));
    assert!(
        text(&out.stdout).contains("unchanged"),
        "{}",
        describe(&out)
    );
    project.version("0.3.0", true);
    let out = project.cargo_bgapp(&keys, &["deploy", "dev1", "--settle", "1s"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("rolled back to 0.2.0-1"),
        "{}",
        describe(&out)
    );
    assert_eq!(dev1.sys.prop(UNIT, "ActiveState"), "active");
    let start = last_start(dev1);
    assert!(!start.contains("not-running"), "state intact: {start}");
    let out = ok(project.cargo_bgapp(&keys, &["remove", "--purge", "dev1"]));
    assert!(text(&out.stderr).contains("Purged"), "{}", describe(&out));
    assert_eq!(dev1.sys.prop(UNIT, "LoadState"), "not-found");
    assert_eq!(
        dev1.sys.sh("test -e /var/lib/dep-hello").status.code(),
        Some(1)
    );
    dev1.sys
        .run("mv /usr/bin/dpkg.hidden /usr/bin/dpkg\nmv /usr/bin/head.gnu /usr/bin/head");
}

/// Reads a child's stderr lines on a thread, to wait for one.
struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(child: &mut std::process::Child) -> Lines {
        Lines::from(child.stderr.take().expect("piped stderr"))
    }

    fn from(stream: impl std::io::Read + Send + 'static) -> Lines {
        use std::io::BufRead as _;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    #[track_caller]
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with `{needle}` in:\n{}", self.seen.join("\n")),
            }
        }
    }
}

/// The hello template packaged for arm64 and armhf with Debian's cross
/// compilers: the `.deb` says the architecture and depends on that
/// architecture's libc, and its binary runs under qemu-user: `--list`,
/// and a run stopped by SIGTERM that saves its state, which the next run
/// restores. (`--bgapp-list`: a binary with a default task gives it
/// `--list`.)
#[test]
fn cross_packages_for_arm64_and_armhf_run_under_emulation() {
    let targets = [
        (
            "aarch64-unknown-linux-gnu",
            "arm64",
            "qemu-aarch64-static",
            "/usr/aarch64-linux-gnu",
            "aarch64-linux-gnu-gcc",
        ),
        (
            "armv7-unknown-linux-gnueabihf",
            "armhf",
            "qemu-arm-static",
            "/usr/arm-linux-gnueabihf",
            "arm-linux-gnueabihf-gcc",
        ),
    ];
    let tools: Vec<&str> = targets
        .iter()
        .flat_map(|t| [t.2, t.4])
        .chain(["dpkg-deb"])
        .collect();
    if !support::have_all(&tools) {
        return;
    }
    for (triple, ..) in targets {
        let libdir = Command::new("rustc")
            .args(["--print", "target-libdir", "--target", triple])
            .output()
            .map(|o| PathBuf::from(text(&o.stdout).trim()))
            .unwrap_or_default();
        if !libdir.is_dir() {
            support::skip(&format!(
                "the Rust target `{triple}` is not installed (rustup target add {triple})"
            ));
            return;
        }
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy-cross");
    // A name of its own: the deploy test builds `dep-hello` for aarch64 too,
    // into the same target directory, at the same time.
    const APP: &str = "dep-cross";
    let project = Project::from_template(&tmp.join("apps"), APP, "hello", &[]);
    for (triple, arch, qemu, sysroot, _) in targets {
        let out = ok(support::cargo_bgapp(&project.dir)
            .args(["package", "-q", "--format", "deb", "--target", triple])
            .output()
            .expect("run cargo-bgapp"));
        let deb = PathBuf::from(text(&out.stdout).trim());
        assert!(
            deb.to_string_lossy().ends_with(&format!("_{arch}.deb")),
            "{deb:?}"
        );
        let fields = support::run(
            Command::new("dpkg-deb")
                .arg("-f")
                .arg(&deb)
                .args(["Architecture", "Depends"]),
        );
        assert!(
            fields.contains(&format!("Architecture: {arch}")),
            "{fields}"
        );
        let depends = fields
            .lines()
            .find(|l| l.starts_with("Depends:"))
            .unwrap_or_else(|| panic!("no Depends: {fields}"));
        assert!(depends.contains("libc6 (>= 2."), "{depends}");
        assert!(!depends.contains(":amd64"), "{depends}");

        let root = tmp.join(arch);
        let _ = std::fs::remove_dir_all(&root);
        support::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
        let bin = root.join(format!("usr/bin/{APP}"));
        // Bounded: a binary that took the flag for its task would run on.
        let list = support::run(
            Command::new("timeout")
                .args(["60", qemu])
                .arg("-L")
                .arg(sysroot)
                .arg(&bin)
                .arg("--bgapp-list"),
        );
        assert!(list.contains(APP), "{arch}: {list}");

        let state = root.join("state");
        for run in 1..=2 {
            let mut child = Command::new(qemu)
                .arg("-L")
                .arg(sysroot)
                .arg(&bin)
                .arg(APP)
                .env("BGAPP_STATE_DIR", &state)
                .env_remove("NOTIFY_SOCKET")
                .env_remove("INVOCATION_ID")
                .env_remove("JOURNAL_STREAM")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run the emulated binary");
            let mut lines = Lines::of(&mut child);
            let started = lines.wait_for(&format!("run {run} of `{APP}`"));
            // SAFETY: kill(2) of the child this test started.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            lines.wait_for("stopping");
            let status = child.wait().expect("wait for the emulated binary");
            assert!(
                status.success(),
                "{arch} run {run}: {status}\n{}",
                lines.seen.join("\n")
            );
            if run == 2 {
                assert!(
                    !started.contains("not-running"),
                    "{arch}: the state was restored: {started}"
                );
            }
        }
        eprintln!("deploy: {triple}: {} ran under {qemu}", deb.display());
    }
}

/// Median of `runs` timings of `f`, each after `untimed`.
fn median(runs: usize, mut untimed: impl FnMut(), mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            untimed();
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// The benchmark (`bash bench/deploy.sh`, not part of the test run):
/// `cargo bgapp deploy --settle 0` of the already-built hello app to one
/// device, side by side with what a user writes by hand (`scp`, `ssh
/// dpkg -i`, `systemctl is-active` polling), each reinstalling the same
/// version; and to 8 devices with `--parallel 8`. Prints the medians and
/// checks the bounds (1.5x the script; 8 devices in 2x one).
#[test]
#[ignore = "a benchmark: run with bash bench/deploy.sh"]
fn benchmark_deploy_against_a_hand_written_script() {
    if let Err(why) = requirements() {
        support::skip(&format!("the deploy benchmark {why}"));
        return;
    }
    let runs: usize = std::env::var("BGAPP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy-bench");
    // Lean devices, as a device's image is built (`BGAPP_BENCH_DEVICES=host`:
    // overlays of this machine's root, whose 134,000-file package database
    // every `dpkg -i` reads, on the same two cores for all 8).
    let host = std::env::var("BGAPP_BENCH_DEVICES").is_ok_and(|v| v == "host");
    let lean = (!host).then(|| {
        devices::lean_image(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lean-device"))
    });
    let image = match &lean {
        Some(root) => devices::Image::Root(root),
        None => devices::Image::Host,
    };
    println!(
        "devices: {}",
        if host {
            "overlays of this machine's root"
        } else {
            "lean images (mmdebstrap --variant=minbase, systemd, openssh-server, sudo)"
        }
    );
    let project = Project::new(&tmp.join("apps"));
    project.version("0.1.0", false);
    let mut keys = Keys::new(&tmp.join("keys"));
    let devs: Vec<Device> = (1..=8)
        .map(|n| {
            devices::boot(
                &tmp.join(format!("dev{n}")),
                &format!("bgapp-deploy-bench-{}-dev{n}", std::process::id()),
                &keys,
                image,
            )
        })
        .collect();
    for (n, dev) in devs.iter().enumerate() {
        keys.add_host(&format!("dev{}", n + 1), dev.port, "root", &dev.host_key);
    }
    keys.write_config();
    let hosts: Vec<String> = (1..=8).map(|n| format!("dev{n}")).collect();
    // Each device gets a CPU of its own, as on a fleet: at most an eighth
    // of a core (`BGAPP_BENCH_DEVICE_CPU`: another fraction, or `shared`
    // for none), so that the 8 together use at most one of this machine's
    // two cores and none takes another's, and the deployer keeps the other.
    let cap = std::env::var("BGAPP_BENCH_DEVICE_CPU").unwrap_or_else(|_| "0.125".into());
    if cap == "shared" {
        println!(
            "device CPU: none of their own; the 8 share this machine's cores with the deployer"
        );
    } else {
        let fraction: f64 = cap
            .parse()
            .ok()
            .filter(|f| *f > 0.0 && *f <= 1.0)
            .unwrap_or_else(|| panic!("BGAPP_BENCH_DEVICE_CPU={cap}: give a fraction of a core in (0, 1], or `shared`"));
        for dev in &devs {
            dev.sys.limit_cpu(fraction).expect("cap a device's CPU");
        }
        println!("device CPU: each at most {fraction} of a core (CFS bandwidth of its cgroup)");
    }

    // Built once; the first deploy installs everywhere.
    let mut first = vec!["deploy", "--settle", "0"];
    first.extend(hosts.iter().map(String::as_str));
    first.extend(["--parallel", "8"]);
    ok(project.cargo_bgapp(&keys, &first));
    let out = ok(support::cargo_bgapp(&project.dir)
        .args(["package", "-q", "--format", "deb"])
        .output()
        .expect("run cargo-bgapp"));
    let deb = PathBuf::from(text(&out.stdout).trim());

    let config = keys.config.to_string_lossy().into_owned();
    let script = format!(
        "set -e
         scp -q -F '{config}' '{deb}' dev1:/tmp/app.deb
         ssh -F '{config}' dev1 'dpkg -i /tmp/app.deb >/dev/null'
         until ssh -F '{config}' dev1 systemctl is-active -q {UNIT}; do sleep 0.1; done",
        deb = deb.display()
    );
    // Every run restarts the app: more than its start limit allows in a
    // minute (5). Between runs, untimed, each device forgets the starts
    // (deploy resets a failed unit itself; the script would not).
    let forget_starts = || {
        for dev in &devs {
            dev.sys.run(&format!("systemctl reset-failed {UNIT}"));
        }
    };
    let by_hand = median(runs, forget_starts, || {
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    });
    let one = median(runs, forget_starts, || {
        ok(project.cargo_bgapp(&keys, &["deploy", "dev1", "--settle", "0", "--force"]));
    });
    let mut eight_args = vec!["deploy", "--settle", "0", "--force", "--parallel", "8"];
    eight_args.extend(hosts.iter().map(String::as_str));
    let eight = median(runs, forget_starts, || {
        ok(project.cargo_bgapp(&keys, &eight_args));
    });
    // The same script to the 8 devices at once (`&` and `wait`): how far
    // this machine's two cores, shared by the 8 devices' dpkg and systemd,
    // stretch the work on the devices themselves.
    let mut parallel = String::from("set -e\n");
    for host in &hosts {
        parallel.push_str(&format!(
            "( scp -q -F '{config}' '{deb}' {host}:/tmp/app.deb && ssh -F '{config}' {host} 'dpkg -i /tmp/app.deb >/dev/null' && until ssh -F '{config}' {host} systemctl is-active -q {UNIT}; do sleep 0.1; done ) &\n",
            deb = deb.display()
        ));
    }
    parallel.push_str("for job in $(jobs -p); do wait $job; done\n");
    let by_hand_eight = median(runs, forget_starts, || {
        let out = Command::new("sh")
            .arg("-c")
            .arg(&parallel)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    });
    for dev in &devs {
        assert_eq!(dev.sys.prop(UNIT, "ActiveState"), "active");
    }
    // Where the devices' CPU goes in one 8-device deploy: the whole
    // device and each of its units, the mean of the 8.
    let before: Vec<_> = devs.iter().map(|d| d.sys.cpu_usage()).collect();
    ok(project.cargo_bgapp(&keys, &eight_args));
    let mut used: std::collections::BTreeMap<String, Duration> = Default::default();
    for (dev, before) in devs.iter().zip(&before) {
        for (unit, now) in dev.sys.cpu_usage() {
            let was = before
                .iter()
                .find(|(u, _)| *u == unit)
                .map_or(Duration::ZERO, |(_, d)| *d);
            *used.entry(unit).or_default() += now.saturating_sub(was) / 8;
        }
    }
    println!("CPU per device in one 8-device deploy (mean of 8, from its cgroups):");
    let mut units: Vec<_> = used.into_iter().collect();
    units.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
    for (unit, d) in units.iter().filter(|(_, d)| *d >= Duration::from_millis(1)) {
        let unit = if unit.is_empty() {
            "(the whole device)"
        } else {
            unit
        };
        println!("    {:>6.0} ms  {unit}", d.as_secs_f64() * 1000.0);
    }
    // One more of each with `BGAPP_DEPLOY_TIMINGS`: where the time goes.
    for (what, args) in [
        (
            "1 device",
            vec!["deploy", "dev1", "--settle", "0", "--force"],
        ),
        ("8 devices", eight_args.clone()),
    ] {
        let out = ok(support::cargo_bgapp(&project.dir)
            .args(&args)
            .arg("--ssh-config")
            .arg(&keys.config)
            .env("BGAPP_DEPLOY_TIMINGS", "1")
            .env_remove("BGAPP_SSH_CONFIG")
            .output()
            .expect("run cargo-bgapp"));
        println!("phases, {what} (BGAPP_DEPLOY_TIMINGS=1):");
        for line in text(&out.stderr).lines().filter(|l| l.contains(" cpu ")) {
            println!("    {line}");
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| deploy, 1 device, settle 0 | {:.0} ms | {:.0} ms (scp + ssh dpkg -i + is-active polling) | {:.2}x |", ms(one), ms(by_hand), ms(one) / ms(by_hand));
    println!(
        "| deploy, 8 devices, --parallel 8, settle 0 | {:.0} ms | {:.0} ms (1 device) | {:.2}x |",
        ms(eight),
        ms(one),
        ms(eight) / ms(one)
    );
    println!(
        "| by hand, 8 devices at once (`&`, `wait`) | {:.0} ms | {:.0} ms (1 device) | {:.2}x |",
        ms(by_hand_eight),
        ms(by_hand),
        ms(by_hand_eight) / ms(by_hand)
    );
    assert!(
        ms(one) <= 1.5 * ms(by_hand),
        "deploy to one device took {one:?}, more than 1.5x the hand-written {by_hand:?}"
    );
    assert!(
        ms(eight) <= 2.0 * ms(one),
        "deploy to 8 devices took {eight:?}, more than 2x one device ({one:?})"
    );
}
