//! One module per subcommand: each takes its parsed arguments (`cli`),
//! calls the layers below (`project`, `scaffold`, `package`, `supervise`)
//! and prints the outcome: status on stderr through the [`Shell`], machine
//! output on stdout.
//!
//! Layer: commands, below the cli and above everything else. No command
//! calls another; what two of them share lives in a layer below, or, for
//! the printing `new` and `init` share, and the note `manifest`, `run` and
//! `package` share, in this file.

mod init;
mod manifest;
mod new;
mod package;
mod run;
mod trigger;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Command, NewOptions};
use crate::project::tasks::Loaded;
use crate::scaffold::{self, BgappSource, Mode, Request};
use crate::shell::Shell;

pub fn run(command: Command, shell: &Shell) -> anyhow::Result<ExitCode> {
    match command {
        Command::New(args) => new::run(args, shell),
        Command::Init(args) => init::run(args, shell),
        Command::Manifest(args) => manifest::run(args, shell),
        Command::Package(args) => package::run(args, shell),
        Command::Run(args) => run::run(args, shell),
        Command::Trigger(args) => trigger::run(args, shell),
    }
}

/// Says which binaries of the package hold no task and are left out
/// (`what`: of what), so that none is left out without a word.
fn note_without_tasks(loaded: &Loaded, what: &str, shell: &Shell) {
    for name in &loaded.without_tasks {
        shell.note(format_args!("binary `{name}` has no task; {what}"));
    }
}

/// `new` and `init`: resolve the options, plan, apply, and say what was done.
fn scaffold(
    mode: Mode,
    path: PathBuf,
    options: NewOptions,
    shell: &Shell,
) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let bgapp = BgappSource::resolve(
        options.bgapp_path.as_deref(),
        options.bgapp_version.as_deref(),
        &cwd,
    )?;
    if let BgappSource::Path(dir) = &bgapp {
        shell.verbose("Using", format!("the `bgapp` crate at `{}`", dir.display()));
    }
    let request = Request {
        mode,
        path,
        cwd,
        name: options.name,
        template: options.template,
        vcs: options.vcs.map(scaffold::Vcs::from),
        description: options.description,
        defines: options.defines,
        join_workspace: !options.no_workspace,
        bgapp,
    };
    let plan = scaffold::plan(&request)?;
    for warning in &plan.warnings {
        shell.warn(warning);
    }
    for warning in plan.apply()? {
        shell.warn(warning);
    }
    report_scaffold(&request, &plan, shell);
    Ok(ExitCode::SUCCESS)
}

fn report_scaffold(request: &Request, plan: &scaffold::Plan, shell: &Shell) {
    for file in &plan.files {
        shell.verbose("Wrote", Path::new(&request.path).join(&file.path).display());
    }
    let verb = match request.mode {
        Mode::New => "Created",
        Mode::Init => "Initialized",
    };
    shell.status(
        verb,
        format!(
            "background app `{}` from template `{}`",
            plan.name, plan.template
        ),
    );
    if let Some(edit) = &plan.workspace {
        let root = edit.manifest_path.parent().unwrap_or(Path::new("."));
        shell.status(
            "Adding",
            format!(
                "`{}` as member of workspace at `{}`",
                plan.name,
                root.display()
            ),
        );
    }
}
