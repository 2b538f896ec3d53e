//! One module per command.

pub mod manifest;
pub mod new;
pub mod package;
pub mod run;
pub mod trigger;

use std::process::ExitCode;

use crate::cli::Command;
use crate::shell::Shell;

pub fn run(command: Command, shell: &Shell) -> anyhow::Result<ExitCode> {
    match command {
        Command::New(args) => new::new(args, shell),
        Command::Init(args) => new::init(args, shell),
        Command::Manifest(args) => manifest::run(args, shell),
        Command::Package(args) => package::run(args, shell),
        Command::Run(args) => run::run(args, shell),
        Command::Trigger(args) => trigger::run(args, shell),
    }
}
