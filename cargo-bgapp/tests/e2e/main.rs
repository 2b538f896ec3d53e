//! The end-to-end suite: every template scaffolded with `cargo bgapp new`,
//! packaged with `cargo bgapp package`, installed with `dpkg -i` (or the
//! tarball's `install.sh`) into a real systemd booted in a private
//! namespace (see `system.rs`), and driven the way a device lives: boots,
//! crashes, operator stops, shutdowns, power losses, sleeps, upgrades.
//!
//! It needs root (namespaces, overlay mounts, cgroups). Without root it
//! says so in one line and checks nothing; under `CI=true` a missing
//! requirement fails instead, so that CI can never skip it silently.
//!
//! Systems boot one at a time: the machine has two cores, and the timings
//! checked here (a restart within 2 s) are the product's promises, not
//! the machine's.

mod apps;
#[path = "../support/mod.rs"]
mod support;
mod system;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use system::{Disk, System};

/// Whether this machine can run the suite; prints why not, once.
fn requirements() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(
            "needs root (namespaces, overlay mounts, cgroups); run as root, as `.ci/run` does"
                .into(),
        );
    }
    for tool in ["unshare", "nsenter", "dpkg", "systemctl"] {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Err(format!("needs `{tool}`"));
        }
    }
    if !std::path::Path::new("/lib/systemd/systemd").is_file() {
        return Err("needs systemd (/lib/systemd/systemd)".into());
    }
    Ok(())
}

/// The apps and a fresh disk for one scenario, with the lock that keeps
/// scenarios one at a time; `None` (after one line saying why) when the
/// machine cannot run them.
fn setup(scenario: &str) -> Option<(MutexGuard<'static, ()>, &'static apps::Apps, Disk)> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    static SAID: std::sync::Once = std::sync::Once::new();
    if let Err(why) = requirements() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the end-to-end suite cannot run under CI: it {why}");
        }
        // Straight to the stream: the test harness hides what a passing
        // test prints with `eprintln!`, and a skip must never be silent.
        SAID.call_once(|| {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "e2e: SKIPPED, nothing checked: the end-to-end suite {why}"
            );
        });
        return None;
    }
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let apps = apps::get();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e/systems")
        .join(scenario);
    let disk = Disk::new(
        &dir,
        &format!("bgapp-e2e-{}-{scenario}", std::process::id()),
    );
    Some((guard, apps, disk))
}

const SECOND: Duration = Duration::from_secs(1);

/// The line the runtime logs when a task starts, the last one this boot.
fn last_start(sys: &System, unit: &str) -> String {
    sys.journal(unit)
        .lines()
        .rfind(|l| l.contains("started (activation:"))
        .unwrap_or_default()
        .to_string()
}

/// Waits for the `n`th start of this boot and checks the previous
/// execution state it logged.
#[track_caller]
fn assert_nth_start(sys: &System, unit: &str, n: usize, previous: &str) {
    sys.wait_for_log(unit, "started (activation:", n, 20 * SECOND);
    let line = last_start(sys, unit);
    assert!(
        line.contains(&format!("previous execution: {previous}")),
        "start {n} of {unit} should follow `{previous}`, but logged: {line}"
    );
}

#[track_caller]
fn wait_active(sys: &System, unit: &str) {
    sys.wait_for(&format!("{unit} to be active"), 20 * SECOND, || {
        sys.prop(unit, "ActiveState") == "active"
    });
}

fn install(sys: &System, deb: &std::path::Path) {
    let deb = sys.put(deb);
    sys.run(&format!("dpkg -i '{deb}' >/dev/null"));
}

/// Makes this system's logind able to "suspend" without touching the
/// machine: it reads a fake `/sys/power/state`, and the service that would
/// write it only sleeps a second. logind then sends PrepareForSleep(true)
/// and (false) around the suspend as it would on a device.
fn fake_suspend(sys: &System) {
    // `set -e`: a half-done fake must never reach `systemctl suspend`,
    // which would then suspend this machine.
    sys.run(
        "set -e
         echo 'freeze mem disk' > /run/bgapp-e2e-power-state
         mount --bind /run/bgapp-e2e-power-state /sys/power/state
         mkdir -p /run/systemd/system/systemd-suspend.service.d
         printf '[Service]\\nExecStart=\\nExecStart=/bin/sleep 1\\n' \
             > /run/systemd/system/systemd-suspend.service.d/bgapp-e2e.conf
         systemctl daemon-reload
         systemctl restart systemd-logind",
    );
    let can = sys.run(
        "busctl call org.freedesktop.login1 /org/freedesktop/login1 \
         org.freedesktop.login1.Manager CanSuspend",
    );
    assert_eq!(can.trim(), "s \"yes\"", "logind cannot fake a suspend");
    let exec = sys.prop("systemd-suspend.service", "ExecStart");
    assert!(
        exec.contains("/bin/sleep") && !exec.contains("systemd-sleep"),
        "systemd-suspend.service would really suspend: {exec}"
    );
    assert_eq!(
        sys.run("cat /sys/power/state").trim(),
        "freeze mem disk",
        "the fake power state is in place"
    );
}

