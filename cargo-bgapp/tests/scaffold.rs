//! `cargo bgapp new` and `init`, run as the real binary in temporary
//! directories. Generated trees are compared with the expected trees in
//! `tests/snapshots/` (paths redacted); `SNAPSHOTS=overwrite` rewrites them.
//!
//! `templates_build_and_test` generates every template into one temporary
//! workspace and builds and tests it, with a target directory shared by
//! every run (`<target>/scaffold-tests`), so `bgapp` and tokio compile once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

const TEMPLATES: [&str; 5] = ["hello", "http", "server", "timer", "watcher"];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn bgapp_crate() -> PathBuf {
    repository().join("bgapp")
}

struct Run {
    output: Output,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8(self.output.stdout.clone()).unwrap()
    }

    fn stderr(&self) -> String {
        String::from_utf8(self.output.stderr.clone()).unwrap()
    }

    #[track_caller]
    fn success(self) -> Run {
        assert!(self.output.status.success(), "failed:\n{}", self.stderr());
        self
    }

    #[track_caller]
    fn failure(self) -> Run {
        assert_eq!(
            self.output.status.code(),
            Some(1),
            "expected a failure:\n{}",
            self.stderr()
        );
        self
    }
}

/// Runs `cargo bgapp ARGS` in `cwd`.
fn bgapp(cwd: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-bgapp"))
        .arg("bgapp")
        .args(args)
        .current_dir(cwd)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    Run { output }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bgapp-scaffold-")
        .tempdir()
        .unwrap()
}

/// Every file below `dir` (but in `.git/`) with its contents, paths and
/// the `bgapp` crate's location redacted.
fn tree(dir: &Path, root: &Path) -> String {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let relative = path
                .strip_prefix(base)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() == ".git" {
                    out.push((format!("{relative}/"), String::new()));
                } else {
                    walk(&path, base, out);
                }
            } else {
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    let mut text = String::new();
    for (path, contents) in files {
        text.push_str(&format!("=== {path}\n{contents}"));
    }
    redact(&text, root)
}

fn redact(text: &str, root: &Path) -> String {
    text.replace(bgapp_crate().to_str().unwrap(), "[BGAPP]")
        .replace(root.to_str().unwrap(), "[ROOT]")
}

#[track_caller]
fn assert_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("SNAPSHOTS").is_some_and(|v| v == "overwrite") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with SNAPSHOTS=overwrite", path.display()));
    if expected != actual {
        panic!(
            "`{}` differs (run with SNAPSHOTS=overwrite and read the diff)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn every_template_generates_the_expected_tree() {
    for template in TEMPLATES {
        let root = tempdir();
        let name = format!("my-{template}");
        let run = bgapp(
            root.path(),
            &["new", &name, "--template", template, "--vcs", "none"],
        )
        .success();
        assert_eq!(run.stdout(), "", "nothing but machine output on stdout");
        assert_eq!(
            run.stderr(),
            format!("     Created background app `{name}` from template `{template}`\n")
        );
        assert_snapshot(
            &format!("new-{template}.txt"),
            &tree(&root.path().join(&name), root.path()),
        );
    }
}

#[test]
fn list_prints_one_template_per_line() {
    let root = tempdir();
    let run = bgapp(root.path(), &["new", "--list"]).success();
    let stdout = run.stdout();
    let names: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, TEMPLATES);
    assert_eq!(run.stderr(), "");
    let verbose = bgapp(root.path(), &["new", "--list", "-v"])
        .success()
        .stdout();
    assert!(
        verbose.contains("    -d interval=15m  how often the timer fires\n"),
        "{verbose}"
    );
    assert!(
        verbose.contains("    -d spool_dir=/var/spool/<name>  "),
        "{verbose}"
    );
}

