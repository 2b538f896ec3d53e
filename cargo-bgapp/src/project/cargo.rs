//! Running the toolchain for a [`Project`]: `cargo metadata`, `cargo build`,
//! and `rustc` for the host triple and the known targets.
//!
//! Layer: project. Cargo's JSON messages are read from its stdout and never
//! reach ours; its stderr (progress, diagnostics) goes through to the user
//! unchanged.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context as _};
use cargo_metadata::{Message, Metadata, MetadataCommand, TargetKind};

use super::arch::Target;
use super::cross;
use super::library::Library;
use super::{Build, Built, Project, Selection};
use crate::shell::{Shell, Verbosity};

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

/// `cargo metadata --no-deps` for the workspace of `manifest_path`, with
/// the features (so that cargo refuses an unknown one before the build).
pub fn metadata(manifest_path: &Path, selection: &Selection) -> anyhow::Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.manifest_path(manifest_path).no_deps();
    if let Some(cargo) = std::env::var_os("CARGO") {
        cmd.cargo_path(cargo);
    }
    let mut other = selection.features.args();
    if selection.locked {
        other.push("--locked".to_string());
    }
    if selection.offline {
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

/// `rustc -vV`, started before `cargo metadata` and read after it.
pub struct HostQuery(Child);

impl HostQuery {
    pub fn start() -> anyhow::Result<HostQuery> {
        let child = rustc()
            .arg("-vV")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("failed to run `rustc -vV`")?;
        Ok(HostQuery(child))
    }

    /// The host triple, from the `host:` line.
    pub fn finish(self) -> anyhow::Result<Target> {
        let output = self
            .0
            .wait_with_output()
            .context("failed to run `rustc -vV`")?;
        let text = String::from_utf8_lossy(&output.stdout);
        let host = text
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .context("`rustc -vV` printed no `host:` line")?;
        Ok(Target::from_triple(host.trim())?)
    }
}

/// Checks a `--target` against the triples rustc knows, then maps it.
pub fn check_target(triple: &str) -> anyhow::Result<Target> {
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

impl Project {
    /// Runs `cargo build` for the selected binaries and returns the files,
    /// with the `.rlib`s of the build.
    pub fn build(&self, shell: &Shell) -> anyhow::Result<Build> {
        let linker = self.cross_linker()?;
        let mut cmd = self.build_command(shell);
        if let Some(linker) = &linker {
            shell.verbose(
                "Linking",
                format_args!(
                    "for `{}` with `{}` ({})",
                    self.target.triple, linker.program, linker.variable
                ),
            );
            cmd.env(&linker.variable, &linker.program);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("failed to run `cargo build`")?;
        let stdout = child.stdout.take().expect("stdout is piped");

        let mut built = Vec::new();
        let mut libraries = Vec::new();
        for message in Message::parse_stream(BufReader::new(stdout)) {
            let message = message.context("failed to read `cargo build` output")?;
            if let Message::CompilerArtifact(artifact) = message {
                // Fresh units are reported too, so every library is.
                let rlibs = artifact
                    .filenames
                    .iter()
                    .filter(|f| f.extension() == Some("rlib"));
                for rlib in rlibs {
                    libraries.push(Library {
                        crate_name: artifact.target.name.replace('-', "_"),
                        path: rlib.clone().into_std_path_buf(),
                    });
                }
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
        Ok(Build {
            binaries: built,
            libraries: Some(libraries),
        })
    }

    /// The linker a cross build needs, checked before anything is built.
    fn cross_linker(&self) -> anyhow::Result<Option<cross::Linker>> {
        if !self.explicit_target || self.target.triple.ends_with(".json") {
            return Ok(None);
        }
        let libdir = rustc()
            .args(["--print", "target-libdir", "--target", &self.target.triple])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        let inputs = cross::inputs(&self.target, self.manifest_dir(), libdir);
        cross::plan(&self.target, &inputs)
    }

    fn build_command(&self, shell: &Shell) -> Command {
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
        cmd.args(self.features.args());
        if self.locked {
            cmd.arg("--locked");
        }
        if self.offline {
            cmd.arg("--offline");
        }
        if shell.verbosity() == Verbosity::Quiet {
            cmd.arg("--quiet");
        }
        cmd
    }
}
