//! `cargo bgapp manifest` and `cargo bgapp package`, run as the real binary
//! on the fixture apps in `tests/fixtures/`, with the bundles read back by
//! the system's own tools (`dpkg-deb`, `tar`, `systemd-analyze`, `lintian`).
//!
//! The fixtures build once, into one target directory shared by every test
//! (`<target>/tmp/bgapp-fixtures`), so bgapp itself compiles once per run.
//! A test whose tool is missing says so in one line; under `CI=true` it
//! fails instead, so CI never passes without having checked.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use support::{
    fixture, fixtures_target, have, have_all, is_root, run, sh_quote, skip, success, tempdir, text,
    ScratchRoot,
};

const EPOCH: &str = "1700000000";

/// `cargo bgapp` in `dir`, with a fixed `SOURCE_DATE_EPOCH`.
fn cargo_bgapp(dir: &Path) -> Command {
    let mut cmd = support::cargo_bgapp(dir);
    cmd.env("SOURCE_DATE_EPOCH", EPOCH);
    cmd
}

/// Runs and expects a failure whose first stderr line is `error: ...`
/// containing `needle`; returns stderr.
#[track_caller]
fn failure(cmd: &mut Command, needle: &str) -> String {
    let output = cmd.output().expect("cargo-bgapp runs");
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, stderr:\n{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "stdout must stay empty: {}",
        text(&output.stdout)
    );
    let first = stderr
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"));
    assert!(
        first.contains(needle),
        "`{needle}` not in the error line `{first}`; stderr:\n{stderr}"
    );
    stderr
}

/// Builds a fixture once per test run, through `cargo bgapp manifest` (so
/// the build path is exercised too).
fn built(name: &'static str) -> PathBuf {
    static DONE: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let done = DONE.get_or_init(|| Mutex::new(Vec::new()));
    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fixture(name);
    if !done.contains(&name) {
        success(
            cargo_bgapp(&dir)
                .arg("manifest")
                .output()
                .expect("cargo-bgapp runs"),
        );
        done.push(name);
    }
    dir
}

fn package(dir: &Path, out: &Path, extra: &[&str]) -> Vec<PathBuf> {
    let output = success(
        cargo_bgapp(dir)
            .args(["package", "--no-build", "--out-dir"])
            .arg(out)
            .args(extra)
            .output()
            .expect("cargo-bgapp runs"),
    );
    text(&output.stdout).lines().map(PathBuf::from).collect()
}

/// A copy of fixture `name`'s manifest and sources with `Cargo.toml` edited:
/// with `--no-build` it packages the fixture's already built binary.
fn variant(name: &'static str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let src = built(name);
    let tmp = tempdir();
    let manifest = fs::read_to_string(src.join("Cargo.toml")).unwrap();
    let manifest = manifest.replace(
        "../../../../bgapp",
        &support::bgapp_crate().display().to_string(),
    );
    fs::write(tmp.path().join("Cargo.toml"), edit(manifest)).unwrap();
    fs::create_dir_all(tmp.path().join("src")).unwrap();
    fs::copy(src.join("src/main.rs"), tmp.path().join("src/main.rs")).unwrap();
    tmp
}

fn unpack_deb(deb: &Path) -> tempfile::TempDir {
    let root = tempdir();
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root.path()));
    root
}

#[test]
fn manifest_prints_the_tasks_of_each_binary() {
    let out = success(
        cargo_bgapp(&built("multi"))
            .args(["manifest", "--no-build"])
            .output()
            .unwrap(),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["package"], "multi");
    assert_eq!(doc["version"], "0.2.0-rc.1");
    let bin = &doc["binaries"][0];
    assert_eq!(bin["name"], "multi");
    assert!(Path::new(bin["path"].as_str().unwrap()).is_file());
    let tasks: BTreeMap<String, String> = bin["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["trigger"]["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        BTreeMap::from(
            [
                ("api", "socket"),
                ("cleaner", "manual"),
                ("inbox", "path"),
                ("nightly", "timer"),
                ("uploader", "timer")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        )
    );

    let out = success(
        cargo_bgapp(&built("hello"))
            .args(["manifest", "--no-build", "--bin", "hello"])
            .output()
            .unwrap(),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["binaries"][0]["tasks"][0]["name"], "hello");
    assert_eq!(doc["binaries"][0]["tasks"][0]["watchdog_ms"], 30000);
}

#[test]
fn manifest_refuses_bad_input_in_one_line() {
    let hello = built("hello");
    failure(
        cargo_bgapp(&fixture("nolib")).arg("manifest"),
        "package `nolib` has no binary target",
    );
    failure(
        cargo_bgapp(&fixture("notask")).arg("manifest"),
        "package `notask` has no task",
    );
    failure(
        cargo_bgapp(&fixture("notask")).args(["manifest", "--bin", "notask"]),
        "binary `notask` of package `notask` has no task",
    );
    failure(
        cargo_bgapp(&hello).args(["manifest", "--manifest-path", "nowhere/Cargo.toml"]),
        "manifest path `nowhere/Cargo.toml` does not exist",
    );
    failure(
        cargo_bgapp(&hello).args(["manifest", "--no-build", "--bin", "helo"]),
        "no bin target named `helo` in package `hello`",
    );
    failure(
        cargo_bgapp(&fixture("dupes")).arg("manifest"),
        "two tasks are named `same`",
    );
}

#[test]
fn deb_has_the_files_units_scripts_and_control_fields() {
    if !have("dpkg-deb") {
        return;
    }
    let out = tempdir();
    let bundles = package(&built("hello"), out.path(), &["--format", "deb"]);
    assert_eq!(bundles, [out.path().join("hello_0.1.0-1_amd64.deb")]);
    let deb = &bundles[0];

    let info = run(Command::new("dpkg-deb").arg("--info").arg(deb));
    for field in [
        "Package: hello",
        "Version: 0.1.0-1",
        "Architecture: amd64",
        "Maintainer: Bgapp Tests <tests@bgapp.invalid>",
        "Depends: libc6 (>= 2.",
        "Description: Says hello at boot and keeps running",
        " A background app that says hello at boot",
        "Installed-Size: ",
    ] {
        assert!(info.contains(field), "`{field}` missing in\n{info}");
    }

    let contents = run(Command::new("dpkg-deb")
        .env("TZ", "UTC")
        .arg("--contents")
        .arg(deb));
    let modes: BTreeMap<&str, &str> = contents
        .lines()
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[cols.len() - 1], cols[0])
        })
        .collect();
    for (path, mode) in [
        ("./usr/bin/hello", "-rwxr-xr-x"),
        ("./usr/lib/systemd/system/hello.service", "-rw-r--r--"),
        ("./usr/lib/sysusers.d/hello.conf", "-rw-r--r--"),
        ("./usr/share/bgapp/hello/bgapp-manifest.json", "-rw-r--r--"),
        ("./usr/share/doc/hello/copyright", "-rw-r--r--"),
        ("./usr/share/doc/hello/changelog.Debian.gz", "-rw-r--r--"),
    ] {
        assert_eq!(
            modes.get(path).copied(),
            Some(mode),
            "{path} in\n{contents}"
        );
    }
    assert!(
        contents.lines().all(|l| l.contains(" root/root ")),
        "{contents}"
    );
    assert!(
        contents.contains("2023-11-14"),
        "mtime from SOURCE_DATE_EPOCH:\n{contents}"
    );

    let root = unpack_deb(deb);
    let service =
        fs::read_to_string(root.path().join("usr/lib/systemd/system/hello.service")).unwrap();
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/hello hello",
        "Restart=always",
        "StartLimitBurst=5",
        "TimeoutStopSec=5s",
        "WatchdogSec=30s",
        "RestartPreventExitStatus=2 4",
        "SuccessExitStatus=5",
        "StateDirectory=hello",
        "User=hello",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            service.lines().any(|l| l == line),
            "`{line}` missing in\n{service}"
        );
    }

    let control = tempdir();
    run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(deb)
        .arg(control.path()));
    let postinst = fs::read_to_string(control.path().join("postinst")).unwrap();
    assert!(
        postinst.contains("bgapp_enable hello.service"),
        "{postinst}"
    );
    assert!(
        postinst.contains("[ -d /run/systemd/system ]"),
        "{postinst}"
    );
    let postrm = fs::read_to_string(control.path().join("postrm")).unwrap();
    assert!(postrm.contains("rm -rf '/var/lib/hello'"), "{postrm}");
    let prerm = fs::read_to_string(control.path().join("prerm")).unwrap();
    assert!(prerm.contains("bgapp_invoke stop hello.service"), "{prerm}");
    for script in ["postinst", "prerm", "postrm"] {
        let mode = fs::metadata(control.path().join(script)).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o755
        );
        run(Command::new("sh")
            .arg("-n")
            .arg(control.path().join(script)));
    }
    let md5sums = fs::read_to_string(control.path().join("md5sums")).unwrap();
    assert!(md5sums.contains("  usr/bin/hello\n"), "{md5sums}");
}