/// Boot task (hello): starts at boot, comes back after a crash within 2 s,
/// stops within its stop timeout, starts again after reboots, logs the
/// right previous execution state each time, gets sleep and resume from
/// logind, and a crash loop ends in a failed state.
#[test]
fn boot_task_lives_through_crashes_stops_reboots_and_sleep() {
    let Some((_lock, apps, disk)) = setup("boot") else {
        return;
    };
    let unit = "e2e-hello.service";
    let mut sys = disk.boot();
    sys.watch("e2e-hello*");
    fake_suspend(&sys);
    install(&sys, &apps.hello.deb);
    wait_active(&sys, unit);
    assert_nth_start(&sys, unit, 1, "not-running");
    assert_eq!(
        sys.run("systemctl is-enabled e2e-hello.service").trim(),
        "enabled"
    );

    // Sleep: the task holds a delay lock, and hears of the sleep and the wake.
    sys.wait_for("e2e-hello's delay inhibitor lock", 10 * SECOND, || {
        let locks = sys.run("systemd-inhibit --list --no-pager --no-legend");
        locks
            .lines()
            .any(|l| l.contains("e2e-hello") && l.contains("sleep") && l.contains("delay"))
    });
    sys.run("systemctl suspend");
    sys.wait_for_log(
        unit,
        "suspending: the system is about to sleep",
        1,
        20 * SECOND,
    );
    sys.wait_for_log(unit, "resuming: the system woke up", 1, 20 * SECOND);
    assert_eq!(sys.prop(unit, "NRestarts"), "0", "sleep is not a restart");

    // A crash: kill -9 of the main process brings a new one within 2 s.
    let pid = sys.prop(unit, "MainPID");
    let killed = Instant::now();
    sys.run(&format!("kill -9 {pid}"));
    sys.wait_for("e2e-hello to come back after kill -9", 2 * SECOND, || {
        let new = sys.prop(unit, "MainPID");
        new != pid && new != "0" && sys.prop(unit, "ActiveState") == "active"
    });
    eprintln!("e2e: restarted {:?} after kill -9", killed.elapsed());
    assert_eq!(sys.prop(unit, "NRestarts"), "1");
    assert_nth_start(&sys, unit, 2, "crashed");

    // An operator stop: within the stop timeout (5 s), cleanly.
    let asked = Instant::now();
    sys.run("systemctl stop e2e-hello.service");
    let took = asked.elapsed();
    assert!(
        took < 5 * SECOND,
        "stop took {took:?}, over the 5 s stop timeout"
    );
    assert_eq!(sys.prop(unit, "Result"), "success");
    assert_eq!(sys.prop(unit, "ExecMainStatus"), "0");
    assert!(
        sys.upper("/var/lib/e2e-hello/e2e-hello.state.json")
            .is_file(),
        "the stop saved state"
    );
    sys.run("systemctl start e2e-hello.service");
    assert_nth_start(&sys, unit, 3, "closed-by-user");

    // A clean shutdown, then boot: it starts by itself, after `terminated`,
    // and restores what it saved at shutdown (its third run).
    let disk = sys.poweroff();
    let mut sys = disk.boot();
    sys.watch("e2e-hello*");
    wait_active(&sys, unit);
    assert_nth_start(&sys, unit, 1, "terminated");
    sys.wait_for_log(
        unit,
        "run 3 of `e2e-hello`, after terminated",
        1,
        10 * SECOND,
    );

    // Power loss: the run never recorded its end.
    let disk = sys.power_loss();
    let mut sys = disk.boot();
    sys.watch("e2e-hello*");
    wait_active(&sys, unit);
    assert_nth_start(&sys, unit, 1, "crashed");

    // A crash loop: systemd gives up after the start limit (5 starts in
    // 60 s) and the unit shows as failed instead of restarting forever.
    for _ in 0..10 {
        if sys.prop(unit, "ActiveState") == "failed" {
            break;
        }
        let pid = sys.prop(unit, "MainPID");
        if pid != "0" {
            let _ = sys.sh(&format!("kill -9 {pid}"));
        }
        sys.wait_for("e2e-hello to restart or fail", 10 * SECOND, || {
            let state = sys.prop(unit, "ActiveState");
            state == "failed" || (state == "active" && sys.prop(unit, "MainPID") != pid)
        });
    }
    assert_eq!(sys.prop(unit, "ActiveState"), "failed");
    // systemd keeps the last run's result (`signal`) and says why it gave up.
    sys.wait_for_log(unit, "Start request repeated too quickly", 1, 5 * SECOND);
    std::thread::sleep(3 * SECOND);
    assert_eq!(sys.prop(unit, "ActiveState"), "failed", "it stays failed");
    let journal = sys.journal(unit);
    assert!(
        journal.contains("consecutive crashes"),
        "the starts count the crashes:\n{journal}"
    );
}

