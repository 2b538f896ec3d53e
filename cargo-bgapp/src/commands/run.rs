//! `cargo bgapp run`: build the app, read its tasks from the binary, and
//! run them under the local supervisor (`supervise/`), which starts,
//! triggers, restarts and stops them as the generated systemd units would.
//!
//! Layer: commands.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::RunArgs;
use crate::project::binary::Binary;
use crate::project::tasks::load_tasks;
use crate::project::Project;
use crate::shell::Shell;
use crate::supervise::{self, TaskSpec};

pub fn run(args: RunArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    if !args.build.target.is_empty() {
        bail!("`cargo bgapp run` runs the app on this machine; drop `--target`");
    }
    let mut selection = args.build.selection();
    // As `cargo run`: the dev profile unless asked otherwise.
    if selection.profile.is_none() {
        selection.profile = Some(if args.release { "release" } else { "dev" }.to_string());
    }
    let project = Project::resolve(&selection)?;
    let package = project.name().to_string();
    let run_dir = supervise::run_dir(&project.target_dir, &package);
    // Before the build, which may take minutes.
    let lock = supervise::lock(&run_dir, &package)?;

    let built = project.build(shell)?;
    let loaded = load_tasks(&project, built)?;
    super::note_without_tasks(&loaded, "nothing of it runs", shell);
    let tasks = select_tasks(loaded.binaries, &args.task, &package)?;
    supervise::supervise(supervise::Config {
        state_dir: project
            .target_dir
            .join("bgapp")
            .join("state")
            .join(&package),
        package,
        tasks,
        args: args.args,
        run_dir,
        lock,
        shell,
    })
}

/// Every task of the binaries, or those named with `--task`.
fn select_tasks(
    binaries: Vec<(String, Binary)>,
    wanted: &[String],
    package: &str,
) -> anyhow::Result<Vec<TaskSpec>> {
    let mut tasks: Vec<TaskSpec> = binaries
        .into_iter()
        .flat_map(|(_, bin)| {
            let path = bin.path;
            bin.tasks.into_iter().map(move |manifest| TaskSpec {
                manifest,
                bin: path.clone(),
            })
        })
        .collect();
    if wanted.is_empty() {
        return Ok(tasks);
    }
    for name in wanted {
        if !tasks.iter().any(|t| &t.manifest.name == name) {
            let names: Vec<String> = tasks
                .iter()
                .map(|t| format!("`{}`", t.manifest.name))
                .collect();
            bail!(
                "no task named `{name}` in package `{package}`\n\nhelp: its tasks: {}",
                names.join(", ")
            );
        }
    }
    tasks.retain(|t| wanted.contains(&t.manifest.name));
    Ok(tasks)
}