#[test]
fn tarball_has_one_top_folder_scripts_and_checksums() {
    if !have("tar") || !have("sha256sum") {
        return;
    }
    let out = tempdir();
    let bundles = package(&built("multi"), out.path(), &["--format", "tar"]);
    let top = "multi-0.2.0-rc.1-x86_64-unknown-linux-gnu";
    assert_eq!(bundles, [out.path().join(format!("{top}.tar.gz"))]);
    let listing = run(Command::new("tar").arg("-tzvf").arg(&bundles[0]));
    for line in listing.lines() {
        assert!(line.contains(" root/root "), "{line}");
        let name = line.split_whitespace().last().unwrap();
        assert!(
            name.starts_with(&format!("{top}/")),
            "{name} outside the top folder"
        );
    }
    for (name, mode) in [
        ("install.sh", "-rwxr-xr-x"),
        ("uninstall.sh", "-rwxr-xr-x"),
        ("SHA256SUMS", "-rw-r--r--"),
        ("usr/bin/multi", "-rwxr-xr-x"),
        ("usr/lib/systemd/system/multi-uploader.timer", "-rw-r--r--"),
        ("usr/lib/systemd/system/multi-api.socket", "-rw-r--r--"),
        ("usr/lib/systemd/system/multi-inbox.path", "-rw-r--r--"),
        ("usr/lib/tmpfiles.d/multi.conf", "-rw-r--r--"),
        ("usr/share/bgapp/multi/bgapp-manifest.json", "-rw-r--r--"),
    ] {
        let path = format!("{top}/{name}");
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(mode) && l.ends_with(&path)),
            "{path} {mode} missing in\n{listing}"
        );
    }
    let x = tempdir();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&bundles[0])
        .arg("-C")
        .arg(x.path()));
    let dir = x.path().join(top);
    run(Command::new("sha256sum")
        .arg("--check")
        .arg("--quiet")
        .arg("SHA256SUMS")
        .current_dir(&dir));
    for script in ["install.sh", "uninstall.sh"] {
        run(Command::new("sh").arg("-n").arg(dir.join(script)));
    }
    let uninstall = fs::read_to_string(dir.join("uninstall.sh")).unwrap();
    assert!(uninstall.contains("--purge) purge=yes"), "{uninstall}");
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(dir.join("usr/share/bgapp/multi/bgapp-manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["binaries"][0]["path"], "/usr/bin/multi");
    assert_eq!(
        manifest["binaries"][0]["units"]["uploader"],
        serde_json::json!(["multi-uploader.service", "multi-uploader.timer"])
    );
    let timer = fs::read_to_string(dir.join("usr/lib/systemd/system/multi-nightly.timer")).unwrap();
    assert!(
        timer.contains("OnCalendar=*-*-* 02:00:00\nPersistent=true\n"),
        "{timer}"
    );
    assert!(timer.contains("WantedBy=timers.target"), "{timer}");
}

/// Unpacks the `.deb`, adds the host's targets and slices so that default
/// dependencies resolve, and returns the root and the unit names.
fn unit_root(deb: &Path) -> (tempfile::TempDir, Vec<String>) {
    let root = unpack_deb(deb);
    let units_dir = root.path().join("usr/lib/systemd/system");
    let units: Vec<String> = fs::read_dir(&units_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    add_host_targets(&units_dir);
    (root, units)
}

/// Copies the host's `.target` and `.slice` units into `units_dir`, so that
/// `systemd-analyze verify --root` finds what units are wanted by.
fn add_host_targets(units_dir: &Path) {
    for host in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
        let Ok(entries) = fs::read_dir(host) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let dest = units_dir.join(&name);
            if (name.ends_with(".target") || name.ends_with(".slice")) && !dest.exists() {
                let _ = fs::copy(e.path(), dest);
            }
        }
    }
}

/// `systemd-analyze verify` of `unit` in `root`: it must succeed and say
/// nothing (an unknown key is only a message).
#[track_caller]
fn assert_verifies(root: &Path, unit: &str) {
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(unit)
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "{unit}:\n{stderr}"
    );
}

/// The overall exposure `systemd-analyze security` gives service `unit`.
fn exposure(root: &Path, unit: &str) -> f64 {
    let output = success(
        Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(format!("--root={}", root.display()))
            .arg(unit)
            .output()
            .unwrap(),
    );
    let report = text(&output.stdout) + &text(&output.stderr);
    report
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .and_then(|rest| rest.split(": ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no score in\n{report}"))
}

#[test]
fn units_pass_systemd_analyze_verify_and_score_ok() {
    if !have_all(&["systemd-analyze", "dpkg-deb"]) {
        return;
    }
    for name in ["hello", "multi"] {
        let out = tempdir();
        let bundles = package(&built(name), out.path(), &["--format", "deb"]);
        let (root, units) = unit_root(&bundles[0]);
        assert!(!units.is_empty());
        for unit in &units {
            assert_verifies(root.path(), unit);
        }
        for unit in units.iter().filter(|u| u.ends_with(".service")) {
            let score = exposure(root.path(), unit);
            assert!(score <= 2.0, "{unit} scores {score}");
        }
    }
}

