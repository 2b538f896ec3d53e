//! `cargo bgapp trigger`: fire a task, or deliver a lifecycle event to it,
//! in the live `cargo bgapp run` of the same package (through its
//! `run.sock`, see `supervise/control.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use bgapp_manifest::CancellationReason;

use crate::build::Project;
use crate::cli::BuildArgs;
use crate::shell::Shell;
use crate::supervise::{self, Request};

#[derive(clap::Args)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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

pub fn run(args: TriggerArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    let project = Project::resolve(&BuildArgs {
        manifest_path: args.manifest_path.clone(),
        package: args.package.clone(),
        target_dir: args.target_dir.clone(),
        ..BuildArgs::default()
    })?;
    let package = project.name();
    let task = args.task.clone();
    let request = if args.stop {
        Request::Stop {
            task,
            reason: args.reason.map(CancellationReason::from),
        }
    } else if args.sleep {
        let deadline = bgapp_manifest::parse_duration(&args.deadline)
            .map_err(|e| anyhow::anyhow!("invalid duration `{}`: {e}", args.deadline))?;
        Request::Sleep {
            task,
            deadline_ms: deadline.as_millis() as u64,
        }
    } else if args.resume {
        Request::Resume { task }
    } else {
        Request::Fire { task }
    };
    let run_dir = supervise::run_dir(&project.target_dir, package);
    let reply = supervise::send(&run_dir, package, &request)?;
    if !reply.ok {
        bail!("{}", reply.message);
    }
    shell.status("Triggered", &reply.message);
    Ok(ExitCode::SUCCESS)
}
