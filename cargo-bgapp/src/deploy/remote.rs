//! What runs on the device: small POSIX sh scripts, each written to the
//! shell the host's connection keeps open (no new SSH session), and the
//! parsing of what they print.
//!
//! On the device, `/var/lib/bgapp-deploy/<package>/` keeps the bundle of
//! the version `deploy` installed last and passed the health gate
//! (`current.deb`), its version (`current.version`) and its units
//! (`units`): what a failed deploy rolls back to, and what `status`,
//! `logs` and `remove` read.

use super::core::UnitState;
use super::ssh::{quote, Session, SshError};

/// The device's folder of kept bundles for a package.
pub fn kept_dir(package: &str) -> String {
    format!("/var/lib/bgapp-deploy/{package}")
}

/// How a host installs the app: dpkg, or the tarball's `install.sh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Deb,
    Tar,
}

/// What a host is, as learned before anything is done on it.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// The Debian package asked about.
    pub package: String,
    pub user: String,
    pub root: bool,
    /// `sudo -n true`'s complaint when it fails, `None` when it works (or
    /// the user is root).
    pub sudo_refused: Option<String>,
    /// `dpkg --print-architecture`, where dpkg exists, else what
    /// `uname -m` says in Debian's words.
    pub deb_arch: Option<String>,
    /// Whether dpkg is there: the `.deb` is installed with it, else the
    /// tarball with its `install.sh`.
    pub has_dpkg: bool,
    /// `uname -m`.
    pub machine: String,
    /// The installed version, as dpkg says (`0.1.0-1`), and whether dpkg
    /// considers it fully installed (`ii`).
    pub installed: Option<(String, bool)>,
    /// The version whose bundle is kept for rollback.
    pub kept: Option<String>,
    pub has_systemctl: bool,
    /// Whether `head` is GNU coreutils', whose `head -c` reads no more
    /// than it is asked for: the bundle then goes over the connection's
    /// shell ([`Session::upload`]).
    pub exact_head: bool,
}

impl Probe {
    pub fn installed_version(&self) -> Option<&str> {
        self.installed.as_ref().map(|(v, _)| v.as_str())
    }

    /// Whether scripts that change the system run through `sudo -n`.
    pub fn sudo(&self) -> bool {
        !self.root
    }

    /// Whether scripts that only read (the journal) may run through
    /// `sudo -n`: when the user is not root and sudo does not prompt.
    pub fn sudo_to_read(&self) -> bool {
        !self.root && self.sudo_refused.is_none()
    }

    fn parse(text: &str) -> Probe {
        let mut p = Probe::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key {
                "user" => p.user = value.into(),
                "uid" => p.root = value == "0",
                "sudo" if value != "ok" => p.sudo_refused = Some(value.into()),
                "dpkg" if !value.is_empty() => {
                    p.deb_arch = Some(value.into());
                    p.has_dpkg = true;
                }
                "uname" => p.machine = value.into(),
                "installed" => {
                    // `ii |0.1.0-1`: status abbreviation, then the version.
                    if let Some((status, version)) = value.split_once('|') {
                        if !version.is_empty()
                            && !status.starts_with('u')
                            && !status.starts_with('r')
                        {
                            p.installed = Some((version.into(), status.trim() == "ii"));
                        } else if !version.is_empty() && status.starts_with('r') {
                            // Removed, configuration kept: not installed.
                        }
                    }
                }
                "kept" if !value.is_empty() => p.kept = Some(value.into()),
                "systemctl" => p.has_systemctl = value == "yes",
                "head" => p.exact_head = value == "gnu",
                _ => {}
            }
        }
        if !p.has_dpkg {
            // The tarball's installs are known by the version deploy kept.
            p.deb_arch = super::core::deb_arch_of_machine(&p.machine).map(String::from);
            p.installed = p.kept.clone().map(|v| (v, true));
        }
        p
    }

    /// How bundles are installed on this host.
    pub fn kind(&self) -> Kind {
        if self.has_dpkg {
            Kind::Deb
        } else {
            Kind::Tar
        }
    }
}

