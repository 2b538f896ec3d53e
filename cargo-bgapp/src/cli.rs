//! The command line as clap parses it: raw options only. Commands resolve
//! them, with Cargo's metadata and `[package.metadata.bgapp]`, into a plan.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::shell::{ColorChoice, Shell, Verbosity};

#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::styling::Styles::styled())]
pub enum Cargo {
    /// Scaffold, run and package background applications
    #[command(version, propagate_version = true)]
    Bgapp(BgappArgs),
}

#[derive(Args)]
pub struct BgappArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct GlobalArgs {
    /// Do not print cargo-bgapp status messages
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Use verbose output
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Coloring
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

impl GlobalArgs {
    pub fn shell(&self) -> Shell {
        let verbosity = if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        Shell::new(verbosity, self.color)
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a new background app in a new directory
    New(crate::commands::new::NewArgs),
    /// Create a new background app in an existing directory
    Init(crate::commands::new::InitArgs),
    /// Print the tasks' manifest, read from the built binary, as JSON
    Manifest(ManifestArgs),
    /// Build installable bundles (.deb, .tar.gz) with generated systemd units
    Package(crate::commands::package::PackageArgs),
    /// Build and run the app's tasks under a local supervisor
    Run(crate::commands::run::RunArgs),
    /// Fire a task, or deliver a lifecycle event, in a running `cargo bgapp run`
    Trigger(crate::commands::trigger::TriggerArgs),
}

/// Selecting and building one package's binary, shared by the commands
/// that read a built binary.
#[derive(Args, Clone, Debug, Default)]
pub struct BuildArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package to use
    #[arg(short, long, value_name = "SPEC")]
    pub package: Option<String>,
    /// Binary to use (default: every binary of the package that has tasks)
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// Build for the target triple
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Build with the given profile
    #[arg(long, value_name = "PROFILE-NAME")]
    pub profile: Option<String>,
    /// Directory for all generated artifacts
    #[arg(long, value_name = "DIRECTORY")]
    pub target_dir: Option<PathBuf>,
    /// Require Cargo.lock to be up to date
    #[arg(long)]
    pub locked: bool,
    /// Run without accessing the network
    #[arg(long)]
    pub offline: bool,
}

#[derive(Args)]
pub struct ManifestArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// Read the binary as it is, without building it first
    #[arg(long)]
    pub no_build: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}