/// `dpkg -r` stops and disables everything and keeps the state, a
/// reinstall and an upgrade keep it too, `dpkg -P` removes it.
#[test]
fn deb_remove_reinstall_upgrade_and_purge() {
    let Some((_lock, apps, disk)) = setup("deb") else {
        return;
    };
    let unit = "e2e-hello.service";
    let mut sys = disk.boot();
    sys.watch("e2e-hello*");
    install(&sys, &apps.hello.deb);
    wait_active(&sys, unit);
    sys.wait_for_log(unit, "run 1 of `e2e-hello`", 1, 10 * SECOND);
    sys.run("systemctl restart e2e-hello.service");
    sys.wait_for_log(unit, "run 2 of `e2e-hello`", 1, 10 * SECOND);

    sys.run("dpkg -r e2e-hello >/dev/null");
    assert_eq!(sys.prop(unit, "ActiveState"), "inactive");
    assert_eq!(
        sys.sh("test -e /var/lib/bgapp/e2e-hello.units")
            .status
            .code(),
        Some(1),
        "the removal reloaded and forgot what was loaded"
    );
    assert_eq!(
        sys.prop(unit, "LoadState"),
        "not-found",
        "the unit file is gone"
    );
    assert!(
        sys.sh("pgrep -x e2e-hello").stdout.is_empty(),
        "nothing left running"
    );
    assert!(
        sys.upper("/var/lib/e2e-hello/e2e-hello.state.json")
            .is_file(),
        "dpkg -r keeps the state"
    );
    assert!(
        !sys.run("find /etc/systemd/system -name 'e2e-hello*'")
            .contains("e2e-hello"),
        "no enablement links are left"
    );

    install(&sys, &apps.hello.deb);
    wait_active(&sys, unit);
    sys.wait_for_log(unit, "run 3 of `e2e-hello`", 1, 10 * SECOND);

    // systemd is reloaded when the unit files changed, and only then: the
    // upgrade's unit has a new description; installing it again changes no
    // unit, and restarts the service without a reload.
    let reloads = || {
        sys.run("journalctl --sync; journalctl -b _PID=1 -o cat --no-pager | grep -c '^Reloading' || true")
            .trim()
            .parse::<u32>()
            .expect("a count")
    };
    let state = "/var/lib/bgapp/e2e-hello.units";
    assert!(
        sys.upper(state).is_file(),
        "the install kept what it loaded"
    );
    let before = reloads();
    install(&sys, &apps.hello_v2.deb);
    assert_eq!(
        sys.run("dpkg-query -W -f '${Version}' e2e-hello").trim(),
        "0.2.0-1"
    );
    wait_active(&sys, unit);
    sys.wait_for_log(unit, "run 4 of `e2e-hello`", 1, 10 * SECOND);
    assert_eq!(reloads(), before + 1, "the changed unit was reloaded");
    assert!(
        sys.prop(unit, "Description")
            .starts_with(apps::HELLO_V2_DESCRIPTION),
        "systemd runs the new unit"
    );
    assert_eq!(sys.prop(unit, "NeedDaemonReload"), "no");
    install(&sys, &apps.hello_v2.deb);
    wait_active(&sys, unit);
    sys.wait_for_log(unit, "run 5 of `e2e-hello`", 1, 10 * SECOND);
    assert_eq!(reloads(), before + 1, "the same units need no reload");

    // A downgrade to a version whose scripts know nothing of the kept
    // checksums (built before them: they reload every time), then the
    // upgrade again: the upgrade reloads, though its files are those the
    // checksums describe, for systemd loaded the old version's since.
    let old_scripts = "set -e
        rm -rf /root/old && dpkg-deb -R /var/lib/bgapp-e2e/OLD /root/old
        printf '#!/bin/sh\nset -e\nsystemctl daemon-reload\ndeb-systemd-invoke restart e2e-hello.service\n' > /root/old/DEBIAN/postinst
        printf '#!/bin/sh\nset -e\ncase \"$1\" in remove|purge) systemctl daemon-reload ;; esac\n' > /root/old/DEBIAN/postrm
        dpkg-deb -b /root/old /root/old.deb >/dev/null
        dpkg -i /root/old.deb >/dev/null";
    let old = sys.put(&apps.hello.deb);
    let name = old.rsplit('/').next().unwrap();
    sys.run(&old_scripts.replace("OLD", name));
    wait_active(&sys, unit);
    assert!(
        !sys.prop(unit, "Description")
            .starts_with(apps::HELLO_V2_DESCRIPTION),
        "the downgrade runs its own unit"
    );
    install(&sys, &apps.hello_v2.deb);
    wait_active(&sys, unit);
    assert!(
        sys.prop(unit, "Description")
            .starts_with(apps::HELLO_V2_DESCRIPTION),
        "the upgrade after it was reloaded"
    );

    sys.run("dpkg -P e2e-hello >/dev/null");
    assert_eq!(sys.prop(unit, "LoadState"), "not-found");
    assert!(
        !sys.run("find /etc/systemd/system -name 'e2e-hello*'")
            .contains("e2e-hello"),
        "the purge removed the links of the upgrades too"
    );
    assert!(sys.sh("pgrep -x e2e-hello").stdout.is_empty());
    assert!(
        sys.sh("test -e /var/lib/e2e-hello").status.code() == Some(1),
        "dpkg -P removes /var/lib/e2e-hello"
    );
    assert!(sys.sh("dpkg -s e2e-hello").status.code() != Some(0));
}

/// The tarball's install.sh and uninstall.sh do what dpkg does.
#[test]
fn tarball_install_and_uninstall() {
    let Some((_lock, apps, disk)) = setup("tarball") else {
        return;
    };
    let unit = "e2e-hello.service";
    let mut sys = disk.boot();
    sys.watch("e2e-hello*");
    let unpack = format!(
        "mkdir -p /root/bundle && tar -xzf '{}' -C /root/bundle && cd /root/bundle/* && pwd",
        sys.put(&apps.hello.tarball)
    );
    let folder = sys.run(&unpack).trim().to_string();
    sys.run(&format!("'{folder}/install.sh' >/dev/null"));
    wait_active(&sys, unit);
    assert_nth_start(&sys, unit, 1, "not-running");
    assert_eq!(
        sys.run("systemctl is-enabled e2e-hello.service").trim(),
        "enabled"
    );

    let disk = sys.poweroff();
    let mut sys = disk.boot();
    sys.watch("e2e-hello*");
    wait_active(&sys, unit);
    assert_nth_start(&sys, unit, 1, "terminated");

    sys.run(&format!("'{folder}/uninstall.sh' >/dev/null"));
    assert_eq!(sys.prop(unit, "ActiveState"), "inactive");
    assert_eq!(sys.prop(unit, "LoadState"), "not-found");
    assert!(sys
        .upper("/var/lib/e2e-hello/e2e-hello.state.json")
        .is_file());
    assert!(sys.sh("test -e /usr/bin/e2e-hello").status.code() == Some(1));

    sys.run(&format!("'{folder}/install.sh' >/dev/null"));
    wait_active(&sys, unit);
    sys.wait_for_log(unit, "run 3 of `e2e-hello`", 1, 10 * SECOND);
    sys.run(&format!("'{folder}/uninstall.sh' --purge >/dev/null"));
    assert!(sys.sh("test -e /var/lib/e2e-hello").status.code() == Some(1));
    assert_eq!(sys.prop(unit, "LoadState"), "not-found");
}