/// The golden units (`tests/golden/units/`, which the packager's unit tests
/// compare with what it generates) load in systemd, and all but the relaxed
/// one score "OK" or better, with `/usr/bin/hello` there as their binary:
/// 0.2 (SAFE), and 1.1 (OK) for the task that listens on an IP socket and
/// so keeps the network, as the README says.
#[test]
fn golden_units_pass_systemd_analyze_verify() {
    if !have("systemd-analyze") {
        return;
    }
    let root = tempdir();
    let units_dir = root.path().join("usr/lib/systemd/system");
    fs::create_dir_all(&units_dir).unwrap();
    fs::create_dir_all(root.path().join("usr/bin")).unwrap();
    let bin = root.path().join("usr/bin/hello");
    fs::write(&bin, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/units");
    let mut units = Vec::new();
    for case in fs::read_dir(&golden).unwrap() {
        let case = case.unwrap();
        for unit in fs::read_dir(case.path()).unwrap() {
            let unit = unit.unwrap();
            fs::copy(unit.path(), units_dir.join(unit.file_name())).unwrap();
            let relaxed = case.file_name() == "relaxed";
            units.push((unit.file_name().to_string_lossy().into_owned(), relaxed));
        }
    }
    assert!(units.len() >= 20, "{units:?}");
    add_host_targets(&units_dir);
    for (unit, relaxed) in &units {
        assert_verifies(root.path(), unit);
        if unit.ends_with(".service") && !relaxed {
            let score = exposure(root.path(), unit);
            // Both listen on an IP socket, and so keep the network.
            let readme = if unit == "hello-tcp.service" || unit == "hello-exporter.service" {
                1.1
            } else {
                0.2
            };
            assert!(
                score == readme,
                "{unit} scores {score}, the README says {readme}"
            );
        }
    }
}

/// lintian warnings the packages must not get either: the maintainer
/// scripts use init-system-helpers where present, not bare `systemctl`.
const REFUSED_WARNINGS: &[&str] = &["maintainer-script-calls-systemctl"];

/// lintian's verdict on `deb`: `Err` with its `E:` lines, and the `W:` lines
/// of [`REFUSED_WARNINGS`], when it finds any. Panics when lintian did not
/// check the package (any exit status but 0 and 2: 25, for one, is an
/// unknown option or tag, with nothing on stdout), or when its status and
/// its report disagree.
fn lintian(deb: &Path) -> Result<(), String> {
    let output = Command::new("lintian")
        .arg("--fail-on")
        .arg("error")
        .arg(deb)
        .output()
        .expect("lintian runs");
    let report = text(&output.stdout);
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E: ")).collect();
    let refused: Vec<&str> = report
        .lines()
        .filter(|l| {
            l.starts_with("W: ")
                && REFUSED_WARNINGS
                    .iter()
                    .any(|tag| l.split_whitespace().nth(2) == Some(*tag))
        })
        .collect();
    let all = || {
        errors
            .iter()
            .chain(&refused)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    };
    match output.status.code() {
        Some(0) if errors.is_empty() && refused.is_empty() => Ok(()),
        Some(0) if errors.is_empty() => Err(all()),
        Some(2) if !errors.is_empty() => Err(all()),
        _ => panic!(
            "lintian did not check `{}` ({}):\nstdout:\n{report}\nstderr:\n{}",
            deb.display(),
            output.status,
            text(&output.stderr)
        ),
    }
}

#[test]
fn lintian_finds_no_errors() {
    if !have_all(&["lintian", "dpkg-deb"]) {
        return;
    }
    for name in ["hello", "multi", "exporter"] {
        let out = tempdir();
        let bundles = package(&built(name), out.path(), &["--format", "deb"]);
        if let Err(errors) = lintian(&bundles[0]) {
            panic!("lintian errors for {name}:\n{errors}");
        }
    }
}

/// The check above can fail: a dependency on an essential package without
/// a version (which `package` accepts: it is a valid relation) is an error
/// to lintian, and [`lintian`] says so.
#[test]
fn lintian_check_reports_a_real_error() {
    if !have_all(&["lintian", "dpkg-deb"]) {
        return;
    }
    let app = variant("hello", |m| {
        m + "\n[package.metadata.bgapp]\ndepends = [\"bash\"]\n"
    });
    let out = tempdir();
    let bundles = package(app.path(), out.path(), &["--format", "deb"]);
    let errors =
        lintian(&bundles[0]).expect_err("lintian must find the unversioned essential dependency");
    assert!(
        errors.lines().any(|l| l.starts_with(
            "E: hello: depends-on-essential-package-without-using-version Depends: bash"
        )),
        "{errors}"
    );
}

/// A daemon ported to bgapp (`tests/fixtures/exporter`): Cargo package
/// `wg_exporter`, whose units follow the Debian package's dashes (they were
/// `wg_exporter-wg-exporter.*`, which an upgrade replaces), get the keys a
/// real daemon needs from `[package.metadata.bgapp]`, and whose warnings
/// name the description that is only the package's name (lintian's
/// `description-is-pkg-name`) and the `sudo` that cannot work.
#[test]
fn a_ported_daemon_gets_dashed_units_its_keys_and_warnings() {
    if !have("dpkg-deb") {
        return;
    }
    let out = tempdir();
    let output = success(
        cargo_bgapp(&built("exporter"))
            .args(["package", "--no-build", "--format", "deb", "--out-dir"])
            .arg(out.path())
            .output()
            .expect("cargo-bgapp runs"),
    );
    let stderr = text(&output.stderr);
    for warning in [
        "warning: `description = \"wg_exporter\"` in `[package]` is only the package's name, which Debian refuses as a synopsis (lintian: description-is-pkg-name); the .deb says `background application wg_exporter`",
        // The whole warning: its `help:` line starts the line, as cargo's do.
        "warning: binary `wg_exporter` names `/usr/bin/sudo`: its tasks run with `NoNewPrivileges=yes` and no capabilities, where no program can gain privileges, so running one fails on the device\n\nhelp: give the task what it needs itself: `supplementary-groups` to read a group's files, `capabilities` (like `CAP_DAC_READ_SEARCH` to read root-only files, `CAP_NET_ADMIN` for `wg show`), or `user = \"root\"`; see \"Root-only configuration\" in bgapp's README\n",
        "warning: task `wg-exporter` is in the groups wgread: it may read and write what they may",
    ] {
        assert!(stderr.contains(warning), "no {warning:?} in\n{stderr}");
    }
    let deb = PathBuf::from(text(&output.stdout).trim());
    let file = deb.file_name().unwrap().to_string_lossy();
    assert!(file.starts_with("wg-exporter_0.1.0-1_"), "{file}");
    let root = unpack_deb(&deb);
    let units_dir = root.path().join("usr/lib/systemd/system");
    let mut units: Vec<String> = fs::read_dir(&units_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    units.sort();
    assert_eq!(units, ["wg-exporter.service", "wg-exporter.socket"]);
    let service = fs::read_to_string(units_dir.join("wg-exporter.service")).unwrap();
    for line in [
        "ExecStart=/usr/bin/wg_exporter wg-exporter --prepend-sudo --label \"site a\"",
        "KillMode=mixed",
        "EnvironmentFile=-/etc/default/wg-exporter",
        "LoadCredential=token:/etc/wg-exporter/token",
        "SupplementaryGroups=wgread",
        "ReadOnlyPaths=-/etc/wireguard",
        "StateDirectory=wg_exporter",
    ] {
        assert!(
            service.lines().any(|l| l == line),
            "no `{line}` in\n{service}"
        );
    }
    let socket = fs::read_to_string(units_dir.join("wg-exporter.socket")).unwrap();
    assert!(socket.contains("\nListenStream=0.0.0.0:9586\n"), "{socket}");
    let sysusers =
        fs::read_to_string(root.path().join("usr/lib/sysusers.d/wg_exporter.conf")).unwrap();
    assert!(sysusers.contains("\ng wgread -\n"), "{sysusers}");

    let control = tempdir();
    run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(&deb)
        .arg(control.path()));
    let fields = fs::read_to_string(control.path().join("control")).unwrap();
    assert!(
        fields.contains("\nDescription: background application wg_exporter\n"),
        "{fields}"
    );
    let postinst = fs::read_to_string(control.path().join("postinst")).unwrap();
    assert!(
        postinst.contains(
            "bgapp_invoke stop wg_exporter-wg-exporter.socket wg_exporter-wg-exporter.service"
        ),
        "{postinst}"
    );
    assert!(
        postinst.contains("for unit in wg_exporter-wg-exporter.socket; do"),
        "{postinst}"
    );
}

/// A binary that names no privilege-gaining program gets no such warning.
#[test]
fn no_escalation_warning_without_sudo() {
    let out = tempdir();
    let output = success(
        cargo_bgapp(&built("hello"))
            .args(["package", "--no-build", "--format", "tar", "--out-dir"])
            .arg(out.path())
            .output()
            .expect("cargo-bgapp runs"),
    );
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("NoNewPrivileges"), "{stderr}");
}

#[test]
fn packaging_twice_gives_identical_bytes() {
    let dir = built("multi");
    let a = tempdir();
    let b = tempdir();
    let first = package(&dir, a.path(), &[]);
    let second = package(&dir, b.path(), &[]);
    assert_eq!(first.len(), 2);
    for (x, y) in first.iter().zip(&second) {
        assert_eq!(x.file_name(), y.file_name());
        assert!(
            fs::read(x).unwrap() == fs::read(y).unwrap(),
            "{} differs",
            x.display()
        );
    }
    // Without SOURCE_DATE_EPOCH too (the last commit's time, or a fixed one).
    let c = tempdir();
    let d = tempdir();
    for out in [&c, &d] {
        success(
            cargo_bgapp(&dir)
                .env_remove("SOURCE_DATE_EPOCH")
                .args(["package", "--no-build", "--format", "deb", "--out-dir"])
                .arg(out.path())
                .output()
                .unwrap(),
        );
    }
    let name = "multi_0.2.0~rc.1-1_amd64.deb";
    assert!(fs::read(c.path().join(name)).unwrap() == fs::read(d.path().join(name)).unwrap());
}

