//! Finding the package, its binaries and its target, and building them:
//! the plumbing shared by `cargo bgapp manifest` and `cargo bgapp package`.
//!
//! Cargo's JSON messages are read from its stdout and never reach ours;
//! its stderr (progress, diagnostics) goes through to the user unchanged.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};
use cargo_metadata::{Message, Metadata, MetadataCommand, Package, TargetKind};

use crate::cli::BuildArgs;
use crate::shell::Shell;
use crate::triple::Target;

/// One package of the workspace, resolved from the command line.
pub struct Project {
    pub package: Package,
    pub target_dir: PathBuf,
    /// The binary targets selected with `--bin`, or all of them.
    pub bins: Vec<String>,
    /// The target to build for: `--target`, else the host's.
    pub target: Target,
    /// Whether `--target` was given (the output folder then has the triple).
    pub explicit_target: bool,
    pub profile: String,
}

/// A binary target and the file it was built to.
pub struct Built {
    pub name: String,
    pub path: PathBuf,
}

fn cargo() -> Command {
    // `cargo bgapp` is started by cargo with `CARGO` set to itself, so the
    // same toolchain builds the app.
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn rustc() -> Command {
    if let Some(rustc) = std::env::var_os("RUSTC") {
        return Command::new(rustc);
    }
    // The rustc next to the cargo that started us: the same toolchain, and
    // no trip through rustup's proxy.
    let sibling = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .map(|cargo| cargo.with_file_name("rustc"))
        .filter(|rustc| rustc.is_file());
    Command::new(sibling.unwrap_or_else(|| PathBuf::from("rustc")))
}

impl Project {
    /// Reads `cargo metadata` and selects the package and its binaries.
    pub fn resolve(args: &BuildArgs) -> anyhow::Result<Project> {
        // Asked in the background while cargo reads the metadata.
        let host = match args.target {
            None => Some(
                rustc()
                    .arg("-vV")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("failed to run `rustc -vV`")?,
            ),
            Some(_) => None,
        };
        let manifest_path = locate_manifest(args.manifest_path.as_deref())?;
        let metadata = read_metadata(&manifest_path, args)?;
        let package = select_package(&metadata, &manifest_path, args.package.as_deref())?;

        let all_bins: Vec<String> = package
            .targets
            .iter()
            .filter(|t| t.kind.contains(&TargetKind::Bin))
            .map(|t| t.name.clone())
            .collect();
        if all_bins.is_empty() {
            bail!(
                "package `{}` has no binary target; bgapp reads tasks from a built binary\n\n\
                 help: add `src/main.rs` with a `#[bgapp::background_task]`, or a `[[bin]]` target",
                package.name
            );
        }
        let bins = match &args.bin {
            Some(bin) if all_bins.contains(bin) => vec![bin.clone()],
            Some(bin) => bail!(
                "no bin target named `{bin}` in package `{}`\n\nhelp: available binaries: {}",
                package.name,
                all_bins.join(", ")
            ),
            None => all_bins,
        };

        let (target, explicit_target) = match (&args.target, host) {
            (Some(triple), _) => (check_target(triple)?, true),
            (None, Some(rustc)) => (host_target(rustc)?, false),
            (None, None) => unreachable!("rustc -vV runs without --target"),
        };

        Ok(Project {
            // As cargo: `--target-dir` over `CARGO_TARGET_DIR` and the
            // configuration (which `cargo metadata` has already applied).
            target_dir: match &args.target_dir {
                Some(dir) => std::path::absolute(dir)
                    .with_context(|| format!("invalid target directory `{}`", dir.display()))?,
                None => metadata.target_directory.clone().into_std_path_buf(),
            },
            package: package.clone(),
            bins,
            target,
            explicit_target,
            profile: args
                .profile
                .clone()
                .unwrap_or_else(|| "release".to_string()),
        })
    }

    pub fn name(&self) -> &str {
        &self.package.name
    }

    pub fn manifest_dir(&self) -> &Path {
        self.package
            .manifest_path
            .parent()
            .map(|p| p.as_std_path())
            .unwrap_or(Path::new("."))
    }

    /// Where cargo puts the binaries of this profile and target.
    pub fn output_dir(&self) -> PathBuf {
        let profile_dir = match self.profile.as_str() {
            "dev" | "test" => "debug",
            "bench" => "release",
            other => other,
        };
        let mut dir = self.target_dir.clone();
        if self.explicit_target {
            dir.push(&self.target.triple);
        }
        dir.push(profile_dir);
        dir
    }

    /// The binaries as they already are on disk (`--no-build`).
    pub fn existing(&self) -> anyhow::Result<Vec<Built>> {
        let dir = self.output_dir();
        self.bins
            .iter()
            .map(|name| {
                let path = dir.join(name);
                if !path.is_file() {
                    bail!(
                        "binary `{}` does not exist\n\nhelp: build it first, or drop `--no-build`",
                        path.display()
                    );
                }
                Ok(Built {
                    name: name.clone(),
                    path,
                })
            })
            .collect()
    }

    /// Runs `cargo build` for the selected binaries and returns the files.
    pub fn build(&self, args: &BuildArgs, shell: &Shell) -> anyhow::Result<Vec<Built>> {
        let mut cmd = cargo();
        cmd.arg("build")
            .arg("--message-format=json-render-diagnostics")
            .arg("--manifest-path")
            .arg(self.package.manifest_path.as_std_path())
            .arg("--package")
            .arg(format!("{}@{}", self.package.name, self.package.version))
            .arg("--profile")
            .arg(&self.profile)
            .arg("--target-dir")
            .arg(&self.target_dir)
            .arg("--color")
            .arg(shell.color_arg());
        for bin in &self.bins {
            cmd.arg("--bin").arg(bin);
        }
        if self.explicit_target {
            cmd.arg("--target").arg(&self.target.triple);
        }
        if args.locked {
            cmd.arg("--locked");
        }
        if args.offline {
            cmd.arg("--offline");
        }
        if shell.verbosity() == crate::shell::Verbosity::Quiet {
            cmd.arg("--quiet");
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().context("failed to run `cargo build`")?;
        let stdout = child.stdout.take().expect("stdout is piped");

        let mut built = Vec::new();
        for message in Message::parse_stream(BufReader::new(stdout)) {
            let message = message.context("failed to read `cargo build` output")?;
            if let Message::CompilerArtifact(artifact) = message {
                let is_ours = artifact.package_id == self.package.id
                    && artifact.target.kind.contains(&TargetKind::Bin)
                    && self.bins.contains(&artifact.target.name);
                if let (true, Some(exe)) = (is_ours, artifact.executable) {
                    built.push(Built {
                        name: artifact.target.name.clone(),
                        path: exe.into_std_path_buf(),
                    });
                }
            }
        }
        let status = child.wait().context("failed to wait for `cargo build`")?;
        if !status.success() {
            bail!("failed to build package `{}`", self.package.name);
        }
        built.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(built)
    }
}

/// `--manifest-path`, or the first `Cargo.toml` from here upwards, as cargo
/// finds it.
fn locate_manifest(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        if path.file_name().is_none_or(|n| n != "Cargo.toml") {
            bail!(
                "the manifest path `{}` must end in `Cargo.toml`",
                path.display()
            );
        }
        if !path.is_file() {
            bail!("manifest path `{}` does not exist", path.display());
        }
        return path
            .canonicalize()
            .with_context(|| format!("failed to resolve `{}`", path.display()));
    }
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    cwd.ancestors()
        .map(|dir| dir.join("Cargo.toml"))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "could not find `Cargo.toml` in `{}` or any parent directory",
                cwd.display()
            )
        })
}