/// Learns the host's user, architecture, installed version and sudo.
pub fn probe(session: &Session, package: &str) -> Result<Probe, SshError> {
    let pkg = quote(package);
    let dir = quote(&kept_dir(package));
    let script = format!(
        r#"echo "user=$(id -un)"
echo "uid=$(id -u)"
echo "uname=$(uname -m)"
if command -v dpkg >/dev/null 2>&1; then
  echo "dpkg=$(dpkg --print-architecture)"
  echo "installed=$(dpkg-query -W -f '${{db:Status-Abbrev}}|${{Version}}' {pkg} 2>/dev/null)"
fi
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "sudo=sudo is not installed"
  elif err=$(sudo -n true 2>&1); then
    echo "sudo=ok"
  else
    echo "sudo=$(printf '%s' "$err" | tail -n 1)"
  fi
fi
if [ -f {dir}/current.version ]; then echo "kept=$(cat {dir}/current.version)"; fi
if command -v systemctl >/dev/null 2>&1; then echo systemctl=yes; else echo systemctl=no; fi
if head --version 2>/dev/null | grep -q 'GNU coreutils'; then echo head=gnu; fi
"#
    );
    let out = session.run(&script, false, None)?;
    if !out.status.success() {
        return Err(SshError(format!(
            "the probe failed: {}",
            last_lines(&out.stderr, 1)
        )));
    }
    let mut probe = Probe::parse(&String::from_utf8_lossy(&out.stdout));
    probe.package = package.to_string();
    Ok(probe)
}

/// The last `n` non-empty lines of a command's output.
pub fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Copies the bundle into the kept folder (`incoming.deb`, or the
/// tarball unpacked in `incoming/`) and installs it with `dpkg -i` or the
/// tarball's `install.sh`; on failure, their last lines.
///
/// The bundle goes first into a temporary file over the connection's
/// shell where the host's `head` allows ([`Probe::exact_head`]), then the
/// install copies it from there; elsewhere the install reads it on its
/// stdin, in a session of its own.
///
/// The app's units are reset first (`systemctl reset-failed`): a unit
/// left failed by its start limit would refuse the start of the new
/// version.
pub fn install(
    session: &Session,
    probe: &Probe,
    package: &str,
    units: &[String],
    bundle: &[u8],
) -> Result<(), String> {
    let dir = quote(&kept_dir(package));
    let reset = reset_failed(units);
    let uploaded = if probe.exact_head {
        session.upload(bundle).map_err(|e| e.to_string())?
    } else {
        None
    };
    // Where the install reads the bundle; the temporary file is removed
    // however the install ends.
    let (source, done) = match &uploaded {
        Some(path) => (
            quote(path),
            format!("\ntrap {} EXIT", quote(&format!("rm -f {}", quote(path)))),
        ),
        None => ("-".to_string(), String::new()),
    };
    let (script, what) = match probe.kind() {
        Kind::Deb => (
            format!(
                "set -e{done}\nmkdir -p {dir}\ncat {source} > {dir}/incoming.deb\n{reset}\nexport DEBIAN_FRONTEND=noninteractive\ndpkg -i {dir}/incoming.deb 2>&1\n"
            ),
            "`dpkg -i`",
        ),
        Kind::Tar => (
            format!(
                "set -e{done}\nmkdir -p {dir}\nrm -rf {dir}/incoming\nmkdir {dir}/incoming\ntar -xzf {source} -C {dir}/incoming\n{reset}\nsh {dir}/incoming/*/install.sh 2>&1\n"
            ),
            "`install.sh`",
        ),
    };
    let input = if uploaded.is_some() {
        None
    } else {
        Some(bundle)
    };
    let out = session
        .run(&script, probe.sudo(), input)
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed:\n{}{}",
            last_lines(&out.stdout, 8),
            last_lines(&out.stderr, 4)
        ))
    }
}

/// The new version passed: its bundle becomes the one kept for rollback.
pub fn commit(
    session: &Session,
    sudo: bool,
    kind: Kind,
    package: &str,
    version: &str,
    units: &[String],
) -> Result<(), String> {
    let dir = quote(&kept_dir(package));
    let keep = match kind {
        Kind::Deb => format!("mv -f {dir}/incoming.deb {dir}/current.deb"),
        Kind::Tar => format!("rm -rf {dir}/current\nmv {dir}/incoming {dir}/current"),
    };
    let script = format!(
        "set -e\n{keep}\nprintf '%s\\n' {} > {dir}/current.version\nprintf '%s\\n' {} > {dir}/units\n",
        quote(version),
        units.iter().map(|u| quote(u)).collect::<Vec<_>>().join(" "),
    );
    run_ok(session, sudo, &script)
}