#[test]
fn json_messages_describe_each_bundle() {
    let out = tempdir();
    let output = success(
        cargo_bgapp(&built("hello"))
            .args([
                "package",
                "--no-build",
                "--message-format",
                "json",
                "--out-dir",
            ])
            .arg(out.path())
            .output()
            .unwrap(),
    );
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for msg in &lines {
        let path = Path::new(msg["path"].as_str().unwrap());
        let bytes = fs::read(path).unwrap();
        assert_eq!(msg["size"], bytes.len() as u64);
        assert_eq!(msg["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(msg["tasks"], serde_json::json!(["hello"]));
        assert_eq!(msg["units"], serde_json::json!(["hello.service"]));
    }
    assert_eq!(lines[0]["format"], "deb");
    assert_eq!(lines[1]["format"], "tar");
}

/// Every bad input fails in one clear line, before anything is written.
#[test]
fn bad_input_fails_up_front_and_leaves_no_bundle() {
    let hello = built("hello");
    let out = tempdir();
    let pkg = |dir: &Path| {
        let mut c = cargo_bgapp(dir);
        c.args(["package", "--out-dir"]).arg(out.path());
        c
    };

    failure(
        pkg(&fixture("nolib")).arg("--no-build"),
        "package `nolib` has no binary target",
    );
    failure(&mut pkg(&fixture("notask")), "package `notask` has no task");
    failure(
        pkg(&hello).args(["--no-build", "--bin", "nope"]),
        "no bin target named `nope`",
    );
    failure(
        pkg(&hello).args(["--no-build", "--target", "x86_64-unknown-linux-gnuu"]),
        "unknown target `x86_64-unknown-linux-gnuu`",
    );
    failure(
        pkg(&fixture("badmeta")).arg("--no-build"),
        "unknown field `sevice`",
    );
    failure(&mut pkg(&fixture("dupes")), "two tasks are named `same`");

    // A binary built for x86-64 where the target says AArch64.
    let foreign = tempdir();
    let dest = foreign.path().join("aarch64-unknown-linux-gnu/release");
    fs::create_dir_all(&dest).unwrap();
    fs::copy(fixtures_target().join("release/hello"), dest.join("hello")).unwrap();
    failure(
        pkg(&hello)
            .env("CARGO_TARGET_DIR", foreign.path())
            .args(["--no-build", "--target", "aarch64-unknown-linux-gnu"]),
        "is built for x86-64, 64-bit little-endian, but target `aarch64-unknown-linux-gnu` is AArch64",
    );

    // An output directory that cannot be created (its parent is a file).
    let blocker = out.path().join("file");
    fs::write(&blocker, "").unwrap();
    failure(
        cargo_bgapp(&hello)
            .args(["package", "--no-build", "--out-dir"])
            .arg(blocker.join("sub")),
        "is a file, not a directory",
    );

    // No maintainer: the .deb cannot be made, the tarball can.
    let anon = variant("hello", |m| {
        m.replace("authors = [\"Bgapp Tests <tests@bgapp.invalid>\"]\n", "")
    });
    failure(
        pkg(anon.path()).args(["--no-build", "--format", "deb"]),
        "the .deb needs a maintainer",
    );

    // Metadata naming a task that does not exist.
    let typo = variant("hello", |m| {
        m + "\n[package.metadata.bgapp.tasks.helo]\nnetwork = true\n"
    });
    failure(
        pkg(typo.path()).arg("--no-build"),
        "`[package.metadata.bgapp.tasks.helo]` names no task",
    );

    // A cross build on a machine without Debian's cross compiler: named
    // with the package that installs it, before cargo runs. (PATH holds
    // nothing; cargo and rustc are found through `CARGO`.)
    let bare = tempdir();
    let err = failure(
        pkg(&hello)
            .env("PATH", bare.path())
            .env_remove("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER")
            .args(["--target", "aarch64-unknown-linux-gnu"]),
        "no linker for target `aarch64-unknown-linux-gnu`: `aarch64-linux-gnu-gcc` is not installed",
    );
    assert!(
        err.contains(
            "help: install Debian's cross compiler with `apt install gcc-aarch64-linux-gnu`"
        ),
        "{err}"
    );
    assert!(!err.contains("Compiling"), "cargo ran:\n{err}");

    let left: Vec<String> = fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "file")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    let tar_only = tempdir();
    package(anon.path(), tar_only.path(), &["--format", "tar"]);
}

#[test]
fn relaxations_in_metadata_warn_and_reach_the_unit() {
    let relaxed = variant("hello", |m| {
        m + "\n[package.metadata.bgapp.tasks.hello]\nnetwork = true\ndevices = [\"/dev/ttyUSB0\"]\ndirectives = [\"Nice=5\"]\n"
    });
    let out = tempdir();
    let output = success(
        cargo_bgapp(relaxed.path())
            .args(["package", "--no-build", "--format", "tar", "--out-dir"])
            .arg(out.path())
            .output()
            .unwrap(),
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("warning: task `hello` may use the network"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: task `hello` may use the devices /dev/ttyUSB0"),
        "{stderr}"
    );
    let listing = text(&output.stdout);
    let tarball = listing.lines().next().unwrap();
    let x = tempdir();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(x.path()));
    let service = fs::read_to_string(
        x.path()
            .join("hello-0.1.0-x86_64-unknown-linux-gnu/usr/lib/systemd/system/hello.service"),
    )
    .unwrap();
    assert!(
        service.contains("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n"),
        "{service}"
    );
    assert!(
        service.contains("DeviceAllow=/dev/ttyUSB0 rw\n"),
        "{service}"
    );
    assert!(service.contains("Nice=5\n"), "{service}");
    assert!(!service.contains("PrivateNetwork=yes"), "{service}");
}

/// A binary cross-compiled for AArch64 (prebuilt, see the fixture's
/// `prebuilt/cross.c`) is read from its ELF headers: arm64 package, glibc
/// version from its symbol versions, and a library bgapp cannot map is an
/// error, not a silently missing dependency.
#[test]
fn cross_compiled_binary_gets_its_arch_and_depends() {
    let dir = fixture("cross");
    let target_dir = tempdir();
    let release = target_dir.path().join("aarch64-unknown-linux-gnu/release");
    fs::create_dir_all(&release).unwrap();
    fs::copy(
        dir.join("prebuilt/aarch64-unknown-linux-gnu/release/cross"),
        release.join("cross"),
    )
    .unwrap();
    let out = tempdir();
    let pkg = |dir: &Path| {
        let mut c = cargo_bgapp(dir);
        c.env("CARGO_TARGET_DIR", target_dir.path())
            .args([
                "package",
                "--no-build",
                "--target",
                "aarch64-unknown-linux-gnu",
                "--out-dir",
            ])
            .arg(out.path());
        c
    };
    let stderr = failure(
        &mut pkg(&dir),
        "cannot tell which Debian package provides `libbgappdemo.so.1`",
    );
    assert!(
        stderr.contains("[package.metadata.bgapp.libraries]"),
        "{stderr}"
    );

    let mapped = tempdir();
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap()
        + "\n[package.metadata.bgapp.libraries]\n\"libbgappdemo.so.1\" = \"libbgappdemo1 (>= 1.0)\"\n";
    fs::write(mapped.path().join("Cargo.toml"), manifest).unwrap();
    fs::create_dir_all(mapped.path().join("src")).unwrap();
    fs::copy(dir.join("src/main.rs"), mapped.path().join("src/main.rs")).unwrap();
    let output = success(pkg(mapped.path()).output().unwrap());
    let bundles: Vec<PathBuf> = text(&output.stdout).lines().map(PathBuf::from).collect();
    assert_eq!(
        bundles,
        [
            out.path().join("cross_1.0.0-1_arm64.deb"),
            out.path()
                .join("cross-1.0.0-aarch64-unknown-linux-gnu.tar.gz")
        ]
    );
    if !have("dpkg-deb") {
        return;
    }
    let info = run(Command::new("dpkg-deb").arg("--info").arg(&bundles[0]));
    assert!(info.contains("Architecture: arm64"), "{info}");
    assert!(
        info.contains("Depends: libbgappdemo1 (>= 1.0), libc6 (>= 2.34)"),
        "{info}"
    );
    let root = unpack_deb(&bundles[0]);
    let timer = fs::read_to_string(root.path().join("usr/lib/systemd/system/cross.timer")).unwrap();
    assert!(timer.contains("OnUnitActiveSec=1min\n"), "{timer}");
}

/// Every template of `cargo bgapp new` packages into bundles that lintian,
/// `systemd-analyze verify` and `systemd-analyze security` accept, and that
/// are byte-identical when packaged twice.
#[test]
fn every_template_packages_cleanly() {
    if !have_all(&["dpkg-deb", "lintian", "systemd-analyze"]) {
        return;
    }
    let list = run(cargo_bgapp(Path::new(env!("CARGO_MANIFEST_DIR"))).args(["new", "--list"]));
    let templates: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(templates.len() >= 2, "{list}");
    let bgapp = support::bgapp_crate();
    let apps = tempdir();
    for template in templates {
        let name = format!("tpl-{template}");
        run(cargo_bgapp(apps.path())
            .args([
                "new",
                "-q",
                "--vcs",
                "none",
                "--no-workspace",
                "--template",
                template,
            ])
            .arg("--bgapp-path")
            .arg(&bgapp)
            .arg(&name));
        let app = apps.path().join(&name);
        let manifest = fs::read_to_string(app.join("Cargo.toml")).unwrap();
        if !manifest.contains("authors") && !manifest.contains("maintainer") {
            // The .deb needs one; a template that names none is reported
            // here rather than failing every later check.
            println!("note: template `{template}` names no maintainer; the test adds one");
            let manifest = manifest
                + "\n[package.metadata.bgapp]\nmaintainer = \"Template Tests <tests@bgapp.invalid>\"\n";
            fs::write(app.join("Cargo.toml"), manifest).unwrap();
        }
        let out = tempdir();
        // Built once, in the fixtures' target directory.
        let output = success(
            cargo_bgapp(&app)
                .args(["package", "--out-dir"])
                .arg(out.path())
                .output()
                .unwrap(),
        );
        let bundles: Vec<PathBuf> = text(&output.stdout).lines().map(PathBuf::from).collect();
        assert_eq!(bundles.len(), 2, "{template}");

        if let Err(errors) = lintian(&bundles[0]) {
            panic!("lintian errors for template {template}:\n{errors}");
        }

        let (root, units) = unit_root(&bundles[0]);
        for unit in &units {
            assert_verifies(root.path(), unit);
            if unit.ends_with(".service") {
                let report = run(Command::new("systemd-analyze")
                    .args(["security", "--offline=yes", "--no-pager"])
                    .arg(format!("--root={}", root.path().display()))
                    .arg(unit));
                let ok = report.lines().any(|l| {
                    l.contains("Overall exposure level")
                        && (l.contains(" OK ") || l.contains(" SAFE "))
                });
                assert!(ok, "{template} {unit}:\n{report}");
            }
        }

        let again = tempdir();
        let second = package(&app, again.path(), &[]);
        for (a, b) in bundles.iter().zip(&second) {
            assert!(
                fs::read(a).unwrap() == fs::read(b).unwrap(),
                "{} differs when packaged twice",
                a.display()
            );
        }
    }
}

/// Assets from `[package.metadata.bgapp]` are shipped with their modes;
/// those under `/etc` are conffiles, kept on upgrade; extra `depends` and
/// the system user reach the control file and the units.
#[test]
fn assets_conffiles_depends_and_user_from_metadata() {
    if !have("dpkg-deb") {
        return;
    }
    let app = variant("hello", |m| {
        m + r#"
[package.metadata.bgapp]
depends = ["ca-certificates"]
user = "hello-svc"
section = "net"
assets = [
    { source = "hello.toml", dest = "/etc/hello/hello.toml" },
    { source = "hello-tool", dest = "/usr/bin/hello-tool" },
]
"#
    });
    fs::write(app.path().join("hello.toml"), "greeting = \"hi\"\n").unwrap();
    fs::write(app.path().join("hello-tool"), "#!/bin/sh\necho hi\n").unwrap();
    let out = tempdir();
    let bundles = package(app.path(), out.path(), &["--format", "deb"]);
    let info = run(Command::new("dpkg-deb").arg("--info").arg(&bundles[0]));
    assert!(info.contains("Section: net"), "{info}");
    assert!(
        info.contains(", ca-certificates\n") || info.contains("Depends: ca-certificates"),
        "{info}"
    );
    let control = tempdir();
    run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(&bundles[0])
        .arg(control.path()));
    assert_eq!(
        fs::read_to_string(control.path().join("conffiles")).unwrap(),
        "/etc/hello/hello.toml\n"
    );
    let md5sums = fs::read_to_string(control.path().join("md5sums")).unwrap();
    assert!(
        !md5sums.contains("etc/hello/hello.toml"),
        "conffiles are not in md5sums:\n{md5sums}"
    );
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&bundles[0]));
    assert!(
        contents
            .lines()
            .any(|l| l.starts_with("-rw-r--r--") && l.ends_with("./etc/hello/hello.toml")),
        "{contents}"
    );
    assert!(
        contents
            .lines()
            .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with("./usr/bin/hello-tool")),
        "{contents}"
    );
    let root = unpack_deb(&bundles[0]);
    let service =
        fs::read_to_string(root.path().join("usr/lib/systemd/system/hello.service")).unwrap();
    assert!(service.contains("User=hello-svc\n"), "{service}");
    let sysusers = fs::read_to_string(root.path().join("usr/lib/sysusers.d/hello.conf")).unwrap();
    assert!(sysusers.contains("u hello-svc "), "{sysusers}");
}

