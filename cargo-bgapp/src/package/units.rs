//! systemd units generated from a task's manifest.
//!
//! Every task gets a `.service`; timer, socket and path tasks also get the
//! `.timer`, `.socket` or `.path` unit that starts it. The service runs as
//! the package's system user in a sandbox that `systemd-analyze security`
//! rates "OK" or better (2.0 or lower); `[package.metadata.bgapp]` can
//! relax it per task, and each relaxation is reported as a warning.

use std::time::Duration;

use bgapp_manifest::policy::{
    start_limit_burst, watched_dir, RESTART_DELAY, START_LIMIT_INTERVAL, STOP_MARGIN,
};
use bgapp_manifest::{
    exit, format_systemd, unit_stem, ListenAddress, Restart, Schedule, TaskManifest, Trigger,
};

use super::config::TaskConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    pub text: String,
}

/// The units of one task, and what the package must do for them.
#[derive(Debug)]
pub struct TaskUnits {
    pub service: Unit,
    pub trigger: Option<Unit>,
    /// The unit the install scripts enable and start: the trigger unit, or
    /// the service of a boot task; none for a manual task.
    pub enable: Option<String>,
    /// Directories the package creates, owned by the system user.
    pub dirs: Vec<String>,
    /// One line per relaxation of the default sandbox.
    pub warnings: Vec<String>,
}

impl TaskUnits {
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        std::iter::once(&self.service).chain(self.trigger.as_ref())
    }
}

/// What the units need to know beyond the task itself.
pub struct UnitContext<'a> {
    /// The Cargo package name: the unit name stem and the state directory.
    pub stem: &'a str,
    /// The binary's name in `/usr/bin`.
    pub bin: &'a str,
    pub user: &'a str,
}

/// systemd expands `%` specifiers in most settings; keep text literal.
fn escape(text: &str) -> String {
    text.replace('%', "%%")
}

/// Which `[Service]` keys are sandboxing; overriding one is a relaxation.
const HARDENING_KEYS: &[&str] = &[
    "User",
    "Group",
    "DynamicUser",
    "NoNewPrivileges",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "PrivateNetwork",
    "PrivateUsers",
    "PrivateMounts",
    "PrivateIPC",
    "ProtectHostname",
    "ProtectClock",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectProc",
    "ProcSubset",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "RemoveIPC",
    "KeyringMode",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "SystemCallFilter",
    "SystemCallArchitectures",
    "IPAddressDeny",
    "IPAddressAllow",
    "DevicePolicy",
    "DeviceAllow",
    "UMask",
    "ReadWritePaths",
    "SupplementaryGroups",
];