/// Stops the units that are neither active nor inactive (failed, or
/// waiting for an automatic restart: one that fired during the install
/// would start the new version as an automatic restart, counted in
/// `NRestarts`), then `systemctl reset-failed` (a crash loop's start limit
/// would refuse the start). A healthy running unit is left to the
/// package's own restart.
fn reset_failed(units: &[String]) -> String {
    if units.is_empty() {
        return String::new();
    }
    let list = units.iter().map(|u| quote(u)).collect::<Vec<_>>().join(" ");
    format!(
        "for u in {list}; do\n  case \"$(systemctl show -P ActiveState \"$u\" 2>/dev/null)\" in\n    active|inactive|'') ;;\n    *) systemctl stop \"$u\" >/dev/null 2>&1 || true ;;\n  esac\ndone\nsystemctl reset-failed {list} >/dev/null 2>&1 || true"
    )
}

/// Installs the kept bundle again (the version before a failed deploy),
/// after stopping and resetting the failed version's units (`units`): a
/// restart systemd has scheduled would otherwise start the kept version
/// as an automatic restart (counted in `NRestarts`, which fails the
/// gate), and a crash loop's start limit would refuse the start.
pub fn reinstall_kept(
    session: &Session,
    sudo: bool,
    kind: Kind,
    package: &str,
    units: &[String],
) -> Result<(), String> {
    let dir = quote(&kept_dir(package));
    let reset = if units.is_empty() {
        String::new()
    } else {
        format!(
            "systemctl stop {} >/dev/null 2>&1 || true\n{}",
            units.iter().map(|u| quote(u)).collect::<Vec<_>>().join(" "),
            reset_failed(units)
        )
    };
    let script = match kind {
        Kind::Deb => format!(
            "set -e\nrm -f {dir}/incoming.deb\n{reset}\nexport DEBIAN_FRONTEND=noninteractive\ndpkg -i {dir}/current.deb 2>&1\n"
        ),
        Kind::Tar => format!(
            "set -e\nrm -rf {dir}/incoming\n{reset}\nsh {dir}/current/*/install.sh 2>&1\n"
        ),
    };
    run_ok(session, sudo, &script)
}

/// Removes a failed first install (`dpkg -r`, or `uninstall.sh`: its
/// state is kept).
pub fn remove_failed(
    session: &Session,
    sudo: bool,
    kind: Kind,
    package: &str,
) -> Result<(), String> {
    let dir = quote(&kept_dir(package));
    let script = match kind {
        Kind::Deb => format!(
            "set -e\nrm -f {dir}/incoming.deb\nrmdir {dir} 2>/dev/null || true\ndpkg -r {} 2>&1\n",
            quote(package)
        ),
        Kind::Tar => format!("set -e\nsh {dir}/incoming/*/uninstall.sh 2>&1\nrm -rf {dir}\n"),
    };
    run_ok(session, sudo, &script)
}

