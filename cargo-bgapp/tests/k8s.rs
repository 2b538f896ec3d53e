//! `cargo bgapp package --format k8s`: each template's workloads pass
//! `kubernetes-validate --strict` (offline schemas, from PyPI; `.ci/run`
//! installs it in /opt/bgapp-ci-venv) for Kubernetes 1.30 and the newest
//! version it bundles; what has no Kubernetes form is one clear error with
//! nothing written. The mapping itself is unit-tested in
//! `src/package/k8s/tests.rs`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use support::{skip, success, text};

const VALIDATE: &str = "/opt/bgapp-ci-venv/bin/kubernetes-validate";

fn workspace() -> &'static PathBuf {
    static W: OnceLock<PathBuf> = OnceLock::new();
    W.get_or_init(|| {
        let w = Path::new(env!("CARGO_TARGET_TMPDIR")).join("k8s-templates");
        if w.exists() {
            std::fs::remove_dir_all(&w).unwrap();
        }
        std::fs::create_dir_all(&w).unwrap();
        std::fs::write(
            w.join("Cargo.toml"),
            "[workspace]\nresolver = \"3\"\nmembers = []\n",
        )
        .unwrap();
        for t in ["hello", "timer", "server", "http", "watcher"] {
            let mut cmd = cargo_bgapp(&w);
            cmd.args([
                "new",
                &format!("k{t}"),
                "--template",
                t,
                "--vcs",
                "none",
                "-q",
            ]);
            success(cmd.output().unwrap());
        }
        w
    })
}

fn cargo_bgapp(dir: &Path) -> Command {
    let mut cmd = support::cargo_bgapp(dir);
    cmd.env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(Stdio::null());
    cmd
}

/// `--format k8s` for one app: the file's text.
fn manifests(app: &str) -> String {
    let out = workspace().join("out");
    let mut cmd = cargo_bgapp(workspace());
    cmd.args(["package", "-q", "-p", app, "--format", "k8s", "--out-dir"])
        .arg(&out);
    let path = support::run(&mut cmd);
    assert_eq!(
        PathBuf::from(path.trim()),
        out.join(format!("{app}_0.1.0.k8s.yaml"))
    );
    std::fs::read_to_string(path.trim()).unwrap()
}

fn have_validator() -> bool {
    let ok = Path::new(VALIDATE).is_file();
    if !ok {
        skip(&format!("{VALIDATE} is not installed (python3 -m venv /opt/bgapp-ci-venv && /opt/bgapp-ci-venv/bin/pip install kubernetes-validate)"));
    }
    ok
}

/// apps/v1 validation refuses `activeDeadlineSeconds` in a Deployment's or
/// DaemonSet's pod template (`Unsupported value`), which the offline
/// schemas do not know: no such workload may carry it.
fn no_deadline_outside_jobs(yaml: &str) {
    for doc in yaml.split("\n---") {
        if doc.contains("kind: \"Deployment\"") || doc.contains("kind: \"DaemonSet\"") {
            assert!(!doc.contains("activeDeadlineSeconds"), "{doc}");
        }
    }
}

/// Validates `text` strictly for 1.30 and for the newest version bundled
/// (the tool's default).
fn validate(app: &str, text_: &str) {
    no_deadline_outside_jobs(text_);
    let file = workspace().join(format!("{app}.check.yaml"));
    std::fs::write(&file, text_).unwrap();
    for version in [Some("1.30.0"), None] {
        let mut cmd = Command::new(VALIDATE);
        cmd.arg("--strict");
        if let Some(v) = version {
            cmd.args(["-k", v]);
        }
        let out = cmd.arg(&file).output().unwrap();
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(
            out.status.success(),
            "{app} for {version:?}:\n{all}\n{text_}"
        );
        assert!(!all.contains("ERROR"), "{all}");
        assert!(all.contains("passed"), "{all}");
    }
}

#[test]
fn hello_is_a_daemonset_that_validates() {
    let yaml = manifests("khello");
    assert!(yaml.contains("kind: \"DaemonSet\""), "{yaml}");
    assert!(yaml.contains("terminationGracePeriodSeconds: 7"), "{yaml}");
    assert!(yaml.contains("path: \"/var/lib/khello\""), "{yaml}");
    assert!(yaml.contains("kind: \"NetworkPolicy\""), "{yaml}");
    if have_validator() {
        validate("khello", &yaml);
    }
}

#[test]
fn timer_is_a_cronjob_that_validates() {
    let yaml = manifests("ktimer");
    assert!(yaml.contains("kind: \"CronJob\""), "{yaml}");
    assert!(yaml.contains("schedule: \"*/15 * * * *\""), "{yaml}");
    assert!(yaml.contains("concurrencyPolicy: \"Forbid\""), "{yaml}");
    assert!(yaml.contains("claimName: \"ktimer-state\""), "{yaml}");
    if have_validator() {
        validate("ktimer", &yaml);
    }
}

#[test]
fn server_is_a_deployment_and_service_that_validate() {
    let yaml = manifests("kserver");
    assert!(yaml.contains("kind: \"Deployment\""), "{yaml}");
    assert!(yaml.contains("kind: \"Service\""), "{yaml}");
    assert!(yaml.contains("containerPort: 8080"), "{yaml}");
    assert!(!yaml.contains("NetworkPolicy"), "{yaml}");
    if have_validator() {
        validate("kserver", &yaml);
    }
}

