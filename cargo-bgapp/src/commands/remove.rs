//! `cargo bgapp remove`: uninstall the app from devices (`dpkg -r`;
//! `--purge`: `dpkg -P`, which also deletes `/var/lib/<package>`), and the
//! bundles `deploy` kept for rollback.
//!
//! Layer: commands.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::RemoveArgs;
use crate::deploy::remote;
use crate::shell::Shell;

pub fn run(args: RemoveArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    let fleet = super::reach_fleet(&args.app, &args.hosts, &args.ssh, shell)?;
    let mut failed = 0;
    std::thread::scope(|s| {
        let handles: Vec<_> = fleet
            .hosts
            .iter()
            .map(|(spec, reached)| {
                let package = &fleet.package;
                s.spawn(move || -> Result<bool, String> {
                    let (session, probe) = reached.as_ref().map_err(|_| String::new())?;
                    if let Some(why) = crate::deploy::unusable(probe) {
                        return Err(format!("`{spec}`: {why}"));
                    }
                    remote::uninstall(session, probe.sudo(), probe.kind(), package, args.purge)
                        .map_err(|e| format!("`{spec}`: {e}"))
                })
            })
            .collect();
        for ((spec, _), h) in fleet.hosts.iter().zip(handles) {
            match h.join().unwrap_or_else(|_| Err("a thread panicked".into())) {
                Ok(true) => shell.status(
                    if args.purge { "Purged" } else { "Removed" },
                    format_args!("`{}` from `{spec}`", fleet.package),
                ),
                Ok(false) => shell.status(
                    "Skipped",
                    format_args!("`{}` is not installed on `{spec}`", fleet.package),
                ),
                Err(why) => {
                    failed += 1;
                    if !why.is_empty() {
                        shell.error(&anyhow::anyhow!("{why}"));
                    }
                }
            }
        }
    });
    if failed > 0 {
        bail!("remove failed on {failed} of {} host(s)", fleet.hosts.len());
    }
    Ok(ExitCode::SUCCESS)
}
