//! Shell scripts that install, upgrade and remove the app: the `.deb`'s
//! maintainer scripts, and the tarball's `install.sh` / `uninstall.sh`.
//!
//! They are POSIX sh. The `.deb`'s scripts enable and disable units with
//! `deb-systemd-helper` and start and stop them with `deb-systemd-invoke`
//! (init-system-helpers) where those are installed, as debhelper's scripts
//! do: the helper keeps the enabled state that a purge cleans up, and the
//! invoker asks `policy-rc.d` (an image build that forbids starting
//! services is obeyed). Images without init-system-helpers (it is
//! essential only up to Debian 12; lean and non-Debian images lack it)
//! get the same from `systemctl`. The tarball's scripts, for systems
//! without dpkg, use `systemctl` only. Where systemd is not running (an
//! image build in a plain `chroot`, without `/proc`: no
//! `/run/systemd/system`), units are still enabled, offline, the watched
//! directories are made with `mkdir` (`systemd-tmpfiles` needs `/proc`; it
//! runs at the first boot anyway), and nothing is started, as debhelper's
//! scripts do.
//!
//! Units were named after the Cargo package (`my_app.service`) before they
//! followed the Debian package's dashes (`my-app.service`). On an upgrade
//! from such a version, the scripts stop the units of the old names,
//! remove their enablement links, and enable and start the new ones if the
//! old ones were enabled.
//!
//! Every path is written as one single-quoted word ([`quote::sh`]), so a
//! name with spaces, quotes, `$` or backticks is that name and nothing else.
//! Unit names and the user name are checked to hold none of those.
//!
//! Conffiles (files under `/etc`): `install.sh` and `uninstall.sh` do what
//! dpkg does. A conffile changed since it was installed is kept on upgrade
//! and the new version goes beside it as `<file>.bgapp-new`; one deleted is
//! not installed again; removal keeps them all, `--purge` deletes them. The
//! versions as installed are kept in `/var/lib/bgapp/<package>.conffiles/`
//! to tell a changed file from an unchanged one.

use std::fmt::Write as _;

use super::quote::sh;

/// What the scripts act on.
pub struct ScriptPlan<'a> {
    pub stem: &'a str,
    /// The Debian package name: `/usr/share/doc/<deb_name>`.
    pub deb_name: &'a str,
    pub version: &'a str,
    pub user: &'a str,
    /// Every unit, services last (so triggers stop before what they start).
    pub units: Vec<String>,
    /// Units to enable and start on install: trigger units, boot services.
    pub enable: Vec<String>,
    pub services: Vec<String>,
    /// Directories owned by the system user (watched paths).
    pub dirs: Vec<String>,
    /// The units' names before they followed the Debian package's dashes,
    /// where they differ: stopped and replaced on upgrade.
    pub old_units: Vec<String>,
    /// Of those, the ones the install enabled.
    pub old_enable: Vec<String>,
    /// Supplementary groups of the services, created if missing.
    pub groups: Vec<String>,
}

/// Which tools the scripts use for units.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tools {
    /// A `.deb`'s scripts: init-system-helpers where installed.
    Debian,
    /// The tarball's scripts: `systemctl`.
    Systemctl,
}

/// A file of the bundle, as the tarball's scripts install it.
#[derive(Debug, Clone, Copy)]
pub struct ScriptFile<'a> {
    /// Relative to the tarball's top folder and to `/`.
    pub path: &'a str,
    pub mode: u32,
    pub conffile: bool,
}

const RUNNING: &str = "[ -d /run/systemd/system ]";

