//! The process entry: choose the task named on the command line, start
//! the runtime, gather what the run is given (signals, the system, the
//! environment), hand them to [`lifecycle::run`], and exit with the status
//! it decided.
//!
//! Command line: `<binary> [TASK] [ARGS...]`. With one task, or a task on
//! `main`, the task name may be left out. `--list` prints the tasks.

use std::process::ExitCode;

use bgapp_manifest::{exit, TaskManifest};
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

#[doc(hidden)]
pub fn run_process(default: Option<&'static str>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tasks = match registry::load() {
        Ok(t) => t,
        Err(msg) => return usage_error(&msg),
    };
    if tasks.is_empty() {
        return usage_error(
            "this binary has no tasks; mark an `async fn` with `#[bgapp::background_task]`",
        );
    }
    let (task, rest) = match args.first().map(String::as_str) {
        Some("--list") => {
            for (m, _) in &tasks {
                println!("{}\t{}", m.name, m.trigger.kind());
            }
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            print_help(&tasks);
            return ExitCode::SUCCESS;
        }
        Some("--") => match default_task(&tasks, default) {
            Some(t) => (t, args[1..].to_vec()),
            None => return usage_error(&missing_task_message(&tasks)),
        },
        Some(name) if !name.starts_with('-') => match tasks.iter().find(|(m, _)| m.name == name) {
            Some(t) => (t, args[1..].to_vec()),
            None => {
                return usage_error(&format!(
                    "no task named `{name}` in this binary; it has {}",
                    names(&tasks)
                ))
            }
        },
        Some(flag) => return usage_error(&format!("unknown option `{flag}`; try `--help`")),
        None => match default_task(&tasks, default) {
            Some(t) => (t, Vec::new()),
            None => return usage_error(&missing_task_message(&tasks)),
        },
    };
    crate::log::install();
    // Before the runtime starts threads: this edits the environment.
    let mut system = System::from_env();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
        args: rest,
        watchdog: sd_notify::watchdog_enabled(),
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

fn default_task<'a>(
    tasks: &'a [(TaskManifest, &'static TaskEntry)],
    default: Option<&str>,
) -> Option<&'a (TaskManifest, &'static TaskEntry)> {
    match default {
        Some(name) => tasks.iter().find(|(m, _)| m.name == name),
        None if tasks.len() == 1 => tasks.first(),
        None => None,
    }
}

fn names(tasks: &[(TaskManifest, &'static TaskEntry)]) -> String {
    tasks
        .iter()
        .map(|(m, _)| format!("`{}`", m.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn missing_task_message(tasks: &[(TaskManifest, &'static TaskEntry)]) -> String {
    format!("this binary has several tasks; name one: {}", names(tasks))
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(exit::USAGE)
}

fn print_help(tasks: &[(TaskManifest, &'static TaskEntry)]) {
    let bin = std::env::args().next().unwrap_or_else(|| "app".into());
    println!("Usage: {bin} [TASK] [ARGS...]\n\nTasks:");
    for (m, _) in tasks {
        println!(
            "  {:<20} {} ({})",
            m.name,
            m.description.as_deref().unwrap_or(""),
            m.trigger.kind()
        );
    }
    println!("\nOptions:\n  --list   print each task and its trigger\n  -h, --help");
}