/// Timer task: fires on its schedule, and its outcome (no data, new data)
/// shows in the log, in `systemctl status` and in the exit status.
#[test]
fn timer_task_fires_and_reports_its_outcome() {
    let Some((_lock, apps, disk)) = setup("timer") else {
        return;
    };
    let service = "e2e-timer.service";
    let mut sys = disk.boot();
    sys.watch("e2e-timer*");
    install(&sys, &apps.timer.deb);
    assert_eq!(sys.prop("e2e-timer.timer", "ActiveState"), "active");

    sys.wait_for_log(service, "fetch result: no data", 1, 45 * SECOND);
    sys.wait_for("the run to end", 10 * SECOND, || {
        sys.prop(service, "ActiveState") == "inactive"
    });
    assert_eq!(sys.prop(service, "ExecMainStatus"), "5", "no data exits 5");
    assert_eq!(sys.prop(service, "Result"), "success", "5 is a success");

    sys.run("echo 'one\ntwo' > /var/lib/e2e-timer/source.txt");
    sys.wait_for_log(service, "fetch result: new data", 1, 45 * SECOND);
    sys.wait_for("the run to end", 10 * SECOND, || {
        sys.prop(service, "ActiveState") == "inactive"
    });
    let status = sys.sh("systemctl status --no-pager -n 20 e2e-timer.service");
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("fetch result: new data"), "{status}");
    assert!(status.contains("status=0/SUCCESS"), "{status}");
    assert!(sys
        .journal(service)
        .contains("new data in `/var/lib/e2e-timer/source.txt`: 2 lines"));

    // And on and on: more fires in a minute than a crash loop may restart
    // (5), and the service is not failed for it.
    sys.wait_for_log(service, "started (activation:", 8, 40 * SECOND);
    assert_ne!(sys.prop(service, "ActiveState"), "failed");
    assert_eq!(sys.prop("e2e-timer.timer", "ActiveState"), "active");
}

