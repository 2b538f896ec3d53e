//! systemd units generated from a task's manifest.
//!
//! Every task gets a `.service`; timer, socket and path tasks also get the
//! `.timer`, `.socket` or `.path` unit that starts it. The service runs as
//! the package's system user in a sandbox that `systemd-analyze security`
//! rates "OK" or better (2.0 or lower); `[package.metadata.bgapp]` can
//! relax it per task, and each relaxation is reported as a warning.

use std::fmt::Write as _;
use std::time::Duration;

use bgapp_manifest::policy::{
    start_limit_burst, stop_kill_after, watched_dir, RESTART_DELAY, START_LIMIT_INTERVAL,
    STOP_MARGIN,
};
use bgapp_manifest::{
    exit, format_systemd, unit_stem, ListenAddress, Restart, Schedule, TaskManifest, Trigger,
};

use super::config::TaskConfig;
use super::quote::{specifiers as escape, systemd_word, unit_text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    pub text: String,
}

/// The units of one task, and what the package must do for them.
#[derive(Debug)]
pub struct TaskUnits {
    /// The units' stem before units followed the Debian package's dashes,
    /// where it differs: the scripts replace units of that name.
    pub old_stem: Option<String>,
    pub service: Unit,
    pub trigger: Option<Unit>,
    /// The unit the install scripts enable and start: the trigger unit, or
    /// the service of a boot task; none for a manual task.
    pub enable: Option<String>,
    /// Directories the package creates, owned by the system user.
    pub dirs: Vec<String>,
    /// Supplementary groups the package creates if they do not exist.
    pub groups: Vec<String>,
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
    /// The Cargo package name: the state directory, and the unit names as
    /// [`unit_stem`] makes them from it.
    pub stem: &'a str,
    /// The binary's name in `/usr/bin`.
    pub bin: &'a str,
    pub user: &'a str,
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

/// The sandbox every service gets whatever its configuration, after its
/// identity and before what the configuration decides (devices,
/// capabilities, network, writable paths).
const SANDBOX: &[(&str, &str)] = &[
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
    ("SystemCallFilter", "@system-service"),
    ("SystemCallFilter", "~@privileged @resources"),
];

/// The lines of one section, in order; a key may repeat.
#[derive(Debug, Default)]
struct Lines(Vec<(String, String)>);

impl Lines {
    fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.push((key.to_string(), value.into()));
    }

    /// Replaces every line with `key` by one with `value`, where the first
    /// was, or adds it at the end.
    fn replace(&mut self, key: &str, value: &str) {
        match self.0.iter().position(|(k, _)| k == key) {
            Some(first) => {
                self.0[first].1 = value.to_string();
                let mut i = 0;
                self.0.retain(|(k, _)| {
                    i += 1;
                    k != key || i - 1 == first
                });
            }
            None => self.set(key, value),
        }
    }

    fn write(&self, out: &mut String) {
        for (k, v) in &self.0 {
            let _ = writeln!(out, "{k}={v}");
        }
    }
}

/// The warnings about one task's relaxations of the default sandbox.
struct Relaxations<'a> {
    task: &'a str,
    warnings: Vec<String>,
}

impl Relaxations<'_> {
    /// "task `<task>` <what>".
    fn warn(&mut self, what: std::fmt::Arguments<'_>) {
        self.warnings.push(format!("task `{}` {what}", self.task));
    }
}

/// What a task's service may reach beyond the default sandbox.
struct Access {
    /// AF_INET and AF_INET6 and IP traffic.
    network: bool,
    /// `ReadWritePaths=`, escaped when written.
    read_write: Vec<String>,
    /// Directories the package creates for the task (a watched directory).
    dirs: Vec<String>,
}

/// Why a task's units cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    #[error("task `{task}` watches `{path}`, which systemd cannot take: {why}\n\nhelp: rebuild the binary with the current bgapp, which refuses such a path in the attribute")]
    Path {
        task: String,
        path: String,
        why: String,
    },
    #[error("`[package.metadata.bgapp.tasks.{0}]` sets `listen`, but task `{0}` is not started by a socket\n\nhelp: remove `listen`; only a task with `trigger = socket(listen = \"...\")` in its attribute listens")]
    ListenWithoutSocket(String),
    #[error("task `{0}` takes no arguments (`args = \"none\"` in its attribute), but `args` in `[package.metadata.bgapp]` (or its `tasks.{0}` table) gives it some: every start would end with a usage error\n\nhelp: remove `args` for this task, or remove `args = \"none\"` from the attribute and read them with `task.args()`")]
    ArgsForNoArgs(String),
}

