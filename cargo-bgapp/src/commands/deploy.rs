//! `cargo bgapp deploy`: build the app for each device's architecture,
//! install it over SSH, gate on its health, roll back what fails (the work
//! is in `deploy/`).
//!
//! Layer: commands. The order: everything local is checked first (the
//! metadata, the hosts, the packaging preflight); then every host is
//! reached and probed at once (an unreachable host, a refused key, a sudo
//! that would prompt or an architecture without a Rust target fails that
//! host in one line, and does not count toward `--max-failures`: it says
//! nothing of the release); then one bundle is built per architecture;
//! then the rollout ([`Rollout`]) takes the hosts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::cli::{DeployArgs, MessageFormat};
use crate::deploy::core::{default_triple, HostSpec, Policy, Rollout, Slot};
use crate::deploy::host::{self, Artifact, HostOptions, Outcome, Rollback};
use crate::deploy::hosts::{self, DeployConfig};
use crate::deploy::remote::{Kind, Probe};
use crate::deploy::ssh::{Masters, Session};
use crate::package::config::Config;
use crate::package::{deb, strip, tarball, Plan};
use crate::project::tasks::load_tasks;
use crate::project::{Project, Selection};
use crate::shell::Shell;

/// One host's line of the summary, and of `--message-format json`.
#[derive(Serialize, Default)]
struct HostReport {
    host: String,
    arch: Option<String>,
    old_version: Option<String>,
    new_version: Option<String>,
    /// `succeeded`, `unchanged`, `failed`, `skipped`, `unreachable` (ssh
    /// failed), `refused` (reached, but no sudo, dpkg, systemd or target).
    result: &'static str,
    /// For a failed host, what became of it: `rolled back to <version>,
    /// which is active again`, `removed it again ...`, `left as it is
    /// (--no-rollback)`, `no rollback: <why>` or `the rollback failed: <why>`.
    rollback: Option<String>,
    error: Option<String>,
    seconds: f64,
}

