//! The Cargo project a command works on: finding it, choosing its package,
//! binaries and target, building them, and reading the tasks out of the
//! built binaries.
//!
//! Layer: project, below the commands and above the contract
//! (`bgapp_manifest`). The packager (`package/`) plans bundles from a
//! [`Project`] and its [`binary::Binary`]s; nothing here knows the command
//! line or prints anything but Cargo's own output.
//!
//! - [`cargo`]: running `cargo metadata`, `cargo build` and `rustc`;
//! - [`binary`]: what an ELF executable holds (tasks, machine, libraries);
//! - [`library`]: the tasks a library crate's `.rlib` defines;
//! - [`arch`]: the architecture table and the resolved [`arch::Target`];
//! - [`tasks`]: the tasks of the built binaries, and the manifest document.

pub mod arch;
pub mod binary;
pub mod cargo;
pub mod cross;
pub mod library;
pub mod tasks;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use cargo_metadata::{Metadata, Package, TargetKind};

use arch::Target;

/// What the command line selects, as plain values: `--manifest-path`,
/// `-p`, `--bin`, `--target`, `--profile`, the features, `--target-dir`,
/// `--locked`, `--offline`.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub manifest_path: Option<PathBuf>,
    pub package: Option<String>,
    pub bin: Option<String>,
    pub target: Option<String>,
    pub profile: Option<String>,
    pub features: Features,
    pub target_dir: Option<PathBuf>,
    pub locked: bool,
    pub offline: bool,
}

/// `--features`, `--all-features`, `--no-default-features`, passed on to
/// cargo as they were given: the tasks a binary holds are those its
/// features compile in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// Each `--features` value (a list of its own, separated by spaces or commas).
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
}

impl Features {
    /// The options as cargo takes them.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let list: Vec<&str> = self
            .features
            .iter()
            .flat_map(|f| f.split([' ', ',']))
            .filter(|f| !f.is_empty())
            .collect();
        if !list.is_empty() {
            args.push("--features".to_string());
            args.push(list.join(","));
        }
        if self.all_features {
            args.push("--all-features".to_string());
        }
        if self.no_default_features {
            args.push("--no-default-features".to_string());
        }
        args
    }
}

/// One package of the workspace, resolved from the command line.
pub struct Project {
    pub package: Package,
    pub target_dir: PathBuf,
    /// The binary targets selected with `--bin`, or all of them.
    pub bins: Vec<String>,
    /// Whether `--bin` chose them (a binary without tasks is then an error).
    pub explicit_bin: bool,
    /// How many binary targets the package has.
    pub all_bins: usize,
    /// The target to build for: `--target`, else the host's.
    pub target: Target,
    /// Whether `--target` was given (the output folder then has the triple).
    pub explicit_target: bool,
    pub profile: String,
    /// The features to build with.
    pub features: Features,
    /// `--locked` and `--offline`, passed on to cargo.
    pub locked: bool,
    pub offline: bool,
}

/// A binary target and the file it was built to.
pub struct Built {
    pub name: String,
    pub path: PathBuf,
}

/// What a build made: the selected binaries, and the libraries linked
/// into them.
pub struct Build {
    pub binaries: Vec<Built>,
    /// The `.rlib`s of the build; `None` when the binaries were not built
    /// here (`--no-build`), and which libraries they link is not known.
    pub libraries: Option<Vec<library::Library>>,
}

impl Project {
    /// Reads `cargo metadata` and selects the package, its binaries and
    /// the target.
    pub fn resolve(selection: &Selection) -> anyhow::Result<Project> {
        // Asked in the background while cargo reads the metadata.
        let host = match selection.target {
            None => Some(cargo::HostQuery::start()?),
            Some(_) => None,
        };
        let manifest_path = locate_manifest(selection.manifest_path.as_deref())?;
        let metadata = cargo::metadata(&manifest_path, selection)?;
        let package = select_package(&metadata, &manifest_path, selection.package.as_deref())?;
        let bins = select_bins(package, selection.bin.as_deref())?;
        let target = match (&selection.target, host) {
            (Some(triple), _) => cargo::check_target(triple)?,
            (None, Some(query)) => query.finish()?,
            (None, None) => unreachable!("rustc -vV runs without --target"),
        };
        Ok(Project {
            target_dir: target_dir(selection, &metadata)?,
            package: package.clone(),
            bins,
            explicit_bin: selection.bin.is_some(),
            all_bins: bin_targets(package).len(),
            target,
            explicit_target: selection.target.is_some(),
            profile: selection
                .profile
                .clone()
                .unwrap_or_else(|| "release".to_string()),
            features: selection.features.clone(),
            locked: selection.locked,
            offline: selection.offline,
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
    pub fn existing(&self) -> anyhow::Result<Build> {
        let dir = self.output_dir();
        let binaries = self
            .bins
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
            .collect::<anyhow::Result<_>>()?;
        Ok(Build {
            binaries,
            libraries: None,
        })
    }

    /// The source file of binary target `bin`, relative to the package
    /// (`src/main.rs`), for messages.
    pub fn bin_source(&self, bin: &str) -> Option<PathBuf> {
        let target = self
            .package
            .targets
            .iter()
            .find(|t| t.kind.contains(&TargetKind::Bin) && t.name == bin)?;
        let path = target.src_path.as_std_path();
        Some(
            path.strip_prefix(self.manifest_dir())
                .unwrap_or(path)
                .to_path_buf(),
        )
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

/// `-p SPEC`, else the package of the manifest, else the only member.
fn select_package<'a>(
    metadata: &'a Metadata,
    manifest_path: &Path,
    spec: Option<&str>,
) -> anyhow::Result<&'a Package> {
    let members: Vec<&Package> = metadata.workspace_packages();
    let member_names = || {
        let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
        names.join(", ")
    };
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
                format!(
                    "package `{spec}` is not a member of the workspace\n\nhelp: members: {}",
                    member_names()
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
        _ => bail!(
            "`{}` is a workspace of several packages; choose one with `-p`\n\nhelp: members: {}",
            manifest_path.display(),
            member_names()
        ),
    }
}

fn bin_targets(package: &Package) -> Vec<String> {
    package
        .targets
        .iter()
        .filter(|t| t.kind.contains(&TargetKind::Bin))
        .map(|t| t.name.clone())
        .collect()
}

/// `--bin NAME`, or every binary target of the package.
fn select_bins(package: &Package, bin: Option<&str>) -> anyhow::Result<Vec<String>> {
    let all_bins = bin_targets(package);
    if all_bins.is_empty() {
        bail!(
            "package `{}` has no binary target; bgapp reads tasks from a built binary\n\n\
             help: add `src/main.rs` with a `#[bgapp::background_task]`, or a `[[bin]]` target",
            package.name
        );
    }
    match bin {
        Some(bin) if all_bins.iter().any(|b| b == bin) => Ok(vec![bin.to_string()]),
        Some(bin) => bail!(
            "no bin target named `{bin}` in package `{}`\n\nhelp: available binaries: {}",
            package.name,
            all_bins.join(", ")
        ),
        None => Ok(all_bins),
    }
}

/// As cargo: `--target-dir` over `CARGO_TARGET_DIR` and the configuration
/// (which `cargo metadata` has already applied).
fn target_dir(selection: &Selection, metadata: &Metadata) -> anyhow::Result<PathBuf> {
    match &selection.target_dir {
        Some(dir) => std::path::absolute(dir)
            .with_context(|| format!("invalid target directory `{}`", dir.display())),
        None => Ok(metadata.target_directory.clone().into_std_path_buf()),
    }
}
