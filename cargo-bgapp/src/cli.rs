//! The command line as clap parses it: every clap type, raw options only.
//!
//! Layer: cli, the top. Commands (`commands/`) take these structs and turn
//! them, with the conversions at the end of this file, into the plain
//! values the layers below take ([`Selection`], [`scaffold::Vcs`],
//! [`CancellationReason`], [`Shell`]); nothing below this file knows clap.

use std::ffi::OsString;
use std::path::PathBuf;

use bgapp_manifest::CancellationReason;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::project::{Features, Selection};
use crate::scaffold;
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
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Color {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a new background app in a new directory
    New(NewArgs),
    /// Create a new background app in an existing directory
    Init(InitArgs),
    /// Print the tasks' manifest, read from the built binary, as JSON
    Manifest(ManifestArgs),
    /// Build installable bundles (.deb, .tar.gz) with generated systemd units
    Package(PackageArgs),
    /// Build and run the app's tasks under a local supervisor
    Run(RunArgs),
    /// Fire a task, or deliver a lifecycle event, in a running `cargo bgapp run`
    Trigger(TriggerArgs),
    /// Build, install and health-check the app on devices over SSH, rolling back on failure
    Deploy(DeployArgs),
    /// Show the app's tasks on devices: version, state, PID, restarts, status
    Status(StatusArgs),
    /// Show the app's journal on a device
    Logs(LogsArgs),
    /// Uninstall the app from devices
    Remove(RemoveArgs),
    /// Start a task of the app at boot on a device
    Enable(EnableArgs),
    /// Do not start a task of the app at boot on a device
    Disable(EnableArgs),
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
    /// Build for the target triple (`package` takes it more than once: one
    /// bundle each, and one multi-arch image with `--format oci`)
    #[arg(long, value_name = "TRIPLE")]
    pub target: Vec<String>,
    /// Build with the given profile
    #[arg(long, value_name = "PROFILE-NAME")]
    pub profile: Option<String>,
    /// Space or comma separated list of features to activate
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all available features
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the `default` feature
    #[arg(long)]
    pub no_default_features: bool,
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

// --- new, init ---

#[derive(Args)]
pub struct NewArgs {
    /// Directory to create the app in; its name is the package name
    #[arg(value_name = "PATH", required_unless_present = "list")]
    pub path: Option<PathBuf>,
    /// List the templates, one per line with a description (with `-v`, and their variables)
    #[arg(long, conflicts_with = "path")]
    pub list: bool,
    #[command(flatten)]
    pub options: NewOptions,
}

#[derive(Args)]
pub struct InitArgs {
    /// Directory to add the app to
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,
    #[command(flatten)]
    pub options: NewOptions,
}

/// The options `new` and `init` share.
#[derive(Args)]
pub struct NewOptions {
    /// Set the package name [default: the directory name]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Template to use (see `cargo bgapp new --list`)
    #[arg(short, long, value_name = "NAME", default_value = "hello")]
    pub template: String,
    /// Initialize a new repository for the given version control system,
    /// or none [default: git, unless already inside a repository]
    #[arg(long, value_enum, value_name = "VCS")]
    pub vcs: Option<Vcs>,
    /// The package description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Set a template variable (see `cargo bgapp new --list -v`)
    #[arg(short = 'd', long = "define", value_name = "KEY=VALUE", value_parser = parse_define)]
    pub defines: Vec<(String, String)>,
    /// Do not add the package to an enclosing workspace; make it its own workspace
    #[arg(long)]
    pub no_workspace: bool,
    /// Depend on the `bgapp` crate in this directory
    /// [default: the bgapp repository cargo-bgapp was built from, if it is still there]
    #[arg(long, value_name = "DIR", conflicts_with = "bgapp_version")]
    pub bgapp_path: Option<PathBuf>,
    /// Depend on this version of `bgapp` from crates.io
    /// [default: the version of cargo-bgapp]
    #[arg(long, value_name = "VERSION")]
    pub bgapp_version: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Vcs {
    Git,
    None,
}

fn parse_define(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected `KEY=VALUE`, found `{text}`")),
    }
}

// --- manifest, package ---

#[derive(Args)]
pub struct ManifestArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// Read the binary as it is, without building it first
    #[arg(long)]
    pub no_build: bool,
}

