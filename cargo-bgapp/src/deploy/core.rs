//! The decisions of a deploy, without I/O: which host to start next
//! ([`Rollout`]), whether a host's units are healthy ([`Gate`]), which of
//! an app's units are gated ([`gated_units`]), and how a host is written
//! on the command line ([`HostSpec`]). The transport feeds them what it
//! saw, with the time it saw it; the tests drive them on a fake clock.

use std::time::Duration;

// --- hosts ---

/// A host as the command line writes it: `[user@]host[:port]`, or a name
/// from the user's `ssh_config` (then only `host`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl HostSpec {
    /// Parses `[user@]host[:port]`; an IPv6 address with a port is written
    /// `[::1]:2222`, as ssh's `ssh://` form does.
    pub fn parse(text: &str) -> Result<HostSpec, String> {
        let help = "write a host as `[user@]host[:port]`, or a name from your ssh config";
        let text = text.trim();
        if text.is_empty() {
            return Err(format!("an empty host name\n\nhelp: {help}"));
        }
        if text.starts_with('-') || text.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(format!("`{text}` is not a host\n\nhelp: {help}"));
        }
        let (user, rest) = match text.rsplit_once('@') {
            Some((user, rest)) if !user.is_empty() => (Some(user.to_string()), rest),
            Some(_) => return Err(format!("`{text}` names no user before `@`\n\nhelp: {help}")),
            None => (None, text),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let Some((addr, after)) = inner.split_once(']') else {
                return Err(format!(
                    "`{text}` has no `]` after its address\n\nhelp: {help}"
                ));
            };
            match after {
                "" => (addr, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (addr, Some(port)),
                    None => return Err(format!("`{text}` is not a host\n\nhelp: {help}")),
                },
            }
        } else if rest.matches(':').count() > 1 {
            // A bare IPv6 address, without a port.
            (rest, None)
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{text}` names no host\n\nhelp: {help}"));
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(format!(
                    "`{text}` has port `{p}`, which is not a port number (1-65535)\n\nhelp: {help}"
                ))
                }
            },
        };
        Ok(HostSpec {
            user,
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for HostSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match (self.port, self.host.contains(':')) {
            (Some(port), true) => write!(f, "[{}]:{port}", self.host),
            (Some(port), false) => write!(f, "{}:{port}", self.host),
            (None, _) => write!(f, "{}", self.host),
        }
    }
}

// --- architectures ---

/// The Rust target a device of this Debian architecture is built for,
/// when `--target` does not say: the one rustup and Debian's cross
/// compilers pair with it.
pub fn default_triple(deb_arch: &str) -> Option<&'static str> {
    Some(match deb_arch {
        "amd64" => "x86_64-unknown-linux-gnu",
        "arm64" => "aarch64-unknown-linux-gnu",
        "armhf" => "armv7-unknown-linux-gnueabihf",
        "armel" => "arm-unknown-linux-gnueabi",
        "i386" => "i686-unknown-linux-gnu",
        "riscv64" => "riscv64gc-unknown-linux-gnu",
        "ppc64el" => "powerpc64le-unknown-linux-gnu",
        "s390x" => "s390x-unknown-linux-gnu",
        "loong64" => "loongarch64-unknown-linux-gnu",
        "mips64el" => "mips64el-unknown-linux-gnuabi64",
        _ => return None,
    })
}

/// The Debian architecture of a host without dpkg, from `uname -m`.
pub fn deb_arch_of_machine(machine: &str) -> Option<&'static str> {
    Some(match machine {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "armv7l" | "armv7" | "armv8l" => "armhf",
        "i386" | "i486" | "i586" | "i686" => "i386",
        "riscv64" => "riscv64",
        "ppc64le" => "ppc64el",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        _ => return None,
    })
}

// --- rollout ---

/// How hosts are taken: `--canary`, `--parallel`, `--max-failures`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The first hosts, deployed before any other; all must succeed.
    pub canary: usize,
    /// Hosts deployed at once (at least 1).
    pub parallel: usize,
    /// After this many failed hosts (at least 1), no new host is started.
    pub max_failures: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            canary: 0,
            parallel: 4,
            max_failures: 1,
        }
    }
}

/// Where a host stands in the rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Waiting,
    Running,
    Succeeded,
    Failed,
    /// Never started: the canary failed, or too many hosts did.
    Skipped,
}

/// Why hosts were skipped, for the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    CanaryFailed,
    TooManyFailures,
}

/// The order hosts are deployed in: the canaries first, all of them
/// finished and succeeded before any other host starts; then the others,
/// in order, at most `parallel` at once, none started once `max_failures`
/// hosts have failed. Hosts never started are [`Slot::Skipped`].
#[derive(Debug)]
pub struct Rollout {
    policy: Policy,
    slots: Vec<Slot>,
    failures: usize,
    halt: Option<Halt>,
}

impl Rollout {
    pub fn new(policy: Policy, hosts: usize) -> Rollout {
        let policy = Policy {
            canary: policy.canary.min(hosts),
            parallel: policy.parallel.max(1),
            max_failures: policy.max_failures.max(1),
        };
        Rollout {
            policy,
            slots: vec![Slot::Waiting; hosts],
            failures: 0,
            halt: None,
        }
    }

    fn running(&self) -> usize {
        self.slots.iter().filter(|s| **s == Slot::Running).count()
    }

    /// The next host to start now, if any may start; marks it running.
    pub fn start_next(&mut self) -> Option<usize> {
        if self.halt.is_some() || self.running() >= self.policy.parallel {
            return None;
        }
        let next = self.slots.iter().position(|s| *s == Slot::Waiting)?;
        let canary = self.policy.canary;
        if next >= canary && canary > 0 {
            // The rest wait for every canary to have finished.
            let canaries = &self.slots[..canary];
            if canaries.contains(&Slot::Running) {
                return None;
            }
        }
        self.slots[next] = Slot::Running;
        Some(next)
    }

    /// Records how a started host ended.
    pub fn finish(&mut self, host: usize, succeeded: bool) {
        assert_eq!(
            self.slots[host],
            Slot::Running,
            "host {host} was not running"
        );
        if succeeded {
            self.slots[host] = Slot::Succeeded;
            return;
        }
        self.slots[host] = Slot::Failed;
        self.failures += 1;
        if host < self.policy.canary {
            self.halt.get_or_insert(Halt::CanaryFailed);
        } else if self.failures >= self.policy.max_failures {
            self.halt.get_or_insert(Halt::TooManyFailures);
        }
        if self.halt.is_some() {
            for slot in &mut self.slots {
                if *slot == Slot::Waiting {
                    *slot = Slot::Skipped;
                }
            }
        }
    }

    /// Whether every host has finished or will never start.
    pub fn done(&self) -> bool {
        !self
            .slots
            .iter()
            .any(|s| matches!(s, Slot::Waiting | Slot::Running))
    }

    pub fn slot(&self, host: usize) -> Slot {
        self.slots[host]
    }

    pub fn halt(&self) -> Option<Halt> {
        self.halt
    }
}

// --- health ---

/// What `systemctl show` says of one unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitState {
    pub id: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub result: String,
    pub n_restarts: u32,
    pub main_pid: u32,
}

impl UnitState {
    /// Parses the `KEY=VALUE` lines of `systemctl show -p ...` for several
    /// units, which it separates by an empty line.
    pub fn parse_show(text: &str) -> Vec<UnitState> {
        let mut units = Vec::new();
        for block in text.split("\n\n") {
            let mut unit = UnitState::default();
            let mut any = false;
            for line in block.lines() {
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                any = true;
                let value = value.trim().to_string();
                match key {
                    "Id" => unit.id = value,
                    "LoadState" => unit.load_state = value,
                    "ActiveState" => unit.active_state = value,
                    "SubState" => unit.sub_state = value,
                    "Result" => unit.result = value,
                    "NRestarts" => unit.n_restarts = value.parse().unwrap_or(0),
                    "MainPID" => unit.main_pid = value.parse().unwrap_or(0),
                    _ => {}
                }
            }
            if any {
                units.push(unit);
            }
        }
        units
    }
}

/// The units the health gate waits for: each trigger unit (`.timer`,
/// `.socket`, `.path`), and each service no trigger unit starts (a boot
/// task's). Template units (`name@.service`) are started per connection
/// and are not gated.
pub fn gated_units(units: &[String]) -> Vec<String> {
    let stem = |u: &str| u.rsplit_once('.').map(|(s, _)| s.to_string());
    let triggered: Vec<String> = units
        .iter()
        .filter(|u| u.ends_with(".timer") || u.ends_with(".socket") || u.ends_with(".path"))
        .filter_map(|u| stem(u))
        .collect();
    units
        .iter()
        .filter(|u| !u.contains("@."))
        .filter(|u| {
            if let Some(service) = u.strip_suffix(".service") {
                !triggered.iter().any(|t| t == service)
            } else {
                u.ends_with(".timer") || u.ends_with(".socket") || u.ends_with(".path")
            }
        })
        .cloned()
        .collect()
}

/// The health gate's verdict on one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Look again later.
    Wait,
    Healthy,
    /// Failed: the unit to show, and why.
    Unhealthy {
        unit: String,
        why: String,
    },
}

/// The health gate: every gated unit active; a service (a boot task's,
/// `Type=notify`, so active once it sent READY) not restarted, and still
/// the same process, for `settle` after all were first seen active.
#[derive(Debug)]
pub struct Gate {
    settle: Duration,
    timeout: Duration,
    start: Duration,
    /// When every unit was first seen active, and their main PIDs then.
    healthy_since: Option<(Duration, Vec<(String, u32)>)>,
}

impl Gate {
    /// A gate opened at `now`; units not all active within `timeout`
    /// fail it.
    pub fn new(now: Duration, settle: Duration, timeout: Duration) -> Gate {
        Gate {
            settle,
            timeout,
            start: now,
            healthy_since: None,
        }
    }

    pub fn observe(&mut self, now: Duration, units: &[UnitState]) -> Verdict {
        for unit in units {
            let name = &unit.id;
            if unit.load_state != "loaded" {
                return unhealthy(name, format!("is not loaded ({})", unit.load_state));
            }
            if unit.active_state == "failed" {
                return unhealthy(name, format!("failed (result: {})", unit.result));
            }
            if unit.sub_state == "auto-restart" {
                return unhealthy(
                    name,
                    format!("exited and waits to be restarted (result: {})", unit.result),
                );
            }
            if unit.n_restarts > 0 {
                return unhealthy(
                    name,
                    format!("was restarted {} time(s) since it started", unit.n_restarts),
                );
            }
        }
        let waiting = units.iter().find(|u| u.active_state != "active");
        if let Some(unit) = waiting {
            if let Some((_, _)) = self.healthy_since.take() {
                return unhealthy(
                    &unit.id,
                    format!("stopped being active ({})", unit.active_state),
                );
            }
            if now.saturating_sub(self.start) >= self.timeout {
                return unhealthy(
                    &unit.id,
                    format!(
                        "is still `{}` ({}) after {}s",
                        unit.active_state,
                        unit.sub_state,
                        self.timeout.as_secs()
                    ),
                );
            }
            return Verdict::Wait;
        }
        let pids: Vec<(String, u32)> = units.iter().map(|u| (u.id.clone(), u.main_pid)).collect();
        let (since, first) = self.healthy_since.get_or_insert((now, pids.clone()));
        for ((name, before), (_, after)) in first.iter().zip(&pids) {
            if before != after {
                return unhealthy(
                    name,
                    format!("changed its main process ({before} -> {after}) while settling"),
                );
            }
        }
        if now.saturating_sub(*since) >= self.settle {
            Verdict::Healthy
        } else {
            Verdict::Wait
        }
    }
}

fn unhealthy(unit: &str, why: String) -> Verdict {
    Verdict::Unhealthy {
        unit: unit.to_string(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_triples_are_for_their_architecture() {
        for deb in [
            "amd64", "arm64", "armhf", "armel", "i386", "riscv64", "ppc64el", "s390x", "loong64",
            "mips64el",
        ] {
            let triple = default_triple(deb).unwrap();
            let target = crate::project::arch::Target::from_triple(triple).unwrap();
            assert_eq!(target.deb_arch, deb, "{triple}");
        }
        assert_eq!(default_triple("hurd-i386"), None);
        assert_eq!(deb_arch_of_machine("aarch64"), Some("arm64"));
        assert_eq!(deb_arch_of_machine("armv7l"), Some("armhf"));
        assert_eq!(deb_arch_of_machine("x86_64"), Some("amd64"));
        assert_eq!(
            deb_arch_of_machine("armv6l"),
            None,
            "armel or Raspbian's armhf: dpkg must say"
        );
    }

    #[test]
    fn host_specs() {
        let p = |t: &str| HostSpec::parse(t).unwrap();
        assert_eq!(
            p("pi@10.0.0.2:2222"),
            HostSpec {
                user: Some("pi".into()),
                host: "10.0.0.2".into(),
                port: Some(2222)
            }
        );
        assert_eq!(p("device1").to_string(), "device1");
        assert_eq!(p("[::1]:22").host, "::1");
        assert_eq!(p("[::1]:22").to_string(), "[::1]:22");
        assert_eq!(p("fe80::1").port, None);
        assert_eq!(p("a@b@c").user.as_deref(), Some("a@b"));
        for bad in [
            "",
            "host:0",
            "host:ssh",
            "@host",
            "-oProxyCommand=x",
            "a b",
            "[::1",
            "h:70000",
        ] {
            let err = HostSpec::parse(bad).unwrap_err();
            assert!(err.contains("help: write a host as"), "{bad}: {err}");
        }
    }

    /// Runs a rollout where hosts finish in the order they started and
    /// `fails` says which fail; returns the start order, in waves.
    fn simulate(policy: Policy, hosts: usize, fails: &[usize]) -> (Vec<Vec<usize>>, Rollout) {
        let mut r = Rollout::new(policy, hosts);
        let mut waves = Vec::new();
        while !r.done() {
            let mut wave = Vec::new();
            while let Some(h) = r.start_next() {
                wave.push(h);
            }
            assert!(!wave.is_empty(), "a stuck rollout: {r:?}");
            for &h in &wave {
                r.finish(h, !fails.contains(&h));
            }
            waves.push(wave);
        }
        (waves, r)
    }

    #[test]
    fn parallel_waves() {
        let policy = Policy {
            canary: 0,
            parallel: 4,
            max_failures: 1,
        };
        let (waves, r) = simulate(policy, 6, &[]);
        assert_eq!(waves, [vec![0, 1, 2, 3], vec![4, 5]]);
        assert_eq!(r.halt(), None);
    }

    #[test]
    fn canary_goes_alone_then_the_rest() {
        let policy = Policy {
            canary: 1,
            parallel: 4,
            max_failures: 1,
        };
        let (waves, _) = simulate(policy, 4, &[]);
        assert_eq!(waves, [vec![0], vec![1, 2, 3]]);
        let policy = Policy {
            canary: 2,
            parallel: 1,
            max_failures: 5,
        };
        let (waves, _) = simulate(policy, 3, &[]);
        assert_eq!(waves, [vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn a_failed_canary_stops_everything() {
        let policy = Policy {
            canary: 2,
            parallel: 4,
            max_failures: 10,
        };
        let (waves, r) = simulate(policy, 5, &[1]);
        assert_eq!(waves, [vec![0, 1]]);
        assert_eq!(r.halt(), Some(Halt::CanaryFailed));
        assert_eq!(r.slot(0), Slot::Succeeded);
        assert_eq!(r.slot(1), Slot::Failed);
        assert!((2..5).all(|h| r.slot(h) == Slot::Skipped));
    }

    #[test]
    fn the_rest_waits_for_a_running_canary() {
        let mut r = Rollout::new(
            Policy {
                canary: 1,
                parallel: 4,
                max_failures: 1,
            },
            3,
        );
        assert_eq!(r.start_next(), Some(0));
        assert_eq!(r.start_next(), None, "nothing beside the canary");
        r.finish(0, true);
        assert_eq!(r.start_next(), Some(1));
        assert_eq!(r.start_next(), Some(2));
    }

    #[test]
    fn max_failures_stops_new_hosts_but_not_running_ones() {
        let mut r = Rollout::new(
            Policy {
                canary: 0,
                parallel: 2,
                max_failures: 2,
            },
            5,
        );
        assert_eq!(r.start_next(), Some(0));
        assert_eq!(r.start_next(), Some(1));
        r.finish(0, false);
        assert_eq!(r.start_next(), Some(2), "one failure of two allowed");
        r.finish(2, false);
        assert_eq!(r.halt(), Some(Halt::TooManyFailures));
        assert_eq!(r.start_next(), None);
        assert!(!r.done(), "host 1 still runs");
        r.finish(1, true);
        assert!(r.done());
        assert_eq!(r.slot(3), Slot::Skipped);
        assert_eq!(r.slot(4), Slot::Skipped);
    }

    #[test]
    fn canary_larger_than_the_fleet_and_zero_hosts() {
        let policy = Policy {
            canary: 9,
            parallel: 4,
            max_failures: 1,
        };
        let (waves, _) = simulate(policy, 2, &[]);
        assert_eq!(waves, [vec![0, 1]]);
        let r = Rollout::new(policy, 0);
        assert!(r.done());
    }

    #[test]
    fn gated_units_are_triggers_and_boot_services() {
        let units: Vec<String> = [
            "app.service",
            "app-tick.service",
            "app-tick.timer",
            "app-web.socket",
            "app-web@.service",
            "app-watch.path",
            "app-watch.service",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            gated_units(&units),
            [
                "app.service",
                "app-tick.timer",
                "app-web.socket",
                "app-watch.path"
            ]
        );
    }

    fn unit(id: &str, active: &str, sub: &str, restarts: u32, pid: u32) -> UnitState {
        UnitState {
            id: id.into(),
            load_state: "loaded".into(),
            active_state: active.into(),
            sub_state: sub.into(),
            result: "success".into(),
            n_restarts: restarts,
            main_pid: pid,
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn healthy_after_settling() {
        let mut g = Gate::new(Duration::ZERO, 10 * S, 60 * S);
        assert_eq!(
            g.observe(S, &[unit("a.service", "activating", "start", 0, 7)]),
            Verdict::Wait
        );
        assert_eq!(
            g.observe(2 * S, &[unit("a.service", "active", "running", 0, 7)]),
            Verdict::Wait
        );
        assert_eq!(
            g.observe(11 * S, &[unit("a.service", "active", "running", 0, 7)]),
            Verdict::Wait,
            "9 s of 10 settled"
        );
        assert_eq!(
            g.observe(12 * S, &[unit("a.service", "active", "running", 0, 7)]),
            Verdict::Healthy
        );
    }

    #[test]
    fn settle_zero_is_healthy_at_once() {
        let mut g = Gate::new(Duration::ZERO, Duration::ZERO, 60 * S);
        let units = [
            unit("a.service", "active", "running", 0, 7),
            unit("a-t.timer", "active", "waiting", 0, 0),
        ];
        assert_eq!(g.observe(S, &units), Verdict::Healthy);
    }

    #[test]
    fn restarts_failures_and_new_processes_are_unhealthy() {
        let fails = |units: &[UnitState]| {
            let mut g = Gate::new(Duration::ZERO, 10 * S, 60 * S);
            matches!(g.observe(S, units), Verdict::Unhealthy { .. })
        };
        assert!(fails(&[unit("a.service", "failed", "failed", 0, 0)]));
        assert!(fails(&[unit(
            "a.service",
            "activating",
            "auto-restart",
            0,
            0
        )]));
        assert!(fails(&[unit("a.service", "active", "running", 1, 9)]));
        let mut gone = unit("a.service", "inactive", "dead", 0, 0);
        gone.load_state = "not-found".into();
        assert!(fails(&[gone]));

        let mut g = Gate::new(Duration::ZERO, 10 * S, 60 * S);
        assert_eq!(
            g.observe(S, &[unit("a.service", "active", "running", 0, 7)]),
            Verdict::Wait
        );
        let v = g.observe(2 * S, &[unit("a.service", "active", "running", 0, 8)]);
        assert!(
            matches!(&v, Verdict::Unhealthy { unit, why } if unit == "a.service" && why.contains("7 -> 8")),
            "{v:?}"
        );

        let mut g = Gate::new(Duration::ZERO, 10 * S, 60 * S);
        g.observe(S, &[unit("a.service", "active", "running", 0, 7)]);
        let v = g.observe(2 * S, &[unit("a.service", "deactivating", "stop", 0, 7)]);
        assert!(matches!(v, Verdict::Unhealthy { .. }), "{v:?}");
    }

    #[test]
    fn a_unit_that_never_becomes_active_times_out() {
        let mut g = Gate::new(5 * S, Duration::ZERO, 30 * S);
        let units = [unit("a.service", "activating", "start", 0, 7)];
        assert_eq!(g.observe(34 * S, &units), Verdict::Wait);
        let v = g.observe(35 * S, &units);
        assert!(
            matches!(&v, Verdict::Unhealthy { why, .. } if why.contains("after 30s")),
            "{v:?}"
        );
    }

    #[test]
    fn parses_systemctl_show() {
        let text = "Id=a.service\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nNRestarts=2\nMainPID=42\n\nId=a.timer\nLoadState=loaded\nActiveState=active\nSubState=waiting\nResult=success\nNRestarts=\nMainPID=\n";
        let units = UnitState::parse_show(text);
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].n_restarts, 2);
        assert_eq!(units[0].main_pid, 42);
        assert_eq!(units[1].id, "a.timer");
        assert_eq!(units[1].sub_state, "waiting");
    }
}
