//! Which engine runs the task, as the engine's own manifest says: an OCI
//! image's config (and the Kubernetes workloads bgapp writes) set
//! `BGAPP_ENGINE=oci`; nothing is guessed from cgroups or PID 1. Without
//! it the runtime follows systemd's contract (the generated units).
//!
//! What differs: a container engine counts every exit status but 0 as a
//! failure (a Kubernetes Job retries it, podman's `on-failure` restarts
//! it), and has no `SuccessExitStatus=`. So there a timer task that found
//! no new data exits 0, as one that found new data does; the result is in
//! the log line and the termination message either way.

use bgapp_manifest::{env, exit};

/// The engine the process runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// systemd, `cargo bgapp run`, a test: the units' contract.
    Systemd,
    /// A container engine (podman, Docker, containerd, Kubernetes).
    Oci,
}

impl Engine {
    /// From `BGAPP_ENGINE`, which bgapp's own manifests set (the image's
    /// config, the pods); any other value is systemd's contract.
    #[inline(never)]
    pub(crate) fn from_env() -> Engine {
        let value = std::env::var_os(env::ENGINE);
        match value.as_deref().and_then(std::ffi::OsStr::to_str) {
            Some(v) if v == env::ENGINE_OCI => Engine::Oci,
            _ => Engine::Systemd,
        }
    }

    #[cfg(test)]
    fn parse(value: Option<&str>) -> Option<Engine> {
        match value {
            None | Some("") | Some("systemd") => Some(Engine::Systemd),
            Some(v) if v == env::ENGINE_OCI => Some(Engine::Oci),
            Some(_) => None,
        }
    }

    /// The exit status of a run that found no new data.
    pub(crate) fn no_data_exit(self) -> u8 {
        match self {
            Engine::Systemd => exit::NO_DATA,
            Engine::Oci => exit::SUCCESS,
        }
    }
}

impl Engine {
    /// The address a socket task binds itself to. In a container the
    /// network namespace is the container's own and the engine publishes a
    /// port by forwarding to the container's interface, never to its
    /// loopback: there a loopback address becomes the unspecified one of
    /// its family (same port); the engine's port mapping decides who can
    /// reach it (`-p 127.0.0.1:8080:8080`), and a Service in Kubernetes.
    pub(crate) fn bind_addr(self, addr: std::net::SocketAddr) -> std::net::SocketAddr {
        match self {
            Engine::Oci if addr.ip().is_loopback() => {
                let any: std::net::IpAddr = if addr.is_ipv4() {
                    std::net::Ipv4Addr::UNSPECIFIED.into()
                } else {
                    std::net::Ipv6Addr::UNSPECIFIED.into()
                };
                std::net::SocketAddr::new(any, addr.port())
            }
            _ => addr,
        }
    }
}

impl Engine {
    /// The watchdog interval the runtime enforces: the supervisor's
    /// (`WATCHDOG_USEC`) if it set one; under a container engine, which
    /// has no watchdog of its own, the task's, so a task that stops beating
    /// is stopped (`Watchdog`, status 1) and restarted by the engine's
    /// policy. (A runtime whose own thread is blocked cannot stop it: the
    /// exec liveness probe, `--bgapp-alive`, catches that.)
    pub(crate) fn watchdog(
        self,
        supervisor: Option<std::time::Duration>,
        task: Option<std::time::Duration>,
    ) -> Option<std::time::Duration> {
        match self {
            Engine::Oci => supervisor.or(task),
            Engine::Systemd => supervisor,
        }
    }
}

/// The files the runtime keeps under a container engine for the exec
/// probes (the image has no shell) to check: `<task>.alive`, touched at
/// each healthy watchdog tick, and `<task>.ready`, written when the task
/// is ready. In `/tmp`, which every image makes writable.
fn mark_file(task: &str, kind: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/tmp/.bgapp-{task}.{kind}"))
}

impl Engine {
    /// Records a healthy watchdog tick (under a container engine).
    pub(crate) fn beat(self, task: &str) {
        if self == Engine::Oci {
            let _ = std::fs::write(mark_file(task, "alive"), b"");
        }
    }

    /// Records that the task is ready (`true`: it started, or it called
    /// `ready()`), or that it is not yet (`false`, at its start: `/tmp`
    /// outlives a container's restart in a pod).
    pub(crate) fn ready(self, task: &str, ready: bool) {
        if self == Engine::Oci {
            let file = mark_file(task, "ready");
            let _ = if ready {
                std::fs::write(file, b"")
            } else {
                std::fs::remove_file(file)
            };
        }
    }
}