#[test]
fn variables_and_description_are_set_and_escaped() {
    let root = tempdir();
    bgapp(
        root.path(),
        &[
            "new",
            "fetcher",
            "-t",
            "timer",
            "--vcs",
            "none",
            "-d",
            "interval=1h30m",
            "-d",
            "source=/srv/feed.txt",
            "--description",
            r#"Fetches "news" \ weather"#,
        ],
    )
    .success();
    let dir = root.path().join("fetcher");
    let manifest: toml_edit::DocumentMut = std::fs::read_to_string(dir.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        manifest["package"]["description"].as_str(),
        Some(r#"Fetches "news" \ weather"#)
    );
    let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    assert!(
        main.contains(r#"trigger = timer(every = "1h30m")"#),
        "{main}"
    );
    assert!(
        main.contains(r#"const SOURCE: &str = "/srv/feed.txt";"#),
        "{main}"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(
        readme.starts_with("# fetcher\n\nFetches \"news\" \\ weather\n"),
        "{readme}"
    );
}

/// A name with `_`: the Debian package, its units and its state directory
/// are named with `-` (`my-timer`), and the scaffolded README and defaults
/// say so, while `cargo bgapp run` and the task keep the package's name.
#[test]
fn a_name_with_underscores_gets_the_units_names_in_its_readme_and_defaults() {
    let root = tempdir();
    for template in ["timer", "hello", "watcher"] {
        let name = format!("my_{template}");
        bgapp(
            root.path(),
            &["new", &name, "-t", template, "--vcs", "none"],
        )
        .success();
        let dir = root.path().join(&name);
        let stem = format!("my-{template}");
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        match template {
            "timer" => {
                assert!(
                    readme.contains(&format!("systemctl list-timers {stem}.timer")),
                    "{readme}"
                );
                assert!(
                    readme.contains(&format!("cargo bgapp trigger {name}")),
                    "{readme}"
                );
                assert!(
                    main.contains(&format!(
                        "const SOURCE: &str = \"/var/lib/{stem}/source.txt\";"
                    )),
                    "{main}"
                );
            }
            "hello" => assert!(
                readme.contains(&format!("`systemctl status {stem}`"))
                    && readme.contains(&format!("`journalctl -u {stem}`")),
                "{readme}"
            ),
            _ => assert!(
                readme.contains(&format!("`/var/lib/{stem}/failed` when installed"))
                    && readme.contains(&format!("`target/bgapp/state/{name}/failed`")),
                "{readme}"
            ),
        }
    }
}

#[test]
fn bad_options_write_nothing() {
    let cases: &[(&[&str], &str)] = &[
        (&["new", "x", "-t", "nope"], "error: unknown template `nope`\n\nhelp: the templates are `hello`, `http`, `server`, `timer`, `watcher`\n"),
        (&["new", "x", "-t", "timer", "-d", "intervall=5m"], "error: unknown variable `intervall` for template `timer`\n\nhelp: its variables are `description`, `interval`, `source`, `maintainer`, `license`\n"),
        (&["new", "x", "-t", "timer", "-d", "interval=5"], "error: invalid value `5` for `interval`: `5` has no unit; write `5s`, `5m` or `5ms`\n"),
        (&["new", "x", "-t", "server", "-d", "port=99999"], "error: invalid value `99999` for `port`: port `99999` is out of range 1..65535\n\nhelp: write a port like `8080`, or an address like `127.0.0.1:8080`\n"),
        (&["new", "x", "-t", "watcher", "-d", "spool_dir=spool"], "error: invalid value `spool` for `spool_dir`: `spool` is not absolute; write a path that starts with `/`\n"),
        (&["new", "x", "-d", "name=y"], "error: `name` is not set with `-d`\n\nhelp: use `--name`\n"),
        (&["new", "x", "--description", "a", "-d", "description=b"], "error: `description` is given twice, with `--description` and with `-d description=...`\n"),
        (&["new", "x", "--description", "two\nlines"], "error: invalid value `two\\nlines` for `description`: it contains the control character '\\n'\n\nhelp: write one line of text\n"),
        (&["new", "x", "--bgapp-path", "nowhere"], "error: `nowhere` is not the path of the `bgapp` crate (no `Cargo.toml` of a package called `bgapp` there)\n"),
    ];
    for (args, expected) in cases {
        let root = tempdir();
        let run = bgapp(root.path(), args).failure();
        assert_eq!(run.stderr(), *expected, "{args:?}");
        assert_eq!(
            entries(root.path()),
            Vec::<String>::new(),
            "{args:?} wrote something"
        );
    }
}

/// What the attribute, the packager or cargo would refuse later is refused
/// by `new`, before anything is written, with what to write instead: the
/// project it would make builds, runs and packages, or is not made.
#[test]
fn values_that_would_not_build_run_or_package_are_refused() {
    let long = "a".repeat(32);
    let longest = "a".repeat(64);
    let too_long = |name: &str| {
        format!(
            "error: the name `{name}` cannot be used as a background app's name, it is longer than 31 characters\n\n\
             note: the app's tasks run as a system user named like the app, and systemd takes user names of at most 31 characters\n"
        )
    };
    let cases: Vec<(Vec<&str>, String)> = vec![
        // `timer(every = "0s")`: "`every` must be longer than zero".
        (vec!["new", "x", "-t", "timer", "-d", "interval=0s"], "error: invalid value `0s` for `interval`: it must be longer than zero\n\nhelp: write a duration like `30s`, `15m` or `1h30m`\n".into()),
        (vec!["new", "x", "-t", "timer", "-d", "interval=1.5s"], "error: invalid value `1.5s` for `interval`: `1.5s` has a fraction, which durations do not take; write `1500ms`\n".into()),
        (vec!["new", "x", "-t", "timer", "-d", "source=/srv/../feed"], "error: invalid value `/srv/../feed` for `source`: `/srv/../feed` is not normalized (systemd refuses `.`, `..` and `//` in paths); write `/feed`\n".into()),
        // The server template serves TCP: a Unix socket crash-loops it.
        (vec!["new", "x", "-t", "server", "-d", "port=/path.sock"], "error: invalid value `/path.sock` for `port`: it is a Unix socket address, and this template serves TCP\n\nhelp: write a port like `8080`, or an address like `127.0.0.1:8080`\n".into()),
        // Directories a path task cannot own (the packager creates the
        // watched directory for the app's user).
        (vec!["new", "x", "-t", "watcher", "-d", "spool_dir=/"], "error: invalid value `/` for `spool_dir`: `/` is the root directory\n\nhelp: write an absolute path like the default, `/var/spool/x`\n".into()),
        (vec!["new", "x", "-t", "watcher", "-d", "spool_dir=/tmp"], "error: invalid value `/tmp` for `spool_dir`: it is a directory the system owns, and a path task owns the directory it watches (it is created for the app's user, which consumes the files in it)\n\nhelp: write a directory of the app's own, like the default `/var/spool/x`\n".into()),
        (vec!["new", "x", "-t", "watcher", "-d", "spool_dir=/var/spool//x"], "error: invalid value `/var/spool//x` for `spool_dir`: `/var/spool//x` is not normalized (systemd refuses `.`, `..` and `//` in paths); write `/var/spool/x`\n".into()),
        // The packager's Maintainer (lintian: malformed-contact).
        (vec!["new", "x", "-d", "maintainer=Jane Doe"], "error: invalid value `Jane Doe` for `maintainer`: it has no email address in `<...>`\n\nhelp: write `-d maintainer=\"Jane Doe <jane@example.com>\"`\n".into()),
        (vec!["new", "x", "-d", "license=MIT/Apache-2.0"], "error: invalid value `MIT/Apache-2.0` for `license`: `/` cannot be part of an SPDX license expression\n\nhelp: write an SPDX license expression, like `MIT OR Apache-2.0`\n".into()),
        (vec!["new", "x", "--description", " "], "error: invalid value ` ` for `description`: the description is empty\n\nhelp: write a value like the default, `-d description=Background app that starts at boot and counts its runs`\n".into()),
        // Every cargo command of the project would fail.
        (vec!["new", "x", "--bgapp-version", "not a version"], format!("error: invalid `--bgapp-version` `not a version`: unexpected character 'n' while parsing major version number\n\nhelp: write a version requirement as in `Cargo.toml`, like `{}`\n", env!("CARGO_PKG_VERSION"))),
        // The system user named like the app: at most 31 characters.
        (vec!["new", &long], format!("{}\nhelp: to give the package a name that differs from the directory name, use `--name`\n", too_long(&long))),
        (vec!["new", "x", "--name", &longest], too_long(&longest)),
    ];
    for (args, expected) in &cases {
        let root = tempdir();
        let run = bgapp(root.path(), args).failure();
        assert_eq!(run.stderr(), *expected, "{args:?}");
        assert_eq!(
            entries(root.path()),
            Vec::<String>::new(),
            "{args:?} wrote something"
        );
    }
    // The longest name that packages.
    let root = tempdir();
    bgapp(root.path(), &["new", &"a".repeat(31), "--vcs", "none"]).success();
}

/// A description that starts with an article makes a synopsis lintian
/// warns about; `new` says so, and writes it all the same.
#[test]
fn a_description_starting_with_an_article_is_warned_about() {
    let root = tempdir();
    let run = bgapp(
        root.path(),
        &["new", "app", "--vcs", "none", "--description", "An app"],
    )
    .success();
    assert_eq!(
        run.stderr(),
        "warning: the description starts with the article `An`; Debian's synopsis should not (lintian: description-synopsis-starts-with-article)\n\n\
         help: start with what the app is or does, like `Background app that ...`\n     \
         Created background app `app` from template `hello`\n"
    );
}

/// `init` of a package whose name is too long for a system user asks for
/// `user = "..."`, and takes one.
#[test]
fn init_of_a_long_name_needs_a_user() {
    let root = tempdir();
    let name = "a-package-name-longer-than-a-user-name";
    let dir = root.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    let manifest = format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n");
    std::fs::write(dir.join("Cargo.toml"), &manifest).unwrap();
    let run = bgapp(&dir, &["init", "--vcs", "none"]).failure();
    assert!(
        run.stderr().contains("help: add `user = \"...\"`"),
        "{}",
        run.stderr()
    );
    assert_eq!(entries(&dir), ["Cargo.toml"]);
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("{manifest}\n[package.metadata.bgapp]\nuser = \"longname\"\n"),
    )
    .unwrap();
    bgapp(&dir, &["init", "--vcs", "none"]).success();
}

#[test]
fn names_are_checked_like_cargo_new() {
    let from_dir =
        "\n\nhelp: to give the package a name that differs from the directory name, use `--name`\n";
    let cases = [
        ("fn", "the name `fn` cannot be used as a package name, it is a Rust keyword"),
        ("async", "the name `async` cannot be used as a package name, it is a Rust keyword"),
        ("test", "the name `test` cannot be used as a package name, it conflicts with Rust's built-in test library"),
        ("std", "the name `std` cannot be used as a package name, it is part of Rust's standard library"),
        ("core", "the name `core` cannot be used as a package name, it is part of Rust's standard library"),
        ("deps", "the name `deps` cannot be used as a package name, it conflicts with cargo's build directory names"),
        ("con", "the name `con` cannot be used as a package name, it is a reserved Windows filename"),
        ("nul", "the name `nul` cannot be used as a package name, it is a reserved Windows filename"),
        ("COM1", "the name `COM1` cannot be used as a package name, it is a reserved Windows filename"),
        ("1password", "the name `1password` cannot be used as a package name, the name cannot start with a digit"),
        ("my.app", "invalid character `.` in package name `my.app`, characters must be ASCII letters, digits, `-` or `_`"),
        ("café", "invalid character `é` in package name `café`, characters must be ASCII letters, digits, `-` or `_`"),
        ("tokio", "the name `tokio` cannot be used as a package name, the generated project depends on a crate of that name"),
        ("_app", "the name `_app` cannot be used as a background app's name, it must start with a letter\n\nnote: the name is also the name of the app's task and of its systemd units"),
    ];
    for (name, message) in cases {
        for init in [false, true] {
            let root = tempdir();
            let run = if init {
                std::fs::create_dir(root.path().join(name)).unwrap();
                bgapp(root.path(), &["init", name])
            } else {
                bgapp(root.path(), &["new", name])
            }
            .failure();
            assert_eq!(
                run.stderr(),
                format!("error: {message}{from_dir}"),
                "{name}"
            );
            let expected: Vec<String> = if init { vec![name.to_string()] } else { vec![] };
            assert_eq!(
                entries(root.path()),
                expected,
                "{name}: something was written"
            );
            if init {
                assert_eq!(
                    entries(&root.path().join(name)),
                    Vec::<String>::new(),
                    "{name}"
                );
            }
        }
        // With `--name`, no hint about the directory name.
        let root = tempdir();
        let run = bgapp(root.path(), &["new", "dir", "--name", name]).failure();
        assert_eq!(run.stderr(), format!("error: {message}\n"), "{name}");
        assert_eq!(entries(root.path()), Vec::<String>::new());
    }

    // `--name` lifts the directory's name.
    let root = tempdir();
    bgapp(
        root.path(),
        &["new", "test", "--name", "tester", "--vcs", "none"],
    )
    .success();
    let manifest = std::fs::read_to_string(root.path().join("test/Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"tester\""), "{manifest}");
}

#[test]
fn new_refuses_an_existing_directory() {
    let root = tempdir();
    std::fs::create_dir(root.path().join("app")).unwrap();
    std::fs::write(root.path().join("file"), "").unwrap();
    for path in ["app", "file"] {
        let run = bgapp(root.path(), &["new", path]).failure();
        assert_eq!(
            run.stderr(),
            format!("error: destination `{path}` already exists\n\nhelp: use `cargo bgapp init` to add a background app to an existing directory\n")
        );
    }
    assert_eq!(entries(&root.path().join("app")), Vec::<String>::new());
}

#[test]
fn version_control() {
    let root = tempdir();
    bgapp(root.path(), &["new", "app"]).success();
    assert_eq!(
        entries(&root.path().join("app")),
        [".git", ".gitignore", "Cargo.toml", "README.md", "src"]
    );
    // Inside a repository, no new one, and no ignore file (as `cargo new`).
    bgapp(&root.path().join("app"), &["new", "inner"]).success();
    assert_eq!(
        entries(&root.path().join("app/inner")),
        ["Cargo.toml", "README.md", "src"]
    );
    bgapp(root.path(), &["new", "plain", "--vcs", "none"]).success();
    assert_eq!(
        entries(&root.path().join("plain")),
        ["Cargo.toml", "README.md", "src"]
    );
}

#[test]
fn without_git() {
    let root = tempdir();
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_cargo-bgapp"))
            .arg("bgapp")
            .args(args)
            .current_dir(root.path())
            .env("PATH", root.path().join("nowhere"))
            .output()
            .unwrap();
        Run { output }
    };
    // By default, a warning.
    let out = run(&["new", "app"]).success();
    assert_eq!(
        out.stderr(),
        "warning: git is not installed: no repository was created\n     Created background app `app` from template `hello`\n"
    );
    assert_eq!(
        entries(&root.path().join("app")),
        [".gitignore", "Cargo.toml", "README.md", "src"]
    );
    // Asked for, an error, and nothing is left.
    let out = run(&["new", "other", "--vcs", "git"]).failure();
    assert!(
        out.stderr().starts_with("error: `git init` failed in `"),
        "{}",
        out.stderr()
    );
    assert_eq!(entries(root.path()), ["app"]);
}

#[test]
fn init_in_an_empty_directory_writes_what_new_writes() {
    let root = tempdir();
    bgapp(
        root.path(),
        &["new", "app", "-t", "watcher", "--vcs", "none"],
    )
    .success();
    let created = tree(&root.path().join("app"), root.path());
    let other = tempdir();
    std::fs::create_dir(other.path().join("app")).unwrap();
    let run = bgapp(
        &other.path().join("app"),
        &["init", "-t", "watcher", "--vcs", "none"],
    )
    .success();
    assert_eq!(
        run.stderr(),
        " Initialized background app `app` from template `watcher`\n"
    );
    assert_eq!(tree(&other.path().join("app"), other.path()), created);
    // A directory that does not exist yet is created.
    bgapp(other.path(), &["init", "fresh", "--vcs", "none"]).success();
    assert!(other.path().join("fresh/src/main.rs").is_file());
}

#[test]
fn init_never_overwrites() {
    let root = tempdir();
    let dir = root.path().join("app");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"app\"\n").unwrap();
    let before = tree(&dir, root.path());
    let run = bgapp(&dir, &["init"]).failure();
    assert_eq!(
        run.stderr(),
        "error: `cargo bgapp init` would overwrite `src/main.rs`\n\nhelp: move it out of the way, or create the app in a new directory with `cargo bgapp new`\n"
    );
    assert_eq!(tree(&dir, root.path()), before, "nothing was written");

    // A `Cargo.toml` that is not TOML is an error too, before anything is written.
    std::fs::remove_file(dir.join("src/main.rs")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "[package\n").unwrap();
    let before = tree(&dir, root.path());
    let run = bgapp(&dir, &["init"]).failure();
    assert!(
        run.stderr().starts_with("error: failed to parse `"),
        "{}",
        run.stderr()
    );
    assert_eq!(tree(&dir, root.path()), before, "nothing was written");
}

#[test]
fn init_merges_an_existing_manifest_and_keeps_a_readme() {
    let root = tempdir();
    let dir = root.path().join("sensor");
    std::fs::create_dir(&dir).unwrap();
    let manifest = r#"# The sensor reader.
[package]
name    = "sensor"   # do not rename
version = "2.1.0"
edition = "2021"

[dependencies]
# Pinned for the board's toolchain.
tokio = "1.40"
serde = { version = "1.0.200", features = ["derive", "rc"] }

[profile.release]
lto = true
"#;
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("README.md"), "# Sensor\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "*.log").unwrap();
    std::fs::create_dir(dir.join(".git")).unwrap();

    let run = bgapp(&dir, &["init", "--bgapp-version", "0.1.0"]).success();
    assert_eq!(
        run.stderr(),
        "warning: kept the existing `README.md`; the template's is not written\n Initialized background app `sensor` from template `hello`\n"
    );
    assert_snapshot("init-merged.txt", &tree(&dir, root.path()));
    let merged = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        merged.starts_with(
            "# The sensor reader.\n[package]\nname    = \"sensor\"   # do not rename\n"
        ),
        "{merged}"
    );

    // A different `--name` than the package's is an error.
    let run = bgapp(&dir, &["init", "--name", "other"]).failure();
    assert_eq!(
        run.stderr(),
        "error: the package in `.` is called `sensor`, not `other`\n"
    );
}