#[derive(Args)]
pub struct PackageArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// Which bundles to write, comma-separated: deb, tar, oci, k8s; `all` is deb,tar
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub format: Vec<Format>,
    /// Also write the OCI image as an OCI image layout directory (adds to an existing one)
    #[arg(long, value_name = "DIR")]
    pub oci_layout: Option<PathBuf>,
    /// Push the OCI image (or multi-arch index) to REGISTRY/REPO[:TAG] (default tag: the version)
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Allow plain HTTP and unverified TLS for `--push` to a registry that is not on loopback
    #[arg(long, requires = "push")]
    pub insecure_registry: bool,
    /// Where to write the bundles [default: <target-dir>/bgapp]
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Package the binary as it is, without building it first
    #[arg(long)]
    pub no_build: bool,
    /// How to print the written bundles on stdout
    #[arg(long, value_enum, default_value_t, value_name = "FMT")]
    pub message_format: MessageFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Deb,
    Tar,
    /// An OCI image (oci-archive), one per binary
    Oci,
    /// Kubernetes workloads, one per task
    K8s,
    /// deb and tar
    All,
}

/// The bundles `--format` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Formats {
    pub deb: bool,
    pub tar: bool,
    pub oci: bool,
    pub k8s: bool,
}

impl Formats {
    pub fn new(list: &[Format]) -> Formats {
        let mut f = Formats::default();
        for format in list {
            match format {
                Format::Deb => f.deb = true,
                Format::Tar => f.tar = true,
                Format::Oci => f.oci = true,
                Format::K8s => f.k8s = true,
                Format::All => (f.deb, f.tar) = (true, true),
            }
        }
        f
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

// --- run, trigger ---

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// Run only this task (repeatable) [default: every task]
    #[arg(long, value_name = "NAME")]
    pub task: Vec<String>,
    /// Build in release mode, with optimizations
    #[arg(short, long, conflicts_with = "profile")]
    pub release: bool,
    /// Arguments passed to every task, after its name
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<OsString>,
}

#[derive(Args)]
pub struct TriggerArgs {
    /// The task
    pub task: String,
    /// Stop the task (SIGTERM, as `systemctl stop`); waits until it has ended
    #[arg(long, conflicts_with_all = ["sleep", "resume"])]
    pub stop: bool,
    /// Stop for this reason, delivered on the task's control socket
    #[arg(long, requires = "stop", value_enum, value_name = "REASON")]
    pub reason: Option<Reason>,
    /// Tell the task the system is about to sleep
    #[arg(long, conflicts_with = "resume")]
    pub sleep: bool,
    /// The time the task has before the sleep
    #[arg(
        long,
        requires = "sleep",
        default_value = "5s",
        value_name = "DURATION"
    )]
    pub deadline: String,
    /// Tell the task the system woke up
    #[arg(long)]
    pub resume: bool,
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package whose run to talk to
    #[arg(short, long, value_name = "SPEC")]
    pub package: Option<String>,
    /// The target directory of the run (as given to `cargo bgapp run`)
    #[arg(long, value_name = "DIRECTORY")]
    pub target_dir: Option<PathBuf>,
}

/// The cancellation reasons, as `cargo bgapp trigger --stop --reason` takes
/// them; sent as the runtime spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Reason {
    /// An operator stop (next start: closed-by-user)
    #[value(name = "stop-requested")]
    StopRequested,
    /// The system shuts down (next start: terminated)
    #[value(name = "shutdown", alias = "system-shutdown")]
    Shutdown,
    /// The system goes to sleep (next start: terminated)
    #[value(name = "sleep", alias = "system-sleep")]
    Sleep,
    #[value(name = "time-limit")]
    TimeLimit,
    #[value(name = "watchdog")]
    Watchdog,
    #[value(name = "fatal-error")]
    FatalError,
}

// --- deploy, status, logs, remove, enable, disable ---

/// How hosts are reached, shared by the commands that act on devices.
#[derive(Args, Clone, Debug, Default)]
pub struct SshArgs {
    /// The ssh config file to use instead of `~/.ssh/config` (`ssh -F`)
    /// [env: BGAPP_SSH_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Seconds to wait for a host to answer
    /// [default: `connect-timeout` in `[package.metadata.bgapp.deploy]`, or 10]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..))]
    pub connect_timeout: Option<u32>,
}

/// Which hosts: named, from a file, or from the package's metadata.
#[derive(Args, Clone, Debug, Default)]
pub struct HostsArgs {
    /// Hosts: `[user@]host[:port]` or a name from the ssh config
    /// [default: `hosts` in `[package.metadata.bgapp.deploy]`]
    #[arg(value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Read hosts from this file, one per line (`#` starts a comment)
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,
    /// The hosts of this group of `[package.metadata.bgapp.deploy]` (repeatable)
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,
}