/// `<binary> --bgapp-alive TASK` ([`env::PROBE_ALIVE`]): exits 0 if the
/// task's runtime recorded a healthy watchdog tick within its watchdog
/// interval, else 1 (a runtime whose thread is blocked, or a task that
/// stopped beating); 2 for a task without a watchdog. `--bgapp-ready
/// TASK` ([`env::PROBE_READY`]): exits 0 if the task is ready, else 1.
pub(crate) fn probe(
    flag: &str,
    task: Option<&str>,
    tasks: &[(
        bgapp_manifest::TaskManifest,
        &'static crate::registry::TaskEntry,
    )],
) -> std::process::ExitCode {
    let Some(m) = tasks
        .iter()
        .map(|(m, _)| m)
        .find(|m| Some(m.name.as_str()) == task)
    else {
        eprintln!("error: `{flag}` takes the name of a task of this binary");
        return std::process::ExitCode::from(exit::USAGE);
    };
    let (kind, interval) = if flag == env::PROBE_READY {
        ("ready", None)
    } else {
        let Some(interval) = m.watchdog() else {
            eprintln!("error: task `{}` has no watchdog to probe", m.name);
            return std::process::ExitCode::from(exit::USAGE);
        };
        ("alive", Some(interval))
    };
    let age = std::fs::metadata(mark_file(&m.name, kind))
        .and_then(|md| md.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    match (age, interval) {
        (Some(age), Some(interval)) if age <= interval => std::process::ExitCode::SUCCESS,
        (Some(_), None) => std::process::ExitCode::SUCCESS,
        _ => {
            eprintln!("error: task `{}` is not {kind}", m.name);
            std::process::ExitCode::from(exit::FAILURE)
        }
    }
}

/// Where Kubernetes reads a container's termination message
/// (`terminationMessagePath`'s default).
pub(crate) const TERMINATION_LOG: &str = "/dev/termination-log";

impl Engine {
    /// `STATUS=` under a container engine: the last status line replaces
    /// the termination message (at most 4 KiB, Kubernetes' limit), when the
    /// engine provides the file; `systemctl status` shows it under systemd.
    pub(crate) fn status(self, status: &str) {
        if self == Engine::Oci {
            write_status(std::path::Path::new(TERMINATION_LOG), status);
        }
    }
}

fn write_status(path: &std::path::Path, status: &str) {
    let mut end = status.len().min(4096);
    while !status.is_char_boundary(end) {
        end -= 1;
    }
    // Only into a file the engine made: never create one.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
    {
        let _ = std::io::Write::write_all(&mut f, &status.as_bytes()[..end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_data_is_a_success_status_under_each_engine() {
        // systemd: SuccessExitStatus=5 in the generated units.
        assert_eq!(Engine::parse(None).unwrap().no_data_exit(), exit::NO_DATA);
        assert!(exit::ALSO_SUCCESS.contains(&Engine::Systemd.no_data_exit()));
        // A container engine knows only 0 as success.
        assert_eq!(
            Engine::parse(Some("oci")).unwrap().no_data_exit(),
            exit::SUCCESS
        );
        assert_eq!(Engine::parse(Some("docker")), None);
    }

    #[test]
    fn the_last_status_replaces_the_termination_message() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("termination-log");
        write_status(&log, "first");
        assert!(!log.exists(), "the file is the engine's to create");
        std::fs::write(&log, "").unwrap();
        write_status(&log, "a longer first status");
        write_status(&log, "second");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "second");
        write_status(&log, &"é".repeat(3000));
        assert_eq!(std::fs::read(&log).unwrap().len(), 4096);
    }

    #[test]
    fn a_container_engine_gets_the_watchdog_enforced_by_the_runtime() {
        use std::time::Duration;
        let task = Some(Duration::from_secs(2));
        // Under systemd, only when systemd arms its own (WatchdogSec=).
        assert_eq!(Engine::Systemd.watchdog(None, task), None);
        assert_eq!(Engine::Systemd.watchdog(task, task), task);
        assert_eq!(Engine::Oci.watchdog(None, task), task);
        assert_eq!(Engine::Oci.watchdog(None, None), None);
    }

    #[test]
    fn a_container_listens_beyond_its_own_loopback() {
        let lo: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(Engine::Systemd.bind_addr(lo), lo);
        assert_eq!(Engine::Oci.bind_addr(lo), "0.0.0.0:8080".parse().unwrap());
        let lo6: std::net::SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(Engine::Oci.bind_addr(lo6), "[::]:80".parse().unwrap());
        let lan: std::net::SocketAddr = "10.0.0.5:80".parse().unwrap();
        assert_eq!(Engine::Oci.bind_addr(lan), lan);
    }
}