#[test]
fn target_dir_overrides_the_environment_as_in_cargo() {
    let hello = built("hello");
    let elsewhere = tempdir();
    // CARGO_TARGET_DIR points where nothing was built: without
    // `--target-dir` there is no binary to package.
    let stderr = failure(
        cargo_bgapp(&hello)
            .env("CARGO_TARGET_DIR", elsewhere.path())
            .args(["package", "--no-build", "--format", "tar"]),
        "does not exist",
    );
    assert!(
        stderr.contains(&elsewhere.path().display().to_string()),
        "{stderr}"
    );
    // `--target-dir` wins: the binary is read there, and the bundle goes to
    // its `bgapp/` folder.
    let out = success(
        cargo_bgapp(&hello)
            .env("CARGO_TARGET_DIR", elsewhere.path())
            .args(["package", "--no-build", "--format", "tar", "--target-dir"])
            .arg(fixtures_target())
            .output()
            .unwrap(),
    );
    let bundle = PathBuf::from(text(&out.stdout).trim());
    assert!(
        bundle.starts_with(fixtures_target().join("bgapp")),
        "{bundle:?}"
    );
    assert!(bundle.is_file());
}

/// The asset destinations of the `oddpaths` fixture: a space, quotes, `$`,
/// backticks, a backslash, `%` and a leading `-`.
const ODD_ASSETS: &[&str] = &[
    "/opt/oddpaths/my notes.txt",
    "/opt/oddpaths/it's \"quoted\" $HOME `id` \\ 100%.txt",
    "/opt/oddpaths/-rf",
];
const ODD_CONFFILE: &str = "/etc/oddpaths/odd app.conf";
/// The directories its path tasks watch.
const ODD_DIRS: &[&str] = &[
    "/var/spool/oddpaths/my spool",
    "/srv/oddpaths/it's \"quoted\" $HOME `id` \\ 100%/in",
    "/var/spool/oddpaths/-rf x",
];
/// What an unquoted `rm -f /opt/oddpaths/my notes.txt` (or a word split
/// elsewhere) would delete in the directory the scripts run in.
const BAIT: &str = "touch -- notes.txt my \"it's\" -rf x 100%.txt id";

/// `stat -c '%U %a'` of `path` in `root`.
fn owner_and_mode(root: &ScratchRoot, path: &str) -> String {
    root.run(&format!("stat -c '%U %a' {}", sh_quote(path)))
        .trim()
        .to_string()
}

#[track_caller]
fn assert_bait_intact(root: &ScratchRoot) {
    let listed = root.run("ls -A /root/cwd");
    let mut left: Vec<&str> = listed.lines().collect();
    left.sort_unstable();
    assert_eq!(
        left,
        ["-rf", "100%.txt", "id", "it's", "my", "notes.txt", "x"],
        "the scripts touched the directory they ran in"
    );
}

