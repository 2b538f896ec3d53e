//! `cargo bgapp trigger`: fire a task, or deliver a lifecycle event to it,
//! in the live `cargo bgapp run` of the same package (through its
//! `run.sock`, see `supervise/control.rs`).
//!
//! Layer: commands.

use std::process::ExitCode;

use anyhow::bail;
use bgapp_manifest::CancellationReason;

use crate::cli::TriggerArgs;
use crate::project::Project;
use crate::shell::Shell;
use crate::supervise::{self, Request};

pub fn run(args: TriggerArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    let project = Project::resolve(&args.selection())?;
    let package = project.name();
    let request = request(&args)?;
    let run_dir = supervise::run_dir(&project.target_dir, package);
    let reply = supervise::send(&run_dir, package, &request)?;
    if !reply.ok {
        bail!("{}", reply.message);
    }
    // The reply says what became of it, after the verb of what was asked:
    // `Triggered task `a`: started (pid 7)`, `Delivered `resume` to task `a``.
    let verb = match request {
        Request::Fire { .. } => "Triggered",
        Request::Stop { .. } => "Stopped",
        Request::Sleep { .. } | Request::Resume { .. } => "Delivered",
    };
    shell.status(verb, &reply.message);
    Ok(ExitCode::SUCCESS)
}

fn request(args: &TriggerArgs) -> anyhow::Result<Request> {
    let task = args.task.clone();
    Ok(if args.stop {
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
    })
}
