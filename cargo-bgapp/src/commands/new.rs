//! `cargo bgapp new` and `init` (issue 4).

use std::process::ExitCode;

use crate::shell::Shell;

#[derive(clap::Args)]
pub struct NewArgs {}

#[derive(clap::Args)]
pub struct InitArgs {}

pub fn new(_args: NewArgs, _shell: &Shell) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cargo bgapp new` is not implemented yet")
}

pub fn init(_args: InitArgs, _shell: &Shell) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cargo bgapp init` is not implemented yet")
}