pub fn run(args: DeployArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    if args.build.target.len() > 1 {
        bail!(
            "`deploy` takes one `--target`; each host gets the target of its architecture\n\nhelp: leave out `--target`, or give the one every host is built for"
        );
    }
    crate::deploy::timing(format_args!("deploy started"));
    let selection = args.build.selection();
    let project = Project::resolve(&selection)?;
    let manifest = project.package.manifest_path.to_string();
    let config = Config::from_metadata(&project.package.metadata, &manifest)?;
    let deploy_config = DeployConfig::from_metadata(&project.package.metadata, &manifest)?;
    let specs = hosts::select(
        &args.hosts.hosts,
        args.hosts.hosts_file.as_deref(),
        &args.hosts.group,
        &deploy_config,
    )?;
    let settle = duration("--settle", &args.settle)?;
    let start_timeout = duration("--start-timeout", &args.start_timeout)?;
    let preflight = crate::package::preflight(&project, &config)?;
    preflight.maintainer.clone()?;
    let ssh_options = super::ssh_options(&args.ssh, &deploy_config)?;
    let package = crate::deploy::deb_name(project.name());

    crate::deploy::timing(format_args!("project resolved, packaging checked"));
    let started = Instant::now();
    let masters = Masters::new()?;
    shell.status("Connecting", format_args!("to {} host(s)", specs.len()));
    let mut reports: Vec<HostReport> = specs
        .iter()
        .map(|spec| HostReport {
            host: spec.to_string(),
            ..HostReport::default()
        })
        .collect();
    // The hosts that go on, by their index in `specs`: session, probe,
    // triple.
    let mut ready: Vec<Option<(Session, Probe, Option<String>)>> =
        specs.iter().map(|_| None).collect();
    // One bundle per target, built in order (cargo builds one at a time):
    // for the first host of a target as soon as it is probed, while the
    // others are still being reached.
    let mut artifacts: BTreeMap<Option<String>, Result<Artifact, String>> = BTreeMap::new();
    let reached = |i: usize, result: crate::deploy::Reached, took: Duration| {
        let spec = &specs[i];
        let report = &mut reports[i];
        report.seconds = took.as_secs_f64();
        let mut result_name = "unreachable";
        let checked = result
            .map_err(|e| e.to_string())
            .and_then(|(session, probe)| {
                result_name = "refused";
                report.arch = probe.deb_arch.clone();
                report.old_version = probe.installed_version().map(String::from);
                if let Some(why) = crate::deploy::unusable(&probe) {
                    session.close();
                    return Err(why);
                }
                match triple_for(&probe, &project, selection.target.as_deref()) {
                    Ok(triple) => Ok((session, probe, triple)),
                    Err(why) => {
                        session.close();
                        Err(why)
                    }
                }
            });
        match checked {
            Ok((session, probe, triple)) => {
                if !artifacts.contains_key(&triple) {
                    let kinds = match probe.kind() {
                        Kind::Deb => (true, false),
                        Kind::Tar => (false, true),
                    };
                    let built = build_for(
                        &selection,
                        triple.as_deref(),
                        kinds,
                        &config,
                        &project,
                        shell,
                    );
                    artifacts.insert(triple.clone(), built);
                }
                ready[i] = Some((session, probe, triple));
            }
            Err(why) => {
                shell.error(&anyhow::anyhow!("`{spec}`: {why}"));
                report.result = result_name;
                report.error = Some(why);
            }
        }
    };
    crate::deploy::reach_each(&specs, &ssh_options, &masters, &package, reached);
    crate::deploy::timing(format_args!("every host reached and probed"));
    let ready: Vec<(usize, Session, Probe, Option<String>)> = ready
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|(session, probe, triple)| (i, session, probe, triple)))
        .collect();
    // A target built for a host with dpkg whose other hosts have none
    // (or the other way round) needs the other bundle too.
    for (triple, artifact) in artifacts.iter_mut() {
        let Ok(built) = artifact else { continue };
        let (deb, tar) = ready.iter().filter(|(_, _, _, t)| t == triple).fold(
            (false, false),
            |(deb, tar), (_, _, probe, _)| match probe.kind() {
                Kind::Deb => (true, tar),
                Kind::Tar => (deb, true),
            },
        );
        let missing = (deb && built.deb.is_empty(), tar && built.tar.is_empty());
        if missing == (false, false) {
            continue;
        }
        match build_for(
            &selection,
            triple.as_deref(),
            missing,
            &config,
            &project,
            shell,
        ) {
            Ok(more) => {
                if missing.0 {
                    built.deb = more.deb;
                }
                if missing.1 {
                    built.tar = more.tar;
                }
            }
            Err(e) => *artifact = Err(e),
        }
    }

    let host_options = HostOptions {
        settle,
        start_timeout,
        force: args.force,
        rollback: !args.no_rollback,
    };
    let policy = Policy {
        canary: args.canary as usize,
        parallel: args.parallel as usize,
        max_failures: args.max_failures as usize,
    };
    rollout(
        &ready,
        &artifacts,
        &host_options,
        policy,
        &mut reports,
        shell,
    );
    crate::deploy::timing(format_args!("every host done"));
    for (_, session, _, _) in &ready {
        session.close();
    }
    drop(masters);
    crate::deploy::timing(format_args!("connections closed"));

    print_reports(&reports, args.message_format)?;
    let good = reports
        .iter()
        .filter(|r| matches!(r.result, "succeeded" | "unchanged"))
        .count();
    let elapsed = started.elapsed().as_secs_f64();
    if good == reports.len() {
        shell.status(
            "Deployed",
            format_args!(
                "`{package}` to {good} of {} host(s) in {elapsed:.1}s",
                reports.len()
            ),
        );
        Ok(ExitCode::SUCCESS)
    } else {
        bail!(
            "deploy failed on {} of {} host(s)",
            reports.len() - good,
            reports.len()
        )
    }
}

fn duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    bgapp_manifest::parse_duration(text).map_err(|e| {
        anyhow::anyhow!("invalid `{flag}` `{text}`: {e}\n\nhelp: write a duration such as `10s`, `500ms` or `0`")
    })
}