/// The shell functions the scripts act on units with. `$@`: unit names.
fn unit_functions(tools: Tools) -> &'static str {
    match tools {
        Tools::Debian => {
            r#"# Units: deb-systemd-helper and deb-systemd-invoke (init-system-helpers)
# where installed, as debhelper's scripts do; systemctl on images without them.
have() {
    command -v "$1" >/dev/null 2>&1
}
bgapp_enable() {
    if have deb-systemd-helper; then deb-systemd-helper enable "$@"
    elif have systemctl; then systemctl --no-reload enable "$@"
    fi
}
# Disables the units and forgets their enabled state (`purge`; `disable`
# would keep it, and a reinstall would then leave them disabled).
bgapp_disable() {
    if have deb-systemd-helper; then deb-systemd-helper purge "$@"
    elif have systemctl; then systemctl --no-reload disable "$@"
    fi
}
# Records the links of units enabled by an older version's systemctl, so
# that removal takes them.
bgapp_update_state() {
    if have deb-systemd-helper; then deb-systemd-helper update-state "$@"; fi
}
bgapp_purge() {
    if have deb-systemd-helper; then deb-systemd-helper purge "$@"; fi
}
# start, stop, try-restart, with a running systemd.
bgapp_invoke() {
    if have deb-systemd-invoke; then deb-systemd-invoke "$@"
    else systemctl "$@"; fi
}
# Starts those of the units that are enabled.
bgapp_start_enabled() {
    if have deb-systemd-invoke; then deb-systemd-invoke start "$@" 2>/dev/null
    else
        for unit in "$@"; do
            if systemctl --quiet is-enabled "$unit"; then systemctl start "$unit"; fi
        done
    fi
}
# Restarts those of the services that run or are enabled (deb-systemd-invoke
# restart): running ones pick up the new binary, enabled ones that are not
# running start, as on install.
bgapp_restart() {
    if have deb-systemd-invoke; then deb-systemd-invoke restart "$@"
    else
        for unit in "$@"; do
            case "$(systemctl is-active "$unit" 2>/dev/null) $(systemctl is-enabled "$unit" 2>/dev/null)" in active\ *|*\ enabled*) systemctl restart "$unit" ;; esac
        done
    fi
}

"#
        }
        Tools::Systemctl => {
            r#"# Units: systemctl.
have() {
    command -v "$1" >/dev/null 2>&1
}
bgapp_enable() {
    if have systemctl; then systemctl --no-reload enable "$@"; fi
}
bgapp_disable() {
    if have systemctl; then systemctl --no-reload disable "$@"; fi
}
bgapp_update_state() {
    :
}
# start, stop, try-restart, with a running systemd.
bgapp_invoke() {
    systemctl "$@"
}
# Starts those of the units that are enabled.
bgapp_start_enabled() {
    for unit in "$@"; do
        if systemctl --quiet is-enabled "$unit"; then systemctl start "$unit"; fi
    done
}
# Restarts those of the services that run or are enabled (`enabled` or
# `enabled-runtime`, as the .deb's invoker counts them: `is-enabled` exits
# 0 for a static unit too, a timer's or a socket's service, which must not
# start here).
bgapp_restart() {
    for unit in "$@"; do
        case "$(systemctl is-active "$unit" 2>/dev/null) $(systemctl is-enabled "$unit" 2>/dev/null)" in active\ *|*\ enabled*) systemctl restart "$unit" ;; esac
    done
}

"#
        }
    }
}

