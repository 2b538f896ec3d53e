//! One host's deploy: install, health gate, and commit or roll back.
//!
//! 1. The same version already installed (and fully configured): nothing
//!    to do, unless forced.
//! 2. The bundle is copied over the host's connection and installed
//!    (`dpkg -i`, or the tarball's `install.sh` where there is no dpkg).
//! 3. The health gate ([`Gate`]) polls `systemctl show` of the gated
//!    units (at once, then at growing intervals) until they are all
//!    active and have settled, or one failed.
//! 4. Passed: the bundle is kept as the one to roll back to. Failed: the
//!    failing unit's status and journal are kept for the report, and the
//!    version installed before comes back from its kept bundle (and must
//!    pass the gate too); after a failed first install the package is
//!    removed (`dpkg -r`, which keeps its state). `--no-rollback` leaves
//!    the failed version in place for inspection.

use std::time::{Duration, Instant};

use super::core::{gated_units, Gate, Verdict};
use super::remote::{self, Kind, Probe};
use super::ssh::Session;

/// What is deployed: the bundles, built for the host's architecture.
pub struct Artifact {
    /// The Debian package name.
    pub package: String,
    /// The Debian version (`0.2.0-1`), compared with the installed one.
    pub version: String,
    pub deb: Vec<u8>,
    /// The `.tar.gz`, for hosts without dpkg.
    pub tar: Vec<u8>,
    pub units: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
pub struct HostOptions {
    pub settle: Duration,
    /// How long units may take to become active.
    pub start_timeout: Duration,
    pub force: bool,
    pub rollback: bool,
}

#[derive(Debug)]
pub enum Outcome {
    Succeeded,
    /// The version was already installed: nothing was done.
    Unchanged,
    Failed {
        why: String,
        /// The failing unit's status and journal lines.
        detail: String,
        rollback: Rollback,
    },
}

#[derive(Debug)]
pub enum Rollback {
    /// The previous version is installed and active again.
    Restored(String),
    /// Nothing was installed before: the failed version was removed.
    Removed,
    /// `--no-rollback`: the failed version stays.
    Disabled,
    /// Nothing to go back to (why).
    Impossible(String),
    /// The rollback failed too (why).
    Failed(String),
}

/// How often the gate looks: at once after the install (whose `dpkg -i`
/// waited for the restart), then after this, twice as long each time up
/// to [`POLL_MAX`]. Each look is one `systemctl show` in the shell the
/// connection keeps open, no new SSH session.
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(200);

/// Journal lines shown of a failed unit.
const JOURNAL_LINES: usize = 20;

pub fn deploy(
    session: &Session,
    probe: &Probe,
    artifact: &Artifact,
    options: &HostOptions,
    progress: &dyn Fn(&str, String),
) -> Outcome {
    let sudo = probe.sudo();
    if let Some((installed, true)) = &probe.installed {
        if *installed == artifact.version && !options.force {
            return Outcome::Unchanged;
        }
    }
    progress(
        "Installing",
        format!("{} {}", artifact.package, artifact.version),
    );
    let bundle = match probe.kind() {
        Kind::Deb => &artifact.deb,
        Kind::Tar => &artifact.tar,
    };
    if let Err(why) = remote::install(session, probe, &artifact.package, &artifact.units, bundle) {
        return fail(
            session,
            probe,
            &artifact.units,
            options,
            why,
            String::new(),
            progress,
        );
    }
    super::timing(format_args!("`{}`: copied and installed", session.spec));
    progress(
        "Checking",
        format!("health (settle {}s)", options.settle.as_secs_f64()),
    );
    let units = gated_units(&artifact.units);
    match gate(session, &units, options) {
        Ok(()) => {}
        Err((unit, why)) => {
            let detail = unit
                .as_deref()
                .map(|u| remote::diagnose(session, sudo, u, JOURNAL_LINES))
                .unwrap_or_default();
            return fail(
                session,
                probe,
                &artifact.units,
                options,
                why,
                detail,
                progress,
            );
        }
    }
    super::timing(format_args!("`{}`: healthy", session.spec));
    if let Err(why) = remote::commit(
        session,
        sudo,
        probe.kind(),
        &artifact.package,
        &artifact.version,
        &artifact.units,
    ) {
        return Outcome::Failed {
            why: format!("installed and healthy, but keeping its bundle failed: {why}"),
            detail: String::new(),
            rollback: Rollback::Disabled,
        };
    }
    super::timing(format_args!("`{}`: bundle kept", session.spec));
    Outcome::Succeeded
}

/// Polls the units until the gate decides; the unit to show and why when
/// it fails.
fn gate(
    session: &Session,
    units: &[String],
    options: &HostOptions,
) -> Result<(), (Option<String>, String)> {
    if units.is_empty() {
        return Ok(());
    }
    let clock = Instant::now();
    let mut gate = Gate::new(
        Duration::ZERO,
        options.settle,
        options.settle + options.start_timeout,
    );
    let mut pause = POLL_FIRST;
    loop {
        let states = remote::unit_states(session, units).map_err(|e| (None, e))?;
        match gate.observe(clock.elapsed(), &states) {
            Verdict::Healthy => return Ok(()),
            Verdict::Unhealthy { unit, why } => {
                return Err((Some(unit.clone()), format!("`{unit}` {why}")))
            }
            Verdict::Wait => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(POLL_MAX);
            }
        }
    }
}

fn fail(
    session: &Session,
    probe: &Probe,
    failed_units: &[String],
    options: &HostOptions,
    why: String,
    detail: String,
    progress: &dyn Fn(&str, String),
) -> Outcome {
    let rollback = if options.rollback {
        roll_back(session, probe, failed_units, options, progress)
    } else {
        Rollback::Disabled
    };
    Outcome::Failed {
        why,
        detail,
        rollback,
    }
}

fn roll_back(
    session: &Session,
    probe: &Probe,
    failed_units: &[String],
    options: &HostOptions,
    progress: &dyn Fn(&str, String),
) -> Rollback {
    let sudo = probe.sudo();
    let package = &probe.package;
    let Some(before) = probe.installed_version() else {
        progress(
            "Removing",
            "the failed version (nothing was installed before)".into(),
        );
        return match remote::remove_failed(session, sudo, probe.kind(), package) {
            Ok(()) => Rollback::Removed,
            Err(e) => Rollback::Failed(format!("`dpkg -r` failed: {e}")),
        };
    };
    if probe.kept.as_deref() != Some(before) {
        return Rollback::Impossible(format!(
            "no bundle of {before} is kept on the device (it was not installed by `cargo bgapp deploy`)"
        ));
    }
    progress("Rolling back", format!("to {before}"));
    // The kept version's units, and the failed one's, which may differ.
    let mut units = match remote::installed_units(session, package) {
        Ok(u) => u,
        Err(e) => return Rollback::Failed(e),
    };
    let kept_units = units.clone();
    units.extend(failed_units.iter().cloned());
    units.sort();
    units.dedup();
    if let Err(e) = remote::reinstall_kept(session, sudo, probe.kind(), package, &units) {
        return Rollback::Failed(format!("`dpkg -i` of {before} failed: {e}"));
    }
    match gate(session, &gated_units(&kept_units), options) {
        Ok(()) => Rollback::Restored(before.to_string()),
        Err((_, why)) => Rollback::Failed(format!("{before} is not healthy either: {why}")),
    }
}