pub fn generate(ctx: &UnitContext<'_>, task: &TaskManifest, config: &TaskConfig) -> TaskUnits {
    let stem = unit_stem(ctx.stem, &task.name);
    let service_name = format!("{stem}.service");
    let mut warnings = Vec::new();
    let mut dirs = Vec::new();
    let mut read_write: Vec<String> = Vec::new();

    let listen = match &task.trigger {
        Trigger::Socket { listen } => Some(listen.as_str()),
        _ => None,
    };
    let inet_socket = listen
        .and_then(|l| ListenAddress::parse(l).ok())
        .is_some_and(|a| a.is_inet());
    if config.network && !inet_socket {
        warnings.push(format!(
            "task `{}` may use the network (AF_INET, AF_INET6, IP traffic)",
            task.name
        ));
    }
    let network = config.network || inet_socket;

    if let Trigger::Path { condition, path } = &task.trigger {
        match watched_dir(*condition, path) {
            Some(dir) => {
                read_write.push(dir.clone());
                dirs.push(dir);
            }
            // `-`: a missing path must not stop the service from starting.
            None => read_write.push(format!("-{}", path.trim_end_matches('/'))),
        }
    }
    for p in &config.read_write_paths {
        warnings.push(format!("task `{}` may write to `{p}`", task.name));
        read_write.push(p.clone());
    }

    // [Unit]
    let description = task
        .description
        .as_deref()
        .map(|d| d.lines().next().unwrap_or_default().trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| format!("{} background task", task.name));
    let mut s = String::new();
    s.push_str("[Unit]\n");
    s.push_str(&format!("Description={}\n", escape(&description)));
    s.push_str(&format!(
        "Documentation=file:///usr/share/bgapp/{}/bgapp-manifest.json\n",
        ctx.stem
    ));
    // Stopped before D-Bus at shutdown, so that the runtime can still ask
    // systemd whether the system is shutting down (Terminated) or an
    // operator stopped the task (ClosedByUser).
    s.push_str("After=dbus.service\n");
    // A crash loop ends in the failed state instead of spinning forever.
    s.push_str(&format!(
        "StartLimitIntervalSec={}s\n",
        START_LIMIT_INTERVAL.as_secs()
    ));
    s.push_str(&format!("StartLimitBurst={}\n", start_limit_burst(task)));
    s.push('\n');

    // [Service]: the lifecycle, from the manifest.
    let mut service: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| service.push((k.to_string(), v));
    set("Type", "notify".into());
    set(
        "ExecStart",
        format!("/usr/bin/{} {}", escape(ctx.bin), escape(&task.name)),
    );
    set(
        "Restart",
        match task.restart {
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::Never => "no",
        }
        .into(),
    );
    set("RestartSec", format_systemd(RESTART_DELAY));
    set("RestartPreventExitStatus", join_codes(exit::NO_RESTART));
    set("SuccessExitStatus", join_codes(exit::ALSO_SUCCESS));
    let stop = task.stop_timeout();
    set("TimeoutStopSec", format_systemd(stop + STOP_MARGIN));
    if let Some(limit) = task.time_limit() {
        // The runtime cancels at the limit and then has `stop_timeout` to
        // save; systemd steps in only after both.
        set("RuntimeMaxSec", format_systemd(limit + stop + STOP_MARGIN));
    }
    if let Some(watchdog) = task.watchdog() {
        set("WatchdogSec", format_systemd(watchdog));
    }
    set("User", ctx.user.into());
    set("Group", ctx.user.into());
    set("StateDirectory", ctx.stem.into());
    set("StateDirectoryMode", "0750".into());
    set("UMask", "0077".into());

    // [Service]: the sandbox.
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateMounts", "yes"),
        ("PrivateIPC", "yes"),
        ("ProtectHostname", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectProc", "invisible"),
        ("ProcSubset", "pid"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RemoveIPC", "yes"),
        ("KeyringMode", "private"),
        ("SystemCallArchitectures", "native"),
        ("SystemCallErrorNumber", "EPERM"),
    ] {
        set(k, v.into());
    }
    set("SystemCallFilter", "@system-service".into());
    set("SystemCallFilter", "~@privileged @resources".into());

    if config.devices.is_empty() {
        set("PrivateDevices", "yes".into());
    } else {
        warnings.push(format!(
            "task `{}` may use the devices {}",
            task.name,
            config.devices.join(", ")
        ));
        set("PrivateDevices", "no".into());
        set("DevicePolicy", "closed".into());
        for d in &config.devices {
            set("DeviceAllow", format!("{d} rw"));
        }
    }
    if config.capabilities.is_empty() {
        set("CapabilityBoundingSet", String::new());
        set("AmbientCapabilities", String::new());
        // Capabilities and devices need the host's user namespace.
        if config.devices.is_empty() {
            set("PrivateUsers", "yes".into());
        }
    } else {
        warnings.push(format!(
            "task `{}` keeps the capabilities {}",
            task.name,
            config.capabilities.join(" ")
        ));
        set("CapabilityBoundingSet", config.capabilities.join(" "));
        set("AmbientCapabilities", config.capabilities.join(" "));
    }
    if network {
        // AF_NETLINK: glibc's getaddrinfo asks the kernel for interfaces.
        set(
            "RestrictAddressFamilies",
            "AF_UNIX AF_INET AF_INET6 AF_NETLINK".into(),
        );
    } else {
        // AF_UNIX: sd_notify, the journal and D-Bus (logind).
        set("RestrictAddressFamilies", "AF_UNIX".into());
        set("PrivateNetwork", "yes".into());
        set("IPAddressDeny", "any".into());
    }
    for p in &read_write {
        set("ReadWritePaths", escape(p));
    }

    // Extra directives replace ours with the same key, or are added.
    for directive in &config.directives {
        let (key, value) = directive.split_once('=').expect("checked when parsed");
        let key = key.trim();
        if HARDENING_KEYS.contains(&key) {
            warnings.push(format!(
                "task `{}` overrides `{key}=` with `{directive}`",
                task.name
            ));
        }
        match service.iter().position(|(k, _)| k == key) {
            Some(first) => {
                service[first].1 = value.trim().to_string();
                let mut i = 0;
                service.retain(|(k, _)| {
                    i += 1;
                    k != key || i - 1 == first
                });
            }
            None => service.push((key.to_string(), value.trim().to_string())),
        }
    }

    s.push_str("[Service]\n");
    for (k, v) in &service {
        s.push_str(&format!("{k}={v}\n"));
    }
    if matches!(task.trigger, Trigger::Boot) {
        s.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    }

    let trigger = trigger_unit(&stem, &service_name, task, &description);
    let enable = match (&task.trigger, &trigger) {
        (_, Some(t)) => Some(t.name.clone()),
        (Trigger::Boot, None) => Some(service_name.clone()),
        _ => None,
    };
    TaskUnits {
        service: Unit {
            name: service_name,
            text: s,
        },
        trigger,
        enable,
        dirs,
        warnings,
    }
}

fn join_codes(codes: &[u8]) -> String {
    codes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn trigger_unit(stem: &str, service: &str, task: &TaskManifest, description: &str) -> Option<Unit> {
    let (suffix, section, lines, wanted_by) = match &task.trigger {
        Trigger::Boot | Trigger::Manual => return None,
        Trigger::Timer { schedule } => {
            let mut lines = Vec::new();
            match schedule {
                Schedule::Every(every) => {
                    let text = format_systemd(*every);
                    lines.push(format!("OnBootSec={text}"));
                    lines.push(format!("OnUnitActiveSec={text}"));
                    // The default accuracy (1 min) would blur short intervals.
                    if *every <= Duration::from_secs(600) {
                        lines.push("AccuracySec=1s".to_string());
                    }
                }
                Schedule::Calendar(cal) => {
                    lines.push(format!("OnCalendar={}", escape(cal)));
                    // Catch up on a run missed while the device was off.
                    lines.push("Persistent=true".to_string());
                }
            }
            ("timer", "Timer", lines, "timers.target")
        }
        Trigger::Socket { listen } => (
            "socket",
            "Socket",
            vec![format!("ListenStream={}", escape(listen))],
            "sockets.target",
        ),
        Trigger::Path { condition, path } => (
            "path",
            "Path",
            vec![format!("{}={}", condition.directive(), escape(path))],
            "paths.target",
        ),
    };
    let mut s = String::new();
    s.push_str("[Unit]\n");
    s.push_str(&format!("Description={} ({suffix})\n", escape(description)));
    s.push('\n');
    s.push_str(&format!("[{section}]\n"));
    for l in lines {
        s.push_str(&l);
        s.push('\n');
    }
    // The socket's service has its name, so no `Service=` is needed; timers
    // and paths name theirs for clarity.
    if !matches!(task.trigger, Trigger::Socket { .. }) {
        s.push_str(&format!("Unit={service}\n"));
    }
    s.push_str(&format!("\n[Install]\nWantedBy={wanted_by}\n"));
    Some(Unit {
        name: format!("{stem}.{suffix}"),
        text: s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgapp_manifest::FORMAT_VERSION;

    fn task(name: &str, trigger: Trigger) -> TaskManifest {
        TaskManifest {
            format: FORMAT_VERSION,
            name: name.into(),
            function: "f".into(),
            package: "hello".into(),
            description: Some("Says 100% hello".into()),
            restart: trigger.default_restart(),
            trigger,
            stop_timeout_ms: 5_000,
            time_limit_ms: None,
            watchdog_ms: None,
        }
    }

    fn ctx() -> UnitContext<'static> {
        UnitContext {
            stem: "hello",
            bin: "hello",
            user: "hello",
        }
    }

    #[test]
    fn boot_task_named_like_the_package() {
        let mut t = task("hello", Trigger::Boot);
        t.time_limit_ms = Some(600_000);
        t.watchdog_ms = Some(30_000);
        let u = generate(&ctx(), &t, &TaskConfig::default());
        assert_eq!(u.service.name, "hello.service");
        assert!(u.trigger.is_none());
        assert_eq!(u.enable.as_deref(), Some("hello.service"));
        let s = &u.service.text;
        for line in [
            "Description=Says 100%% hello",
            "Type=notify",
            "ExecStart=/usr/bin/hello hello",
            "Restart=always",
            "RestartPreventExitStatus=2 4",
            "SuccessExitStatus=5",
            "TimeoutStopSec=7s",
            "RuntimeMaxSec=10min 7s",
            "WatchdogSec=30s",
            "StateDirectory=hello",
            "RestrictAddressFamilies=AF_UNIX\n",
            "PrivateNetwork=yes",
            "CapabilityBoundingSet=\n",
            "WantedBy=multi-user.target",
        ] {
            assert!(s.contains(line), "missing `{line}` in\n{s}");
        }
        assert!(u.warnings.is_empty());
    }

    #[test]
    fn start_limit_is_the_contracts() {
        let every = Trigger::Timer {
            schedule: Schedule::Every(Duration::from_secs(3)),
        };
        let text = generate(&ctx(), &task("hello", every), &TaskConfig::default())
            .service
            .text;
        assert!(text.contains("StartLimitIntervalSec=60s\n"), "{text}");
        assert!(text.contains("StartLimitBurst=25\n"), "{text}");
    }

    #[test]
    fn timer_socket_and_path_units() {
        let t = task(
            "up",
            Trigger::Timer {
                schedule: Schedule::Every(Duration::from_secs(900)),
            },
        );
        let u = generate(&ctx(), &t, &TaskConfig::default());
        assert_eq!(u.service.name, "hello-up.service");
        let timer = u.trigger.as_ref().unwrap();
        assert_eq!(timer.name, "hello-up.timer");
        assert!(timer.text.contains("OnUnitActiveSec=15min\n"));
        assert!(timer.text.contains("WantedBy=timers.target"));
        assert!(!u.service.text.contains("[Install]"));
        assert_eq!(u.enable.as_deref(), Some("hello-up.timer"));

        let t = task(
            "nightly",
            Trigger::Timer {
                schedule: Schedule::Calendar("*-*-* 02:00:00".into()),
            },
        );
        let timer = generate(&ctx(), &t, &TaskConfig::default())
            .trigger
            .unwrap();
        assert!(timer
            .text
            .contains("OnCalendar=*-*-* 02:00:00\nPersistent=true\n"));

        let t = task(
            "web",
            Trigger::Socket {
                listen: "8080".into(),
            },
        );
        let u = generate(&ctx(), &t, &TaskConfig::default());
        assert!(u.trigger.unwrap().text.contains("ListenStream=8080\n"));
        assert!(u.service.text.contains("AF_INET6"));
        assert!(u.warnings.is_empty(), "a socket task needs no relaxation");

        let t = task(
            "spool",
            Trigger::Path {
                condition: bgapp_manifest::PathCondition::NotEmpty,
                path: "/var/spool/hello".into(),
            },
        );
        let u = generate(&ctx(), &t, &TaskConfig::default());
        assert!(u
            .trigger
            .unwrap()
            .text
            .contains("DirectoryNotEmpty=/var/spool/hello\n"));
        assert!(u.service.text.contains("ReadWritePaths=/var/spool/hello\n"));
        assert_eq!(u.dirs, ["/var/spool/hello"]);
    }

    #[test]
    fn relaxations_warn_and_directives_replace() {
        let cfg = TaskConfig {
            network: true,
            devices: vec!["/dev/ttyUSB0".into()],
            capabilities: vec!["CAP_NET_BIND_SERVICE".into()],
            read_write_paths: vec![],
            directives: vec![
                "SystemCallFilter=@system-service @resources".into(),
                "Nice=5".into(),
            ],
        };
        let u = generate(&ctx(), &task("hello", Trigger::Boot), &cfg);
        assert_eq!(u.warnings.len(), 4, "{:?}", u.warnings);
        let s = &u.service.text;
        assert_eq!(s.matches("SystemCallFilter=").count(), 1, "{s}");
        assert!(s.contains("SystemCallFilter=@system-service @resources\n"));
        assert!(s.contains("Nice=5\n"));
        assert!(s.contains("DeviceAllow=/dev/ttyUSB0 rw\n"));
        assert!(s.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE\n"));
        assert!(!s.contains("PrivateUsers"));
    }
}