const WORKSPACE: &str = r#"# Our devices.
[workspace]
resolver = "2"
members = [
    "apps/*",    # the apps
    "tools",
]
exclude = ["vendor"]

[workspace.package]
edition = "2024"
"#;

#[test]
fn joins_the_enclosing_workspace() {
    let root = tempdir();
    std::fs::write(root.path().join("Cargo.toml"), WORKSPACE).unwrap();
    std::fs::create_dir_all(root.path().join("apps")).unwrap();

    // Already covered by `apps/*`: the workspace is left alone.
    let run = bgapp(&root.path().join("apps"), &["new", "door"]).success();
    assert_eq!(
        run.stderr(),
        "     Created background app `door` from template `hello`\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("Cargo.toml")).unwrap(),
        WORKSPACE
    );

    // Excluded: left alone, and the package does not claim a workspace.
    bgapp(root.path(), &["new", "vendor/lib"]).success();
    assert_eq!(
        std::fs::read_to_string(root.path().join("Cargo.toml")).unwrap(),
        WORKSPACE
    );

    // Elsewhere: added to `members`, in order and in the list's layout,
    // with the comments where they were.
    let run = bgapp(root.path(), &["new", "sensors/temp", "-t", "timer"]).success();
    assert_eq!(
        redact(&run.stderr(), root.path()),
        "     Created background app `temp` from template `timer`\n      Adding `temp` as member of workspace at `[ROOT]`\n"
    );
    let manifest = std::fs::read_to_string(root.path().join("Cargo.toml")).unwrap();
    assert_eq!(
        manifest,
        WORKSPACE.replace(
            "    \"tools\",\n",
            "    \"sensors/temp\",\n    \"tools\",\n"
        )
    );
    for package in ["apps/door", "vendor/lib", "sensors/temp"] {
        let text = std::fs::read_to_string(root.path().join(package).join("Cargo.toml")).unwrap();
        assert!(!text.contains("[workspace]"), "{package}:\n{text}");
        // Cargo reads profiles only from the workspace root and warns
        // about a member's: a member gets none; the excluded package,
        // its own root, keeps the template's.
        assert_eq!(
            text.contains("[profile.release]\nlto = true\ncodegen-units = 1\n"),
            package == "vendor/lib",
            "{package}:\n{text}"
        );
    }

    // `init` of a directory below the workspace joins it too.
    std::fs::create_dir_all(root.path().join("gate")).unwrap();
    bgapp(&root.path().join("gate"), &["init"]).success();
    let manifest = std::fs::read_to_string(root.path().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("# the apps\n    \"gate\",\n    \"sensors/temp\",\n"),
        "{manifest}"
    );

    // A package that is its own workspace stays out.
    std::fs::create_dir_all(root.path().join("own")).unwrap();
    std::fs::write(root.path().join("own/Cargo.toml"), "[workspace]\n").unwrap();
    bgapp(&root.path().join("own"), &["init"]).success();
    assert_eq!(
        std::fs::read_to_string(root.path().join("Cargo.toml")).unwrap(),
        manifest
    );
}

