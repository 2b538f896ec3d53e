//! `cargo bgapp package` (issue 5).

use std::process::ExitCode;

use crate::shell::Shell;

#[derive(clap::Args)]
pub struct PackageArgs {}

pub fn run(_args: PackageArgs, _shell: &Shell) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cargo bgapp package` is not implemented yet")
}
