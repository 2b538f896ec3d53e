//! `cargo bgapp`: scaffold, run, trigger and package background apps.
//!
//! This file only parses the command line and maps errors to an exit code.
//! The modules are layered in one direction; each uses only those below it:
//!
//! ```text
//! cli         every clap type; raw options
//! commands/   one file per subcommand: parse, call, print
//! scaffold/   package/   supervise/      new+init, bundles, the local supervisor
//! project/    the Cargo project, building it, its binaries, the architecture table
//! bgapp_manifest                         the contract shared with the runtime
//! ```
//!
//! `shell` (cargo-style output on stderr) is used by every layer that
//! reports to the user.

mod cli;
mod commands;
mod package;
mod project;
mod scaffold;
mod shell;
mod supervise;

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
