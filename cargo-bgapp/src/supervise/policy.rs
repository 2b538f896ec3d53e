//! The decisions systemd makes when a service's process ends, for the
//! settings the generated units use: `SuccessExitStatus=`,
//! `RestartPreventExitStatus=`, `Restart=`, and the start rate limit
//! (`StartLimitIntervalSec=`, `StartLimitBurst=`).

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use bgapp_manifest::{exit, Restart};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Code(i32),
    Signal(i32),
}

impl Ending {
    pub fn from_status(status: ExitStatus) -> Ending {
        match (status.code(), status.signal()) {
            (Some(code), _) => Ending::Code(code),
            (None, Some(signal)) => Ending::Signal(signal),
            (None, None) => Ending::Code(-1),
        }
    }

    /// systemd's clean exit: 0, a `SuccessExitStatus=` code, or one of the
    /// signals it sends to stop a service.
    pub fn is_clean(self) -> bool {
        match self {
            Ending::Code(0) => true,
            Ending::Code(c) => u8::try_from(c).is_ok_and(|c| exit::ALSO_SUCCESS.contains(&c)),
            Ending::Signal(s) => {
                [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGPIPE].contains(&s)
            }
        }
    }
}

impl Ending {
    /// An exit status in `RestartPreventExitStatus=`.
    pub fn prevents_restart(self) -> bool {
        matches!(self, Ending::Code(c) if u8::try_from(c).is_ok_and(|c| exit::NO_RESTART.contains(&c)))
    }
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Ending::Code(c) => write!(f, "status {c} ({})", exit::describe(c)),
            Ending::Signal(s) => write!(f, "signal {s} ({})", signal_name(s)),
        }
    }
}

pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Whether a process that ended is started again, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Restart,
    Stay(&'static str),
}

/// `failed`: the supervisor itself judged the run a failure (watchdog,
/// runtime limit, killed at the stop deadline). `stopped`: a stop was
/// requested, which never restarts.
pub fn after_exit(restart: Restart, ending: Ending, failed: bool, stopped: bool) -> Decision {
    if stopped {
        return Decision::Stay("it was stopped");
    }
    if ending.prevents_restart() {
        return Decision::Stay("its exit status prevents restarts");
    }
    let success = ending.is_clean() && !failed;
    match restart {
        Restart::Always => Decision::Restart,
        Restart::OnFailure if !success => Decision::Restart,
        Restart::OnFailure => Decision::Stay("it succeeded (restart = \"on-failure\")"),
        Restart::Never => Decision::Stay("restart = \"never\""),
    }
}

/// The start rate limit: at most `burst` starts in any `interval`.
#[derive(Debug)]
pub struct StartLimit {
    interval: Duration,
    burst: usize,
    starts: VecDeque<Instant>,
}

impl StartLimit {
    pub fn new(interval: Duration, burst: u32) -> StartLimit {
        StartLimit {
            interval,
            burst: burst as usize,
            starts: VecDeque::new(),
        }
    }

    /// Records a start at `now`, or refuses it when the limit is hit.
    pub fn try_start(&mut self, now: Instant) -> bool {
        while self
            .starts
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.interval)
        {
            self.starts.pop_front();
        }
        if self.starts.len() >= self.burst {
            return false;
        }
        self.starts.push_back(now);
        true
    }

    /// `systemctl reset-failed`.
    pub fn reset(&mut self) {
        self.starts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_decide_like_the_units() {
        use Decision::Stay;
        let on_failure = |e| after_exit(bgapp_manifest::Restart::OnFailure, e, false, false);
        assert_eq!(on_failure(Ending::Code(1)), Decision::Restart);
        assert_eq!(on_failure(Ending::Code(3)), Decision::Restart);
        assert_eq!(on_failure(Ending::Signal(libc::SIGKILL)), Decision::Restart);
        assert!(matches!(on_failure(Ending::Code(0)), Stay(_)));
        assert!(matches!(on_failure(Ending::Code(5)), Stay(_)));
        assert!(matches!(on_failure(Ending::Signal(libc::SIGTERM)), Stay(_)));
        for code in [2, 4] {
            assert!(matches!(on_failure(Ending::Code(code)), Stay(_)));
            assert!(matches!(
                after_exit(
                    bgapp_manifest::Restart::Always,
                    Ending::Code(code),
                    false,
                    false
                ),
                Stay(_)
            ));
        }
        assert_eq!(
            after_exit(
                bgapp_manifest::Restart::Always,
                Ending::Code(0),
                false,
                false
            ),
            Decision::Restart
        );
        assert_eq!(
            after_exit(
                bgapp_manifest::Restart::OnFailure,
                Ending::Code(0),
                true,
                false
            ),
            Decision::Restart
        );
        assert!(matches!(
            after_exit(
                bgapp_manifest::Restart::Always,
                Ending::Code(1),
                false,
                true
            ),
            Stay(_)
        ));
        assert!(matches!(
            after_exit(
                bgapp_manifest::Restart::Never,
                Ending::Code(1),
                false,
                false
            ),
            Stay(_)
        ));
    }

    #[test]
    fn start_limit_allows_a_burst_per_interval() {
        let mut limit = StartLimit::new(Duration::from_secs(60), 5);
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(limit.try_start(t0 + Duration::from_secs(i)));
        }
        assert!(!limit.try_start(t0 + Duration::from_secs(10)));
        // The first start leaves the window.
        assert!(limit.try_start(t0 + Duration::from_secs(60)));
        assert!(!limit.try_start(t0 + Duration::from_secs(60)));
        limit.reset();
        assert!(limit.try_start(t0 + Duration::from_secs(61)));
    }
}