fn read_metadata(manifest_path: &Path, args: &BuildArgs) -> anyhow::Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.manifest_path(manifest_path).no_deps();
    if let Some(cargo) = std::env::var_os("CARGO") {
        cmd.cargo_path(cargo);
    }
    let mut other = Vec::new();
    if args.locked {
        other.push("--locked".to_string());
    }
    if args.offline {
        other.push("--offline".to_string());
    }
    cmd.other_options(other);
    cmd.exec().map_err(|e| match e {
        cargo_metadata::Error::CargoMetadata { stderr } => {
            // Cargo's own message is the useful part.
            let msg = stderr.trim().trim_start_matches("error: ").to_string();
            anyhow::anyhow!("failed to read `{}`: {msg}", manifest_path.display())
        }
        other => anyhow::Error::new(other).context(format!(
            "failed to run `cargo metadata` on `{}`",
            manifest_path.display()
        )),
    })
}

fn select_package<'a>(
    metadata: &'a Metadata,
    manifest_path: &Path,
    spec: Option<&str>,
) -> anyhow::Result<&'a Package> {
    let members: Vec<&Package> = metadata.workspace_packages();
    if let Some(spec) = spec {
        let (name, version) = match spec.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (spec, None),
        };
        return members
            .iter()
            .find(|p| p.name.as_str() == name && version.is_none_or(|v| p.version.to_string() == v))
            .copied()
            .with_context(|| {
                let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
                format!(
                    "package `{spec}` is not a member of the workspace\n\nhelp: members: {}",
                    names.join(", ")
                )
            });
    }
    if let Some(p) = members
        .iter()
        .find(|p| p.manifest_path.as_std_path() == manifest_path)
    {
        return Ok(p);
    }
    match members.as_slice() {
        [only] => Ok(only),
        _ => {
            let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "`{}` is a workspace of several packages; choose one with `-p`\n\nhelp: members: {}",
                manifest_path.display(),
                names.join(", ")
            )
        }
    }
}

/// Checks a `--target` against the triples rustc knows, then maps it.
fn check_target(triple: &str) -> anyhow::Result<Target> {
    if !triple.ends_with(".json") {
        let output = rustc()
            .args(["--print", "target-list"])
            .output()
            .context("failed to run `rustc --print target-list`")?;
        let list = String::from_utf8_lossy(&output.stdout);
        if output.status.success() && !list.lines().any(|l| l.trim() == triple) {
            bail!(
                "unknown target `{triple}`\n\nhelp: `rustc --print target-list` lists the known targets"
            );
        }
    }
    let name = Path::new(triple)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(triple);
    Ok(Target::from_triple(name)?)
}

/// The host triple, from `rustc -vV`.
fn host_target(rustc: std::process::Child) -> anyhow::Result<Target> {
    let output = rustc
        .wait_with_output()
        .context("failed to run `rustc -vV`")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let host = text
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .context("`rustc -vV` printed no `host:` line")?;
    Ok(Target::from_triple(host.trim())?)
}
