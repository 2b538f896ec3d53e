//! The process entry: choose the task named on the command line, start
//! the runtime, gather what the run is given (signals, the system, the
//! environment), hand them to [`lifecycle::run`], and exit with the status
//! it decided.
//!
//! Command line: `<binary> [TASK] [ARGS...]`. With one task, or a task on
//! `main`, the task name may be left out, and every argument that is not a
//! task's name goes to that task: the daemon keeps its own command line
//! (`app -p 9586`, `app --version`). bgapp's own flags are `--bgapp-list`
//! and `--bgapp-help`; see [`invocation`].

use std::process::ExitCode;

use bgapp_manifest::{env, exit, TaskManifest};
use tokio::sync::mpsc;

use crate::activation;
use crate::lifecycle::{self, Host, Setup};
use crate::notify::Notifier;
use crate::registry::{self, TaskEntry};
use crate::state;
use crate::system::{Signals, System};

/// Runs the task named on the command line. The process entry of every
/// bgapp binary: `#[background_task]` on `main` generates a call to it;
/// a binary whose tasks are all named functions calls it from `main`:
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     bgapp::run()
/// }
/// ```
pub fn run() -> ExitCode {
    run_process(None)
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Invocation<'a> {
    /// Run the task at this index with these arguments.
    Run(usize, &'a [String]),
    /// `--bgapp-list`: each task and its trigger.
    List,
    /// `--bgapp-help`: bgapp's usage and the tasks.
    Help,
    Error(String),
}

/// Reads the command line (without the binary's name) against the tasks,
/// `default` the index of the default task: the task on `main`, or the
/// only one.
///
/// - `--bgapp-list` and `--bgapp-help` are bgapp's, always.
/// - A first argument that names a task runs that task with the rest.
/// - With a default task, anything else (`-p 9586`, `--version`,
///   `--help`, nothing) is the default task's command line, whole; a
///   leading `--` is dropped, so `app -- other` passes `other` to it even
///   when a task is named `other`.
/// - Without one, `--list`, `--help` and `-h` are bgapp's too (no task
///   could own them), and anything else is a usage error.
fn invocation<'a>(names: &[&str], default: Option<usize>, args: &'a [String]) -> Invocation<'a> {
    let first = args.first().map(String::as_str);
    match (first, default) {
        (Some("--bgapp-list"), _) => Invocation::List,
        (Some("--bgapp-help"), _) => Invocation::Help,
        (Some("--"), Some(d)) => Invocation::Run(d, &args[1..]),
        (Some(name), _) if names.contains(&name) => {
            let i = names.iter().position(|n| *n == name).unwrap_or_default();
            Invocation::Run(i, &args[1..])
        }
        (_, Some(d)) => Invocation::Run(d, args),
        (Some("--list"), None) => Invocation::List,
        (Some("--help" | "-h"), None) => Invocation::Help,
        (None | Some("--"), None) => Invocation::Error(format!(
            "this binary has several tasks; name one: {}",
            names_list(names)
        )),
        (Some(flag), None) if flag.starts_with('-') => Invocation::Error(format!(
            "unknown option `{flag}`; name a task first ({}), or try `--bgapp-help`",
            names_list(names)
        )),
        (Some(name), None) => Invocation::Error(format!(
            "no task named `{name}` in this binary; it has {}",
            names_list(names)
        )),
    }
}

