//! `cargo bgapp new` and `init` (issue 4): a background app from one of
//! the templates embedded in the binary. The work is in `crate::scaffold`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::scaffold::{self, BgappSource, Mode, Request, Vcs};
use crate::shell::{Shell, Verbosity};

#[derive(clap::Args)]
pub struct NewArgs {
    /// Directory to create the app in; its name is the package name
    #[arg(value_name = "PATH", required_unless_present = "list")]
    path: Option<PathBuf>,
    /// List the templates, one per line with a description (with `-v`, and their variables)
    #[arg(long, conflicts_with = "path")]
    list: bool,
    #[command(flatten)]
    options: Options,
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// Directory to add the app to
    #[arg(value_name = "PATH", default_value = ".")]
    path: PathBuf,
    #[command(flatten)]
    options: Options,
}

/// The options `new` and `init` share.
#[derive(clap::Args)]
struct Options {
    /// Set the package name [default: the directory name]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Template to use (see `cargo bgapp new --list`)
    #[arg(short, long, value_name = "NAME", default_value = "hello")]
    template: String,
    /// Initialize a new repository for the given version control system,
    /// or none [default: git, unless already inside a repository]
    #[arg(long, value_enum, value_name = "VCS")]
    vcs: Option<Vcs>,
    /// The package description
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Set a template variable (see `cargo bgapp new --list -v`)
    #[arg(short = 'd', long = "define", value_name = "KEY=VALUE", value_parser = parse_define)]
    defines: Vec<(String, String)>,
    /// Do not add the package to an enclosing workspace; make it its own workspace
    #[arg(long)]
    no_workspace: bool,
    /// Depend on the `bgapp` crate in this directory
    /// [default: the bgapp repository cargo-bgapp was built from, if it is still there]
    #[arg(long, value_name = "DIR", conflicts_with = "bgapp_version")]
    bgapp_path: Option<PathBuf>,
    /// Depend on this version of `bgapp` from crates.io
    /// [default: the version of cargo-bgapp]
    #[arg(long, value_name = "VERSION")]
    bgapp_version: Option<String>,
}

fn parse_define(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected `KEY=VALUE`, found `{text}`")),
    }
}

pub fn new(args: NewArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    if args.list {
        return list(shell);
    }
    let path = args.path.expect("clap requires PATH without --list");
    scaffold(Mode::New, path, args.options, shell)
}

pub fn init(args: InitArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    scaffold(Mode::Init, args.path, args.options, shell)
}

/// `--list`: the templates on stdout, one per line with its description;
/// with `-v`, each followed by its variables (`-d KEY=VALUE`).
fn list(shell: &Shell) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let templates = scaffold::template::all()?;
    let width = templates.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for t in &templates {
        writeln!(out, "{:width$}  {}", t.name, t.description)?;
        if shell.verbosity() == Verbosity::Verbose {
            for v in &t.variables {
                writeln!(
                    out,
                    "{:width$}    -d {}={}  {}",
                    "",
                    v.name,
                    v.shown_default(),
                    v.help
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn scaffold(
    mode: Mode,
    path: PathBuf,
    options: Options,
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
        vcs: options.vcs,
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
    for file in &plan.files {
        shell.verbose("Wrote", Path::new(&request.path).join(&file.path).display());
    }
    let verb = match mode {
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
    Ok(ExitCode::SUCCESS)
}