/// The target to build for a host: `--target` (which must match it), the
/// host's own when it is this machine's architecture (`None`: cargo's
/// default, sharing `cargo bgapp package`'s build), else the default
/// triple of its architecture, which must be installed.
fn triple_for(
    probe: &Probe,
    project: &Project,
    explicit: Option<&str>,
) -> Result<Option<String>, String> {
    let arch = probe.deb_arch.as_deref().unwrap_or_default();
    if let Some(triple) = explicit {
        if project.target.deb_arch != arch {
            return Err(format!(
                "it is `{arch}` ({}), but `--target {triple}` builds for `{}`\n\nhelp: leave out `--target` to build for each host's architecture",
                probe.machine, project.target.deb_arch
            ));
        }
        return Ok(Some(triple.to_string()));
    }
    if project.target.deb_arch == arch {
        return Ok(None);
    }
    let Some(triple) = default_triple(arch) else {
        return Err(format!(
            "it is `{arch}` ({}), an architecture bgapp has no Rust target for",
            probe.machine
        ));
    };
    if !target_installed(triple) {
        return Err(format!(
            "it is `{arch}` ({}), and the Rust target for it is not installed\n\nhelp: run `rustup target add {triple}`",
            probe.machine
        ));
    }
    Ok(Some(triple.to_string()))
}

/// Whether the standard library of `triple` is installed (rustup's
/// `lib/rustlib/<triple>/lib` in the sysroot).
fn target_installed(triple: &str) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
    else {
        return false;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    sysroot
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
}

/// [`build`], its error said and kept as text for the hosts' reports.
fn build_for(
    selection: &Selection,
    triple: Option<&str>,
    kinds: (bool, bool),
    config: &Config,
    host_project: &Project,
    shell: &Shell,
) -> Result<Artifact, String> {
    build(selection, triple, kinds, config, host_project, shell).map_err(|e| {
        shell.error(&e);
        format!("{e:#}")
    })
}

/// Builds and packages the bundles for `triple` (None: the default
/// target): `kinds` says whether hosts need the `.deb` (dpkg) and the
/// tarball (no dpkg).
fn build(
    selection: &Selection,
    triple: Option<&str>,
    kinds: (bool, bool),
    config: &Config,
    host_project: &Project,
    shell: &Shell,
) -> anyhow::Result<Artifact> {
    let resolved;
    let project = if triple == selection.target.as_deref() {
        host_project
    } else {
        let mut s = selection.clone();
        s.target = triple.map(String::from);
        resolved = Project::resolve(&s)?;
        &resolved
    };
    let built = project.build(shell)?;
    crate::deploy::timing(format_args!("built ({})", project.target.triple));
    let loaded = load_tasks(project, built)?;
    let mut binaries = loaded.binaries;
    let scratch = project.target_dir.join("bgapp");
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("failed to create `{}`", scratch.display()))?;
    for (name, bin) in &mut binaries {
        if bin.unstripped && config.strip != Some(false) {
            if let Some(why) = strip::strip(bin, project.target.deb_arch, &scratch)? {
                shell.warn(format_args!("`{name}` keeps its symbols: {why}"));
            }
        }
    }
    crate::deploy::timing(format_args!("tasks read, binaries stripped"));
    let plan = Plan::new(project, config, binaries)?;
    shell.status(
        "Packaging",
        format_args!("{} v{} ({})", plan.stem, plan.version, plan.triple),
    );
    let (deb, tar) = match kinds {
        (true, true) => std::thread::scope(|s| {
            let tar = s.spawn(|| tarball::build(&plan));
            let deb = deb::build_fast(&plan);
            let tar = tar
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a packaging thread panicked")));
            (deb, tar)
        }),
        (true, false) => (deb::build_fast(&plan), Ok(Vec::new())),
        (false, _) => (Ok(Vec::new()), tarball::build(&plan)),
    };
    let (deb, tar) = (deb?, tar?);
    crate::deploy::timing(format_args!("packaged"));
    Ok(Artifact {
        package: plan.deb_name.clone(),
        version: plan.deb_version.clone(),
        deb,
        tar,
        units: plan.units.clone(),
    })
}

