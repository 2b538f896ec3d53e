//! # bgapp: background applications for Linux
//!
//! Write each task as one async function; bgapp turns it into a supervised
//! entry point that systemd starts at boot, restarts when it crashes, and
//! stops with a bounded chance to save state.
//!
//! ```no_run
//! #[bgapp::background_task(stop_timeout = "5s")]
//! async fn main(task: bgapp::TaskInstance) -> anyhow::Result<()> {
//!     let deferral = task.deferral();
//!     let stop = task.cancelled().await;
//!     // save state here, before stop.deadline()
//!     deferral.complete();
//!     Ok(())
//! }
//! ```
//!
//! ## The model
//! - **Deferrals.** The process ends when the task function has returned
//!   and every [`Deferral`] is complete, as with Windows background tasks' `GetDeferral()`.
//! - **Cancellation.** SIGTERM (and SIGINT) reach the task as a
//!   [`Cancellation`] with a [`CancellationReason`] and a deadline, the
//!   task's `stop_timeout`. Work still held at the deadline is abandoned
//!   and the process exits with status 3. A second SIGINT exits at once.
//! - **Exit status** is a contract with the supervisor: see [`exit`].
//! - **Previous execution state, saved state, activations**: see
//!   [`TaskInstance::previous_execution_state`], [`TaskInstance::state`],
//!   [`TaskInstance::activation`].
//! - **systemd.** Under systemd (`NOTIFY_SOCKET` set) the runtime sends
//!   `READY=1` when the task starts (or, with `ready = "explicit"`, when it
//!   calls [`TaskInstance::ready`]), `STATUS=` lines, `STOPPING=1` on stop,
//!   and `WATCHDOG=1` while the task is alive. Elsewhere this costs nothing.
//!
//! ## Several tasks in one binary
//! Every `#[background_task]` in the binary registers itself. The binary's
//! first argument names the task to run (the generated units pass it). Put
//! the attribute on `main` for the default task, or call [`run`] from a
//! plain `main`. With a default task (or only one), every argument that is
//! not a task's name goes to it: the daemon keeps its command line
//! ([`TaskInstance::args`], [`TaskInstance::argv`], and with the `clap`
//! feature [`TaskInstance::parse_args`]); a task ends a run that is not one
//! (help, version, a usage error) with [`Usage`]. bgapp's own flags are
//! `--bgapp-list` and `--bgapp-help`.
//!
//! ## Servers
//! [`TaskInstance::tcp_listener_or`] takes the passed socket or binds the
//! daemon's own address; [`TaskInstance::shutdown`] is the graceful-shutdown
//! future for axum, hyper or actix; [`TaskInstance::drain`] bounds the wait
//! for requests in flight by the stop deadline; [`TaskInstance::ready`]
//! sends `READY=1` with `ready = "explicit"`. Logging: see [`log`].

mod activation;
mod cancel;
mod deferral;
mod durable;
mod engine;
mod execution;
mod instance;
mod lifecycle;
pub mod log;
mod notify;
mod outcome;
mod process;
mod registry;
mod state;
mod system;
pub mod testing;

pub use bgapp_macros::background_task;
pub use bgapp_manifest::exit;
pub use bgapp_manifest::{Readiness, Restart, Schedule, TaskManifest, Trigger};

pub use activation::Activation;
pub use cancel::{Cancellation, CancellationReason};
pub use deferral::Deferral;
pub use execution::{ExecutionState, ExitReason, PreviousExecution};
pub use instance::{LifecycleEvent, LifecycleEvents, Listener, TaskInstance};
pub use outcome::{FetchResult, Permanent, TaskReturn, Usage};
pub use process::run;
pub use state::{StateError, StateStore, Trust};

/// Not public API: what the macro's expansion refers to.
#[doc(hidden)]
pub mod __private {
    pub use crate::instance::IsTaskInstance;
    pub use crate::lifecycle::TaskFuture;
    pub use crate::outcome::{Returned, TaskReturn};
    pub use crate::process::run_process;
    pub use crate::registry::{current_thread, multi_thread, multi_thread_with, TaskEntry, TASKS};
    pub use bgapp_manifest::{Arguments, PathCondition, Readiness};
    pub use linkme;
    pub use tokio;
}