/// Server task: a connection starts it through its socket unit and gets an
/// answer; a stop answers the request in flight; the next connection
/// starts it again, and none is refused meanwhile.
#[test]
fn server_task_is_socket_activated_and_stops_without_losing_requests() {
    let Some((_lock, apps, disk)) = setup("server") else {
        return;
    };
    let service = "e2e-server.service";
    let mut sys = disk.boot();
    sys.watch("e2e-server*");
    install(&sys, &apps.server.deb);
    assert_eq!(sys.prop("e2e-server.socket", "ActiveState"), "active");
    assert_eq!(
        sys.prop(service, "ActiveState"),
        "inactive",
        "started on demand only"
    );

    let connect = || {
        let stream = TcpStream::connect(&apps.server_address).expect("connect to the socket unit");
        stream.set_read_timeout(Some(20 * SECOND)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        (stream, reader)
    };
    let ask = |stream: &mut TcpStream, reader: &mut BufReader<TcpStream>, what: &str| {
        stream.write_all(format!("{what}\n").as_bytes()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).expect("an answer");
        line
    };

    let (mut first, mut first_reader) = connect();
    assert_eq!(ask(&mut first, &mut first_reader, "one"), "one\n");
    assert_eq!(sys.prop(service, "ActiveState"), "active");

    // A request sent, then a stop: the request is answered, then the
    // connection closes.
    first.write_all(b"two\n").unwrap();
    sys.run("systemctl stop e2e-server.service");
    let mut line = String::new();
    first_reader
        .read_line(&mut line)
        .expect("the answer in flight");
    assert_eq!(line, "two\n", "the request in flight was answered");
    line.clear();
    assert_eq!(first_reader.read_line(&mut line).unwrap(), 0, "then closed");
    assert_eq!(sys.prop(service, "Result"), "success");

    // The socket stays: the next connection starts the service again.
    let (mut second, mut second_reader) = connect();
    assert_eq!(ask(&mut second, &mut second_reader, "three"), "three\n");
    assert_eq!(sys.prop(service, "ActiveState"), "active");
    assert_nth_start(&sys, service, 2, "closed-by-user");
}

/// Watcher task: a file dropped into the spool directory is processed and
/// removed; a file it cannot process is set aside, one it may not even read
/// (mode 000) is replaced by a note, neither stops the files after it, and
/// the path unit keeps watching.
#[test]
fn watcher_task_processes_dropped_files() {
    let Some((_lock, apps, disk)) = setup("watcher") else {
        return;
    };
    let service = "e2e-watcher.service";
    let mut sys = disk.boot();
    sys.watch("e2e-watcher*");
    // Once in CI the second file started nothing for 45 s, until the
    // failing test's first `systemctl` call: PID 1's debug lines (the path
    // unit's transitions) and the spool folder say why if it comes back.
    sys.diagnose("ls -la /var/spool/e2e-watcher");
    sys.run("systemd-analyze log-level debug");
    install(&sys, &apps.watcher.deb);
    assert_eq!(sys.prop("e2e-watcher.path", "ActiveState"), "active");

    // Written beside the spool folder, then renamed in: never half a file.
    sys.run("printf 'a\\nb\\nc\\n' > /var/spool/one.txt && mv /var/spool/one.txt /var/spool/e2e-watcher/");
    sys.wait_for_log(
        service,
        "processed `/var/spool/e2e-watcher/one.txt`: 3 lines",
        1,
        45 * SECOND,
    );
    sys.wait_for("the spool folder to be empty", 10 * SECOND, || {
        sys.run("ls -A /var/spool/e2e-watcher").trim().is_empty()
    });

    sys.run(
        "printf '\\377\\376' > /var/spool/bad.bin && mv /var/spool/bad.bin /var/spool/e2e-watcher/",
    );
    sys.wait_for_log(
        service,
        "failed to process `/var/spool/e2e-watcher/bad.bin`",
        1,
        45 * SECOND,
    );
    sys.wait_for("the bad file to be set aside", 10 * SECOND, || {
        sys.sh("test -f /var/lib/e2e-watcher/failed/bad.bin")
            .status
            .success()
    });
    sys.wait_for("the run to end", 10 * SECOND, || {
        sys.prop(service, "ActiveState") == "inactive"
    });
    assert_eq!(sys.prop(service, "Result"), "success");
    assert_eq!(
        sys.prop("e2e-watcher.path", "ActiveState"),
        "active",
        "still watching"
    );

    sys.run("printf 'x\\n' > /var/spool/two.txt && mv /var/spool/two.txt /var/spool/e2e-watcher/");
    sys.wait_for_log(
        service,
        "processed `/var/spool/e2e-watcher/two.txt`: 1 lines",
        1,
        45 * SECOND,
    );

    // A file the app's user may not read (root's, mode 000) ahead of a
    // good one in the same run: it cannot be copied aside across the
    // sandbox's mounts, so a note takes its place; the next file is still
    // processed, and the run ends well.
    sys.run(
        "printf 'secret\\n' > /var/spool/a-secret.txt && chmod 000 /var/spool/a-secret.txt \
         && printf 'y\\n' > /var/spool/b-three.txt \
         && mv /var/spool/a-secret.txt /var/spool/b-three.txt /var/spool/e2e-watcher/",
    );
    sys.wait_for_log(
        service,
        "processed `/var/spool/e2e-watcher/b-three.txt`: 1 lines",
        1,
        45 * SECOND,
    );
    let journal = sys.journal(service);
    assert!(
        journal.contains("cannot read `/var/spool/e2e-watcher/a-secret.txt` to set it aside"),
        "{journal}"
    );
    let note = sys.run("cat /var/lib/e2e-watcher/failed/a-secret.txt.unreadable");
    assert!(
        note.contains("owner uid 0") && note.contains("mode 0"),
        "{note}"
    );
    sys.wait_for("the run to end", 10 * SECOND, || {
        sys.prop(service, "ActiveState") == "inactive"
    });
    assert_eq!(sys.prop(service, "Result"), "success", "{journal}");
    assert!(sys.run("ls -A /var/spool/e2e-watcher").trim().is_empty());
}

/// The contract the templates do not show, on a real systemd: a task that
/// stops its heartbeats is stopped by the runtime before systemd's watchdog
/// fires (exit status 1, restarted, next start `terminated`); a task that
/// blocks the runtime's thread is killed by systemd's watchdog (restarted,
/// next start `crashed`); a permanent failure (exit status 4) is never
/// restarted.
#[test]
fn watchdog_restarts_a_stalled_task_and_a_permanent_failure_stays_down() {
    let Some((_lock, apps, disk)) = setup("contract") else {
        return;
    };
    let unit = "e2e-contract.service";
    let mut sys = disk.boot();
    sys.watch("e2e-contract*");
    install(&sys, &apps.contract.deb);
    wait_active(&sys, unit);
    assert_eq!(sys.prop(unit, "WatchdogUSec"), "2s");

    // Beating, it outlives the watchdog interval twice over.
    let pid = sys.prop(unit, "MainPID");
    std::thread::sleep(5 * SECOND);
    assert_eq!(sys.prop(unit, "MainPID"), pid, "a live task is left alone");
    assert_eq!(sys.prop(unit, "NRestarts"), "0");

    let sys = &sys;
    let restarted = |n: &'static str| {
        move || sys.prop(unit, "NRestarts") == n && sys.prop(unit, "ActiveState") == "active"
    };
    sys.run("touch /var/lib/e2e-contract/stall");
    sys.wait_for_log(unit, "stalling: no more heartbeats", 1, 5 * SECOND);
    sys.wait_for(
        "the stalled task to be restarted",
        45 * SECOND,
        restarted("1"),
    );
    let journal = sys.journal(unit);
    assert!(journal.contains("stopping (watchdog)"), "{journal}");
    assert!(journal.contains("status=1/FAILURE"), "{journal}");
    assert!(
        !journal.contains("Watchdog timeout"),
        "the runtime ended it first:\n{journal}"
    );
    assert_nth_start(sys, unit, 2, "terminated");

    sys.run("touch /var/lib/e2e-contract/freeze");
    sys.wait_for_log(
        unit,
        "freezing: blocking the runtime's thread",
        1,
        5 * SECOND,
    );
    sys.wait_for(
        "the frozen task to be restarted",
        45 * SECOND,
        restarted("2"),
    );
    sys.wait_for_log(unit, "Watchdog timeout", 1, 5 * SECOND);
    assert_nth_start(sys, unit, 3, "crashed");

    sys.run("touch /var/lib/e2e-contract/permanent");
    sys.wait_for("the permanent failure to end it", 10 * SECOND, || {
        sys.prop(unit, "ActiveState") == "failed"
    });
    assert_eq!(sys.prop(unit, "ExecMainStatus"), "4");
    std::thread::sleep(3 * SECOND);
    assert_eq!(sys.prop(unit, "ActiveState"), "failed", "never restarted");
    assert_eq!(sys.prop(unit, "NRestarts"), "2");
}

/// A lean device's image is built with a plain `chroot`: no `/proc`, no
/// running systemd. The watcher's `.deb` installs into it (its postinst
/// ran `systemd-tmpfiles --create` under `set -e`, which fails without
/// `/proc`), with its user, its spool folder and its path unit enabled
/// for the first boot, as debhelper's scripts leave a package; removal and
/// purge work there too. The chroot is an overlay of this machine's root
/// (Debian 12 with systemd, the image a minbase + systemd bootstrap gives),
/// entered with `chroot` as an image build does.
#[test]
fn watcher_deb_installs_in_a_chroot_without_proc() {
    let Some((_lock, apps, _disk)) = setup("chroot") else {
        return;
    };
    let root = support::ScratchRoot::new().expect("root and unshare, as the suite requires");
    root.put(&apps.watcher.deb, "/root/watcher.deb");
    assert!(!root.exists("/proc/self"), "the chroot has no /proc");
    assert!(!root.exists("/run/systemd/system"), "nor a running systemd");
    root.run("dpkg -i /root/watcher.deb");
    assert_eq!(
        root.run("dpkg-query -W -f '${Status}' e2e-watcher"),
        "install ok installed"
    );
    assert!(root
        .run("getent passwd e2e-watcher")
        .contains(":/usr/sbin/nologin"));
    assert_eq!(
        root.run("stat -c '%U %a' /var/spool/e2e-watcher").trim(),
        "e2e-watcher 770"
    );
    assert!(root.exists("/etc/systemd/system/paths.target.wants/e2e-watcher.path"));
    root.run("dpkg -r e2e-watcher");
    assert!(!root.exists("/etc/systemd/system/paths.target.wants/e2e-watcher.path"));
    root.run("dpkg -P e2e-watcher");
    assert!(!root.exists("/var/spool/e2e-watcher"));
}