/// Takes the hosts in the order the rollout says, each in a thread.
fn rollout(
    ready: &[(usize, Session, Probe, Option<String>)],
    artifacts: &BTreeMap<Option<String>, Result<Artifact, String>>,
    options: &HostOptions,
    policy: Policy,
    reports: &mut [HostReport],
    shell: &Shell,
) {
    let mut plan = Rollout::new(policy, ready.len());
    let (tx, rx) = mpsc::channel::<(usize, Outcome, f64)>();
    std::thread::scope(|s| {
        while !plan.done() {
            while let Some(i) = plan.start_next() {
                let (_, session, probe, triple) = &ready[i];
                let artifact = &artifacts[triple];
                let tx = tx.clone();
                let host = session.spec.to_string();
                s.spawn(move || {
                    let start = Instant::now();
                    let outcome = match artifact {
                        Ok(artifact) => {
                            let progress = |verb: &str, what: String| {
                                shell.status(verb, format_args!("`{host}`: {what}"))
                            };
                            host::deploy(session, probe, artifact, options, &progress)
                        }
                        Err(why) => Outcome::Failed {
                            why: format!("the build failed: {why}"),
                            detail: String::new(),
                            rollback: Rollback::Impossible("nothing was installed".into()),
                        },
                    };
                    let _ = tx.send((i, outcome, start.elapsed().as_secs_f64()));
                });
            }
            let Ok((i, outcome, seconds)) = rx.recv() else {
                break;
            };
            let (index, session, _, triple) = &ready[i];
            let report = &mut reports[*index];
            report.seconds += seconds;
            report.new_version = artifacts[triple].as_ref().ok().map(|a| a.version.clone());
            let succeeded = record(report, outcome, &session.spec, shell);
            plan.finish(i, succeeded);
        }
    });
    for (i, (index, _, _, _)) in ready.iter().enumerate() {
        if plan.slot(i) == Slot::Skipped {
            let report = &mut reports[*index];
            report.result = "skipped";
            report.new_version = None;
            report.error = Some(match plan.halt() {
                Some(crate::deploy::core::Halt::CanaryFailed) => {
                    "not started: the canary failed".into()
                }
                _ => "not started: too many hosts failed (`--max-failures`)".into(),
            });
        }
    }
}

/// Puts a host's outcome in its report and says it; whether it succeeded.
fn record(report: &mut HostReport, outcome: Outcome, spec: &HostSpec, shell: &Shell) -> bool {
    match outcome {
        Outcome::Succeeded => {
            report.result = "succeeded";
            shell.status("Healthy", format_args!("`{spec}`"));
            true
        }
        Outcome::Unchanged => {
            report.result = "unchanged";
            shell.status(
                "Unchanged",
                format_args!(
                    "`{spec}` already has {}; nothing to do (`--force` installs it again)",
                    report.old_version.as_deref().unwrap_or("it")
                ),
            );
            true
        }
        Outcome::Failed {
            why,
            detail,
            rollback,
        } => {
            report.result = "failed";
            let rollback = match rollback {
                Rollback::Restored(v) => format!("rolled back to {v}, which is active again"),
                Rollback::Removed => "removed it again (`dpkg -r`; its state is kept)".into(),
                Rollback::Disabled => "left as it is (`--no-rollback`)".into(),
                Rollback::Impossible(why) => format!("no rollback: {why}"),
                Rollback::Failed(why) => format!("the rollback failed: {why}"),
            };
            let mut message = format!("`{spec}`: {why}; {rollback}");
            if !detail.is_empty() {
                message.push_str("\n\n");
                for line in detail.lines() {
                    message.push_str("    ");
                    message.push_str(line);
                    message.push('\n');
                }
            }
            shell.error(&anyhow::anyhow!("{}", message.trim_end()));
            report.error = Some(why);
            report.rollback = Some(rollback);
            false
        }
    }
}

fn print_reports(reports: &[HostReport], format: MessageFormat) -> anyhow::Result<()> {
    match format {
        MessageFormat::Json => {
            for r in reports {
                println!("{}", serde_json::to_string(r)?);
            }
        }
        MessageFormat::Human => {
            let rows: Vec<[String; 5]> = reports
                .iter()
                .map(|r| {
                    let old = r.old_version.as_deref().unwrap_or("-");
                    let version = match &r.new_version {
                        Some(new) => format!("{old} -> {new}"),
                        None => old.to_string(),
                    };
                    let result = match (&r.rollback, r.result) {
                        (Some(rb), "failed") if rb.starts_with("rolled back") => {
                            "failed, rolled back".to_string()
                        }
                        (_, result) => result.to_string(),
                    };
                    [
                        r.host.clone(),
                        r.arch.clone().unwrap_or_else(|| "-".into()),
                        version,
                        result,
                        format!("{:.1}s", r.seconds),
                    ]
                })
                .collect();
            super::print_table(&["HOST", "ARCH", "VERSION", "RESULT", "TIME"], &rows);
        }
    }
    Ok(())
}