/// Cargo refuses a workspace with two packages of one name ("two packages
/// named `door` in this workspace"): `new` refuses to make the second.
#[test]
fn a_second_package_of_a_members_name_is_refused() {
    let root = tempdir();
    std::fs::write(root.path().join("Cargo.toml"), WORKSPACE).unwrap();
    std::fs::create_dir_all(root.path().join("apps")).unwrap();
    bgapp(&root.path().join("apps"), &["new", "door", "--vcs", "none"]).success();
    let before = tree(root.path(), root.path());

    // Matched by `apps/*`: only another name helps.
    let run = bgapp(root.path(), &["new", "apps/door2", "--name", "door"]).failure();
    assert_eq!(
        redact(&run.stderr(), root.path()),
        "error: the workspace at `[ROOT]` already has a package named `door` (`[ROOT]/apps/door/Cargo.toml`); cargo refuses two packages of one name in a workspace\n\n\
         help: choose another name with `--name`\n"
    );
    // Added to `members`: or keep it out.
    let run = bgapp(root.path(), &["new", "sensors/door"]).failure();
    assert!(
        run.stderr().ends_with(
            "help: choose another name with `--name`, or keep the app out of the workspace with `--no-workspace`\n"
        ),
        "{}",
        run.stderr()
    );
    // A member listed by name, and `init`.
    std::fs::create_dir_all(root.path().join("tools")).unwrap();
    let run = bgapp(&root.path().join("tools"), &["init", "--name", "door"]).failure();
    assert!(
        run.stderr().contains("already has a package named `door`"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        tree(root.path(), root.path()),
        before,
        "something was written"
    );

    bgapp(
        root.path(),
        &["new", "sensors/door", "--no-workspace", "--vcs", "none"],
    )
    .success();
}

#[test]
fn no_workspace_makes_a_workspace_of_its_own() {
    let root = tempdir();
    std::fs::write(root.path().join("Cargo.toml"), WORKSPACE).unwrap();
    let run = bgapp(root.path(), &["new", "solo", "--no-workspace"]).success();
    assert_eq!(
        run.stderr(),
        "     Created background app `solo` from template `hello`\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("Cargo.toml")).unwrap(),
        WORKSPACE
    );
    let text = std::fs::read_to_string(root.path().join("solo/Cargo.toml")).unwrap();
    // Its own root: the template's release profile applies.
    assert!(
        text.ends_with("tracing = \"0.1\"\n\n# Smaller binaries for devices: link-time optimisation across crates, one\n# codegen unit.\n[profile.release]\nlto = true\ncodegen-units = 1\n\n[workspace]\n"),
        "{text}"
    );
}

#[test]
fn bgapp_dependency_sources() {
    let root = tempdir();
    let dep = |name: &str| {
        let text = std::fs::read_to_string(root.path().join(name).join("Cargo.toml")).unwrap();
        let doc: toml_edit::DocumentMut = text.parse().unwrap();
        doc["dependencies"]["bgapp"].to_string().trim().to_string()
    };
    // Built from this repository: its `bgapp` crate, by path.
    bgapp(root.path(), &["new", "a", "--vcs", "none"]).success();
    assert_eq!(
        dep("a"),
        format!("{{ path = \"{}\" }}", bgapp_crate().display())
    );
    bgapp(
        root.path(),
        &["new", "b", "--vcs", "none", "--bgapp-version", "0.3"],
    )
    .success();
    assert_eq!(dep("b"), "\"0.3\"");
    // A relative `--bgapp-path` is made absolute.
    let relative = pathdiff(root.path(), &bgapp_crate());
    bgapp(
        root.path(),
        &["new", "c", "--vcs", "none", "--bgapp-path", &relative],
    )
    .success();
    assert_eq!(
        dep("c"),
        format!("{{ path = \"{}\" }}", bgapp_crate().display())
    );
}

/// `to` relative to `from`, through `..`.
fn pathdiff(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_str().unwrap().to_string()),
    );
    parts.join("/")
}