/// `install.sh` and `uninstall.sh` quote every path: run for real in a
/// scratch root, from a directory holding files named like the words of
/// the odd paths, they install and remove exactly the odd paths, and leave
/// that directory alone (an unquoted `rm -f /opt/oddpaths/my notes.txt`
/// deleted `notes.txt` there, and `install.sh` stopped half-way).
#[test]
fn tarball_scripts_quote_every_path() {
    let Some(root) = ScratchRoot::new() else {
        return;
    };
    let out = tempdir();
    let bundles = package(&built("oddpaths"), out.path(), &["--format", "tar"]);
    root.put(&bundles[0], "/root/oddpaths.tar.gz");
    root.run(&format!(
        "mkdir -p /root/bundle /root/cwd && tar -xzf /root/oddpaths.tar.gz -C /root/bundle && cd /root/cwd && {BAIT}"
    ));
    let top = "/root/bundle/oddpaths-0.1.0-x86_64-unknown-linux-gnu";
    let said = root.run(&format!("cd /root/cwd && {top}/install.sh"));
    assert!(said.contains("installed oddpaths 0.1.0"), "{said}");
    for dest in ODD_ASSETS.iter().chain([&ODD_CONFFILE]) {
        assert_eq!(
            fs::read_to_string(root.upper(dest)).ok().as_deref(),
            Some("notes\n"),
            "{dest} installed"
        );
    }
    for dir in ODD_DIRS {
        assert_eq!(owner_and_mode(&root, dir), "oddpaths 770", "{dir}");
    }
    assert!(root.exists("/etc/systemd/system/paths.target.wants/oddpaths-spool.path"));
    assert_bait_intact(&root);

    let said = root.run(&format!("cd /root/cwd && {top}/uninstall.sh"));
    assert!(
        said.contains(&format!(
            "uninstall.sh: kept {ODD_CONFFILE}; --purge deletes it"
        )),
        "{said}"
    );
    for dest in ODD_ASSETS {
        assert!(!root.exists(dest), "{dest} removed");
    }
    assert!(
        root.exists(ODD_CONFFILE),
        "a plain removal keeps the conffile"
    );
    for dir in ODD_DIRS {
        assert!(root.exists(dir), "{dir} kept without --purge");
    }
    assert_bait_intact(&root);

    root.run(&format!("cd /root/cwd && {top}/uninstall.sh --purge"));
    assert!(!root.exists(ODD_CONFFILE), "--purge removes the conffile");
    for dir in ODD_DIRS {
        assert!(!root.exists(dir), "{dir} removed by --purge");
    }
    assert!(!root.exists("/var/lib/bgapp"), "nothing of bgapp's is left");
    assert_bait_intact(&root);
}

/// The `.deb` of path tasks installs into an image built with a plain
/// `chroot`: no `/proc` (where `systemd-tmpfiles` fails, and the postinst
/// failed with it under `set -e`) and no running systemd, as debhelper's
/// scripts allow. The watched directories are made all the same, with
/// their odd names, and removal and purge take exactly them.
#[test]
fn deb_installs_in_a_chroot_without_proc_and_quotes_every_path() {
    if !have("dpkg") {
        return;
    }
    let Some(root) = ScratchRoot::new() else {
        return;
    };
    let out = tempdir();
    let bundles = package(&built("oddpaths"), out.path(), &["--format", "deb"]);
    root.put(&bundles[0], "/root/oddpaths.deb");
    root.run(&format!("mkdir -p /root/cwd && cd /root/cwd && {BAIT}"));
    assert!(!root.exists("/proc/self"), "the scratch root has no /proc");
    assert!(!root.exists("/run/systemd/system"), "nor a running systemd");
    let said = root.run("cd /root/cwd && dpkg -i /root/oddpaths.deb");
    assert!(
        !said.contains("postinst"),
        "the postinst said something:\n{said}"
    );
    assert_eq!(
        root.run("dpkg-query -W -f '${Status}' oddpaths"),
        "install ok installed"
    );
    for dir in ODD_DIRS {
        assert_eq!(owner_and_mode(&root, dir), "oddpaths 770", "{dir}");
    }
    assert!(root.exists("/etc/systemd/system/paths.target.wants/oddpaths-spool.path"));
    assert!(
        root.exists("/var/lib/systemd/deb-systemd-helper-enabled/oddpaths-spool.path.dsh-also"),
        "enabled by deb-systemd-helper, which keeps its state"
    );
    assert_bait_intact(&root);

    root.run("cd /root/cwd && dpkg -r oddpaths");
    assert!(!root.exists(ODD_ASSETS[0]));
    assert!(!root.exists("/etc/systemd/system/paths.target.wants/oddpaths-spool.path"));
    // A reinstall enables the units again, as the first install did (with
    // deb-systemd-helper's `disable`, its state said "disabled by the
    // administrator", and the units stayed off).
    root.run("cd /root/cwd && dpkg -i /root/oddpaths.deb");
    assert!(root.exists("/etc/systemd/system/paths.target.wants/oddpaths-spool.path"));
    root.run("cd /root/cwd && dpkg -r oddpaths");
    assert!(root.exists(ODD_CONFFILE), "dpkg -r keeps the conffile");
    assert!(!root.exists("/etc/systemd/system/paths.target.wants/oddpaths-spool.path"));
    root.run("cd /root/cwd && dpkg -P oddpaths");
    for dir in ODD_DIRS {
        assert!(!root.exists(dir), "{dir} removed by dpkg -P");
    }
    assert_bait_intact(&root);
    assert!(
        !root.exists("/var/lib/systemd/deb-systemd-helper-enabled/oddpaths-spool.path.dsh-also"),
        "dpkg -P purges deb-systemd-helper's state"
    );

    // Without init-system-helpers (a lean image), systemctl enables and
    // disables the units, offline.
    root.run("rm -f /usr/bin/deb-systemd-helper /usr/bin/deb-systemd-invoke");
    root.run("cd /root/cwd && dpkg -i /root/oddpaths.deb");
    assert!(root.exists("/etc/systemd/system/paths.target.wants/oddpaths-spool.path"));
    root.run("cd /root/cwd && dpkg -r oddpaths");
    assert!(!root.exists("/etc/systemd/system/paths.target.wants/oddpaths-spool.path"));
    root.run("cd /root/cwd && dpkg -P oddpaths");

    // Without systemd's tools at all (a minbase image): the user comes
    // from useradd.
    root.run(
        "rm -f /usr/bin/systemd-sysusers /bin/systemd-sysusers /usr/bin/systemd-tmpfiles /bin/systemd-tmpfiles /usr/bin/systemctl /bin/systemctl",
    );
    root.run("cd /root/cwd && dpkg -i /root/oddpaths.deb");
    for dir in ODD_DIRS {
        assert_eq!(owner_and_mode(&root, dir), "oddpaths 770", "{dir}");
    }
    assert!(root
        .run("getent passwd oddpaths")
        .contains(":/usr/sbin/nologin"));
}

/// An upgrade from a version whose units followed Cargo's underscores
/// (`wg_exporter-wg-exporter.socket`, enabled) to the dashed names: the old
/// name's link goes, and the new unit is enabled in its place (without
/// the replacement, the upgrade left the app enabled under no name);
/// offline, in a chroot.
#[test]
fn an_upgrade_replaces_units_of_the_old_names() {
    if !have("dpkg") {
        return;
    }
    let Some(root) = ScratchRoot::new() else {
        return;
    };
    let out = tempdir();
    let bundles = package(&built("exporter"), out.path(), &["--format", "deb"]);
    root.put(&bundles[0], "/root/exporter.deb");
    root.run("dpkg -i /root/exporter.deb");
    let new_link = "/etc/systemd/system/sockets.target.wants/wg-exporter.socket";
    let old_link = "/etc/systemd/system/sockets.target.wants/wg_exporter-wg-exporter.socket";
    assert!(root.exists(new_link));
    // As the old version left the system: its socket enabled (by
    // systemctl, so deb-systemd-helper knows nothing), the new name unknown.
    root.run(&format!(
        "rm -f {new_link} /var/lib/systemd/deb-systemd-helper-enabled/wg-exporter.socket.dsh-also \
         /var/lib/systemd/deb-systemd-helper-enabled/sockets.target.wants/wg-exporter.socket && \
         ln -s /usr/lib/systemd/system/wg_exporter-wg-exporter.socket {old_link}"
    ));
    assert!(!root.exists(new_link));
    // The upgrade: `postinst configure <old version>`.
    root.run("dpkg -i /root/exporter.deb");
    assert!(root.exists(new_link), "enabled in place of the old name");
    assert!(
        !root.sh(&format!("test -L {old_link}")).status.success(),
        "the old name's link is gone"
    );
}

