//! Why a run started, from what systemd (or `cargo bgapp run`) passes.
//!
//! | activation | how it is recognised |
//! | --- | --- |
//! | `Socket` | `LISTEN_PID` is this process and `LISTEN_FDS` > 0 |
//! | `Timer` | `TRIGGER_TIMER_REALTIME_USEC` / `TRIGGER_TIMER_MONOTONIC_USEC` (systemd 251+) |
//! | `Path` | `TRIGGER_PATH` (systemd 251+) |
//! | `Boot` | a boot task started with none of the above |
//! | `Manual` | any other task started with none of the above (`systemctl start`) |

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bgapp_manifest::{TaskManifest, Trigger};

/// Why this run started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activation {
    /// Started at boot, or by `systemctl start` of a boot task.
    Boot,
    /// A timer fired.
    Timer {
        /// When the timer elapsed (wall clock), if the supervisor said.
        fired_at: Option<SystemTime>,
    },
    /// A connection (or datagram) arrived on a listening socket; the sockets
    /// are taken with [`TaskInstance::tcp_listener`](crate::TaskInstance::tcp_listener)
    /// or [`TaskInstance::listeners`](crate::TaskInstance::listeners).
    Socket {
        /// The names systemd gave the sockets (`FileDescriptorName=`).
        names: Vec<String>,
    },
    /// A watched path changed.
    Path {
        /// The path that triggered, if the supervisor said.
        path: Option<PathBuf>,
    },
    /// Started by hand: `systemctl start` of a non-boot task, or
    /// `cargo bgapp trigger`.
    Manual,
}

impl Activation {
    /// A stable lowercase name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Activation::Boot => "boot",
            Activation::Timer { .. } => "timer",
            Activation::Socket { .. } => "socket",
            Activation::Path { .. } => "path",
            Activation::Manual => "manual",
        }
    }
}

/// Sockets passed by the supervisor, owned until the task takes them.
pub(crate) type PassedFds = Vec<(OwnedFd, String)>;

/// Reads the activation from the environment and takes ownership of any
/// passed sockets, clearing the variables so children do not inherit them.
pub(crate) fn from_env(manifest: &TaskManifest) -> (Activation, PassedFds) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut fds = PassedFds::new();
    let for_us = env("LISTEN_PID").and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count = env("LISTEN_FDS")
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if for_us && count > 0 {
        let names: Vec<String> = env("LISTEN_FDNAMES")
            .map(|n| n.split(':').map(str::to_string).collect())
            .unwrap_or_default();
        for i in 0..count {
            let fd: RawFd = 3 + i;
            // SAFETY: the supervisor passed fds 3..3+LISTEN_FDS to this
            // process (LISTEN_PID matches), and nothing else owns them.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            set_cloexec(&owned);
            fds.push((owned, names.get(i as usize).cloned().unwrap_or_default()));
        }
        let names = fds.iter().map(|(_, n)| n.clone()).collect();
        return (Activation::Socket { names }, fds);
    }
    let usec = |k: &str| env(k).and_then(|v| v.parse::<u64>().ok());
    if let Some(real) = usec("TRIGGER_TIMER_REALTIME_USEC") {
        return (
            Activation::Timer {
                fired_at: Some(UNIX_EPOCH + Duration::from_micros(real)),
            },
            fds,
        );
    }
    if usec("TRIGGER_TIMER_MONOTONIC_USEC").is_some() {
        return (Activation::Timer { fired_at: None }, fds);
    }
    if let Some(path) = env("TRIGGER_PATH") {
        return (
            Activation::Path {
                path: Some(path.into()),
            },
            fds,
        );
    }
    let activation = match (&manifest.trigger, env("TRIGGER_UNIT")) {
        (Trigger::Timer { .. }, Some(u)) if u.ends_with(".timer") => {
            Activation::Timer { fired_at: None }
        }
        (Trigger::Path { .. }, Some(u)) if u.ends_with(".path") => Activation::Path { path: None },
        (Trigger::Boot, _) => Activation::Boot,
        _ => Activation::Manual,
    };
    (activation, fds)
}

fn set_cloexec(fd: &OwnedFd) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}