/// Uninstalls the package (`dpkg -r`, or `dpkg -P` with `purge`, which
/// also deletes `/var/lib/<package>`; the tarball's `uninstall.sh
/// [--purge]` where there is no dpkg) and the kept bundles. Returns
/// whether it was installed.
pub fn uninstall(
    session: &Session,
    sudo: bool,
    kind: Kind,
    package: &str,
    purge: bool,
) -> Result<bool, String> {
    let dir = quote(&kept_dir(package));
    let pkg = quote(package);
    let (script, what) = match kind {
        Kind::Deb => {
            let how = if purge { "-P" } else { "-r" };
            let purge_left = if purge {
                format!("dpkg -P {pkg} >/dev/null 2>&1 || true")
            } else {
                ":".into()
            };
            (
                format!(
                    "set -e\nif ! dpkg-query -W -f '${{db:Status-Abbrev}}' {pkg} 2>/dev/null | grep -q '^[ih]'; then\n  rm -rf {dir}\n  {purge_left}\n  echo not-installed\n  exit 0\nfi\ndpkg {how} {pkg} 2>&1\nrm -rf {dir}\n"
                ),
                format!("`dpkg {how}`"),
            )
        }
        Kind::Tar => {
            let flag = if purge { " --purge" } else { "" };
            (
                format!(
                    "set -e\nif [ ! -d {dir}/current ]; then\n  echo not-installed\n  exit 0\nfi\nsh {dir}/current/*/uninstall.sh{flag} 2>&1\nrm -rf {dir}\n"
                ),
                format!("`uninstall.sh{flag}`"),
            )
        }
    };
    let out = session
        .run(&script, sudo, None)
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed:\n{}{}",
            last_lines(&out.stdout, 6),
            last_lines(&out.stderr, 4)
        ));
    }
    Ok(!String::from_utf8_lossy(&out.stdout).contains("not-installed"))
}

fn run_ok(session: &Session, sudo: bool, script: &str) -> Result<(), String> {
    let out = session.run(script, sudo, None).map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            last_lines(&out.stdout, 8),
            last_lines(&out.stderr, 4)
        ))
    }
}

/// The properties the health gate and `status` read.
const PROPERTIES: &str = "Id,LoadState,ActiveState,SubState,Result,NRestarts,MainPID";

/// `systemctl show` of the units.
pub fn unit_states(session: &Session, units: &[String]) -> Result<Vec<UnitState>, String> {
    let script = format!(
        "systemctl show -p {PROPERTIES} {}",
        units.iter().map(|u| quote(u)).collect::<Vec<_>>().join(" ")
    );
    let out = session
        .run(&script, false, None)
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "`systemctl show` failed: {}",
            last_lines(&out.stderr, 2)
        ));
    }
    Ok(UnitState::parse_show(&String::from_utf8_lossy(&out.stdout)))
}

/// `systemctl status` and the last journal lines of a unit, to show
/// why it failed.
pub fn diagnose(session: &Session, sudo: bool, unit: &str, lines: usize) -> String {
    let u = quote(unit);
    let script = format!(
        "systemctl status --no-pager --lines=0 {u} 2>&1; echo; journalctl --no-pager -o short-iso -n {lines} -u {u} 2>&1"
    );
    match session.run(&script, sudo, None) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
        Err(e) => format!("(could not read its journal: {e})"),
    }
}

/// The app's units on the device: the list `deploy` kept, else the unit
/// files dpkg installed for the package.
pub fn installed_units(session: &Session, package: &str) -> Result<Vec<String>, String> {
    let dir = quote(&kept_dir(package));
    let script = format!(
        "if [ -f {dir}/units ]; then cat {dir}/units; else dpkg-query -L {} 2>/dev/null | grep -E '^(/usr)?/lib/systemd/system/[^/]+\\.(service|timer|socket|path)$' | sed 's|.*/||'; fi",
        quote(package)
    );
    let out = session
        .run(&script, false, None)
        .map_err(|e| e.to_string())?;
    let mut units: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    units.sort();
    units.dedup();
    Ok(units)
}

/// One unit, as `status` shows it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct UnitStatus {
    pub unit: String,
    pub task: String,
    pub active_state: String,
    pub sub_state: String,
    pub main_pid: u32,
    pub restarts: u32,
    /// The previous execution state the current run started with.
    pub previous_execution: Option<String>,
    /// The last `STATUS=` the task sent.
    pub status_text: String,
    pub enabled: String,
}