/// Every template generates a project that builds without a warning and
/// passes its own tests. All four share one workspace and one target
/// directory, so the dependencies compile once.
#[test]
fn templates_build_and_test() {
    let root = tempdir();
    let ws = root.path();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = []\n",
    )
    .unwrap();
    // This repository's lock file, so the same dependency versions are used
    // (and, once downloaded, no network is needed).
    std::fs::copy(repository().join("Cargo.lock"), ws.join("Cargo.lock")).unwrap();
    for template in TEMPLATES {
        bgapp(
            ws,
            &[
                "new",
                &format!("my-{template}"),
                "-t",
                template,
                "--vcs",
                "none",
            ],
        )
        .success();
    }
    // Formatted as `cargo fmt` would (where rustfmt is installed).
    let sources: Vec<PathBuf> = TEMPLATES
        .iter()
        .map(|t| ws.join(format!("my-{t}/src/main.rs")))
        .collect();
    if let Ok(output) = Command::new("rustfmt")
        .args(["--check", "--edition", "2024"])
        .args(&sources)
        .output()
    {
        assert!(
            output.status.success(),
            "the generated sources are not formatted:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }

    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("scaffold-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let run = |args: &[&str]| {
        let output = Command::new(&cargo)
            .args(args)
            .current_dir(ws)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "`cargo {}` failed:\n{stderr}",
            args.join(" ")
        );
        (String::from_utf8(output.stdout).unwrap(), stderr)
    };

    // Warnings of the generated packages only: `bgapp` is a path dependency
    // whose own warnings are its tests' business.
    let (messages, _) = run(&[
        "build",
        "--workspace",
        "--all-targets",
        "--message-format=json",
    ]);
    let mut warnings = Vec::new();
    for line in messages.lines() {
        let message: serde_json::Value = serde_json::from_str(line).unwrap();
        let from_template = message["target"]["src_path"]
            .as_str()
            .is_some_and(|p| Path::new(p).starts_with(ws));
        if message["reason"] == "compiler-message" && from_template {
            warnings.push(
                message["message"]["rendered"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    assert!(
        warnings.is_empty(),
        "the generated projects have warnings:\n{}",
        warnings.join("\n")
    );

    let (stdout, _) = run(&["test", "--workspace"]);
    let results: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("test result: "))
        .collect();
    assert_eq!(results.len(), TEMPLATES.len(), "{stdout}");
    for result in results {
        assert!(
            result.starts_with("test result: ok.") && !result.contains(" 0 passed"),
            "{stdout}"
        );
    }

    // And packages, with a synopsis that does not start with an article
    // (lintian: description-synopsis-starts-with-article) and a license
    // (was `License: UNKNOWN`). The dev build above is packaged as it is.
    if !support::have("dpkg-deb") {
        return;
    }
    let out = ws.join("bundles");
    for template in TEMPLATES {
        let name = format!("my-{template}");
        let output = Command::new(env!("CARGO_BIN_EXE_cargo-bgapp"))
            .args([
                "bgapp",
                "package",
                "--no-build",
                "--profile",
                "dev",
                "--format",
                "deb",
                "-p",
            ])
            .arg(&name)
            .arg("--out-dir")
            .arg(&out)
            .current_dir(ws)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "`cargo bgapp package` of {name} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let deb = PathBuf::from(stdout.trim());
        let field = |name: &str| {
            let output = Command::new("dpkg-deb")
                .arg("-f")
                .arg(&deb)
                .arg(name)
                .output()
                .unwrap();
            String::from_utf8(output.stdout).unwrap()
        };
        let synopsis = field("Description");
        let first = synopsis.split_whitespace().next().unwrap_or_default();
        assert!(
            !["a", "an", "the"].contains(&first.to_ascii_lowercase().as_str()),
            "{name}: the synopsis starts with an article: {synopsis}"
        );
        let unpacked = ws.join("unpacked").join(&name);
        std::fs::create_dir_all(&unpacked).unwrap();
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&unpacked)
            .status()
            .unwrap();
        assert!(status.success());
        let copyright =
            std::fs::read_to_string(unpacked.join(format!("usr/share/doc/{name}/copyright")))
                .unwrap();
        assert!(
            copyright.contains("License: MIT OR Apache-2.0\n") && !copyright.contains("UNKNOWN"),
            "{name}:\n{copyright}"
        );
    }
}
