//! Deploying onto devices over SSH: `cargo bgapp deploy`, `status`,
//! `logs`, `remove`, `enable`, `disable`.
//!
//! Layer: deploy, beside `package/` and `supervise/`, below the commands.
//! [`core`] makes every decision without I/O (the rollout's order, the
//! health gate, the host syntax) and is tested on a fake clock; [`ssh`] is
//! the transport (the system's OpenSSH client, one connection per host,
//! whose session is a shell kept open for every script); [`remote`] holds the scripts run on the device; [`host`]
//! is one host's install, health gate and rollback; [`hosts`] selects the
//! hosts, from the command line or `[package.metadata.bgapp.deploy]`.

pub mod core;
pub mod host;
pub mod hosts;
pub mod remote;
pub mod ssh;

use std::time::Duration;

use self::core::HostSpec;
use self::remote::Probe;
use self::ssh::{Masters, Options, Session, SshError};

/// How many hosts are connected to and probed at once.
const PROBES_AT_ONCE: usize = 16;

/// The connect timeout when neither the command line nor the metadata
/// sets one.
pub const DEFAULT_CONNECT_TIMEOUT: u32 = 10;

/// A host reached and probed, or why it could not be.
pub type Reached = Result<(Session, Probe), SshError>;

/// Connects to every host (in parallel) and probes it for `package`; the
/// results in the order of `hosts`, each with the time it took.
pub fn reach_all(
    hosts: &[HostSpec],
    options: &Options,
    masters: &Masters,
    package: &str,
) -> Vec<(Reached, Duration)> {
    let mut results: Vec<Option<(Reached, Duration)>> = (0..hosts.len()).map(|_| None).collect();
    reach_each(hosts, options, masters, package, |i, reached, took| {
        results[i] = Some((reached, took));
    });
    results
        .into_iter()
        .map(|r| r.expect("every host has a result"))
        .collect()
}

/// Connects to every host (in parallel) and probes it for `package`;
/// hands each host's result (its index in `hosts`, the result, the time
/// it took) to `each` on this thread as soon as it is there, while the
/// others are still being reached.
pub fn reach_each(
    hosts: &[HostSpec],
    options: &Options,
    masters: &Masters,
    package: &str,
    mut each: impl FnMut(usize, Reached, Duration),
) {
    for (chunk_index, chunk) in hosts.chunks(PROBES_AT_ONCE).enumerate() {
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            for (i, spec) in chunk.iter().enumerate() {
                let tx = tx.clone();
                s.spawn(move || {
                    let start = std::time::Instant::now();
                    // A panic drops `tx` unsent: the host is reported below.
                    let reached = reach(spec, options, masters, package);
                    let _ = tx.send((i, reached, start.elapsed()));
                });
            }
            drop(tx);
            let mut seen = vec![false; chunk.len()];
            for (i, reached, took) in rx {
                seen[i] = true;
                each(chunk_index * PROBES_AT_ONCE + i, reached, took);
            }
            for (i, _) in seen.iter().enumerate().filter(|(_, seen)| !**seen) {
                each(
                    chunk_index * PROBES_AT_ONCE + i,
                    Err(SshError("a thread panicked".into())),
                    Duration::ZERO,
                );
            }
        });
    }
}

fn reach(spec: &HostSpec, options: &Options, masters: &Masters, package: &str) -> Reached {
    let session = Session::new(spec, options, masters)?;
    session.connect()?;
    timing(format_args!("`{spec}`: connected"));
    let probe = remote::probe(&session, package)?;
    timing(format_args!("`{spec}`: probed"));
    Ok((session, probe))
}

/// Why a probed host cannot have the app installed or changed by this
/// user, if it cannot: no systemd, an unknown architecture, or a sudo
/// that would prompt.
pub fn unusable(probe: &Probe) -> Option<String> {
    if !probe.has_systemctl {
        return Some("has no `systemctl`: bgapp apps run under systemd".into());
    }
    if probe.deb_arch.is_none() {
        return Some(format!(
            "has no `dpkg`, and bgapp cannot tell its architecture from `uname -m` (`{}`)",
            probe.machine
        ));
    }
    if let Some(why) = &probe.sudo_refused {
        return Some(format!(
            "user `{}` is not root and `sudo -n` refuses ({why}); deploy as root (`root@host`) or give `{}` passwordless sudo (a `NOPASSWD:` rule in /etc/sudoers.d/)",
            probe.user, probe.user
        ));
    }
    None
}

/// The Debian package name of a Cargo package, as the packager names it
/// (lowercase, `_` as `-`).
pub fn deb_name(package: &str) -> String {
    package.to_lowercase().replace('_', "-")
}

/// `BGAPP_DEPLOY_TIMINGS=1`: each phase of a deploy on stderr, with the
/// time since the command started and the CPU time spent so far, by this
/// process and by its children that have ended (cargo, `ssh -G`, the
/// `ssh` clients once closed).
pub const TIMINGS_ENV: &str = "BGAPP_DEPLOY_TIMINGS";

/// Says that `phase` ended, when [`TIMINGS_ENV`] asks for it.
pub fn timing(phase: std::fmt::Arguments<'_>) {
    static START: std::sync::OnceLock<(std::time::Instant, bool)> = std::sync::OnceLock::new();
    let (start, on) = *START.get_or_init(|| {
        let on = std::env::var_os(TIMINGS_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        (std::time::Instant::now(), on)
    });
    if !on {
        return;
    }
    let cpu = |who| {
        // SAFETY: `rusage` is plain integers, for which zero is valid.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes into the `rusage` it is given.
        unsafe { libc::getrusage(who, &mut usage) };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        secs(usage.ru_utime) + secs(usage.ru_stime)
    };
    eprintln!(
        "{:>8.3}s  cpu {:.3}s (+ children {:.3}s)  {phase}",
        start.elapsed().as_secs_f64(),
        cpu(libc::RUSAGE_SELF),
        cpu(libc::RUSAGE_CHILDREN),
    );
}