/// The package whose app is on the devices.
#[derive(Args, Clone, Debug, Default)]
pub struct AppArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package to use
    #[arg(short, long, value_name = "SPEC")]
    pub package: Option<String>,
}

#[derive(Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub hosts: HostsArgs,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Deploy to this many hosts at once
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,
    /// Deploy to the first N hosts first, and stop unless all of them succeed
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub canary: u32,
    /// Start no new host after this many have failed
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failures: u32,
    /// How long a boot task must stay up, without a restart, to pass
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub settle: String,
    /// How long the units may take to become active
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub start_timeout: String,
    /// Leave a version that fails the health gate installed, for inspection
    #[arg(long)]
    pub no_rollback: bool,
    /// Install even where the same version is installed
    #[arg(long)]
    pub force: bool,
    /// How to print the result of each host on stdout
    #[arg(long, value_enum, default_value_t, value_name = "FMT")]
    pub message_format: MessageFormat,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub hosts: HostsArgs,
    #[command(flatten)]
    pub app: AppArgs,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// How to print each host's tasks on stdout
    #[arg(long, value_enum, default_value_t, value_name = "FMT")]
    pub message_format: MessageFormat,
}

#[derive(Args)]
pub struct LogsArgs {
    /// The host: `[user@]host[:port]` or a name from the ssh config
    #[arg(value_name = "HOST")]
    pub host: String,
    /// Only this task's journal
    #[arg(long, value_name = "NAME")]
    pub task: Option<String>,
    /// Follow the journal until interrupted (Ctrl-C)
    #[arg(short, long)]
    pub follow: bool,
    /// Show this many of the last lines
    #[arg(short = 'n', long, default_value_t = 50, value_name = "LINES")]
    pub lines: u32,
    #[command(flatten)]
    pub app: AppArgs,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub hosts: HostsArgs,
    /// Also delete the app's data (`/var/lib/<package>`) and configuration
    #[arg(long)]
    pub purge: bool,
    #[command(flatten)]
    pub app: AppArgs,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Args)]
pub struct EnableArgs {
    /// The host: `[user@]host[:port]` or a name from the ssh config
    #[arg(value_name = "HOST")]
    pub host: String,
    /// The task
    #[arg(value_name = "TASK")]
    pub task: String,
    #[command(flatten)]
    pub app: AppArgs,
    #[command(flatten)]
    pub ssh: SshArgs,
}

// --- into the plain values of the layers below ---

impl GlobalArgs {
    pub fn shell(&self) -> Shell {
        let verbosity = if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        let color = match self.color {
            Color::Auto => ColorChoice::Auto,
            Color::Always => ColorChoice::Always,
            Color::Never => ColorChoice::Never,
        };
        Shell::new(verbosity, color)
    }
}

impl BuildArgs {
    pub fn selection(&self) -> Selection {
        Selection {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            bin: self.bin.clone(),
            target: self.target.first().cloned(),
            profile: self.profile.clone(),
            features: Features {
                features: self.features.clone(),
                all_features: self.all_features,
                no_default_features: self.no_default_features,
            },
            target_dir: self.target_dir.clone(),
            locked: self.locked,
            offline: self.offline,
        }
    }
}

impl AppArgs {
    /// The project is found as `cargo bgapp package` finds it.
    pub fn selection(&self) -> Selection {
        Selection {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            ..Selection::default()
        }
    }
}

impl TriggerArgs {
    /// The run to talk to is found as `cargo bgapp run` found its project.
    pub fn selection(&self) -> Selection {
        Selection {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            target_dir: self.target_dir.clone(),
            ..Selection::default()
        }
    }
}

impl From<Vcs> for scaffold::Vcs {
    fn from(vcs: Vcs) -> Self {
        match vcs {
            Vcs::Git => scaffold::Vcs::Git,
            Vcs::None => scaffold::Vcs::None,
        }
    }
}

impl From<Reason> for CancellationReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::StopRequested => CancellationReason::StopRequested,
            Reason::Shutdown => CancellationReason::SystemShutdown,
            Reason::Sleep => CancellationReason::SystemSleep,
            Reason::TimeLimit => CancellationReason::TimeLimit,
            Reason::Watchdog => CancellationReason::Watchdog,
            Reason::FatalError => CancellationReason::FatalError,
        }
    }
}
