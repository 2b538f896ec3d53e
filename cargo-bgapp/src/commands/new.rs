//! `cargo bgapp new`: a background app in a new directory, from one of the
//! templates embedded in the binary (`scaffold/`); `--list` lists them.
//!
//! Layer: commands.

use std::io::Write as _;
use std::process::ExitCode;

use crate::cli::NewArgs;
use crate::scaffold::{self, Mode};
use crate::shell::{Shell, Verbosity};

pub fn run(args: NewArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    if args.list {
        return list(shell);
    }
    let path = args.path.expect("clap requires PATH without --list");
    super::scaffold(Mode::New, path, args.options, shell)
}

/// `--list`: the templates on stdout, one per line with its description;
/// with `-v`, each followed by its variables (`-d KEY=VALUE`).
fn list(shell: &Shell) -> anyhow::Result<ExitCode> {
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