/// The maintainer scripts keep the checksums of the unit files a running
/// systemd loaded, and skip `daemon-reload` while the files are the same.
/// An install in a chroot (no systemd) that changes the files makes them
/// go: else a later install of the files they describe would skip the
/// reload while systemd, booted since, runs the chroot's units.
#[test]
fn an_offline_install_forgets_what_systemd_loaded() {
    if !have("dpkg") {
        return;
    }
    let Some(root) = ScratchRoot::new() else {
        return;
    };
    let out = tempdir();
    // Units of names that never changed: nothing else reloads.
    let bundles = package(&built("hello"), out.path(), &["--format", "deb"]);
    root.put(&bundles[0], "/root/hello.deb");
    let state = "/var/lib/bgapp/hello.units";
    root.run(&format!(
        "mkdir -p /var/lib/bgapp && echo 'of another version' > {state}"
    ));
    root.run("dpkg -i /root/hello.deb");
    assert!(!root.exists(state), "the checksums of other files are gone");
    assert!(
        !root.exists("/run/systemd/system"),
        "no systemd: nothing was reloaded, nothing is kept"
    );
}

/// Unpacks the `.deb` of the `oddpaths` fixture.
fn odd_root() -> tempfile::TempDir {
    let out = tempdir();
    let bundles = package(&built("oddpaths"), out.path(), &["--format", "deb"]);
    unpack_deb(&bundles[0])
}

/// The settings systemd 252 reads from `unit` in `units_dir`, as
/// `systemd --test` dumps them (`Key: value` lines). It refuses to run as
/// root, so it runs as nobody then.
fn systemd_dump(units_dir: &Path, unit: &str) -> String {
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        c.arg("/lib/systemd/systemd");
        c
    } else {
        Command::new("/lib/systemd/systemd")
    };
    let output = cmd
        .args(["--test", "--system", "--no-pager"])
        .arg(format!("--unit={unit}"))
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units_dir.display()))
        .current_dir("/")
        .output()
        .expect("systemd runs");
    let dump = text(&output.stdout);
    let start = dump
        .find(&format!("-> Unit {unit}:"))
        .unwrap_or_else(|| panic!("no {unit} in the dump:\n{}", text(&output.stderr)));
    let section = &dump[start..];
    let end = section[1..]
        .find("-> Unit ")
        .map_or(section.len(), |e| e + 1);
    section[..end].to_string()
}