/// A path task that crashes at every start ends `failed`, with its path
/// unit, instead of being started by its trigger forever: the runtime
/// refuses a triggered run after a crash loop (exit status 4, never
/// restarted), and the start limit ends the triggers.
#[test]
fn a_crash_looping_path_task_ends_failed() {
    let Some((_lock, apps, disk)) = setup("crashloop") else {
        return;
    };
    let service = "e2e-contract-crashy.service";
    let path = "e2e-contract-crashy.path";
    let mut sys = disk.boot();
    sys.watch("e2e-contract-crashy*");
    install(&sys, &apps.contract.deb);
    wait_active(&sys, path);
    sys.run("touch /run/e2e-contract/crash");
    let sys = &sys;
    // The service is `failed` for a moment after each refused run too,
    // until the path starts it again: the end is the path unit failing
    // (its trigger hit the service's start limit).
    sys.wait_for("the crash loop to end failed", 60 * SECOND, || {
        sys.prop(path, "ActiveState") == "failed" && sys.prop(service, "ActiveState") == "failed"
    });
    assert_eq!(sys.prop(path, "Result"), "unit-start-limit-hit");
    let restarts: u32 = sys.prop(service, "NRestarts").parse().unwrap();
    std::thread::sleep(3 * SECOND);
    assert_eq!(sys.prop(service, "ActiveState"), "failed", "it came back");
    let journal = sys.journal(service);
    assert!(journal.contains("crash loop"), "{journal}");
    assert!(restarts <= 5, "NRestarts={restarts}\n{journal}");
}

/// How many runs of a unit crashed on purpose, from its journal.
fn crashes(sys: &System, unit: &str, needle: &str) -> usize {
    sys.journal(unit).matches(needle).count()
}