/// The http template says when it is ready (`ready = "explicit"`): its
/// readiness probe runs the app's binary, not a TCP check.
#[test]
fn http_readiness_is_an_exec_probe_that_validates() {
    let yaml = manifests("khttp");
    assert!(yaml.contains("kind: \"Deployment\""), "{yaml}");
    let flat = yaml.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(
            r#"readinessProbe: exec: command: - "/usr/bin/khttp" - "--bgapp-ready" - "khttp""#
        ),
        "{yaml}"
    );
    assert!(!yaml.contains("tcpSocket"), "{yaml}");
    if have_validator() {
        validate("khttp", &yaml);
    }
}

#[test]
fn watcher_is_one_clear_error_and_nothing_is_written() {
    let out = support::tempdir();
    let dir = out.path().join("out");
    let mut cmd = cargo_bgapp(workspace());
    cmd.args([
        "package",
        "-q",
        "-p",
        "kwatcher",
        "--format",
        "k8s",
        "--out-dir",
    ])
    .arg(&dir);
    let output = cmd.output().unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("error: task `kwatcher` is started by a path ("),
        "{stderr}"
    );
    assert!(
        stderr.contains("which Kubernetes has no trigger for"),
        "{stderr}"
    );
    assert!(!dir.exists(), "nothing is written");
}

#[test]
fn the_kubernetes_table_is_strict() {
    let copy = workspace().join("kstrict");
    if !copy.exists() {
        let mut cmd = cargo_bgapp(workspace());
        cmd.args([
            "new",
            "kstrict",
            "--template",
            "hello",
            "--vcs",
            "none",
            "-q",
        ]);
        success(cmd.output().unwrap());
        let mut manifest = std::fs::read_to_string(copy.join("Cargo.toml")).unwrap();
        manifest.push_str("\n[package.metadata.bgapp.kubernetes]\nimage = \"ghcr.io/me/kstrict\"\nnode-selectr = { a = \"b\" }\n");
        std::fs::write(copy.join("Cargo.toml"), manifest).unwrap();
    }
    let mut cmd = cargo_bgapp(workspace());
    cmd.args(["package", "-p", "kstrict", "--format", "k8s"]);
    let output = cmd.output().unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("kubernetes"), "{stderr}");
    assert!(stderr.contains("node-selectr"), "{stderr}");
    assert!(
        !stderr.contains("Compiling"),
        "refused before the build: {stderr}"
    );
}

/// A ported daemon's configuration (`[package.metadata.bgapp]`) in the
/// pod: its args after the task name, its `listen` port on the Service,
/// its environment file as a ConfigMap and its credentials as a Secret
/// (each with a warning saying how to create it), what has no pod form
/// warned about; a `time_limit` on a Deployment is a warning, not an
/// `activeDeadlineSeconds` the API server would refuse. It validates.
#[test]
fn a_daemons_configuration_maps_or_warns_and_validates() {
    let copy = workspace().join("kconf");
    if !copy.exists() {
        let mut cmd = cargo_bgapp(workspace());
        cmd.args([
            "new",
            "kconf",
            "--template",
            "server",
            "--vcs",
            "none",
            "-q",
        ]);
        success(cmd.output().unwrap());
        let main = copy.join("src/main.rs");
        let source = std::fs::read_to_string(&main).unwrap();
        // It reads its args (`args = "none"` would refuse them).
        let limited = source.replace("args = \"none\"", "time_limit = \"1h\"");
        assert_ne!(source, limited, "the server template's attribute changed");
        std::fs::write(&main, limited).unwrap();
        let mut manifest = std::fs::read_to_string(copy.join("Cargo.toml")).unwrap();
        manifest.push_str(concat!(
            "\n[package.metadata.bgapp.service]\n",
            "environment-file = \"-/etc/default/kconf\"\n",
            "credentials = { token = \"/etc/kconf/token\" }\n",
            "supplementary-groups = [\"wgread\"]\n",
            "read-only-paths = [\"-/etc/wireguard\"]\n",
            "\n[package.metadata.bgapp.tasks.kconf]\n",
            "args = [\"--prepend-sudo\", \"--label\", \"site a\"]\n",
            "listen = \"0.0.0.0:9586\"\n",
        ));
        std::fs::write(copy.join("Cargo.toml"), manifest).unwrap();
    }
    let out = workspace().join("out");
    let mut cmd = cargo_bgapp(workspace());
    cmd.args(["package", "-p", "kconf", "--format", "k8s", "--out-dir"])
        .arg(&out);
    let output = success(cmd.output().unwrap());
    let stderr = text(&output.stderr);
    let yaml = std::fs::read_to_string(out.join("kconf_0.1.0.k8s.yaml")).unwrap();
    let flat = yaml.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        r#"args: - "kconf" - "--prepend-sudo" - "--label" - "site a""#,
        r#"containerPort: 8080"#,
        r#"port: 9586 protocol: "TCP" targetPort: "listen""#,
        r#"envFrom: - configMapRef: name: "kconf-environment" optional: true"#,
        r#"name: "CREDENTIALS_DIRECTORY" value: "/run/credentials""#,
        r#"secretName: "kconf-credentials""#,
    ] {
        assert!(flat.contains(want), "{want}:\n{yaml}");
    }
    for want in [
        "warning: task `kconf`: `time_limit` (1h) has no Kubernetes backstop in a Deployment",
        "warning: task `kconf`: its `environment-file` is the ConfigMap `kconf-environment`",
        "warning: task `kconf`: its `credentials` are the Secret `kconf-credentials`",
        "kubectl create secret generic kconf-credentials --from-file=token=/etc/kconf/token",
        "warning: task `kconf`: its `supplementary-groups` (wgread) are left out of the pod",
        "warning: task `kconf`: its `read-only-paths` (-/etc/wireguard) are not in the pod",
    ] {
        assert!(stderr.contains(want), "{want}:\n{stderr}");
    }
    no_deadline_outside_jobs(&yaml);
    if have_validator() {
        validate("kconf", &yaml);
    }
}
