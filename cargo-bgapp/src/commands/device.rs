//! `cargo bgapp enable|disable HOST TASK`: whether a task of the app
//! starts at boot on a device (`systemctl enable`/`disable` of its unit:
//! a boot task's service, a timer's, socket's or path's trigger unit), as
//! `iotstartup add`/`remove` does. The running state is left as it is.
//!
//! Layer: commands.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::{EnableArgs, HostsArgs};
use crate::deploy::core::gated_units;
use crate::deploy::ssh::quote;
use crate::shell::Shell;

pub fn enable(args: EnableArgs, on: bool, shell: &Shell) -> anyhow::Result<ExitCode> {
    let hosts = HostsArgs {
        hosts: vec![args.host.clone()],
        ..HostsArgs::default()
    };
    let fleet = super::reach_fleet(&args.app, &hosts, &args.ssh, shell)?;
    let (spec, reached) = &fleet.hosts[0];
    let Ok((session, probe)) = reached else {
        bail!("cannot reach `{spec}`");
    };
    if let Some(why) = crate::deploy::unusable(probe) {
        bail!("`{spec}`: {why}");
    }
    let units = gated_units(&super::task_units(session, probe, &args.task)?);
    let verb = if on { "enable" } else { "disable" };
    let script = format!(
        "systemctl {verb} {} 2>&1",
        units.iter().map(|u| quote(u)).collect::<Vec<_>>().join(" ")
    );
    let out = session
        .run(&script, probe.sudo(), None)
        .map_err(|e| anyhow::anyhow!("`{spec}`: {e}"))?;
    if !out.status.success() {
        bail!(
            "`systemctl {verb}` failed on `{spec}`:\n{}",
            crate::deploy::remote::last_lines(&out.stdout, 6)
        );
    }
    shell.status(
        if on { "Enabled" } else { "Disabled" },
        format_args!(
            "task `{}` ({}) at boot on `{spec}`",
            args.task,
            units.join(", ")
        ),
    );
    Ok(ExitCode::SUCCESS)
}
