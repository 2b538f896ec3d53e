//! Golden files for the generated units: for a representative set of tasks,
//! the exact text of every unit, in `tests/golden/units/<case>/<unit>`,
//! compared byte for byte, so a stray, missing or duplicated key fails.
//!
//! After a deliberate change to the units, rewrite the files with
//!
//! ```text
//! BGAPP_BLESS=1 cargo test -p cargo-bgapp --bins golden
//! ```
//!
//! and review the diff. `tests/package.rs` checks that every golden unit
//! passes `systemd-analyze verify`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bgapp_manifest::{PathCondition, Restart, Schedule, TaskManifest, Trigger, FORMAT_VERSION};

use super::config::{Directive, TaskConfig};
use super::units::{generate, UnitContext};

/// The package, binary and user of every case: `/usr/bin/hello`.
const STEM: &str = "hello";

struct Case {
    /// The folder under `tests/golden/units/`.
    name: &'static str,
    task: TaskManifest,
    config: TaskConfig,
}

fn task(name: &str, trigger: Trigger) -> TaskManifest {
    TaskManifest {
        format: FORMAT_VERSION,
        name: name.into(),
        function: name.replace('-', "_"),
        package: STEM.into(),
        description: Some(format!("Golden {name}")),
        restart: trigger.default_restart(),
        trigger,
        stop_timeout_ms: 5_000,
        time_limit_ms: None,
        watchdog_ms: None,
        ready: Default::default(),
        start_timeout_ms: None,
        args: Default::default(),
    }
}

fn case(name: &'static str, task: TaskManifest) -> Case {
    Case {
        name,
        task,
        config: TaskConfig::default(),
    }
}

fn timer(schedule: Schedule) -> Trigger {
    Trigger::Timer { schedule }
}

fn path(condition: PathCondition, path: &str) -> Trigger {
    Trigger::Path {
        condition,
        path: path.into(),
    }
}

fn socket(listen: &str) -> Trigger {
    Trigger::Socket {
        listen: listen.into(),
    }
}

fn cases() -> Vec<Case> {
    let mut boot = task("worker", Trigger::Boot);
    boot.description = Some("Keeps 100% of the work going\nsecond line".into());
    boot.stop_timeout_ms = 3_000;
    boot.time_limit_ms = Some(600_000);
    boot.watchdog_ms = Some(30_000);

    let mut every = task("every", timer(Schedule::Every(Duration::from_secs(900))));
    every.time_limit_ms = Some(90_500);
    let short = task("often", timer(Schedule::Every(Duration::from_secs(30))));
    let calendar = task(
        "calendar",
        timer(Schedule::Calendar("Mon..Fri *-*-* 02:00:00".into())),
    );
    let mut never = task("manual", Trigger::Manual);
    never.description = None;
    never.restart = Restart::Never;

    let mut named = task(STEM, timer(Schedule::Every(Duration::from_secs(3600))));
    named.description = Some("Says hello every hour".into());

    vec![
        case("boot-watchdog-time-limit", boot),
        case("timer-every", every),
        case("timer-every-short", short),
        case("timer-calendar", calendar),
        case("socket-tcp", task("tcp", socket("127.0.0.1:8080"))),
        case("socket-unix", task("unix", socket("/run/hello/api.sock"))),
        case(
            "path-changed",
            task("changed", path(PathCondition::Changed, "/srv/hello/inbox/")),
        ),
        case(
            "path-modified",
            task("modified", path(PathCondition::Modified, "/etc/hello.conf")),
        ),
        case(
            "path-exists",
            task("exists", path(PathCondition::Exists, "/run/hello/flag")),
        ),
        case(
            "path-not-empty",
            task(
                "not-empty",
                path(PathCondition::NotEmpty, "/var/spool/hello"),
            ),
        ),
        case("manual", never),
        relaxed(),
        odd_values(),
        case("named-like-the-package", named),
        daemon(),
    ]
}

/// What a real daemon gets from `[package.metadata.bgapp]`: arguments
/// (quoted for `ExecStart=`), an environment file, credentials, groups,
/// read-only paths and its own listen address.
fn daemon() -> Case {
    Case {
        name: "daemon",
        task: task("exporter", socket("9586")),
        config: TaskConfig {
            args: Some(vec![
                "-a".into(),
                "--prepend".into(),
                "it's \"quoted\" $HOME 100%".into(),
                "".into(),
                ";".into(),
            ]),
            environment_file: Some("-/etc/default/hello exporter".into()),
            credentials: [
                ("token".to_string(), "/etc/hello/token".to_string()),
                ("ca.pem".to_string(), "/etc/ssl/100%.pem".to_string()),
            ]
            .into_iter()
            .collect(),
            supplementary_groups: vec!["wgread".into()],
            read_only_paths: vec!["/etc/wireguard".into(), "-/etc/hello maybe".into()],
            listen: Some("0.0.0.0:9586".into()),
            ..TaskConfig::default()
        },
    }
}

