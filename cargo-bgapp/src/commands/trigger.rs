//! `cargo bgapp trigger` (issue 6).

use std::process::ExitCode;

use crate::shell::Shell;

#[derive(clap::Args)]
pub struct TriggerArgs {}

pub fn run(_args: TriggerArgs, _shell: &Shell) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cargo bgapp trigger` is not implemented yet")
}
