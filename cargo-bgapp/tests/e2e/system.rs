//! A real systemd, booted as PID 1 of a private PID and mount namespace
//! over an overlay of this machine's root (`boot.sh`), so that packages
//! installed in it leave the machine untouched. Its disk (the overlay's
//! upper directory) outlives it: booting again on the same `Disk` is a
//! reboot. Dropping a `System` kills its PID 1, which ends every process
//! of the namespace, and removes the cgroups it made; a test that panics
//! gets the journal of its units printed first.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Units every boot masks: the machine's own services, which would only
/// slow the boot down and load the machine (and apt must never run here).
const MASKED: &[&str] = &[
    "postgresql.service",
    "postgresql@.service",
    "getty@.service",
    "console-getty.service",
    // A lean image's stand-in for getty@ where there is no D-Bus.
    "getty-static.service",
    "serial-getty@.service",
    "e2scrub_reap.service",
    "systemd-timesyncd.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "apt-daily.service",
    "apt-daily-upgrade.service",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "man-db.timer",
    "logrotate.timer",
];

/// What the system needs of what this machine enables.
const KEEP: &[&str] = &[
    "dbus.service",
    "dbus.socket",
    "systemd-logind.service",
    "systemd-journald.service",
    "systemd-journald.socket",
];

/// The units the administrator of the root filesystem `root` (this
/// machine's, or a device image's) enabled (`/etc/systemd/system/*.wants`,
/// `*.requires`): its own services, which would share this machine's
/// network (a network manager, an SSH server on port 22) and have no
/// business in the test's system.
fn enabled_in(root: &Path) -> Vec<String> {
    let mut units = Vec::new();
    let Ok(dirs) = std::fs::read_dir(root.join("etc/systemd/system")) else {
        return units;
    };
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".wants") || name.ends_with(".requires")) {
            continue;
        }
        for entry in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let unit = entry.file_name().to_string_lossy().into_owned();
            if !KEEP.contains(&unit.as_str()) && !unit.ends_with(".target") {
                units.push(unit);
            }
        }
    }
    units
}

/// How long a boot may take to reach `running`.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// The disk of a system: an overlay upper directory, kept across boots,
/// over this machine's root or over a device image.
pub struct Disk {
    dir: PathBuf,
    name: String,
    /// The overlay's lower layer: `/`, or a device image's root.
    lower: PathBuf,
}

impl Disk {
    /// A fresh disk in `dir` (emptied first) over this machine's root;
    /// `name` names its cgroup.
    pub fn new(dir: &Path, name: &str) -> Disk {
        Disk::over(dir, name, Path::new("/"))
    }

    /// A fresh disk in `dir` over the root filesystem `lower` (a device
    /// image, such as `mmdebstrap --variant=minbase` makes).
    #[allow(dead_code)] // the deploy suite's lean devices
    pub fn over(dir: &Path, name: &str, lower: &Path) -> Disk {
        if dir.exists() {
            // A run killed without unwinding left its (empty) cgroups.
            remove_cgroups(&dir.join("cgroups"));
            std::fs::remove_dir_all(dir).expect("remove an old system disk");
        }
        let masks = dir.join("upper/etc/systemd/system");
        std::fs::create_dir_all(&masks).expect("create the system disk");
        for unit in MASKED
            .iter()
            .map(|u| u.to_string())
            .chain(enabled_in(lower))
        {
            let link = masks.join(&unit);
            if !link.exists() {
                std::os::unix::fs::symlink("/dev/null", link).expect("mask a unit");
            }
        }
        Disk {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            lower: lower.to_path_buf(),
        }
    }

    /// A path on this disk, as the system sees it at `path`; only what the
    /// system wrote (the upper layer) is there.
    pub fn upper(&self, path: &str) -> PathBuf {
        self.dir.join("upper").join(path.trim_start_matches('/'))
    }

