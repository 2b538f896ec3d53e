//! `cargo bgapp run`: build the app, read its tasks from the binary, and
//! run them under the local supervisor (`supervise/`), which starts,
//! triggers, restarts and stops them as the generated systemd units would.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::bail;

use crate::build::Project;
use crate::cli::BuildArgs;
use crate::commands::manifest::load_tasks;
use crate::shell::Shell;
use crate::supervise::{self, TaskSpec};

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// Run only this task (repeatable) [default: every task]
    #[arg(long, value_name = "NAME")]
    pub task: Vec<String>,
    /// Build in release mode, with optimizations
    #[arg(short, long, conflicts_with = "profile")]
    pub release: bool,
    /// Arguments passed to every task, after its name
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<OsString>,
}

pub fn run(mut args: RunArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    if args.build.target.is_some() {
        bail!("`cargo bgapp run` runs the app on this machine; drop `--target`");
    }
    // As `cargo run`: the dev profile unless asked otherwise.
    if args.build.profile.is_none() {
        args.build.profile = Some(if args.release { "release" } else { "dev" }.to_string());
    }
    let project = Project::resolve(&args.build)?;
    let package = project.name().to_string();
    let run_dir = supervise::run_dir(&project.target_dir, &package);
    // Before the build, which may take minutes.
    let lock = supervise::lock(&run_dir, &package)?;

    let built = project.build(&args.build, shell)?;
    let binaries = load_tasks(&project, built, args.build.bin.is_some())?;
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
    if !args.task.is_empty() {
        for name in &args.task {
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
        tasks.retain(|t| args.task.contains(&t.manifest.name));
    }
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