impl ScriptPlan<'_> {
    fn sysusers_conf(&self) -> String {
        format!("/usr/lib/sysusers.d/{}.conf", self.stem)
    }

    fn tmpfiles_conf(&self) -> String {
        format!("/usr/lib/tmpfiles.d/{}.conf", self.stem)
    }

    /// A marker left by removal, so a reinstall enables the units again
    /// while an upgrade keeps what the administrator chose.
    fn removed_marker(&self) -> String {
        format!("/var/lib/bgapp/{}.removed", self.stem)
    }

    /// Where `install.sh` keeps the conffiles as it installed them.
    fn conffile_copies(&self) -> String {
        format!("/var/lib/bgapp/{}.conffiles", self.stem)
    }

    /// `/usr/lib/sysusers.d/<stem>.conf`.
    pub fn sysusers(&self) -> String {
        let mut s = format!(
            "# The system user of {stem}'s background tasks (generated by cargo-bgapp).\n\
             u {user} - \"{stem} background tasks\" / /usr/sbin/nologin\n",
            stem = self.stem,
            user = self.user
        );
        if !self.groups.is_empty() {
            s.push_str("# Groups its services are in (SupplementaryGroups=), if missing.\n");
        }
        for g in &self.groups {
            let _ = writeln!(s, "g {g} -");
        }
        s
    }

    /// `/usr/lib/tmpfiles.d/<stem>.conf`, if the tasks watch directories:
    /// each path in double quotes, escaped for tmpfiles.d(5).
    pub fn tmpfiles(&self) -> Option<String> {
        if self.dirs.is_empty() {
            return None;
        }
        let mut s = format!(
            "# Directories {} watches (generated by cargo-bgapp).\n",
            self.stem
        );
        for d in &self.dirs {
            // Group-writable, so producers in the user's group can drop files.
            let _ = writeln!(
                s,
                "d {} 0770 {u} {u} -",
                super::quote::systemd_word(d),
                u = self.user
            );
        }
        Some(s)
    }

    fn create_user_and_dirs(&self, s: &mut String, script: &str) {
        let user = self.user;
        let _ = write!(
            s,
            "    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers {conf}
    elif ! getent passwd {user} >/dev/null; then
        useradd --system --user-group --no-create-home --home-dir / --shell /usr/sbin/nologin {user}
    fi
",
            conf = self.sysusers_conf()
        );
        if !self.groups.is_empty() {
            let _ = writeln!(
                s,
                "    for group in {}; do\n        \
                 getent group \"$group\" >/dev/null || groupadd --system \"$group\"\n    done",
                self.groups.join(" ")
            );
        }
        if self.dirs.is_empty() {
            return;
        }
        // systemd-tmpfiles needs /proc, which an image built in a chroot
        // lacks; without a running systemd the directories are made here,
        // and systemd-tmpfiles-setup.service applies the file at boot.
        let _ = writeln!(
            s,
            "    if {RUNNING} && command -v systemd-tmpfiles >/dev/null 2>&1; then\n        \
             systemd-tmpfiles --create {conf} || echo \"{script}: systemd-tmpfiles could not create the directories of {conf}\" >&2\n    \
             else",
            conf = self.tmpfiles_conf()
        );
        for d in &self.dirs {
            let d = sh(d);
            let _ = writeln!(
                s,
                "        mkdir -p {d} && chown {user}:{user} {d} && chmod 0770 {d} ||\n            printf '{script}: could not create %s\\n' {d} >&2"
            );
        }
        s.push_str("    fi\n");
    }

    fn enable_and_start(&self, s: &mut String, indent: &str) {
        if self.enable.is_empty() {
            return;
        }
        let units = self.enable.join(" ");
        let _ = write!(
            s,
            "\
{indent}bgapp_enable {units} >/dev/null 2>&1 || echo \"{stem}: could not enable {units}\" >&2
{indent}if {RUNNING}; then
{indent}    bgapp_invoke start {units} || echo \"{stem}: could not start {units}; see journalctl -xe\" >&2
{indent}fi
",
            stem = self.stem
        );
    }

    /// Where the scripts keep the checksums of the unit files systemd
    /// loaded at the last reload they made.
    fn loaded_units(&self) -> String {
        format!("/var/lib/bgapp/{}.units", self.stem)
    }

    /// `daemon-reload` (units were removed), forgetting what the last
    /// reload loaded.
    fn reload(&self, s: &mut String, indent: &str) {
        let _ = writeln!(
            s,
            "{indent}if {RUNNING} && have systemctl; then\n{indent}    systemctl daemon-reload || true\n{indent}fi\n{indent}rm -f {}",
            sh(&self.loaded_units())
        );
    }

    /// `daemon-reload` unless systemd loaded the package's unit files as
    /// they are at a reload made here and has not reloaded since: a reload
    /// runs every generator and reads every unit file of the system again,
    /// a tenth of a second of CPU on a PC and more on a small device, and
    /// an upgrade mostly changes the binary alone. Kept after the reload:
    /// the checksums of the files, and which reload it was (systemd makes
    /// `/run/systemd/generator` anew at each: its inode and change time).
    /// Any other reload since (another package's, a version whose scripts
    /// know nothing of this, a boot) or files changed since, offline too,
    /// make the next install reload.
    fn reload_if_changed(&self, s: &mut String, indent: &str) {
        let _ = writeln!(
            s,
            "\
{indent}units=$(cd /usr/lib/systemd/system 2>/dev/null && sha256sum -- {units} 2>/dev/null || true)
{indent}loaded=$(stat -c '%i %z' /run/systemd/generator 2>/dev/null || true)
{indent}if [ -z \"$units\" ] || [ -z \"$loaded\" ] || [ \"$units $loaded\" != \"$(cat {state} 2>/dev/null)\" ]; then
{indent}    rm -f {state}
{indent}    if {RUNNING} && have systemctl && systemctl daemon-reload; then
{indent}        loaded=$(stat -c '%i %z' /run/systemd/generator 2>/dev/null || true)
{indent}        {{ mkdir -p /var/lib/bgapp && printf '%s %s\\n' \"$units\" \"$loaded\" > {state}; }} || true
{indent}    fi
{indent}fi",
            units = self.units.join(" "),
            state = sh(&self.loaded_units())
        );
    }

    fn restart(&self, s: &mut String) {
        // Running services pick up the new binary; enabled units that are
        // not running are started, as on install.
        if !self.enable.is_empty() {
            let _ = writeln!(
                s,
                "        bgapp_update_state {} >/dev/null 2>&1 || true",
                self.enable.join(" ")
            );
        }
        let _ = writeln!(
            s,
            "        if {RUNNING}; then\n            bgapp_restart {} || true",
            self.services.join(" ")
        );
        // Timers, sockets and paths: started if enabled, never restarted
        // (that would re-arm a timer or drop a socket's queue).
        let triggers: Vec<&str> = self
            .enable
            .iter()
            .filter(|u| !self.services.contains(u))
            .map(String::as_str)
            .collect();
        if !triggers.is_empty() {
            let _ = writeln!(
                s,
                "            bgapp_start_enabled {} || true",
                triggers.join(" ")
            );
        }
        s.push_str("        fi\n");
    }

    /// Stops the units of the old names (their files are gone on a `.deb`
    /// upgrade; the tarball's are removed here), removes their enablement
    /// links, and sets `renamed=yes` if any was enabled.
    fn replace_old_names(&self, s: &mut String, tools: Tools) {
        s.push_str("    renamed=no\n");
        if self.old_units.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "    # Units named before they followed the package's dashes: replaced by\n    \
             # the new names, enabled if the old ones were.\n    old_files=no"
        );
        let _ = writeln!(
            s,
            "    if {RUNNING}; then\n        bgapp_invoke stop {} >/dev/null 2>&1 || true\n    fi",
            self.old_units.join(" ")
        );
        if !self.old_enable.is_empty() {
            let _ = writeln!(
                s,
                "    for unit in {}; do\n        \
                 for link in /etc/systemd/system/*.wants/\"$unit\"; do\n            \
                 if [ -L \"$link\" ]; then\n                rm -f \"$link\"\n                renamed=yes\n            fi\n        \
                 done\n    done",
                self.old_enable.join(" ")
            );
        }
        if tools == Tools::Systemctl {
            for unit in &self.old_units {
                let _ = writeln!(
                    s,
                    "    if [ -e /usr/lib/systemd/system/{unit} ]; then\n        rm -f /usr/lib/systemd/system/{unit}\n        old_files=yes\n    fi"
                );
            }
        }
        // What systemd loaded of the new names stays true: only the old
        // names go.
        let _ = writeln!(
            s,
            "    if {{ [ \"$renamed\" = yes ] || [ \"$old_files\" = yes ]; }} && {RUNNING} && have systemctl; then\n        systemctl daemon-reload || true\n    fi"
        );
    }

    fn stop_and_disable(&self, s: &mut String, indent: &str) {
        let units = self.units.join(" ");
        let _ = write!(
            s,
            "\
{indent}if {RUNNING}; then
{indent}    bgapp_invoke stop {units} || true
{indent}fi
{indent}bgapp_disable {units} >/dev/null 2>&1 || true
"
        );
    }

    fn purge(&self, s: &mut String, indent: &str) {
        // The app's local data goes with it, as an app's local data goes
        // when a Windows app is removed; watched
        // directories only if nothing is left in them.
        let _ = writeln!(
            s,
            "{indent}rm -rf {}",
            sh(&format!("/var/lib/{}", self.stem))
        );
        for d in &self.dirs {
            let _ = writeln!(s, "{indent}rmdir {} 2>/dev/null || true", sh(d));
        }
    }

    pub fn postinst(&self) -> String {
        let mut s = header("postinst", Tools::Debian);
        s.push_str("case \"$1\" in\nconfigure)\n");
        self.create_user_and_dirs(&mut s, "postinst");
        self.reload_if_changed(&mut s, "    ");
        self.replace_old_names(&mut s, Tools::Debian);
        let _ = writeln!(
            s,
            "    if [ -z \"$2\" ] || [ -e {marker} ] || [ \"$renamed\" = yes ]; then\n        rm -f {marker}",
            marker = self.removed_marker()
        );
        self.enable_and_start(&mut s, "        ");
        s.push_str("    else\n");
        self.restart(&mut s);
        s.push_str("    fi\n    ;;\nesac\n\nexit 0\n");
        s
    }

    pub fn prerm(&self) -> String {
        let mut s = header("prerm", Tools::Debian);
        s.push_str("case \"$1\" in\nremove)\n");
        self.stop_and_disable(&mut s, "    ");
        let _ = writeln!(
            s,
            "    mkdir -p /var/lib/bgapp && touch {}\n    ;;\nesac\n\nexit 0",
            self.removed_marker()
        );
        s
    }

    pub fn postrm(&self) -> String {
        let mut s = header("postrm", Tools::Debian);
        s.push_str("case \"$1\" in\npurge)\n");
        self.purge(&mut s, "    ");
        // The enabled state deb-systemd-helper kept for the units.
        let _ = writeln!(
            s,
            "    bgapp_purge {} >/dev/null 2>&1 || true",
            self.units.join(" ")
        );
        let _ = writeln!(
            s,
            "    rm -f {}\n    rmdir /var/lib/bgapp 2>/dev/null || true",
            self.removed_marker()
        );
        s.push_str("    ;;\nesac\n\ncase \"$1\" in\nremove|purge)\n");
        self.reload(&mut s, "    ");
        s.push_str("    ;;\nesac\n\nexit 0\n");
        s
    }

    /// `install.sh` of the tarball.
    pub fn install_sh(&self, files: &[ScriptFile<'_>]) -> String {
        let mut s = format!(
            "#!/bin/sh\n\
             # Installs {stem} {version} from this folder, for systems without dpkg.\n\
             # Usage: sudo ./install.sh [--no-start]\n\
             # Generated by cargo-bgapp.\n\
             set -eu\n\n",
            stem = self.stem,
            version = self.version
        );
        s.push_str(
            "start=yes\nfor arg in \"$@\"; do\n    case \"$arg\" in\n        --no-start) start=no ;;\n        -h|--help) sed -n '2,3s/^# //p' \"$0\"; exit 0 ;;\n        *) echo \"install.sh: unknown option $arg\" >&2; exit 2 ;;\n    esac\ndone\n",
        );
        s.push_str("if [ \"$(id -u)\" != 0 ]; then\n    echo \"install.sh: run as root\" >&2\n    exit 1\nfi\n");
        s.push_str(unit_functions(Tools::Systemctl));
        s.push_str("here=$(cd \"$(dirname \"$0\")\" && pwd)\n");
        s.push_str("if command -v sha256sum >/dev/null 2>&1; then\n    (cd \"$here\" && sha256sum --check --quiet SHA256SUMS)\nfi\n");
        let _ = writeln!(
            s,
            "upgrade=no\nif [ -e /usr/share/bgapp/{}/bgapp-manifest.json ]; then\n    upgrade=yes\nfi",
            self.stem
        );
        let conffiles: Vec<&ScriptFile<'_>> = files.iter().filter(|f| f.conffile).collect();
        if !conffiles.is_empty() {
            let _ = write!(
                s,
                r#"
# A conffile changed since it was installed is kept, with the new version
# beside it; one deleted stays deleted; as dpkg does. $1: the file in this
# folder, $2: where it goes, $3: its mode.
copies={copies}
conffile() {{
    copy="$copies$2"
    if [ ! -e "$2" ] && [ ! -L "$2" ]; then
        if [ -e "$copy" ]; then
            echo "install.sh: not installing $2 again: it was deleted since it was installed" >&2
        else
            install -D -m "$3" "$1" "$2"
        fi
    elif cmp -s "$1" "$2"; then
        rm -f "$2.bgapp-new"
    elif [ -e "$copy" ] && cmp -s "$copy" "$2"; then
        install -m "$3" "$1" "$2"
        rm -f "$2.bgapp-new"
    else
        install -m "$3" "$1" "$2.bgapp-new"
        echo "install.sh: kept $2, which was changed since it was installed; the new version is $2.bgapp-new" >&2
    fi
    install -D -m 0644 "$1" "$copy"
}}
"#,
                copies = sh(&self.conffile_copies())
            );
        }
        for f in files {
            let from = format!("\"$here\"/{}", sh(f.path));
            let to = sh(&format!("/{}", f.path));
            if f.conffile {
                let _ = writeln!(s, "conffile {from} {to} {:04o}", f.mode);
            } else {
                let _ = writeln!(s, "install -D -m {:04o} {from} {to}", f.mode);
            }
        }
        s.push_str("\n(\n");
        self.create_user_and_dirs(&mut s, "install.sh");
        self.reload_if_changed(&mut s, "    ");
        self.replace_old_names(&mut s, Tools::Systemctl);
        s.push_str(
            "    if [ \"$start\" = no ]; then\n        :\n    elif [ \"$upgrade\" = no ] || [ \"$renamed\" = yes ]; then\n",
        );
        self.enable_and_start(&mut s, "        ");
        s.push_str("    else\n");
        self.restart(&mut s);
        s.push_str("    fi\n)\n");
        let _ = writeln!(s, "echo \"installed {} {}\"", self.stem, self.version);
        s
    }

    /// `uninstall.sh` of the tarball; `--purge` also deletes the app's data
    /// and its conffiles.
    pub fn uninstall_sh(&self, files: &[ScriptFile<'_>]) -> String {
        let mut s = format!(
            "#!/bin/sh\n\
             # Removes {stem} installed by install.sh.\n\
             # Usage: sudo ./uninstall.sh [--purge]   (--purge also deletes /var/lib/{stem} and the configuration in /etc)\n\
             # Generated by cargo-bgapp.\n\
             set -eu\n\n",
            stem = self.stem
        );
        s.push_str(
            "purge=no\nfor arg in \"$@\"; do\n    case \"$arg\" in\n        --purge) purge=yes ;;\n        -h|--help) sed -n '2,3s/^# //p' \"$0\"; exit 0 ;;\n        *) echo \"uninstall.sh: unknown option $arg\" >&2; exit 2 ;;\n    esac\ndone\n",
        );
        s.push_str("if [ \"$(id -u)\" != 0 ]; then\n    echo \"uninstall.sh: run as root\" >&2\n    exit 1\nfi\n");
        s.push_str(unit_functions(Tools::Systemctl));
        self.stop_and_disable(&mut s, "");
        for f in files.iter().filter(|f| !f.conffile) {
            let _ = writeln!(s, "rm -f {}", sh(&format!("/{}", f.path)));
        }
        let conffiles: Vec<String> = files
            .iter()
            .filter(|f| f.conffile)
            .map(|f| format!("/{}", f.path))
            .collect();
        if !conffiles.is_empty() {
            s.push_str("if [ \"$purge\" = yes ]; then\n");
            for c in &conffiles {
                let _ = writeln!(s, "    rm -f {} {}", sh(c), sh(&format!("{c}.bgapp-new")));
            }
            let _ = writeln!(s, "    rm -rf {}", sh(&self.conffile_copies()));
            s.push_str("else\n");
            let _ = writeln!(
                s,
                "    printf 'uninstall.sh: kept %s; --purge deletes it\\n' {}",
                conffiles
                    .iter()
                    .map(|c| sh(c))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            s.push_str("fi\n");
        }
        // The package's own directories, deepest first; `rmdir` leaves any
        // that still hold something.
        let mut dirs = std::collections::BTreeSet::new();
        for f in files {
            let mut p = f.path;
            while let Some((parent, _)) = p.rsplit_once('/') {
                if parent
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last == self.stem || last == self.deb_name)
                {
                    dirs.insert(parent.to_string());
                }
                p = parent;
            }
        }
        for d in dirs.iter().rev() {
            let _ = writeln!(s, "rmdir {} 2>/dev/null || true", sh(&format!("/{d}")));
        }
        s.push_str("rmdir /usr/share/bgapp 2>/dev/null || true\n");
        self.reload(&mut s, "");
        s.push_str("if [ \"$purge\" = yes ]; then\n");
        self.purge(&mut s, "    ");
        s.push_str("    rmdir /var/lib/bgapp 2>/dev/null || true\n");
        s.push_str("fi\n");
        let _ = writeln!(s, "echo \"removed {}\"", self.stem);
        s
    }
}

fn header(name: &str, tools: Tools) -> String {
    format!(
        "#!/bin/sh\n# {name} generated by cargo-bgapp.\nset -e\n\n{}",
        unit_functions(tools)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ScriptPlan<'static> {
        ScriptPlan {
            stem: "hello",
            deb_name: "hello",
            version: "0.1.0",
            user: "hello",
            units: vec![
                "hello-up.timer".into(),
                "hello.service".into(),
                "hello-up.service".into(),
            ],
            enable: vec!["hello-up.timer".into(), "hello.service".into()],
            services: vec!["hello.service".into(), "hello-up.service".into()],
            dirs: vec!["/var/spool/hello".into()],
            old_units: vec!["hello-up_all.timer".into(), "hello-up_all.service".into()],
            old_enable: vec!["hello-up_all.timer".into()],
            groups: vec!["wgread".into()],
        }
    }

    /// `bgapp_restart` without deb-systemd-invoke: a running service is
    /// restarted, an enabled one started, and a static one that is not
    /// running (a timer's service between runs) left alone, though
    /// `systemctl is-enabled` exits 0 for it.
    #[test]
    fn restart_without_the_invoker_leaves_static_services_stopped() {
        let dir = std::env::temp_dir().join(format!("bgapp-restart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("systemctl");
        std::fs::write(
            &fake,
            "#!/bin/sh\n\
             # systemctl's exit codes and words for four kinds of unit.\n\
             q=; if [ \"$1\" = --quiet ]; then q=1; shift; fi\n\
             say() { [ -n \"$q\" ] || echo \"$1\"; }\n\
             case \"$1 $2\" in\n\
             'is-active running.service') say active ;;\n\
             'is-active '*) say inactive; exit 3 ;;\n\
             'is-enabled runtime.service') say enabled-runtime ;;\n\
             'is-enabled enabled.service') say enabled ;;\n\
             'is-enabled static.service') say static ;;\n\
             'is-enabled running.service') say static ;;\n\
             'is-enabled disabled.service') say disabled; exit 1 ;;\n\
             'restart '*) echo \"$*\" >> \"${0%/*}/calls\" ;;\n\
             *) exit 1 ;;\n\
             esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        for tools in [Tools::Debian, Tools::Systemctl] {
            let _ = std::fs::remove_file(dir.join("calls"));
            let script = format!(
                "{}bgapp_restart running.service enabled.service static.service disabled.service runtime.service\n",
                unit_functions(tools)
            );
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&script)
                // Only the fake systemctl: no deb-systemd-invoke.
                .env("PATH", &dir)
                .output()
                .expect("sh runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let calls = std::fs::read_to_string(dir.join("calls")).unwrap_or_default();
            assert_eq!(
                calls,
                "restart running.service\nrestart enabled.service\nrestart runtime.service\n"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scripts_parse_as_posix_sh() {
        let p = plan();
        let files = [
            ScriptFile {
                path: "usr/bin/hello",
                mode: 0o755,
                conffile: false,
            },
            ScriptFile {
                path: "etc/hello/it's \"q\" $HOME `date`.conf",
                mode: 0o644,
                conffile: true,
            },
        ];
        for script in [
            p.postinst(),
            p.prerm(),
            p.postrm(),
            p.install_sh(&files),
            p.uninstall_sh(&files),
        ] {
            // `sh` is POSIX: every machine that runs these tests has one.
            let out = std::process::Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(&script)
                .output()
                .expect("sh runs");
            assert!(
                out.status.success(),
                "{}\n{script}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn postinst_enables_on_install_and_restarts_on_upgrade() {
        let s = plan().postinst();
        assert!(
            s.contains("bgapp_enable hello-up.timer hello.service"),
            "{s}"
        );
        assert!(
            s.contains("bgapp_restart hello.service hello-up.service"),
            "{s}"
        );
        // The timer is started if enabled, never restarted.
        assert!(s.contains("bgapp_start_enabled hello-up.timer ||"), "{s}");
        // A reload only when the unit files changed since the last one.
        assert!(
            s.contains("sha256sum -- hello-up.timer hello.service hello-up.service"),
            "{s}"
        );
        assert!(s.contains("> '/var/lib/bgapp/hello.units'"), "{s}");
        // And which reload loaded them.
        assert!(s.contains("stat -c '%i %z' /run/systemd/generator"), "{s}");
        assert!(s.contains("systemd-sysusers /usr/lib/sysusers.d/hello.conf"));
        assert!(s.contains("[ -d /run/systemd/system ]"));
        let s = plan().postrm();
        assert!(s.contains("rm -rf '/var/lib/hello'"), "{s}");
        assert!(
            s.contains("bgapp_purge hello-up.timer hello.service hello-up.service"),
            "{s}"
        );
    }

    /// lintian's `maintainer-script-calls-systemctl` flags a line that
    /// starts with `systemctl` (or has it after a `;`), other than
    /// `daemon-reload`. The `.deb`'s scripts call deb-systemd-helper and
    /// deb-systemd-invoke first; `systemctl` only where they are missing.
    #[test]
    fn maintainer_scripts_prefer_init_system_helpers() {
        let p = plan();
        for script in [p.postinst(), p.prerm(), p.postrm()] {
            for tool in ["deb-systemd-helper", "deb-systemd-invoke"] {
                assert!(script.contains(&format!("if have {tool}; then {tool} ")));
            }
            // lintian skips comments that start the line.
            for line in script.lines().filter(|l| !l.starts_with('#')) {
                let bare = line.trim_start().starts_with("systemctl")
                    || line
                        .split(';')
                        .skip(1)
                        .any(|after| after.trim_start().starts_with("systemctl"));
                assert!(
                    !bare || line.contains("daemon-reload"),
                    "lintian: maintainer-script-calls-systemctl: {line}"
                );
            }
        }
        // The tarball, for systems without dpkg, uses systemctl.
        let s = p.install_sh(&[]);
        assert!(!s.contains("deb-systemd"), "{s}");
        assert!(s.contains("systemctl --no-reload enable \"$@\""), "{s}");
    }

    /// An upgrade from units named after the Cargo package (`_`) stops
    /// them, removes their links, and enables the new names if the old
    /// ones were enabled; the tarball also deletes the old unit files.
    #[test]
    fn upgrades_replace_units_of_the_old_names() {
        let p = plan();
        let s = p.postinst();
        assert!(
            s.contains("bgapp_invoke stop hello-up_all.timer hello-up_all.service"),
            "{s}"
        );
        assert!(s.contains("for unit in hello-up_all.timer; do"), "{s}");
        assert!(s.contains("[ \"$renamed\" = yes ]"), "{s}");
        assert!(
            !s.contains("rm -f /usr/lib/systemd/system/"),
            "dpkg removes them"
        );
        // The old names' reload only when they were there, and what the
        // last reload loaded of the new names stays true.
        assert!(
            s.contains("if { [ \"$renamed\" = yes ] || [ \"$old_files\" = yes ]; } &&"),
            "{s}"
        );
        assert_eq!(
            s.matches("rm -f '/var/lib/bgapp/hello.units'").count(),
            1,
            "only where the files differ: {s}"
        );
        let s = p.install_sh(&[]);
        assert!(
            s.contains("rm -f /usr/lib/systemd/system/hello-up_all.service"),
            "{s}"
        );
        let none = ScriptPlan {
            old_units: vec![],
            old_enable: vec![],
            ..plan()
        };
        assert!(!none.postinst().contains("for link in"));
    }

    #[test]
    fn supplementary_groups_are_created() {
        let p = plan();
        assert!(p.sysusers().ends_with("g wgread -\n"), "{}", p.sysusers());
        assert!(p.postinst().contains("groupadd --system \"$group\""));
    }
}
