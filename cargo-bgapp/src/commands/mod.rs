//! One module per subcommand: each takes its parsed arguments (`cli`),
//! calls the layers below (`project`, `scaffold`, `package`, `supervise`)
//! and prints the outcome: status on stderr through the [`Shell`], machine
//! output on stdout.
//!
//! Layer: commands, below the cli and above everything else. No command
//! calls another; what two of them share lives in a layer below, or, for
//! the printing `new` and `init` share, and the note `manifest`, `run` and
//! `package` share, in this file.

mod deploy;
mod device;
mod init;
mod logs;
mod manifest;
mod new;
mod package;
mod remove;
mod run;
mod status;
mod trigger;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Command, NewOptions, SshArgs};
use crate::deploy::hosts::DeployConfig;
use crate::deploy::ssh;
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
        Command::Deploy(args) => deploy::run(args, shell),
        Command::Status(args) => status::run(args, shell),
        Command::Logs(args) => logs::run(args, shell),
        Command::Remove(args) => remove::run(args, shell),
        Command::Enable(args) => device::enable(args, true, shell),
        Command::Disable(args) => device::enable(args, false, shell),
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

/// The ssh options: `--ssh-config` or `BGAPP_SSH_CONFIG`, the timeout.
fn ssh_options(args: &SshArgs, config: &DeployConfig) -> anyhow::Result<ssh::Options> {
    let file: Option<PathBuf> = args.ssh_config.clone().or_else(ssh::config_from_env);
    if let Some(f) = &file {
        ssh::check_config(f)?;
    }
    Ok(ssh::Options {
        config: file,
        connect_timeout_secs: args
            .connect_timeout
            .or(config.connect_timeout)
            .unwrap_or(crate::deploy::DEFAULT_CONNECT_TIMEOUT),
        program: ssh::program_from_env(),
    })
}

/// A table with columns as wide as their widest cell.
fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A host reached and probed, or why it is out of reach.
type FleetHost = Result<(ssh::Session, crate::deploy::remote::Probe), String>;

/// The hosts a device command acts on, reached and probed for the app.
struct Fleet {
    /// The Debian package name of the app.
    package: String,
    /// Each host, with its session and probe, or why it is out of reach.
    hosts: Vec<(crate::deploy::core::HostSpec, FleetHost)>,
    /// Closed (the master connections with it) when the fleet is dropped.
    _masters: ssh::Masters,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for (_, host) in &self.hosts {
            if let Ok((session, _)) = host {
                session.close();
            }
        }
    }
}

/// Resolves the app, selects the hosts and reaches them; says in one line
/// each host out of reach.
fn reach_fleet(
    app: &crate::cli::AppArgs,
    hosts: &crate::cli::HostsArgs,
    ssh_args: &SshArgs,
    shell: &Shell,
) -> anyhow::Result<Fleet> {
    let project = crate::project::Project::resolve(&app.selection())?;
    let manifest = project.package.manifest_path.to_string();
    let config = DeployConfig::from_metadata(&project.package.metadata, &manifest)?;
    let specs = crate::deploy::hosts::select(
        &hosts.hosts,
        hosts.hosts_file.as_deref(),
        &hosts.group,
        &config,
    )?;
    let options = ssh_options(ssh_args, &config)?;
    let package = crate::deploy::deb_name(project.name());
    let masters = ssh::Masters::new()?;
    let reached = crate::deploy::reach_all(&specs, &options, &masters, &package);
    let hosts = specs
        .into_iter()
        .zip(reached)
        .map(|(spec, (r, _))| {
            let r = r.map_err(|e| e.to_string());
            if let Err(why) = &r {
                shell.error(&anyhow::anyhow!("`{spec}`: {why}"));
            }
            (spec, r)
        })
        .collect();
    Ok(Fleet {
        package,
        hosts,
        _masters: masters,
    })
}

/// `--task NAME`'s units on a host: the services that run it and their
/// trigger units; an error naming the tasks there are when none does.
fn task_units(
    session: &ssh::Session,
    probe: &crate::deploy::remote::Probe,
    task: &str,
) -> anyhow::Result<Vec<String>> {
    use crate::deploy::remote;
    let units = remote::installed_units(session, &probe.package).map_err(anyhow::Error::msg)?;
    if units.is_empty() {
        anyhow::bail!("`{}` is not installed on `{}`", probe.package, session.spec);
    }
    let statuses =
        remote::unit_statuses(session, probe.sudo_to_read(), &units).map_err(anyhow::Error::msg)?;
    let services: Vec<&str> = statuses
        .iter()
        .filter(|s| s.task == task)
        .map(|s| s.unit.as_str())
        .collect();
    if services.is_empty() {
        let mut tasks: Vec<&str> = statuses
            .iter()
            .map(|s| s.task.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        tasks.sort();
        tasks.dedup();
        anyhow::bail!(
            "no task `{task}` in `{}` on `{}`\n\nhelp: its tasks are: {}",
            probe.package,
            session.spec,
            tasks.join(", ")
        );
    }
    let stems: Vec<&str> = services
        .iter()
        .filter_map(|s| s.strip_suffix(".service"))
        .collect();
    Ok(units
        .into_iter()
        .filter(|u| {
            u.rsplit_once('.')
                .is_some_and(|(stem, _)| stems.contains(&stem))
        })
        .collect())
}