fn names_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[doc(hidden)]
pub fn run_process(default: Option<&'static str>) -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    if argv.is_empty() {
        argv.push(String::from("app"));
    }
    let tasks = match registry::load() {
        Ok(t) => t,
        Err(msg) => return usage_error(&msg),
    };
    if tasks.is_empty() {
        return usage_error(
            "this binary has no tasks; mark an `async fn` with `#[bgapp::background_task]`",
        );
    }
    if let Some(flag @ (env::PROBE_ALIVE | env::PROBE_READY)) = argv.get(1).map(String::as_str) {
        return crate::engine::probe(flag, argv.get(2).map(String::as_str), &tasks);
    }
    let names: Vec<&str> = tasks.iter().map(|(m, _)| m.name.as_str()).collect();
    let default_index = match default {
        Some(name) => names.iter().position(|n| *n == name),
        None if tasks.len() == 1 => Some(0),
        None => None,
    };
    let (task, rest) = match invocation(&names, default_index, &argv[1..]) {
        Invocation::Run(i, rest) => (&tasks[i], rest),
        Invocation::List => {
            for (m, _) in &tasks {
                println!("{}\t{}", m.name, m.trigger.kind());
            }
            return ExitCode::SUCCESS;
        }
        Invocation::Help => {
            print_help(&tasks, default_index.is_some());
            return ExitCode::SUCCESS;
        }
        Invocation::Error(msg) => return usage_error(&msg),
    };
    if task.0.args == bgapp_manifest::Arguments::None {
        let version = task.1.version;
        // `app TASK --help` names the task it was given.
        let named = argv.len() - 1 > rest.len() && argv[1] != "--";
        let usage = if named {
            format!("{} {}", argv[0], argv[1])
        } else {
            argv[0].clone()
        };
        match own_args(&task.0, version, &usage, rest) {
            OwnArgs::Run => {}
            OwnArgs::Answer(text) => {
                print!("{text}");
                return ExitCode::SUCCESS;
            }
            OwnArgs::Refuse(msg) => return usage_error(&msg),
        }
    }
    let task_argv: Vec<String> = std::iter::once(argv[0].clone())
        .chain(rest.iter().cloned())
        .collect();
    if !task.1.app_log {
        crate::log::install();
    }
    // Before the runtime starts threads: this edits the environment.
    let mut system = System::from_env();
    let runtime = match (task.1.runtime)() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    // Listen for signals before anything else, so a stop that arrives
    // while the task starts is not lost.
    let signals = {
        let _inside = runtime.enter();
        Signals::new()
    };
    let signals = match signals {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for stop signals: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let (manifest, entry) = (task.0.clone(), task.1);
    let (activation, fds) = activation::from_env(&manifest);
    let setup = Setup {
        state_dir: state::state_dir(&manifest.package),
        notifier: Notifier::from_env(),
        activation,
        fds,
        argv: task_argv,
        watchdog: crate::engine::Engine::from_env()
            .watchdog(sd_notify::watchdog_enabled(), manifest.watchdog()),
        manifest,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let host = Host {
        signals,
        system: &mut system,
        tx,
    };
    let finished = runtime.block_on(lifecycle::run(setup, Box::new(entry.run), rx, Some(host)));
    // Work the task spawned and left behind is abandoned, not awaited.
    runtime.shutdown_background();
    ExitCode::from(finished.ended.code)
}

/// What bgapp does with the command line of a task that takes no
/// arguments (`args = "none"`).
#[derive(Debug, PartialEq, Eq)]
enum OwnArgs {
    /// No arguments: a run.
    Run,
    /// `--help` or `--version`: print this, exit 0, no run.
    Answer(String),
    /// Anything else: a usage error (exit 2), no run.
    Refuse(String),
}

fn own_args(
    manifest: &TaskManifest,
    version: Option<&str>,
    usage: &str,
    args: &[String],
) -> OwnArgs {
    let Some(first) = args.first() else {
        return OwnArgs::Run;
    };
    match (first.as_str(), args.len()) {
        ("--help" | "-h", 1) => {
            let mut text = String::new();
            if let Some(d) = &manifest.description {
                text.push_str(d);
                text.push_str("\n\n");
            }
            text.push_str(&format!(
                "Usage: {usage}\n\nOptions:\n  -h, --help     Print help\n  -V, --version  Print version\n"
            ));
            OwnArgs::Answer(text)
        }
        ("--version" | "-V", 1) => OwnArgs::Answer(format!(
            "{} {}\n",
            manifest.package,
            version.unwrap_or("(unknown version)")
        )),
        _ => {
            // `--help --version`: the second is the unexpected one.
            let arg = match first.as_str() {
                "--help" | "-h" | "--version" | "-V" => &args[1],
                _ => first,
            };
            OwnArgs::Refuse(format!(
                "unexpected argument `{arg}`; task `{}` takes no arguments (`args = \"none\"`); try `{usage} --help`",
                manifest.name
            ))
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(exit::USAGE)
}

fn print_help(tasks: &[(TaskManifest, &'static TaskEntry)], has_default: bool) {
    let bin = std::env::args().next().unwrap_or_else(|| "app".into());
    let task = if has_default { "[TASK]" } else { "TASK" };
    println!("Usage: {bin} {task} [ARGS...]\n\nTasks:");
    for (m, _) in tasks {
        println!(
            "  {:<20} {} ({})",
            m.name,
            m.description.as_deref().unwrap_or(""),
            m.trigger.kind()
        );
    }
    println!("\nOptions:\n  --bgapp-list   print each task and its trigger\n  --bgapp-help   print this help");
    if has_default {
        println!("\nEvery other argument goes to the task (the default task when none is named).");
    }
}

#[cfg(test)]
mod tests {
    use super::{invocation, own_args, Invocation, OwnArgs};

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_default_task_keeps_its_command_line() {
        let names = ["exporter", "other"];
        let a = args(&["-p", "9586"]);
        assert_eq!(invocation(&names, Some(0), &a), Invocation::Run(0, &a[..]));
        for flag in ["--version", "--help", "-h", "--list", "-a", "serve"] {
            let a = args(&[flag]);
            assert_eq!(
                invocation(&names, Some(0), &a),
                Invocation::Run(0, &a[..]),
                "{flag}"
            );
        }
        let a = args(&[]);
        assert_eq!(invocation(&names, Some(0), &a), Invocation::Run(0, &a[..]));
        // A task's name selects it; its own arguments follow.
        let a = args(&["other", "-v"]);
        assert_eq!(invocation(&names, Some(0), &a), Invocation::Run(1, &a[1..]));
        let a = args(&["exporter", "-p", "1"]);
        assert_eq!(invocation(&names, Some(0), &a), Invocation::Run(0, &a[1..]));
        // `--` passes even a task's name to the default task.
        let a = args(&["--", "other"]);
        assert_eq!(invocation(&names, Some(0), &a), Invocation::Run(0, &a[1..]));
        // bgapp's own flags cannot collide.
        assert_eq!(
            invocation(&names, Some(0), &args(&["--bgapp-list"])),
            Invocation::List
        );
        assert_eq!(
            invocation(&names, Some(0), &args(&["--bgapp-help"])),
            Invocation::Help
        );
    }

    #[test]
    fn without_a_default_task_the_first_argument_names_one() {
        let names = ["a", "b"];
        let a = args(&["b", "--help"]);
        assert_eq!(invocation(&names, None, &a), Invocation::Run(1, &a[1..]));
        assert_eq!(
            invocation(&names, None, &args(&["--list"])),
            Invocation::List
        );
        assert_eq!(
            invocation(&names, None, &args(&["--help"])),
            Invocation::Help
        );
        assert_eq!(invocation(&names, None, &args(&["-h"])), Invocation::Help);
        let Invocation::Error(e) = invocation(&names, None, &args(&["-p", "1"])) else {
            panic!("an option before a task name is refused")
        };
        assert_eq!(
            e,
            "unknown option `-p`; name a task first (`a`, `b`), or try `--bgapp-help`"
        );
        let Invocation::Error(e) = invocation(&names, None, &args(&["c"])) else {
            panic!("an unknown task is refused")
        };
        assert_eq!(e, "no task named `c` in this binary; it has `a`, `b`");
        assert!(matches!(
            invocation(&names, None, &args(&[])),
            Invocation::Error(_)
        ));
    }

    #[test]
    fn a_task_without_arguments_has_bgapp_answer_help_and_version() {
        use bgapp_manifest::{TaskManifest, Trigger, DEFAULT_STOP_TIMEOUT, FORMAT_VERSION};
        let m = TaskManifest {
            format: FORMAT_VERSION,
            name: "hello".into(),
            function: "hello".into(),
            package: "hello-app".into(),
            description: Some("Says hello".into()),
            trigger: Trigger::Boot,
            restart: Trigger::Boot.default_restart(),
            stop_timeout_ms: DEFAULT_STOP_TIMEOUT.as_millis() as u64,
            time_limit_ms: None,
            watchdog_ms: None,
            ready: Default::default(),
            start_timeout_ms: None,
            args: Default::default(),
        };
        let v = Some("1.2.3");
        assert_eq!(own_args(&m, v, "app", &args(&[])), OwnArgs::Run);
        for flag in ["--version", "-V"] {
            assert_eq!(
                own_args(&m, v, "app", &args(&[flag])),
                OwnArgs::Answer("hello-app 1.2.3\n".into())
            );
        }
        for flag in ["--help", "-h"] {
            assert_eq!(
                own_args(&m, v, "app hello", &args(&[flag])),
                OwnArgs::Answer(
                    "Says hello\n\nUsage: app hello\n\nOptions:\n  -h, --help     Print help\n  -V, --version  Print version\n"
                        .into()
                )
            );
        }
        for (a, bad) in [
            (&["-p", "1"][..], "-p"),
            (&["serve"], "serve"),
            (&["--version", "x"], "x"),
            (&["--"], "--"),
        ] {
            assert_eq!(
                own_args(&m, v, "app", &args(a)),
                OwnArgs::Refuse(format!(
                    "unexpected argument `{bad}`; task `hello` takes no arguments (`args = \"none\"`); try `app --help`"
                )),
                "{a:?}"
            );
        }
    }
}
