//! `cargo bgapp logs HOST`: the app's journal on the device (journalctl
//! over ssh); `-f` follows it until interrupted.
//!
//! Layer: commands.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::{HostsArgs, LogsArgs};
use crate::deploy::remote;
use crate::deploy::ssh::quote;
use crate::shell::Shell;

pub fn run(args: LogsArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    let hosts = HostsArgs {
        hosts: vec![args.host.clone()],
        ..HostsArgs::default()
    };
    let fleet = super::reach_fleet(&args.app, &hosts, &args.ssh, shell)?;
    let (spec, reached) = &fleet.hosts[0];
    let Ok((session, probe)) = reached else {
        bail!("cannot read the journal of `{spec}`");
    };
    let units = match &args.task {
        Some(task) => super::task_units(session, probe, task)?,
        None => remote::installed_units(session, &fleet.package).map_err(anyhow::Error::msg)?,
    };
    if units.is_empty() {
        bail!(
            "`{}` is not installed on `{spec}`\n\nhelp: install it with `cargo bgapp deploy {spec}`",
            fleet.package
        );
    }
    let mut script = format!("exec journalctl --no-pager -o short-iso -n {}", args.lines);
    if args.follow {
        script.push_str(" -f");
    }
    for u in &units {
        script.push_str(" -u ");
        script.push_str(&quote(u));
    }
    let code = session
        .run_attached(&script, probe.sudo_to_read())
        .map_err(|e| anyhow::anyhow!("`{spec}`: {e}"))?;
    Ok(if code == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