    /// Boots systemd on this disk and waits until it is up.
    pub fn boot(self) -> System {
        let boot_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/boot.sh");
        let console = std::fs::File::create(self.dir.join("console.log")).expect("console log");
        // `work/` must be empty at each mount.
        let _ = std::fs::remove_dir_all(self.dir.join("work"));
        let mut unshare = Command::new("unshare");
        // If this test process dies without unwinding (CI timeout, kill -9),
        // unshare dies with it, and takes the system's PID 1 along.
        // SAFETY: prctl is async-signal-safe and touches only this child.
        unsafe {
            unshare.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let unshare = unshare
            .args(["--fork", "--kill-child", "--pid", "--mount"])
            .args(["--propagation", "private", "sh"])
            .arg(&boot_script)
            .arg(&self.dir)
            .arg(&self.name)
            .arg(&self.lower)
            .stdin(Stdio::null())
            .stdout(console.try_clone().expect("console log"))
            .stderr(console)
            .spawn()
            .expect("run unshare");
        let mut system = System {
            disk: Some(self),
            unshare,
            pid: 0,
            watched: Vec::new(),
            diagnostics: Vec::new(),
        };
        system.pid = system.wait_for_pid1();
        system.wait_until_running();
        // A device has no policy-rc.d; this machine's may be a container's
        // (`exit 101`: start nothing), which deb-systemd-invoke obeys.
        system.run("rm -f /usr/sbin/policy-rc.d");
        system
    }
}

/// A running system.
pub struct System {
    disk: Option<Disk>,
    unshare: Child,
    /// PID 1 of the namespace, as this machine sees it.
    pid: u32,
    /// Units whose journal a failing test prints.
    watched: Vec<String>,
    /// Scripts whose output a failing test prints before anything else.
    diagnostics: Vec<String>,
}

impl System {
    fn disk(&self) -> &Disk {
        self.disk.as_ref().expect("the system has its disk")
    }

    /// Prints the journal of these units (glob patterns) if the test fails.
    pub fn watch(&mut self, unit_pattern: &str) {
        self.watched.push(unit_pattern.to_string());
    }

    /// Prints the output of this script first if the test fails (before
    /// any `systemctl` call, which wakes PID 1, has run).
    #[allow(dead_code)] // not every suite's
    pub fn diagnose(&mut self, script: &str) {
        self.diagnostics.push(script.to_string());
    }

    /// A path on the system's disk, as written by the system.
    pub fn upper(&self, path: &str) -> PathBuf {
        self.disk().upper(path)
    }

    /// Copies a file of this machine into the system and returns its path
    /// there. The system sees none of this machine's `/tmp` (it has its
    /// own), where a clone of the repository, and so the bundles, may be.
    pub fn put(&self, file: &Path) -> String {
        let name = file.file_name().expect("a file name").to_string_lossy();
        let inside = format!("/var/lib/bgapp-e2e/{name}");
        // The system's root, as this machine reaches it.
        let there = PathBuf::from(format!("/proc/{}/root{inside}", self.pid));
        std::fs::create_dir_all(there.parent().unwrap()).expect("create the folder in the system");
        std::fs::copy(file, &there)
            .unwrap_or_else(|e| panic!("copy {} into the system: {e}", file.display()));
        inside
    }