/// Paths with spaces, quotes, a backslash and `%` reach the units and the
/// tmpfiles.d file the way each format wants them: systemd reads exactly
/// those paths (`ReadWritePaths=` split `/var/spool/my spool` in two, and
/// made `/var/spool/my` writable) and `systemd-tmpfiles` makes exactly
/// those directories (it read the mode as the user: "Failed to resolve
/// user '0770'").
#[test]
fn odd_paths_reach_units_and_tmpfiles_as_written() {
    if !have_all(&["dpkg-deb", "systemd-analyze", "systemd-tmpfiles", "setpriv"]) {
        return;
    }
    let root = odd_root();
    let units_dir = root.path().join("usr/lib/systemd/system");
    let units: Vec<String> = fs::read_dir(&units_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    add_host_targets(&units_dir);
    for unit in &units {
        assert_verifies(root.path(), unit);
    }
    // `systemd --test` runs as nobody: let it read the units.
    for dir in [
        root.path(),
        &root.path().join("usr"),
        &root.path().join("usr/lib"),
        &root.path().join("usr/lib/systemd"),
        &units_dir,
    ] {
        fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let dump = systemd_dump(&units_dir, "oddpaths-spool.service");
    assert!(
        dump.contains("\tReadWritePaths: /var/spool/oddpaths/my spool /srv/oddpaths/my data\n"),
        "{dump}"
    );
    assert!(dump.contains("\tDescription: Line one\n"), "{dump}");
    let dump = systemd_dump(&units_dir, "oddpaths-quoted.service");
    assert!(
        dump.contains("\tReadWritePaths: /srv/oddpaths/it's \"quoted\" $HOME `id` \\ 100%/in\n"),
        "{dump}"
    );
    let dump = systemd_dump(&units_dir, "oddpaths-quoted.path");
    assert!(
        dump.contains("\tPathChanged: /srv/oddpaths/it's \"quoted\" $HOME `id` \\ 100%/in\n"),
        "{dump}"
    );
    let dump = systemd_dump(&units_dir, "oddpaths-dash.path");
    assert!(
        dump.contains("\tDirectoryNotEmpty: /var/spool/oddpaths/-rf x\n"),
        "{dump}"
    );

    if !is_root() {
        skip("systemd-tmpfiles --create gives directories to the app's user only as root");
        return;
    }
    fs::create_dir_all(root.path().join("etc")).unwrap();
    fs::write(
        root.path().join("etc/passwd"),
        "oddpaths:x:990:990::/:/usr/sbin/nologin\n",
    )
    .unwrap();
    fs::write(root.path().join("etc/group"), "oddpaths:x:990:\n").unwrap();
    let output = Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", root.path().display()))
        .args(["--create", "oddpaths.conf"])
        .output()
        .unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "systemd-tmpfiles: {}\n{}",
        output.status,
        text(&output.stderr)
    );
    for dir in ODD_DIRS {
        let meta =
            fs::metadata(root.path().join(&dir[1..])).unwrap_or_else(|e| panic!("{dir}: {e}"));
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        assert!(meta.is_dir(), "{dir}");
        assert_eq!(
            (meta.uid(), meta.permissions().mode() & 0o7777),
            (990, 0o770),
            "{dir}"
        );
    }
}

/// The golden units' odd values (`tests/golden/units/odd-values`) read
/// back from systemd as written.
#[test]
fn golden_odd_values_read_back_from_systemd() {
    if !have("setpriv") {
        return;
    }
    let dir = tempdir();
    fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/units");
    for case in ["odd-values", "relaxed", "daemon"] {
        for unit in fs::read_dir(golden.join(case)).unwrap() {
            let unit = unit.unwrap();
            fs::copy(unit.path(), dir.path().join(unit.file_name())).unwrap();
        }
    }
    let dump = systemd_dump(dir.path(), "hello-odd.service");
    assert!(
        dump.contains("\tDescription: Watches 100% of a spool\n"),
        "{dump}"
    );
    assert!(
        dump.contains("\tReadWritePaths: /var/spool/it's \"my\" spool \\ 100% /srv/my data -/srv/maybe here\n"),
        "{dump}"
    );
    let dump = systemd_dump(dir.path(), "hello-odd.path");
    assert!(
        dump.contains("\tDirectoryNotEmpty: /var/spool/it's \"my\" spool \\ 100%\n"),
        "{dump}"
    );
    let dump = systemd_dump(dir.path(), "hello-relaxed.service");
    assert!(
        dump.contains("\tDeviceAllow: /dev/odd \"dev\" 100% rw\n"),
        "{dump}"
    );
    // A daemon's arguments, one word each (`$$` is systemd's literal `$`,
    // which it keeps until it runs the command), its environment file and
    // read-only paths; the stop signals the main process only.
    let dump = systemd_dump(dir.path(), "hello-exporter.service");
    for line in [
        "\t\t\tCommand Line: /usr/bin/hello exporter -a --prepend \"it's \\\"quoted\\\" \\$\\$HOME 100%\" \"\" \";\"\n",
        "\tEnvironmentFile: -/etc/default/hello exporter\n",
        "\tReadOnlyPaths: /etc/wireguard -/etc/hello maybe\n",
        "\tSupplementaryGroups: wgread\n",
        "\tKillMode: mixed\n",
    ] {
        assert!(dump.contains(line), "no {line:?} in\n{dump}");
    }
    let dump = systemd_dump(dir.path(), "hello-exporter.socket");
    assert!(dump.contains("\tListenStream: 0.0.0.0:9586\n"), "{dump}");
}

/// `DEBIAN/control` of a package without README, whose task has a
/// description on two lines: every line of the long description starts
/// with a space, so dpkg reads every field (the second line was a field
/// of its own that dpkg could not parse).
#[test]
fn control_file_folds_descriptions() {
    if !have("dpkg-deb") {
        return;
    }
    let out = tempdir();
    let bundles = package(&built("oddpaths"), out.path(), &["--format", "deb"]);
    let description = run(Command::new("dpkg-deb")
        .args(["--field"])
        .arg(&bundles[0])
        .arg("Description"));
    assert!(
        description
            .ends_with(" - spool: when /var/spool/oddpaths/my spool changes; Line one line two\n"),
        "{description}"
    );
    let section = run(Command::new("dpkg-deb")
        .arg("--field")
        .arg(&bundles[0])
        .arg("Section"));
    assert_eq!(section, "misc\n");
}

/// Values that would break or add fields to `DEBIAN/control` are refused
/// before anything is written, each naming the value and what to write.
#[test]
fn control_fields_are_refused_before_anything_is_written() {
    let out = tempdir();
    let pkg = |dir: &Path| {
        let mut c = cargo_bgapp(dir);
        c.args(["package", "--no-build", "--out-dir"])
            .arg(out.path());
        c
    };
    let with_meta =
        |meta: &'static str| variant("hello", move |m| m + "\n[package.metadata.bgapp]\n" + meta);
    for (meta, says) in [
        (
            "maintainer = \"A <a@b.c>\\nEssential: yes\"\n",
            "maintainer `A <a@b.c>\\nEssential: yes` is not `Name <email>`",
        ),
        ("section = \"net\\nEvil: yes\"\n", "`section = \"net\\nEvil: yes\"` is not one of Debian's sections"),
        ("depends = [\"curl (>= \"]\n", "`depends` entry `curl (>= ` is not a Debian relation"),
        ("conf-files = [\"/opt/hello/hello.toml\"]\n", "conf-file `/opt/hello/hello.toml` is not under `/etc`"),
        (
            "assets = [{ source = \"README.md\", dest = \"/etc/../../evil\" }]\n",
            "asset destination `/etc/../../evil` is not a normalized path (`.`, `..` and `//` are not allowed); write `/evil`",
        ),
        (
            "assets = [{ source = \"README.md\", dest = \"/etc/hello/\" }]\n",
            "asset destination `/etc/hello/` ends with `/`",
        ),
    ] {
        let app = with_meta(meta);
        failure(&mut pkg(app.path()), says);
    }
    // A path both a file and a directory.
    let app = with_meta(
        "assets = [\n  { source = \"README.md\", dest = \"/etc/hello\" },\n  { source = \"README.md\", dest = \"/etc/hello/hello.toml\" },\n]\n",
    );
    fs::copy(
        built("hello").join("README.md"),
        app.path().join("README.md"),
    )
    .unwrap();
    failure(
        &mut pkg(app.path()),
        "`/etc/hello` is both a file and a directory of the bundle: `/etc/hello/hello.toml` is inside it",
    );
    // An author without an address cannot be the .deb's maintainer (lintian:
    // malformed-contact); the tarball needs none.
    let anon = variant("hello", |m| {
        m.replace(
            "authors = [\"Bgapp Tests <tests@bgapp.invalid>\"]",
            "authors = [\"Jane Doe\"]",
        )
    });
    let stderr = failure(
        pkg(anon.path()).args(["--format", "deb"]),
        "maintainer `Jane Doe` (the first of `authors`) is not `Name <email>`: it has no email address in `<...>`",
    );
    assert!(
        stderr.contains("`\"Jane Doe <jane@example.com>\"`"),
        "{stderr}"
    );
    let left: Vec<_> = fs::read_dir(out.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let tar_only = tempdir();
    package(anon.path(), tar_only.path(), &["--format", "tar"]);
}

/// A malformed or out-of-range `SOURCE_DATE_EPOCH` is refused, naming the
/// variable (`18446744073709551615` made a corrupt `.deb`; `-1`, `abc` and
/// `1e9` were replaced by 2020-01-01), as reproducible-builds.org asks.
#[test]
fn a_bad_source_date_epoch_is_refused() {
    let hello = built("hello");
    let out = tempdir();
    // A folder `package` would create: refused before it exists, before
    // the build too.
    let fresh = out.path().join("bundles");
    for value in ["18446744073709551615", "-1", "abc", "1e9"] {
        let output = failure(
            cargo_bgapp(&hello)
                .env("SOURCE_DATE_EPOCH", value)
                .args(["package", "--out-dir"])
                .arg(&fresh),
            &format!("`SOURCE_DATE_EPOCH={value}` is"),
        );
        assert!(
            !output.contains("Compiling") && !output.contains("Finished"),
            "built first:\n{output}"
        );
    }
    let left: Vec<_> = fs::read_dir(out.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `user = "root"` is a relaxation like the others: `package` warns.
#[test]
fn running_as_root_warns() {
    let app = variant("hello", |m| {
        m + "\n[package.metadata.bgapp]\nuser = \"root\"\n"
    });
    let out = tempdir();
    let output = success(
        cargo_bgapp(app.path())
            .args(["package", "--no-build", "--format", "tar", "--out-dir"])
            .arg(out.path())
            .output()
            .unwrap(),
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("warning: `user = \"root\"`: every task runs as root"),
        "{stderr}"
    );
    assert!(
        stderr.contains("these relax the default sandbox"),
        "{stderr}"
    );
}

/// The tarball's scripts keep conffiles as dpkg does: a changed one is
/// kept on upgrade and the new version goes beside it as `.bgapp-new`
/// (and `install.sh` says so); an unchanged one is replaced; a deleted one
/// stays deleted; `uninstall.sh` keeps them, `--purge` deletes them.
#[test]
fn tarball_scripts_keep_conffiles_like_dpkg() {
    let Some(root) = ScratchRoot::new() else {
        return;
    };
    let app = variant("hello", |m| {
        m + r#"
[package.metadata.bgapp]
assets = [
    { source = "hello.toml", dest = "/etc/hello/hello.toml" },
    { source = "other.toml", dest = "/etc/hello/other.toml" },
]
"#
    });
    let top = "hello-0.1.0-x86_64-unknown-linux-gnu";
    for (version, folder) in [("1", "/root/v1"), ("2", "/root/v2")] {
        fs::write(
            app.path().join("hello.toml"),
            format!("hello = {version}\n"),
        )
        .unwrap();
        fs::write(
            app.path().join("other.toml"),
            format!("other = {version}\n"),
        )
        .unwrap();
        let out = tempdir();
        let bundles = package(app.path(), out.path(), &["--format", "tar"]);
        root.put(&bundles[0], &format!("{folder}.tar.gz"));
        root.run(&format!(
            "mkdir -p {folder} && tar -xzf {folder}.tar.gz -C {folder}"
        ));
    }
    let read = |path: &str| root.run(&format!("cat {path}"));
    root.run(&format!("/root/v1/{top}/install.sh --no-start"));
    assert_eq!(read("/etc/hello/hello.toml"), "hello = 1\n");

    // Changed by the administrator, then an upgrade.
    root.run("echo 'hello = mine' > /etc/hello/hello.toml");
    let said = root.run(&format!("/root/v2/{top}/install.sh --no-start"));
    assert!(
        said.contains("install.sh: kept /etc/hello/hello.toml, which was changed since it was installed; the new version is /etc/hello/hello.toml.bgapp-new"),
        "{said}"
    );
    assert_eq!(read("/etc/hello/hello.toml"), "hello = mine\n");
    assert_eq!(read("/etc/hello/hello.toml.bgapp-new"), "hello = 2\n");
    assert_eq!(
        read("/etc/hello/other.toml"),
        "other = 2\n",
        "unchanged: replaced"
    );
    assert!(!root.exists("/etc/hello/other.toml.bgapp-new"));

    // Removal keeps them; a deleted one is not installed again.
    let said = root.run(&format!("/root/v2/{top}/uninstall.sh"));
    assert!(
        said.contains("uninstall.sh: kept /etc/hello/hello.toml"),
        "{said}"
    );
    assert_eq!(read("/etc/hello/hello.toml"), "hello = mine\n");
    assert_eq!(read("/etc/hello/other.toml"), "other = 2\n");
    assert!(!root.exists("/usr/bin/hello"));
    root.run("rm /etc/hello/other.toml");
    let said = root.run(&format!("/root/v2/{top}/install.sh --no-start"));
    assert!(
        said.contains("install.sh: not installing /etc/hello/other.toml again: it was deleted since it was installed"),
        "{said}"
    );
    assert!(!root.exists("/etc/hello/other.toml"));
    assert_eq!(read("/etc/hello/hello.toml"), "hello = mine\n");

    // --purge deletes them, the new versions beside them and the record.
    root.run(&format!("/root/v2/{top}/uninstall.sh --purge"));
    for gone in [
        "/etc/hello",
        "/var/lib/bgapp",
        "/usr/bin/hello",
        "/usr/share/bgapp/hello",
    ] {
        assert!(!root.exists(gone), "{gone} is left after --purge");
    }
}
