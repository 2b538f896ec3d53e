//! `cargo bgapp`: scaffold, run, trigger and package background apps.
//!
//! This file only parses the command line (`cli`) and hands it to
//! `commands`, then maps errors to an exit code. The modules are layered in
//! one direction, each using only what is below it (`layers.rs` checks it):
//!
//! ```text
//! cli         every clap type; raw options, turned into the plain values below
//! commands/   one file per subcommand: take the cli's structs, call, print
//! scaffold/   package/   supervise/   deploy/   new+init, bundles, the local supervisor, devices over SSH
//! project/    the Cargo project, building it, its binaries, the architecture table
//! bgapp_manifest                         the contract shared with the runtime
//! ```
//!
//! `package/` plans bundles from `project/`; `scaffold/` and `supervise/`
//! need nothing from it; `deploy/` needs the architecture table of
//! `project/` (the commands hand it the bundles). `shell` (cargo-style output on stderr) serves
//! every layer that reports to the user.

mod cli;
mod commands;
mod deploy;
#[cfg(test)]
mod layers;
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