/// Every relaxation `[package.metadata.bgapp]` allows, at once.
fn relaxed() -> Case {
    let directives = [
        "SystemCallFilter=@system-service @resources",
        "ProtectHome=read-only",
        "Nice=10",
        "Environment=GREETING=100%",
    ];
    Case {
        name: "relaxed",
        task: task("relaxed", Trigger::Boot),
        config: TaskConfig {
            network: true,
            devices: vec![
                "/dev/ttyUSB0".into(),
                "/dev/i2c-1".into(),
                "/dev/odd \"dev\" 100%".into(),
            ],
            capabilities: vec!["CAP_NET_BIND_SERVICE".into(), "CAP_SYS_TIME".into()],
            read_write_paths: vec!["/srv/hello".into()],
            directives: directives
                .iter()
                .map(|d| Directive::parse(d).expect("a valid directive"))
                .collect(),
            ..TaskConfig::default()
        },
    }
}

/// Values each file format must quote or escape its own way: a watched
/// path with spaces, quotes, a backslash and `%`, a writable path with a
/// space, and a description that ends in `\` (which must not continue
/// onto the next line of the unit).
fn odd_values() -> Case {
    let mut t = task(
        "odd",
        path(
            PathCondition::NotEmpty,
            "/var/spool/it's \"my\" spool \\ 100%",
        ),
    );
    t.description = Some("Watches 100% of a spool \\".into());
    Case {
        name: "odd-values",
        task: t,
        config: TaskConfig {
            read_write_paths: vec!["/srv/my data".into(), "-/srv/maybe here/".into()],
            ..TaskConfig::default()
        },
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/units")
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| {
            let e = e.expect("a readable golden folder");
            let name = e.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(e.path()).expect("a readable golden file");
            (name, text)
        })
        .collect()
}

/// What differs between the golden text and the generated one, by line.
fn difference(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let at = (0..e.len().max(a.len()))
        .find(|&i| e.get(i) != a.get(i))
        .unwrap_or(e.len());
    format!(
        "first difference at line {}: golden {:?}, generated {:?}\n--- generated:\n{actual}",
        at + 1,
        e.get(at),
        a.get(at)
    )
}

fn bless(dir: &Path, generated: &BTreeMap<String, String>) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("a writable golden folder");
    for (name, text) in generated {
        std::fs::write(dir.join(name), text).expect("a writable golden file");
    }
}

/// How the units of case `name` differ from its golden files, if they do.
fn compare(name: &str, dir: &Path, generated: &BTreeMap<String, String>) -> Vec<String> {
    let golden = read_dir(dir);
    if golden.keys().ne(generated.keys()) {
        return vec![format!(
            "{name}: golden units {:?}, generated {:?}",
            golden.keys().collect::<Vec<_>>(),
            generated.keys().collect::<Vec<_>>()
        )];
    }
    generated
        .iter()
        .filter(|(unit, text)| golden[*unit] != **text)
        .map(|(unit, text)| format!("{name}/{unit}: {}", difference(&golden[unit], text)))
        .collect()
}

#[test]
fn units_match_the_golden_files() {
    let bless_them = std::env::var("BGAPP_BLESS").is_ok_and(|v| v == "1");
    let root = golden_dir();
    let ctx = UnitContext {
        stem: STEM,
        bin: STEM,
        user: STEM,
    };
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let dir = root.join(case.name);
        let generated: BTreeMap<String, String> = generate(&ctx, &case.task, &case.config)
            .expect("the case's units generate")
            .units()
            .map(|u| (u.name.clone(), u.text.clone()))
            .collect();
        if bless_them {
            bless(&dir, &generated);
        } else {
            failures.extend(compare(case.name, &dir, &generated));
        }
    }
    // A folder no case writes any more is a golden file that tests nothing.
    let known: Vec<&str> = cases.iter().map(|c| c.name).collect();
    for entry in std::fs::read_dir(&root).expect("tests/golden/units exists") {
        let name = entry.expect("a readable folder").file_name();
        let name = name.to_string_lossy();
        if known.contains(&name.as_ref()) {
            continue;
        }
        if bless_them {
            std::fs::remove_dir_all(root.join(name.as_ref())).expect("a removable folder");
        } else {
            failures.push(format!("{name}: no case generates it"));
        }
    }
    assert!(
        failures.is_empty(),
        "generated units differ from tests/golden/units (BGAPP_BLESS=1 rewrites them after a deliberate change):\n\n{}",
        failures.join("\n\n")
    );
}

/// Each task's units have distinct names across the cases, so that
/// `tests/package.rs` can verify them all in one root.
#[test]
fn case_units_have_distinct_names() {
    let ctx = UnitContext {
        stem: STEM,
        bin: STEM,
        user: STEM,
    };
    let mut names: Vec<String> = cases()
        .iter()
        .flat_map(|c| {
            generate(&ctx, &c.task, &c.config)
                .expect("the case's units generate")
                .units()
                .map(|u| u.name.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    let all = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all, "{names:?}");
}