    fn wait_for_pid1(&mut self) -> u32 {
        // unshare --fork runs the script as its one child, which execs
        // systemd: that child is PID 1 of the namespace.
        let children = format!("/proc/{0}/task/{0}/children", self.unshare.id());
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&children) {
                if let Some(pid) = text.split_whitespace().next() {
                    let pid: u32 = pid.parse().expect("a pid");
                    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
                    if exe.ends_with("systemd") {
                        return pid;
                    }
                }
            }
            if let Ok(Some(status)) = self.unshare.try_wait() {
                panic!(
                    "the system did not boot: unshare exited with {status}\nconsole:\n{}",
                    self.console()
                );
            }
            assert!(
                start.elapsed() < BOOT_TIMEOUT,
                "systemd did not start within {BOOT_TIMEOUT:?}\nconsole:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_until_running(&self) {
        let start = Instant::now();
        loop {
            let out = self.sh("systemctl is-system-running");
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match state.as_str() {
                "running" => return,
                "degraded" => panic!(
                    "the system booted degraded:\n{}",
                    self.run("systemctl --failed --no-pager; journalctl -b -p warning --no-pager | tail -50")
                ),
                _ => {}
            }
            assert!(
                start.elapsed() < BOOT_TIMEOUT,
                "the system is still `{state}` after {BOOT_TIMEOUT:?}\nconsole:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn console(&self) -> String {
        let path = self.disk().dir.join("console.log");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Runs a shell script inside the system, as root.
    pub fn sh(&self, script: &str) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.pid.to_string(), "-a", "--", "sh", "-c", script])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C.UTF-8")
            .env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_PAGER", "")
            .stdin(Stdio::null())
            .output()
            .expect("run nsenter")
    }

