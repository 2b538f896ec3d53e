//! The apps the suite installs: one per template, scaffolded with
//! `cargo bgapp new` into one workspace and packaged with `cargo bgapp
//! package`, once per test run, in the target directory the packaging
//! tests use, so that bgapp and tokio compile once for both.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One packaged app.
pub struct App {
    pub deb: PathBuf,
    pub tarball: PathBuf,
}

/// What the upgrade's description starts with.
pub const HELLO_V2_DESCRIPTION: &str = "(0.2.0)";

pub struct Apps {
    pub hello: App,
    /// `hello` again, as version 0.2.0: the upgrade.
    pub hello_v2: App,
    pub timer: App,
    pub server: App,
    /// The address the server's socket unit listens on.
    pub server_address: String,
    pub watcher: App,
    /// `contract/`: the watchdog and the exit-status contract.
    pub contract: App,
    /// The `http` template.
    pub http: App,
    pub http_address: String,
    /// `tests/fixtures/adopt/bgapp`, the adopted daemon, packaged with
    /// `listen` (a free port) and `args` (a slow probe) in its metadata.
    pub adopt: App,
    pub adopt_address: String,
}

/// The apps, built on first use.
pub fn get() -> &'static Apps {
    static APPS: OnceLock<Apps> = OnceLock::new();
    APPS.get_or_init(build)
}

fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e")
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("bgapp-fixtures")
}

fn cargo_bgapp(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-bgapp"))
        .arg("bgapp")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("run cargo-bgapp");
    assert!(
        output.status.success(),
        "cargo bgapp {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn package(workspace: &Path, name: &str) -> App {
    let out = cargo_bgapp(
        workspace,
        &["package", "-q", "-p", name, "--message-format", "human"],
    );
    bundles(name, &out)
}

fn bundles(name: &str, out: &str) -> App {
    let bundle = |suffix: &str| {
        out.lines()
            .map(PathBuf::from)
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} bundle for {name} in:\n{out}"))
    };
    App {
        deb: bundle(".deb"),
        tarball: bundle(".tar.gz"),
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn build() -> Apps {
    let workspace = work_dir().join("apps");
    if workspace.exists() {
        std::fs::remove_dir_all(&workspace).expect("remove old apps");
    }
    std::fs::create_dir_all(&workspace).expect("create the apps workspace");
    std::fs::write(
        workspace.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = []\n",
    )
    .expect("write the workspace manifest");

    let server_address = format!("127.0.0.1:{}", free_port());
    let new = |name: &str, template: &str, defines: &[String]| {
        let mut args = vec!["new", "-q", name, "--template", template, "--vcs", "none"];
        for d in defines {
            args.extend(["-d", d]);
        }
        cargo_bgapp(&workspace, &args);
    };
    new("e2e-hello", "hello", &[]);
    new("e2e-timer", "timer", &["interval=3s".into()]);
    new("e2e-server", "server", &[format!("port={server_address}")]);
    new("e2e-watcher", "watcher", &[]);
    let http_address = format!("127.0.0.1:{}", free_port());
    new("e2e-http", "http", &[format!("port={http_address}")]);

    let hello = package(&workspace, "e2e-hello");
    let timer = package(&workspace, "e2e-timer");
    let server = package(&workspace, "e2e-server");
    let watcher = package(&workspace, "e2e-watcher");
    let http = package(&workspace, "e2e-http");
    let adopt_address = format!("127.0.0.1:{}", free_port());
    let adopt = adopted(&adopt_address);

    // The upgrade: the same app, one version up, whose description (its
    // unit's `Description=`) changed too.
    let manifest = workspace.join("e2e-hello/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("read the hello manifest");
    assert!(text.contains("version = \"0.1.0\""), "{text}");
    let text = text.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1);
    let (before, after) = text
        .split_once("description = \"")
        .expect("the hello manifest has a description");
    let text = format!("{before}description = \"{HELLO_V2_DESCRIPTION} {after}");
    std::fs::write(&manifest, text).expect("write the hello manifest");
    let hello_v2 = package(&workspace, "e2e-hello");

    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/contract");
    let out = cargo_bgapp(
        &contract,
        &["package", "-q", "--locked", "--message-format", "human"],
    );
    let contract = bundles("e2e-contract", &out);
    assert_ne!(hello.deb, hello_v2.deb, "the upgrade has a file of its own");

    Apps {
        hello,
        hello_v2,
        timer,
        server,
        server_address,
        watcher,
        contract,
        http,
        http_address,
        adopt,
        adopt_address,
    }
}

/// The adopted fixture daemon, copied beside the apps with its path to
/// bgapp made absolute, and packaged with the keys a device would set: its
/// own listen address, and a probe that takes 2 s (a request in flight at
/// a stop) run by a helper process.
fn adopted(address: &str) -> App {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adopt/bgapp");
    let dir = work_dir().join("adopt");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove the old copy");
    }
    std::fs::create_dir_all(dir.join("src")).expect("create the copy");
    let bgapp = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository")
        .join("bgapp");
    let manifest = std::fs::read_to_string(fixture.join("Cargo.toml")).expect("read the fixture");
    assert!(manifest.contains("../../../../../bgapp"), "{manifest}");
    let manifest = manifest.replace("../../../../../bgapp", &bgapp.display().to_string())
        + &format!(
            "\n[package.metadata.bgapp.tasks.adopt-exporter]\nlisten = \"{address}\"\nargs = [\"--probe\", \"sleep 2; echo probed\"]\n"
        );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write the copy");
    for file in ["Cargo.lock", "src/main.rs"] {
        std::fs::copy(fixture.join(file), dir.join(file)).expect("copy the fixture");
    }
    let out = cargo_bgapp(
        &dir,
        &["package", "-q", "--locked", "--message-format", "human"],
    );
    bundles("adopt-exporter", &out)
}