/// The state of each unit: systemd's view, and from the journal of the
/// current run, the previous execution state it started with.
pub fn unit_statuses(
    session: &Session,
    sudo: bool,
    units: &[String],
) -> Result<Vec<UnitStatus>, String> {
    let mut script = String::new();
    for u in units {
        let q = quote(u);
        script.push_str(&format!(
            "echo '@unit'\nsystemctl show -p Id,ActiveState,SubState,MainPID,NRestarts,StatusText,UnitFileState,ExecStart,InvocationID {q}\n\
             inv=$(systemctl show -P InvocationID {q})\n\
             if [ -n \"$inv\" ]; then echo \"Started=$(journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID=$inv 2>/dev/null | grep 'previous execution:' | tail -n 1)\"; fi\n"
        ));
    }
    let out = session
        .run(&script, sudo, None)
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "reading the units failed: {}",
            last_lines(&out.stderr, 2)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut statuses = Vec::new();
    for block in text.split("@unit\n").filter(|b| !b.trim().is_empty()) {
        let mut s = UnitStatus::default();
        for line in block.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "Id" => s.unit = value.into(),
                "ActiveState" => s.active_state = value.into(),
                "SubState" => s.sub_state = value.into(),
                "MainPID" => s.main_pid = value.parse().unwrap_or(0),
                "NRestarts" => s.restarts = value.parse().unwrap_or(0),
                "StatusText" => s.status_text = value.into(),
                "UnitFileState" => s.enabled = value.into(),
                "ExecStart" => s.task = task_of_exec_start(value).unwrap_or_default(),
                "Started" => s.previous_execution = previous_execution(value),
                _ => {}
            }
        }
        statuses.push(s);
    }
    Ok(statuses)
}

/// The task a service runs: the last argument of its `ExecStart=`
/// (`/usr/bin/app task`), as `systemctl show` prints it
/// (`{ path=/usr/bin/app ; argv[]=/usr/bin/app task ; ... }`).
pub fn task_of_exec_start(value: &str) -> Option<String> {
    let argv = value.split("argv[]=").nth(1)?;
    let argv = argv.split(" ;").next()?;
    let mut words = argv.split_whitespace();
    words.next()?;
    words.last().map(String::from)
}

/// `previous execution: terminated` out of the runtime's start line.
fn previous_execution(line: &str) -> Option<String> {
    let rest = line.split("previous execution: ").nth(1)?;
    let state: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!state.is_empty()).then_some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_probe() {
        let p = Probe::parse(
            "user=pi\nuid=1000\nuname=aarch64\ndpkg=arm64\ninstalled=ii |0.1.0-1\nsudo=sudo: a password is required\nkept=0.1.0-1\nsystemctl=yes\n",
        );
        assert_eq!(p.user, "pi");
        assert!(!p.root);
        assert_eq!(p.deb_arch.as_deref(), Some("arm64"));
        assert_eq!(p.installed, Some(("0.1.0-1".into(), true)));
        assert_eq!(
            p.sudo_refused.as_deref(),
            Some("sudo: a password is required")
        );
        assert_eq!(p.kept.as_deref(), Some("0.1.0-1"));
        let p =
            Probe::parse("user=root\nuid=0\nuname=x86_64\ndpkg=amd64\ninstalled=\nsystemctl=yes\n");
        assert!(p.root && p.sudo_refused.is_none() && p.installed.is_none());
        let p = Probe::parse("user=pi\nuid=0\nuname=aarch64\nkept=0.2.0-1\nsystemctl=yes\n");
        assert_eq!(p.kind(), Kind::Tar);
        assert_eq!(p.deb_arch.as_deref(), Some("arm64"), "from uname -m");
        assert_eq!(
            p.installed,
            Some(("0.2.0-1".into(), true)),
            "the kept version"
        );
        let p = Probe::parse("dpkg=amd64\ninstalled=rc |0.1.0-1\n");
        assert_eq!(p.installed, None, "removed, configuration kept");
        let p = Probe::parse("dpkg=amd64\ninstalled=iF |0.3.0-1\n");
        assert_eq!(p.installed, Some(("0.3.0-1".into(), false)));
    }

    #[test]
    fn reads_the_task_and_previous_execution() {
        assert_eq!(
            task_of_exec_start("{ path=/usr/bin/hello ; argv[]=/usr/bin/hello hello ; ignore_errors=no ; start_time=[n/a] }")
                .as_deref(),
            Some("hello")
        );
        assert_eq!(
            task_of_exec_start("{ path=/usr/bin/x ; argv[]=/usr/bin/x ; }"),
            None
        );
        assert_eq!(
            previous_execution(
                "task `hello` started (activation: boot, previous execution: terminated, saved)"
            )
            .as_deref(),
            Some("terminated")
        );
    }
}
