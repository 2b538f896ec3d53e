//! The exit-status contract between a bgapp binary and its supervisor.
//!
//! The runtime exits with these codes; the packager writes units that rely
//! on them (`RestartPreventExitStatus=`, `SuccessExitStatus=`), and the
//! local supervisor of `cargo bgapp run` applies the same rules.

/// The task finished: it returned `Ok`, or it was stopped and saved in time.
/// A timer task that reported new data also exits with this.
pub const SUCCESS: u8 = 0;
/// The task failed: it returned an error or panicked. Restarted under
/// `restart = "on-failure"` and `"always"`.
pub const FAILURE: u8 = 1;
/// The binary was started wrongly (an unknown task name, a bad argument).
/// Never restarted: starting it again would fail the same way.
pub const USAGE: u8 = 2;
/// A stop was requested and work was still held at the deadline
/// (`stop_timeout`); it was abandoned. Counts as a failure.
pub const DEADLINE_MISSED: u8 = 3;
/// The task declared a permanent failure (`bgapp::Permanent`). Never
/// restarted, whatever the restart policy.
pub const PERMANENT_FAILURE: u8 = 4;
/// A timer task reported that it found no new data. A success for the
/// supervisor (`SuccessExitStatus=`), told apart from new data.
pub const NO_DATA: u8 = 5;
/// A second Ctrl-C (SIGINT) ended the process at once.
pub const INTERRUPTED: u8 = 130;

/// Codes the supervisor must not restart.
pub const NO_RESTART: &[u8] = &[USAGE, PERMANENT_FAILURE];
/// Non-zero codes the supervisor counts as success.
pub const ALSO_SUCCESS: &[u8] = &[NO_DATA];

/// A short description of a code, for logs and `cargo bgapp run`.
pub fn describe(code: i32) -> &'static str {
    match code {
        0 => "finished",
        1 => "failed",
        2 => "usage error",
        3 => "missed its stop deadline",
        4 => "failed permanently",
        5 => "finished, no new data",
        130 => "interrupted",
        _ => "exited with an unknown status",
    }
}