    /// Runs a script that must succeed; returns its stdout.
    #[track_caller]
    pub fn run(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "`{script}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One property of a unit (`systemctl show -P`).
    pub fn prop(&self, unit: &str, property: &str) -> String {
        self.run(&format!("systemctl show -P {property} {unit}"))
            .trim()
            .to_string()
    }

    /// The unit's messages, in order, this boot.
    pub fn journal(&self, unit: &str) -> String {
        // Flush so that what the service wrote is readable now.
        self.run(&format!(
            "journalctl --sync 2>/dev/null; journalctl -b -o cat --no-pager -u {unit}"
        ))
    }

    /// Polls `check` every 50 ms until it is true; panics after `timeout`,
    /// describing what it waited for.
    #[track_caller]
    pub fn wait_for(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the unit's journal has `count` lines containing `needle`.
    #[track_caller]
    pub fn wait_for_log(&self, unit: &str, needle: &str, count: usize, timeout: Duration) {
        self.wait_for(
            &format!("{count} line(s) with `{needle}` in {unit}'s journal"),
            timeout,
            || {
                self.journal(unit)
                    .lines()
                    .filter(|l| l.contains(needle))
                    .count()
                    >= count
            },
        );
    }

    /// CPU time the system has used so far (`cpu.stat` of its cgroup in
    /// the unified hierarchy): the whole system's as `""`, and each unit's
    /// (`init.scope`, `system.slice/NAME`) that exists now; what units
    /// that are gone used counts only in the whole.
    #[allow(dead_code)] // the deploy benchmark's
    pub fn cpu_usage(&self) -> Vec<(String, Duration)> {
        fn usage(group: &Path) -> Option<Duration> {
            let stat = std::fs::read_to_string(group.join("cpu.stat")).ok()?;
            let usec = stat
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))?
                .trim()
                .parse()
                .ok()?;
            Some(Duration::from_micros(usec))
        }
        let list = std::fs::read_to_string(self.disk().dir.join("cgroups")).unwrap_or_default();
        let Some(root) = list
            .lines()
            .map(Path::new)
            .find(|g| usage(g).is_some() && g.join("cgroup.controllers").exists())
        else {
            return Vec::new();
        };
        let mut out = vec![(String::new(), usage(root).unwrap_or_default())];
        let mut groups = vec![root.join("init.scope")];
        for slice in ["system.slice", "user.slice"] {
            if let Ok(entries) = std::fs::read_dir(root.join(slice)) {
                groups.extend(
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
        }
        for group in groups {
            if let Some(used) = usage(&group) {
                let name = group.strip_prefix(root).unwrap_or(&group);
                out.push((name.to_string_lossy().into_owned(), used));
            }
        }
        out
    }

    /// Caps the CPU time the whole system may use at `fraction` of one
    /// core (CFS bandwidth: `cpu.cfs_quota_us` of its cgroup, or `cpu.max`
    /// under cgroup v2 alone), as a device has a CPU of its own that no
    /// other device takes from.
    #[allow(dead_code)] // the deploy benchmark's
    pub fn limit_cpu(&self, fraction: f64) -> Result<(), String> {
        const PERIOD_US: u64 = 100_000;
        let quota = ((PERIOD_US as f64 * fraction) as u64).max(1_000);
        let list = std::fs::read_to_string(self.disk().dir.join("cgroups")).unwrap_or_default();
        for group in list.lines().map(Path::new) {
            let v1 = group.join("cpu.cfs_quota_us");
            if v1.exists() {
                std::fs::write(group.join("cpu.cfs_period_us"), PERIOD_US.to_string())
                    .and_then(|()| std::fs::write(&v1, quota.to_string()))
                    .map_err(|e| format!("cannot write {}: {e}", v1.display()))?;
                return Ok(());
            }
            let v2 = group.join("cpu.max");
            if v2.exists() {
                return std::fs::write(&v2, format!("{quota} {PERIOD_US}"))
                    .map_err(|e| format!("cannot write {}: {e}", v2.display()));
            }
        }
        Err("no cgroup of the system has the cpu controller".into())
    }

    /// Shuts the system down cleanly (`systemctl poweroff`), every service
    /// stopped in order, and returns its disk.
    pub fn poweroff(mut self) -> Disk {
        let _ = self.sh("systemctl poweroff --no-block");
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = self.unshare.try_wait() {
                // PID 1 is gone and its pid may be reused: never kill it.
                self.pid = 0;
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the system did not power off within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.end();
        self.disk.take().expect("the system has its disk")
    }

    /// Kills PID 1 at once, as a power loss would, and returns the disk.
    pub fn power_loss(mut self) -> Disk {
        self.end();
        self.disk.take().expect("the system has its disk")
    }

    /// Kills what is left of the namespace and removes its cgroups.
    fn end(&mut self) {
        if self.pid != 0 {
            // SAFETY: kill(2) with a pid this system started.
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        if let Some(disk) = &self.disk {
            remove_cgroups(&disk.dir.join("cgroups"));
        }
        self.pid = 0;
    }
}

impl Drop for System {
    fn drop(&mut self) {
        if self.pid != 0 && std::thread::panicking() {
            // The system as the test left it, before any question to PID 1
            // (a `systemctl` call wakes it): the test's own diagnostics and
            // the end of the whole journal, less the test's own syncs; then
            // the jobs PID 1 has queued.
            let scripts = self.diagnostics.iter().map(String::as_str).chain([
                "journalctl -b --no-pager -o short-monotonic | grep -v 'client request to sync' | tail -60",
                "systemctl list-jobs --no-pager",
            ]);
            for script in scripts {
                let out = self.sh(script);
                eprintln!(
                    "---- {script} ----\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            for unit in &self.watched {
                let out = self.sh(&format!(
                    "systemctl status --no-pager -l '{unit}'; journalctl -b --no-pager -o short-monotonic -u '{unit}' | tail -150"
                ));
                eprintln!(
                    "---- journal of {unit} ----\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        self.end();
    }
}

/// Removes the cgroups `boot.sh` made (listed in `list`) and everything
/// systemd made below them. Empty cgroups are removed with rmdir, deepest
/// first; the processes in them are dead once PID 1 is.
fn remove_cgroups(list: &Path) {
    fn remove_tree(dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_tree(&entry.path());
                }
            }
        }
        // Processes may take a moment to leave a cgroup after SIGKILL.
        for _ in 0..100 {
            if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("warning: could not remove cgroup {}", dir.display());
    }
    let Ok(text) = std::fs::read_to_string(list) else {
        return;
    };
    for group in text.lines().filter(|l| !l.is_empty()) {
        remove_tree(Path::new(group));
    }
}