/// A timer task and a socket task that crash at every start end `failed`
/// too, and are not run again by their triggers: the runtime refuses a
/// triggered run after a crash loop (exit status 4, never restarted). The
/// timer keeps firing (a later fire, a minute after the last crash, gets
/// its run); the socket's queued connection keeps triggering until the
/// start limit ends the triggers.
#[test]
fn crash_looping_timer_and_socket_tasks_end_failed() {
    let Some((_lock, apps, disk)) = setup("crashloop-kinds") else {
        return;
    };
    let timer_service = "e2e-contract-crashy-timer.service";
    let socket_service = "e2e-contract-crashy-socket.service";
    let socket = "e2e-contract-crashy-socket.socket";
    let mut sys = disk.boot();
    sys.watch("e2e-contract-crashy-*");
    install(&sys, &apps.contract.deb);
    wait_active(&sys, "e2e-contract-crashy-timer.timer");
    wait_active(&sys, socket);
    sys.run("mkdir -p /run/e2e-contract && touch /run/e2e-contract/crash-timer /run/e2e-contract/crash-socket");
    // One connection, queued and never accepted.
    sys.run(
        "python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); \
         s.connect(\"/run/e2e-contract-socket/crashy.sock\")'",
    );
    let sys = &sys;
    for (service, needle) in [
        (timer_service, "task `crashy-timer` panicked"),
        (socket_service, "task `crashy-socket` panicked"),
    ] {
        sys.wait_for(&format!("{service} to refuse a run"), 90 * SECOND, || {
            sys.journal(service).contains("crash loop")
        });
        let crashed = crashes(sys, service, needle);
        assert!(
            crashed <= 5 + 1,
            "{crashed} crashes before the refusal:\n{}",
            sys.journal(service)
        );
    }
    // The timer fires every 2 s; for the next 6 s each fire is refused, not
    // run, and the service is failed between fires.
    let before = crashes(sys, timer_service, "task `crashy-timer` panicked");
    sys.wait_for("a second refusal of the timer's run", 30 * SECOND, || {
        sys.journal(timer_service).matches("crash loop").count() >= 2
    });
    std::thread::sleep(6 * SECOND);
    let journal = sys.journal(timer_service);
    assert_eq!(
        crashes(sys, timer_service, "task `crashy-timer` panicked"),
        before,
        "the timer ran the crashing task again within the minute:\n{journal}"
    );
    assert_eq!(sys.prop(timer_service, "Result"), "exit-code", "{journal}");
    // The socket: its service ends failed and the socket stops triggering
    // it (the queued connection would start it forever otherwise).
    // (Its service is `failed` for a moment after each refused run too:
    // the end is the socket unit failing, on its trigger limit or on the
    // service's start limit, whichever the refused runs reach first.)
    sys.wait_for("the socket's service to end failed", 60 * SECOND, || {
        sys.prop(socket, "ActiveState") == "failed"
            && sys.prop(socket_service, "ActiveState") == "failed"
    });
    let starts = sys.journal(socket_service).matches("crash loop").count();
    std::thread::sleep(3 * SECOND);
    let journal = sys.journal(socket_service);
    assert_eq!(
        sys.prop(socket_service, "ActiveState"),
        "failed",
        "it came back:\n{journal}"
    );
    assert_eq!(
        journal.matches("crash loop").count(),
        starts,
        "the socket kept starting it:\n{journal}"
    );
}
/// Sends `line` to the Unix socket at `path` in the system and returns
/// the line it answers (empty when the connection ends without one).
fn ask_unix(sys: &System, path: &str, line: &str) -> std::process::Output {
    sys.sh(&format!(
        "python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b\"\\n\")
print(s.makefile().readline(), end=\"\")' {path} {line}"
    ))
}

#[track_caller]
fn ask_unix_ok(sys: &System, path: &str, line: &str) -> String {
    let out = ask_unix(sys, path, line);
    assert!(
        out.status.success(),
        "asking {path} `{line}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The entries of `unit`'s journal this boot, as `(PRIORITY, MESSAGE)`.
fn journal_priorities(sys: &System, unit: &str) -> Vec<(String, String)> {
    let json = sys.run(&format!(
        "journalctl --sync 2>/dev/null; journalctl -b -o json --output-fields=PRIORITY,MESSAGE --no-pager -u {unit}"
    ));
    json.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some((
                v.get("PRIORITY")?.as_str()?.to_string(),
                v.get("MESSAGE")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// A daemon as one is packaged (`tests/e2e/contract`, task `daemon`):
/// `listen` in the metadata overrides the attribute's address; `args`
/// reach the task as written; the environment file and the root-only
/// credential reach the process (`task.credential_string`); its warnings
/// and errors, `tracing`'s and the `log` crate's, reach the journal at
/// priorities 4 and 3; and a stop signals the main process
/// only (`KillMode=mixed`), so the helper it runs for a request finishes
/// its work (under `KillMode=control-group` it died with the main
/// process's SIGTERM: `helper ended: signal: 15`).
#[test]
fn a_packaged_daemon_gets_its_keys_kill_mode_and_journal_priorities() {
    let Some((_lock, apps, disk)) = setup("daemon") else {
        return;
    };
    let socket = "e2e-contract-daemon.socket";
    let service = "e2e-contract-daemon.service";
    let mut sys = disk.boot();
    sys.watch("e2e-contract-daemon*");
    sys.run(
        "mkdir -p /etc/e2e-contract
         echo 'E2E_GREETING=hello from the environment file' > /etc/e2e-contract/env
         printf s3cret > /etc/e2e-contract/token
         chmod 0600 /etc/e2e-contract/token",
    );
    // An image build's policy-rc.d that forbids starting services is
    // obeyed (deb-systemd-invoke): the socket is enabled, not started.
    sys.run("printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d");
    install(&sys, &apps.contract.deb);
    assert_eq!(sys.prop(socket, "UnitFileState"), "enabled");
    assert_eq!(sys.prop(socket, "ActiveState"), "inactive");
    // Root-only configuration opened to a group the package created
    // (`supplementary-groups`), as README's "Root-only configuration" says.
    sys.run(
        "mkdir -m 0750 /etc/e2e-contract/private
         echo 'for the group' > /etc/e2e-contract/private/group-only.conf
         chmod 0640 /etc/e2e-contract/private/group-only.conf
         chgrp -R e2e-readers /etc/e2e-contract/private",
    );
    sys.run(&format!(
        "rm /usr/sbin/policy-rc.d && systemctl start {socket}"
    ));
    wait_active(&sys, socket);
    assert_eq!(
        sys.prop(socket, "Listen"),
        "/run/e2e-contract/daemon.sock (Stream)"
    );
    assert_eq!(sys.prop(service, "KillMode"), "mixed");

    let answer = ask_unix_ok(&sys, "/run/e2e-contract/daemon.sock", "show");
    assert_eq!(
        answer,
        "greeting=hello from the environment file token=s3cret args=[\"--mode\", \"two words\", \"$HOME\"] group-only=for the group\n"
    );
    let entries = journal_priorities(&sys, service);
    for (priority, message) in [
        ("4", "daemon: a warning for the journal"),
        ("3", "daemon: an error for the journal"),
        ("4", "daemon: a log-crate warning for the journal"),
        ("3", "daemon: a log-crate error for the journal"),
    ] {
        assert!(
            entries.iter().any(|(p, m)| p == priority && m == message),
            "no `{message}` at priority {priority} in {entries:?}"
        );
    }
    assert!(
        entries
            .iter()
            .any(|(p, m)| p == "6" && m.contains("task `daemon` started")),
        "{entries:?}"
    );

    assert_eq!(
        ask_unix_ok(&sys, "/run/e2e-contract/daemon.sock", "hold"),
        "holding\n"
    );
    sys.wait_for_log(service, "helper started", 1, 10 * SECOND);
    sys.run(&format!("systemctl stop {service}"));
    let journal = sys.journal(service);
    assert!(journal.contains("helper finished its work"), "{journal}");
    assert!(
        journal.contains("daemon: helper ended: exit status: 0"),
        "{journal}"
    );
}

/// What README says of a socket task's permanent failure: the `.socket`
/// stops taking connections until an operator acts, and `systemctl
/// reset-failed NAME.socket NAME.service && systemctl start NAME.socket`
/// brings it back.
#[test]
fn a_socket_task_failing_for_good_stops_its_socket_until_reset() {
    let Some((_lock, apps, disk)) = setup("socket-failure") else {
        return;
    };
    let socket = "e2e-contract-daemon.socket";
    let service = "e2e-contract-daemon.service";
    let mut sys = disk.boot();
    sys.watch("e2e-contract-daemon*");
    sys.run(
        "mkdir -p /etc/e2e-contract
         printf s3cret > /etc/e2e-contract/token
         touch /etc/e2e-contract/fail-at-start",
    );
    install(&sys, &apps.contract.deb);
    wait_active(&sys, socket);
    // The connection starts the service, which fails at start (exit
    // status 4) without taking it; systemd starts it again for the
    // connection still waiting, until a limit ends the socket.
    let refused = ask_unix(&sys, "/run/e2e-contract/daemon.sock", "show");
    assert_eq!(String::from_utf8_lossy(&refused.stdout), "");
    let sys = &sys;
    sys.wait_for("the socket to fail", 60 * SECOND, || {
        sys.prop(socket, "ActiveState") == "failed"
    });
    let states = format!(
        "socket: {} {}, service: {} {} status {} restarts {}",
        sys.prop(socket, "ActiveState"),
        sys.prop(socket, "Result"),
        sys.prop(service, "ActiveState"),
        sys.prop(service, "Result"),
        sys.prop(service, "ExecMainStatus"),
        sys.prop(service, "NRestarts"),
    );
    eprintln!("e2e: after a permanent failure at start: {states}");
    assert_eq!(sys.prop(service, "ExecMainStatus"), "4", "{states}");
    let connect = ask_unix(sys, "/run/e2e-contract/daemon.sock", "show");
    assert!(
        !connect.status.success(),
        "the failed socket took a connection: {states}"
    );

    // The runtime's crash-loop rule refuses a socket-started run within a
    // minute of the last of 5 crashed starts: the operator fixes the
    // cause, lets that minute pass, and resets both units.
    sys.run("rm /etc/e2e-contract/fail-at-start");
    let last_start = Duration::from_micros(
        sys.prop(service, "ExecMainStartTimestampMonotonic")
            .parse()
            .expect("a monotonic timestamp"),
    );
    sys.wait_for("a minute since the last start", 90 * SECOND, || {
        monotonic_now().saturating_sub(last_start) > 61 * SECOND
    });
    sys.run(&format!(
        "systemctl reset-failed {socket} {service} && systemctl start {socket}"
    ));
    let answer = ask_unix_ok(sys, "/run/e2e-contract/daemon.sock", "show");
    assert!(answer.starts_with("greeting= token=s3cret "), "{answer}");
}

/// `CLOCK_MONOTONIC`, which the namespaced systemd shares with this machine.
fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One HTTP/1.1 GET on its own connection to `address`; the whole response.
fn http_get(address: &str, path: &str) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(30 * SECOND))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// An HTTP daemon on a real systemd, for the `http` template and the
/// adopted fixture daemon alike: it starts on the first connection;
/// `READY=1` comes only once it listens (its "listening on" line before
/// systemd's "Started"); a request in flight at `systemctl stop` is
/// answered whole; a usage error (a bad flag, from a drop-in) exits 2
/// and is never restarted. `exec`: the unit's command line; `working`: the
/// debug line the daemon logs when the slow request's work starts.
fn http_daemon_lives(
    sys: &System,
    unit: &str,
    address: &str,
    exec: &str,
    (slow_path, working, answer): (&str, &str, &str),
) {
    let socket = format!("{unit}.socket");
    let service = format!("{unit}.service");
    wait_active(sys, &socket);
    // Debug lines, to see the request's work start (an operator's drop-in).
    sys.run(&format!(
        "mkdir -p /run/systemd/system/{service}.d
         printf '[Service]\\nEnvironment=BGAPP_LOG=debug\\n' > /run/systemd/system/{service}.d/debug.conf
         systemctl daemon-reload"
    ));
    assert_eq!(sys.prop(&service, "ActiveState"), "inactive");
    let health = http_get(address, "/health").expect("the socket answers");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    wait_active(sys, &service);
    let journal = sys.journal(&service);
    let listening = journal.find("listening on").expect("it logs its address");
    let started = journal.find("Started ").expect("systemd logs the start");
    assert!(
        listening < started,
        "READY=1 before the socket was bound:\n{journal}"
    );

    let request = {
        let (address, path) = (address.to_string(), slow_path.to_string());
        std::thread::spawn(move || http_get(&address, &path))
    };
    sys.wait_for_log(&service, working, 1, 20 * SECOND);
    sys.run(&format!("systemctl stop {service}"));
    let response = request
        .join()
        .expect("the request's thread")
        .expect("answered, not dropped");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(answer), "{response}");

    sys.run(&format!(
        "mkdir -p /run/systemd/system/{service}.d
         printf '[Service]\\nExecStart=\\nExecStart={exec} --bogus-flag\\n' \
             > /run/systemd/system/{service}.d/usage.conf
         systemctl daemon-reload"
    ));
    let _ = sys.sh(&format!("systemctl start {service}"));
    sys.wait_for("the usage error to end it", 20 * SECOND, || {
        sys.prop(&service, "ActiveState") == "failed"
    });
    assert_eq!(sys.prop(&service, "ExecMainStatus"), "2");
    std::thread::sleep(3 * SECOND);
    assert_eq!(
        sys.prop(&service, "ActiveState"),
        "failed",
        "never restarted"
    );
    assert_eq!(sys.prop(&service, "NRestarts"), "0");
}

/// The `http` template: socket activation, readiness after bind, a request
/// in flight at stop answered whole, a usage error not restarted.
#[test]
fn http_template_serves_stops_gracefully_and_refuses_bad_usage() {
    let Some((_lock, apps, disk)) = setup("http") else {
        return;
    };
    let mut sys = disk.boot();
    sys.watch("e2e-http*");
    install(&sys, &apps.http.deb);
    http_daemon_lives(
        &sys,
        "e2e-http",
        &apps.http_address,
        "/usr/bin/e2e-http e2e-http",
        ("/work/3000", "working 3000 ms", "worked 3000 ms\n"),
    );
}

/// The adopted fixture daemon (`tests/fixtures/adopt/bgapp`), packaged with
/// `listen` and `args` in its metadata: the same as the template, with the
/// request's work done by a helper process (`sh -c 'sleep 2; echo probed'`)
/// that the stop must not kill (`KillMode=mixed`).
#[test]
fn adopted_daemon_serves_stops_gracefully_and_refuses_bad_usage() {
    let Some((_lock, apps, disk)) = setup("adopt") else {
        return;
    };
    let mut sys = disk.boot();
    sys.watch("adopt-exporter*");
    install(&sys, &apps.adopt.deb);
    http_daemon_lives(
        &sys,
        "adopt-exporter",
        &apps.adopt_address,
        "/usr/bin/adopt-exporter adopt-exporter",
        ("/metrics", "running the probe", "probed\n"),
    );
}
