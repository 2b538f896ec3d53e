//! `cargo bgapp status`: per host and unit of the app, the installed
//! version, the unit's state, main PID, restarts, the previous execution
//! state the current run started with, and its last `STATUS=`.
//!
//! Layer: commands.

use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{MessageFormat, StatusArgs};
use crate::deploy::remote::{self, UnitStatus};
use crate::shell::Shell;

#[derive(Serialize)]
struct HostStatus {
    host: String,
    arch: Option<String>,
    version: Option<String>,
    units: Vec<UnitStatus>,
    error: Option<String>,
}

pub fn run(args: StatusArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    let fleet = super::reach_fleet(&args.app, &args.hosts, &args.ssh, shell)?;
    let mut statuses = Vec::new();
    for (spec, reached) in &fleet.hosts {
        let mut status = HostStatus {
            host: spec.to_string(),
            arch: None,
            version: None,
            units: Vec::new(),
            error: None,
        };
        match reached {
            Err(why) => status.error = Some(why.clone()),
            Ok((session, probe)) => {
                status.arch = probe.deb_arch.clone();
                status.version = probe.installed_version().map(String::from);
                let units = remote::installed_units(session, &fleet.package)
                    .and_then(|units| remote::unit_statuses(session, probe.sudo_to_read(), &units));
                match units {
                    Ok(units) => status.units = units,
                    Err(why) => {
                        shell.error(&anyhow::anyhow!("`{spec}`: {why}"));
                        status.error = Some(why);
                    }
                }
            }
        }
        statuses.push(status);
    }
    match args.message_format {
        MessageFormat::Json => {
            for s in &statuses {
                println!("{}", serde_json::to_string(s)?);
            }
        }
        MessageFormat::Human => {
            let mut rows = Vec::new();
            for s in &statuses {
                let version = s.version.clone().unwrap_or_else(|| "-".into());
                if s.units.is_empty() {
                    let what = match &s.error {
                        Some(_) => "unreachable".to_string(),
                        None => "not installed".to_string(),
                    };
                    rows.push([
                        s.host.clone(),
                        version.clone(),
                        "-".into(),
                        "-".into(),
                        what,
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        String::new(),
                    ]);
                }
                for u in &s.units {
                    rows.push([
                        s.host.clone(),
                        version.clone(),
                        u.unit.clone(),
                        if u.task.is_empty() {
                            "-".into()
                        } else {
                            u.task.clone()
                        },
                        format!("{} ({})", u.active_state, u.sub_state),
                        if u.main_pid == 0 {
                            "-".into()
                        } else {
                            u.main_pid.to_string()
                        },
                        u.restarts.to_string(),
                        u.previous_execution.clone().unwrap_or_else(|| "-".into()),
                        u.status_text.clone(),
                    ]);
                }
            }
            super::print_table(
                &[
                    "HOST", "VERSION", "UNIT", "TASK", "STATE", "PID", "RESTARTS", "PREVIOUS",
                    "STATUS",
                ],
                &rows,
            );
        }
    }
    if statuses.iter().any(|s| s.error.is_some()) {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
