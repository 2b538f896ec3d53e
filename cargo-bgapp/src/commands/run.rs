//! `cargo bgapp run` (issue 6).

use std::process::ExitCode;

use crate::shell::Shell;

#[derive(clap::Args)]
pub struct RunArgs {}

pub fn run(_args: RunArgs, _shell: &Shell) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cargo bgapp run` is not implemented yet")
}
