//! `cargo bgapp init`: a background app in an existing directory, merged
//! with what is there (`scaffold/`).
//!
//! Layer: commands.

use std::process::ExitCode;

use crate::cli::InitArgs;
use crate::scaffold::Mode;
use crate::shell::Shell;

pub fn run(args: InitArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    super::scaffold(Mode::Init, args.path, args.options, shell)
}
