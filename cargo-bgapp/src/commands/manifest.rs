//! `cargo bgapp manifest`: build if needed, read the tasks from the binary.

use std::process::ExitCode;

use crate::cli::ManifestArgs;
use crate::shell::Shell;

pub fn run(_args: ManifestArgs, _shell: &Shell) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cargo bgapp manifest` is not implemented yet")
}
