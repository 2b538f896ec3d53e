//! `cargo bgapp package`: build the binary, read its tasks, and write a
//! `.deb` and a `.tar.gz` with generated, hardened systemd units (the work
//! is in `package/`).
//!
//! Layer: commands. Everything that can be wrong is checked before anything
//! is written (the output directory before the build, so a long build is
//! not wasted), and each bundle is written to a temporary file in the
//! output directory and renamed into place, so no partial bundle is ever
//! left behind.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::{Format, MessageFormat, PackageArgs};
use crate::package::config::Config;
use crate::package::{deb, strip, tarball, Plan};
use crate::project::binary::Binary;
use crate::project::tasks::load_tasks;
use crate::project::Project;
use crate::shell::Shell;

/// One line of `--message-format json`.
#[derive(Serialize)]
struct BundleMessage<'a> {
    path: &'a Path,
    format: &'static str,
    sha256: String,
    size: u64,
    tasks: &'a [String],
    units: &'a [String],
}

/// A bundle, built in memory: its format, where it goes, its bytes.
type Bundle = (&'static str, PathBuf, Vec<u8>);

pub fn run(args: PackageArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    let project = Project::resolve(&args.build.selection())?;
    let config = Config::from_metadata(
        &project.package.metadata,
        project.package.manifest_path.as_str(),
    )?;
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| project.target_dir.join("bgapp"));
    check_writable(&out_dir)?;
    if args.format != Format::Tar && crate::package::maintainer(&project, &config).is_none() {
        // Before the build, which may take minutes.
        return Err(deb::no_maintainer(project.name()));
    }

    let built = if args.no_build {
        project.existing()?
    } else {
        project.build(shell)?
    };
    let mut binaries = load_tasks(&project, built)?;
    prepare_binaries(&mut binaries, &project, &config, &out_dir, shell)?;
    let plan = Plan::new(&project, &config, binaries)?;

    shell.status(
        "Packaging",
        format_args!("{} v{} ({})", plan.stem, plan.version, plan.triple),
    );
    for w in &plan.warnings {
        shell.warn(w);
    }
    for bundle in build_bundles(&plan, args.format, &out_dir)? {
        write_bundle(&bundle, &plan, args.message_format, shell)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Strips what keeps its symbols (unless `strip = false`), and says which
/// binaries are static.
fn prepare_binaries(
    binaries: &mut [(String, Binary)],
    project: &Project,
    config: &Config,
    scratch: &Path,
    shell: &Shell,
) -> anyhow::Result<()> {
    for (name, bin) in binaries {
        if bin.unstripped && config.strip != Some(false) {
            if let Some(why) = strip::strip(bin, project.target.deb_arch, scratch)? {
                shell.warn(format_args!(
                    "`{name}` keeps its symbols: {why}; lintian will flag it\n\n\
                     help: set `strip = true` under `[profile.release]` in `Cargo.toml`"
                ));
            }
        }
        if !bin.dynamic {
            shell.note(format_args!(
                "`{name}` is statically linked; it needs no shared library"
            ));
        }
    }
    Ok(())
}

/// The bundles `--format` asks for, laid out in parallel.
fn build_bundles(plan: &Plan, format: Format, out_dir: &Path) -> anyhow::Result<Vec<Bundle>> {
    let (deb_bytes, tar_bytes) = std::thread::scope(|s| {
        let deb = (format != Format::Tar).then(|| s.spawn(|| deb::build(plan)));
        let tar = (format != Format::Deb).then(|| s.spawn(|| tarball::build(plan)));
        let join = |h: std::thread::ScopedJoinHandle<'_, anyhow::Result<Vec<u8>>>| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a packaging thread panicked")))
        };
        (deb.map(join), tar.map(join))
    });
    let mut bundles = Vec::new();
    if let Some(bytes) = deb_bytes {
        bundles.push(("deb", out_dir.join(plan.deb_file_name()), bytes?));
    }
    if let Some(bytes) = tar_bytes {
        bundles.push(("tar", out_dir.join(plan.tar_file_name()), bytes?));
    }
    Ok(bundles)
}

/// Writes one bundle into place and prints it: status on stderr, the path
/// (or a JSON line) on stdout.
fn write_bundle(
    (format, path, bytes): &Bundle,
    plan: &Plan,
    message_format: MessageFormat,
    shell: &Shell,
) -> anyhow::Result<()> {
    write_atomically(path, bytes)?;
    shell.status("Finished", format_args!("{format} `{}`", path.display()));
    match message_format {
        MessageFormat::Human => println!("{}", path.display()),
        MessageFormat::Json => {
            let msg = BundleMessage {
                path,
                format,
                sha256: format!("{:x}", Sha256::digest(bytes)),
                size: bytes.len() as u64,
                tasks: &plan.tasks,
                units: &plan.units,
            };
            println!("{}", serde_json::to_string(&msg)?);
        }
    }
    Ok(())
}

/// Creates the output directory and proves it writable before any work.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("failed to create the output directory `{}`", dir.display()))?;
    let probe = dir.join(format!(".bgapp-probe-{}", std::process::id()));
    fs::File::create(&probe)
        .with_context(|| format!("the output directory `{}` is not writable", dir.display()))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Writes to a temporary file next to `path`, then renames it into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("bundle");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)
            .with_context(|| format!("failed to create `{}`", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("failed to write `{}`", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("failed to move `{}` into place", path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