/// A task's unit stem as bgapp named units before they followed the
/// Debian package's dashes: the Cargo package name as it is.
fn old_unit_stem(package: &str, task: &str) -> String {
    if task == package {
        package.to_string()
    } else {
        format!("{package}-{task}")
    }
}

/// One argument of `ExecStart=`, quoted as systemd.service(5) unquotes it:
/// `%` and `$` doubled (no specifier or variable is expanded), and in
/// double quotes, C-style, when it holds whitespace, a quote, a backslash
/// or `;`, or is empty.
fn exec_word(arg: &str) -> String {
    let literal = escape(arg).replace('$', "$$");
    let plain = !arg.is_empty()
        && !arg.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if plain {
        return literal;
    }
    let mut out = String::from("\"");
    for c in literal.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn generate(
    ctx: &UnitContext<'_>,
    task: &TaskManifest,
    config: &TaskConfig,
) -> Result<TaskUnits, UnitError> {
    check_trigger(task)?;
    if config.listen.is_some() && !matches!(task.trigger, Trigger::Socket { .. }) {
        return Err(UnitError::ListenWithoutSocket(task.name.clone()));
    }
    if task.args == bgapp_manifest::Arguments::None && config.args.iter().flatten().next().is_some()
    {
        return Err(UnitError::ArgsForNoArgs(task.name.clone()));
    }
    let stem = unit_stem(ctx.stem, &task.name);
    let old_stem = Some(old_unit_stem(ctx.stem, &task.name)).filter(|old| *old != stem);
    let service_name = format!("{stem}.service");
    let description = description(task);
    let mut relaxed = Relaxations {
        task: &task.name,
        warnings: Vec::new(),
    };
    let access = access(task, config, &mut relaxed);

    let mut service = Lines::default();
    service.set("Type", "notify");
    let mut exec = format!("/usr/bin/{} {}", escape(ctx.bin), escape(&task.name));
    for arg in config.args.iter().flatten() {
        exec.push(' ');
        exec.push_str(&exec_word(arg));
    }
    service.set("ExecStart", exec);
    restart_policy(&mut service, task);
    timeouts(&mut service, task);
    // systemd.kill(5): SIGTERM to the main process only, which stops its
    // own children (a request's helper process) as it finishes its work;
    // whatever is left of the group is SIGKILLed at the deadline.
    service.set("KillMode", "mixed");
    identity(&mut service, ctx);
    inputs(&mut service, config, &mut relaxed);
    for (key, value) in SANDBOX {
        service.set(key, *value);
    }
    devices(&mut service, config, &mut relaxed);
    capabilities(&mut service, config, &mut relaxed);
    network(&mut service, &access);
    for p in &access.read_write {
        service.set("ReadWritePaths", systemd_word(p));
    }
    for p in &config.read_only_paths {
        service.set("ReadOnlyPaths", systemd_word(p));
    }
    directives(&mut service, config, &mut relaxed);

    let listen = config.listen.as_deref();
    let trigger = trigger_unit(&stem, &service_name, task, &description, listen);
    let enable = match (&task.trigger, &trigger) {
        (_, Some(t)) => Some(t.name.clone()),
        (Trigger::Boot, None) => Some(service_name.clone()),
        _ => None,
    };
    Ok(TaskUnits {
        old_stem,
        service: Unit {
            text: service_unit(ctx, task, &description, &service),
            name: service_name,
        },
        trigger,
        enable,
        dirs: access.dirs,
        groups: config.supplementary_groups.clone(),
        warnings: relaxed.warnings,
    })
}

/// A watched path as systemd takes it: the attribute checks it, and a
/// binary built by an older bgapp is checked here again.
fn check_trigger(task: &TaskManifest) -> Result<(), UnitError> {
    let Trigger::Path { path, .. } = &task.trigger else {
        return Ok(());
    };
    let why = match bgapp_manifest::path::check_absolute_path(path) {
        Err(e) => e.to_string(),
        Ok(()) if path.trim_end() != path => {
            "it ends with whitespace, which systemd strips".to_string()
        }
        Ok(()) => return Ok(()),
    };
    Err(UnitError::Path {
        task: task.name.clone(),
        path: path.escape_debug().to_string(),
        why,
    })
}

/// The first line of the task's description, or one made from its name,
/// as unit text (specifiers escaped, no trailing `\`).
fn description(task: &TaskManifest) -> String {
    let first = task
        .description
        .as_deref()
        .and_then(|d| d.lines().next())
        .map(unit_text)
        .unwrap_or_default();
    if first.is_empty() {
        format!("{} background task", task.name)
    } else {
        first
    }
}

/// The network and the paths the service needs: an IP socket's service
/// gets the network; a path task may write where it watches.
fn access(task: &TaskManifest, config: &TaskConfig, relaxed: &mut Relaxations<'_>) -> Access {
    let inet_socket = match &task.trigger {
        Trigger::Socket { listen } => {
            let listen = config.listen.as_deref().unwrap_or(listen);
            ListenAddress::parse(listen).is_ok_and(|a| a.is_inet())
        }
        _ => false,
    };
    if config.network && !inet_socket {
        relaxed.warn(format_args!(
            "may use the network (AF_INET, AF_INET6, IP traffic)"
        ));
    }
    let mut access = Access {
        network: config.network || inet_socket,
        read_write: Vec::new(),
        dirs: Vec::new(),
    };
    if let Trigger::Path { condition, path } = &task.trigger {
        match watched_dir(*condition, path) {
            Some(dir) => {
                access.read_write.push(dir.clone());
                access.dirs.push(dir);
            }
            // `-`: a missing path must not stop the service from starting.
            None => access
                .read_write
                .push(format!("-{}", path.trim_end_matches('/'))),
        }
    }
    for p in &config.read_write_paths {
        relaxed.warn(format_args!("may write to `{p}`"));
        access.read_write.push(p.clone());
    }
    access
}

/// When systemd restarts the service, and which exits are not failures
/// (the exit codes are the contract's).
fn restart_policy(service: &mut Lines, task: &TaskManifest) {
    let restart = match task.restart {
        Restart::Always => "always",
        Restart::OnFailure => "on-failure",
        Restart::Never => "no",
    };
    service.set("Restart", restart);
    service.set("RestartSec", format_systemd(RESTART_DELAY));
    service.set("RestartPreventExitStatus", join_codes(exit::NO_RESTART));
    service.set("SuccessExitStatus", join_codes(exit::ALSO_SUCCESS));
}

/// systemd's deadlines come after the runtime's own, by [`STOP_MARGIN`].
fn timeouts(service: &mut Lines, task: &TaskManifest) {
    if let Some(start) = task.start_timeout() {
        // Until `task.ready()`: the runtime sends `READY=1` then.
        service.set("TimeoutStartSec", format_systemd(start));
    }
    let stop = task.stop_timeout();
    service.set("TimeoutStopSec", format_systemd(stop_kill_after(task)));
    if let Some(limit) = task.time_limit() {
        // The runtime cancels at the limit and then has `stop_timeout` to
        // save; systemd steps in only after both.
        service.set("RuntimeMaxSec", format_systemd(limit + stop + STOP_MARGIN));
    }
    if let Some(watchdog) = task.watchdog() {
        service.set("WatchdogSec", format_systemd(watchdog));
    }
}

/// The system user, and the state directory it owns.
fn identity(service: &mut Lines, ctx: &UnitContext<'_>) {
    service.set("User", ctx.user);
    service.set("Group", ctx.user);
    service.set("StateDirectory", ctx.stem);
    service.set("StateDirectoryMode", "0750");
    service.set("UMask", "0077");
}

/// What a daemon reads besides its arguments: an environment file,
/// credentials, and files its supplementary groups may read.
fn inputs(service: &mut Lines, config: &TaskConfig, relaxed: &mut Relaxations<'_>) {
    if let Some(file) = &config.environment_file {
        service.set("EnvironmentFile", escape(file));
    }
    for (id, path) in &config.credentials {
        service.set("LoadCredential", format!("{id}:{}", escape(path)));
    }
    if !config.supplementary_groups.is_empty() {
        let groups = config.supplementary_groups.join(" ");
        relaxed.warn(format_args!(
            "is in the groups {groups}: it may read and write what they may"
        ));
        service.set("SupplementaryGroups", groups);
    }
}

/// `PrivateDevices=`, or the devices the configuration allows.
fn devices(service: &mut Lines, config: &TaskConfig, relaxed: &mut Relaxations<'_>) {
    if config.devices.is_empty() {
        service.set("PrivateDevices", "yes");
        return;
    }
    relaxed.warn(format_args!(
        "may use the devices {}",
        config.devices.join(", ")
    ));
    service.set("PrivateDevices", "no");
    service.set("DevicePolicy", "closed");
    for d in &config.devices {
        service.set("DeviceAllow", format!("{} rw", systemd_word(d)));
    }
}

/// No capability and a private user namespace, or the capabilities the
/// configuration keeps.
fn capabilities(service: &mut Lines, config: &TaskConfig, relaxed: &mut Relaxations<'_>) {
    if config.capabilities.is_empty() {
        service.set("CapabilityBoundingSet", "");
        service.set("AmbientCapabilities", "");
        // Capabilities and devices need the host's user namespace.
        if config.devices.is_empty() {
            service.set("PrivateUsers", "yes");
        }
        return;
    }
    let capabilities = config.capabilities.join(" ");
    relaxed.warn(format_args!("keeps the capabilities {capabilities}"));
    service.set("CapabilityBoundingSet", capabilities.clone());
    service.set("AmbientCapabilities", capabilities);
}

/// Unix sockets only, or the IP network too.
fn network(service: &mut Lines, access: &Access) {
    if access.network {
        // AF_NETLINK: glibc's getaddrinfo asks the kernel for interfaces.
        service.set(
            "RestrictAddressFamilies",
            "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        );
    } else {
        // AF_UNIX: sd_notify, the journal and D-Bus (logind).
        service.set("RestrictAddressFamilies", "AF_UNIX");
        service.set("PrivateNetwork", "yes");
        service.set("IPAddressDeny", "any");
    }
}

/// Extra directives replace ours with the same key, or are added.
fn directives(service: &mut Lines, config: &TaskConfig, relaxed: &mut Relaxations<'_>) {
    for directive in &config.directives {
        if HARDENING_KEYS.contains(&directive.key.as_str()) {
            relaxed.warn(format_args!(
                "overrides `{}=` with `{directive}`",
                directive.key
            ));
        }
        service.replace(&directive.key, &directive.value);
    }
}

/// The `.service` unit: `[Unit]`, the `[Service]` lines, and `[Install]`
/// for a boot task.
fn service_unit(
    ctx: &UnitContext<'_>,
    task: &TaskManifest,
    description: &str,
    service: &Lines,
) -> String {
    let mut s = String::from("[Unit]\n");
    let _ = writeln!(s, "Description={description}");
    let _ = writeln!(
        s,
        "Documentation=file:///usr/share/bgapp/{}/bgapp-manifest.json",
        ctx.stem
    );
    // Stopped before D-Bus at shutdown, so that the runtime can still ask
    // systemd whether the system is shutting down (Terminated) or an
    // operator stopped the task (ClosedByUser).
    s.push_str("After=dbus.service\n");
    // A crash loop ends in the failed state instead of spinning forever.
    let _ = writeln!(
        s,
        "StartLimitIntervalSec={}s",
        START_LIMIT_INTERVAL.as_secs()
    );
    let _ = writeln!(s, "StartLimitBurst={}", start_limit_burst(task));
    s.push_str("\n[Service]\n");
    service.write(&mut s);
    if matches!(task.trigger, Trigger::Boot) {
        s.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    }
    s
}

fn join_codes(codes: &[u8]) -> String {
    codes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The unit that starts a timer, socket or path task's service.
/// `listen`: the configuration's address for a socket task, instead of the
/// attribute's.
fn trigger_unit(
    stem: &str,
    service: &str,
    task: &TaskManifest,
    description: &str,
    listen: Option<&str>,
) -> Option<Unit> {
    // The socket's service has its name, so no `Service=` is needed; timers
    // and paths name theirs for clarity.
    let (suffix, section, lines, wanted_by) = match &task.trigger {
        Trigger::Boot | Trigger::Manual => return None,
        Trigger::Timer { schedule } => {
            let mut lines = timer_lines(schedule);
            lines.set("Unit", service);
            ("timer", "Timer", lines, "timers.target")
        }
        Trigger::Socket { listen: attribute } => {
            let mut lines = Lines::default();
            lines.set("ListenStream", escape(listen.unwrap_or(attribute)));
            ("socket", "Socket", lines, "sockets.target")
        }
        Trigger::Path { condition, path } => {
            let mut lines = Lines::default();
            lines.set(condition.directive(), escape(path));
            lines.set("Unit", service);
            ("path", "Path", lines, "paths.target")
        }
    };
    let mut s = String::from("[Unit]\n");
    let _ = writeln!(s, "Description={description} ({suffix})");
    let _ = writeln!(s, "\n[{section}]");
    lines.write(&mut s);
    let _ = writeln!(s, "\n[Install]\nWantedBy={wanted_by}");
    Some(Unit {
        name: format!("{stem}.{suffix}"),
        text: s,
    })
}

/// `[Timer]`: an interval from the last activation, or a calendar.
fn timer_lines(schedule: &Schedule) -> Lines {
    let mut lines = Lines::default();
    match schedule {
        Schedule::Every(every) => {
            let text = format_systemd(*every);
            lines.set("OnBootSec", text.clone());
            lines.set("OnUnitActiveSec", text);
            // The default accuracy (1 min) would blur short intervals.
            if *every <= Duration::from_secs(600) {
                lines.set("AccuracySec", "1s");
            }
        }
        Schedule::Calendar(cal) => {
            lines.set("OnCalendar", escape(cal));
            // Catch up on a run missed while the device was off.
            lines.set("Persistent", "true");
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::config::Directive;
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
            ready: Default::default(),
            start_timeout_ms: None,
            args: Default::default(),
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
        let u = generate(&ctx(), &t, &TaskConfig::default()).unwrap();
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
    fn explicit_readiness_has_a_start_timeout() {
        let t = task("hello", Trigger::Boot);
        let text = generate(&ctx(), &t, &TaskConfig::default())
            .unwrap()
            .service
            .text;
        assert!(!text.contains("TimeoutStartSec"), "{text}");
        let mut t = task("hello", Trigger::Boot);
        t.ready = bgapp_manifest::Readiness::Explicit;
        let text = generate(&ctx(), &t, &TaskConfig::default())
            .unwrap()
            .service
            .text;
        assert!(text.contains("TimeoutStartSec=1min 30s\n"), "{text}");
        t.start_timeout_ms = Some(300_000);
        let text = generate(&ctx(), &t, &TaskConfig::default())
            .unwrap()
            .service
            .text;
        assert!(text.contains("TimeoutStartSec=5min\n"), "{text}");
    }

    #[test]
    fn start_limit_is_the_contracts() {
        let every = Trigger::Timer {
            schedule: Schedule::Every(Duration::from_secs(3)),
        };
        let text = generate(&ctx(), &task("hello", every), &TaskConfig::default())
            .unwrap()
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
        let u = generate(&ctx(), &t, &TaskConfig::default()).unwrap();
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
            .unwrap()
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
        let u = generate(&ctx(), &t, &TaskConfig::default()).unwrap();
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
        let u = generate(&ctx(), &t, &TaskConfig::default()).unwrap();
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
            directives: ["SystemCallFilter=@system-service @resources", "Nice=5"]
                .iter()
                .map(|d| Directive::parse(d).unwrap())
                .collect(),
            ..TaskConfig::default()
        };
        let u = generate(&ctx(), &task("hello", Trigger::Boot), &cfg).unwrap();
        assert_eq!(
            u.warnings,
            [
                "task `hello` may use the network (AF_INET, AF_INET6, IP traffic)",
                "task `hello` may use the devices /dev/ttyUSB0",
                "task `hello` keeps the capabilities CAP_NET_BIND_SERVICE",
                "task `hello` overrides `SystemCallFilter=` with `SystemCallFilter=@system-service @resources`",
            ]
        );
        let s = &u.service.text;
        assert_eq!(s.matches("SystemCallFilter=").count(), 1, "{s}");
        assert!(s.contains("SystemCallFilter=@system-service @resources\n"));
        assert!(s.contains("Nice=5\n"));
        assert!(s.contains("DeviceAllow=/dev/ttyUSB0 rw\n"));
        assert!(s.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE\n"));
        assert!(!s.contains("PrivateUsers"));
    }

    /// A description ending in `\` would continue `Description=` onto the
    /// next line of the unit, swallowing `Documentation=`; control
    /// characters and `%` are made literal text.
    #[test]
    fn descriptions_stay_on_their_line() {
        let mut t = task("hello", Trigger::Boot);
        t.description = Some("Ends in a backslash \\\tand 100% \\".into());
        let u = generate(&ctx(), &t, &TaskConfig::default()).unwrap();
        let text = &u.service.text;
        assert!(
            text.starts_with(
                "[Unit]\nDescription=Ends in a backslash \\ and 100%%\nDocumentation="
            ),
            "{text}"
        );
        for line in text.lines() {
            assert!(
                !line.ends_with('\\'),
                "`{line}` continues onto the next line"
            );
        }
    }

    /// `listen` only for a socket task; it replaces the attribute's
    /// address, and an IP address brings the network.
    #[test]
    fn listen_overrides_a_socket_tasks_address_only() {
        let cfg = TaskConfig {
            listen: Some("0.0.0.0:9586".into()),
            ..TaskConfig::default()
        };
        let msg = generate(&ctx(), &task("hello", Trigger::Boot), &cfg)
            .unwrap_err()
            .to_string();
        // The help names the attribute's syntax, `trigger = socket(...)`.
        assert_eq!(
            msg,
            "`[package.metadata.bgapp.tasks.hello]` sets `listen`, but task `hello` is not started by a socket\n\nhelp: remove `listen`; only a task with `trigger = socket(listen = \"...\")` in its attribute listens"
        );
        let unix = task(
            "web",
            Trigger::Socket {
                listen: "/run/hello/web.sock".into(),
            },
        );
        let u = generate(&ctx(), &unix, &cfg).unwrap();
        assert!(u
            .trigger
            .unwrap()
            .text
            .contains("\nListenStream=0.0.0.0:9586\n"));
        assert!(u.service.text.contains("AF_INET6"), "{}", u.service.text);
        assert!(u.service.text.contains("\nKillMode=mixed\n"));
    }

    /// A task with `args = "none"` refuses packaging `args`: each start
    /// would be a usage error.
    #[test]
    fn args_for_a_task_that_takes_none_are_refused() {
        let cfg = TaskConfig {
            args: Some(vec!["--port".into(), "1".into()]),
            ..TaskConfig::default()
        };
        let mut t = task("hello", Trigger::Boot);
        assert!(generate(&ctx(), &t, &cfg).is_ok());
        t.args = bgapp_manifest::Arguments::None;
        let msg = generate(&ctx(), &t, &cfg).unwrap_err().to_string();
        assert!(
            msg.starts_with("task `hello` takes no arguments (`args = \"none\"` in its attribute)"),
            "{msg}"
        );
        // No arguments given: fine.
        assert!(generate(&ctx(), &t, &TaskConfig::default()).is_ok());
        let empty = TaskConfig {
            args: Some(Vec::new()),
            ..TaskConfig::default()
        };
        assert!(generate(&ctx(), &t, &empty).is_ok());
    }

    /// systemd.service(5)'s command line: words split at blanks, quotes
    /// and `\` unquoted, `$` and `%` expanded: each argument stays one
    /// literal word.
    #[test]
    fn exec_words() {
        assert_eq!(exec_word("--port"), "--port");
        assert_eq!(exec_word("two words"), "\"two words\"");
        assert_eq!(exec_word("$HOME 100%"), "\"$$HOME 100%%\"");
        assert_eq!(exec_word("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(exec_word(""), "\"\"");
        assert_eq!(exec_word(";"), "\";\"");
    }

    #[test]
    fn refuses_a_path_systemd_would_refuse() {
        for (path, says) in [
            ("/etc/../tmp/x", "is not normalized"),
            ("/var/spool/in ", "ends with whitespace"),
            ("var/spool", "is not absolute"),
        ] {
            let t = task(
                "spool",
                Trigger::Path {
                    condition: bgapp_manifest::PathCondition::NotEmpty,
                    path: path.into(),
                },
            );
            let msg = generate(&ctx(), &t, &TaskConfig::default())
                .unwrap_err()
                .to_string();
            assert!(msg.starts_with("task `spool` watches `"), "{msg}");
            assert!(msg.contains(says), "{path}: {msg}");
        }
    }
}
