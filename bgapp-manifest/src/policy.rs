//! The unit policy: the timings systemd applies to every task's service,
//! written into the generated units and applied by `cargo bgapp run`, so
//! both agree. See systemd.service(5) and systemd.unit(5).

use std::time::Duration;

use crate::{PathCondition, Schedule, TaskManifest, Trigger};

/// `TimeoutStopSec=` is the task's `stop_timeout` plus this, so the
/// runtime's own deadline (exit status 3, logged) comes before systemd's
/// SIGKILL.
pub const STOP_MARGIN: Duration = Duration::from_secs(2);

/// `TimeoutStartSec=` of a task with `ready = "explicit"` that sets no
/// `start_timeout`: systemd's own default (`DefaultTimeoutStartSec=`),
/// written into the unit so a system with another default gives the same.
/// A task not ready by then is stopped as a failure (and restarted as its
/// `restart` says).
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// `RestartSec=`: the pause before a restart.
pub const RESTART_DELAY: Duration = Duration::from_secs(1);

/// `StartLimitIntervalSec=`: the window in which starts are counted.
pub const START_LIMIT_INTERVAL: Duration = Duration::from_secs(60);

/// The starts a crash loop may make in [`START_LIMIT_INTERVAL`] before the
/// unit stays failed, beyond those its trigger makes (see
/// [`start_limit_burst`]).
pub const START_LIMIT_BURST: u32 = 5;

/// Crashes in a row (since boot) after which the runtime refuses to run a
/// timer, path or socket task started by its trigger or a restart, and
/// exits with `exit::PERMANENT_FAILURE`, which systemd never restarts: the
/// unit ends `failed`. Those triggers can start the service more often
/// than `StartLimitBurst=` catches (see [`start_limit_burst`]). A manual
/// start always runs the task.
pub const CRASH_LOOP_LIMIT: u32 = 5;

/// `StartLimitBurst=` for a task's service. systemd counts every start,
/// not only restarts after a crash: a timer that fires every 3 s, or a
/// watched folder that gets a file a second, would hit a flat limit of 5
/// within the interval and leave a healthy task failed. Starts the trigger
/// itself can make in one interval are added to the crash allowance.
pub fn start_limit_burst(task: &TaskManifest) -> u32 {
    let window = START_LIMIT_INTERVAL.as_millis();
    let triggered = match &task.trigger {
        Trigger::Boot | Trigger::Manual => 0,
        Trigger::Timer {
            schedule: Schedule::Every(every),
        } => window.div_ceil(every.as_millis().max(1)),
        // A calendar may fire every second; a socket or a path may start
        // the service as often as it ends: allow one start a second.
        Trigger::Timer { .. } | Trigger::Socket { .. } | Trigger::Path { .. } => window / 1000,
    };
    START_LIMIT_BURST.saturating_add(u32::try_from(triggered).unwrap_or(u32::MAX))
}

/// How long a stop may take in all before the supervisor kills the task:
/// the task's `stop_timeout` plus [`STOP_MARGIN`] (`TimeoutStopSec=`).
pub fn stop_kill_after(task: &TaskManifest) -> Duration {
    task.stop_timeout() + STOP_MARGIN
}

/// The directory a path task watches, which the package (and `cargo bgapp
/// run`) creates for the task's user so it can consume (delete) what lands
/// there; `None` when that would take over a system directory.
///
/// `not_empty`, `changed` and `modified` watch a directory, unless the last
/// component looks like a file name (`app.conf`); `exists` watches for a
/// flag file, so only its parent is created: creating the path itself would
/// trigger the task at once.
pub fn watched_dir(condition: PathCondition, path: &str) -> Option<String> {
    let path = path.trim_end_matches('/');
    let parent = || {
        path.rsplit_once('/')
            .map(|(p, _)| p.to_string())
            .filter(|p| !p.is_empty())
    };
    let last = path.rsplit('/').next().unwrap_or_default();
    let dir = match condition {
        PathCondition::NotEmpty => Some(path.to_string()),
        PathCondition::Changed | PathCondition::Modified if !last.contains('.') => {
            Some(path.to_string())
        }
        _ => parent(),
    };
    // Never take over a directory the system owns.
    dir.filter(|d| !is_system_dir(d))
}

fn is_system_dir(dir: &str) -> bool {
    const SYSTEM: &[&str] = &[
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/var",
        "/var/cache",
        "/var/lib",
        "/var/log",
        "/var/spool",
        "/var/tmp",
        "/run/user",
    ];
    SYSTEM.contains(&dir)
        || dir.starts_with("/usr/")
        || dir.starts_with("/proc/")
        || dir.starts_with("/sys/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Restart, FORMAT_VERSION};

    fn task(trigger: Trigger) -> TaskManifest {
        TaskManifest {
            format: FORMAT_VERSION,
            name: "t".into(),
            function: "t".into(),
            package: "p".into(),
            description: None,
            trigger,
            restart: Restart::OnFailure,
            stop_timeout_ms: 5_000,
            time_limit_ms: None,
            watchdog_ms: None,
            ready: Default::default(),
            start_timeout_ms: None,
            args: Default::default(),
        }
    }

    #[test]
    fn the_burst_allows_what_the_trigger_starts() {
        let every = |ms| {
            task(Trigger::Timer {
                schedule: Schedule::Every(Duration::from_millis(ms)),
            })
        };
        assert_eq!(start_limit_burst(&task(Trigger::Boot)), 5);
        assert_eq!(start_limit_burst(&task(Trigger::Manual)), 5);
        assert_eq!(start_limit_burst(&every(3_000)), 5 + 20);
        assert_eq!(start_limit_burst(&every(7_000)), 5 + 9);
        assert_eq!(start_limit_burst(&every(900_000)), 5 + 1);
        assert_eq!(start_limit_burst(&every(0)), 5 + 60_000);
        let calendar = task(Trigger::Timer {
            schedule: Schedule::Calendar("hourly".into()),
        });
        assert_eq!(start_limit_burst(&calendar), 65);
        assert_eq!(stop_kill_after(&calendar), Duration::from_secs(7));
    }

    #[test]
    fn watched_dirs() {
        use PathCondition::*;
        assert_eq!(
            watched_dir(Changed, "/var/spool/x/").as_deref(),
            Some("/var/spool/x")
        );
        assert_eq!(
            watched_dir(NotEmpty, "/var/spool/in.d").as_deref(),
            Some("/var/spool/in.d")
        );
        assert_eq!(
            watched_dir(Exists, "/run/app/flag").as_deref(),
            Some("/run/app")
        );
        assert_eq!(watched_dir(Changed, "/etc/app.conf"), None);
        assert_eq!(watched_dir(Exists, "/tmp/flag"), None);
        assert_eq!(watched_dir(NotEmpty, "/var/lib"), None);
    }
}
