//! `cargo bgapp`: scaffold, run, trigger and package background apps.
//!
//! This file only parses the command line and maps errors to an exit code;
//! each command lives in `commands/`.

mod binary;
mod build;
mod cli;
mod commands;
mod package;
mod scaffold;
mod shell;
mod supervise;
mod triple;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli::Cargo::Bgapp(args) = cli::Cargo::parse();
    let shell = args.global.shell();
    match commands::run(args.command, &shell) {
        Ok(code) => code,
        Err(error) => {
            shell.error(&error);
            ExitCode::FAILURE
        }
    }
}
