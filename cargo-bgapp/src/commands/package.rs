//! `cargo bgapp package`: build the binary, read its tasks, and write a
//! `.deb` and a `.tar.gz` with generated, hardened systemd units (the work
//! is in `package/`).
//!
//! Layer: commands. Everything that can be wrong is checked before anything
//! is written (the output directory before the build, so a long build is
//! not wasted, but created only once the binaries are read, and removed
//! again if packaging fails), and each bundle is written to a temporary
//! file in the output directory and renamed into place, so no partial
//! bundle is ever left behind.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::{Formats, MessageFormat, PackageArgs};
use crate::package::config::Config;
use crate::package::oci::{self, push};
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
    /// An image's digest (its manifest's, or its index's), as a registry shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
}

/// A bundle, built in memory: its format, where it goes, its bytes.
type Bundle = (&'static str, PathBuf, Vec<u8>);

pub fn run(args: PackageArgs, shell: &Shell) -> anyhow::Result<ExitCode> {
    let formats = Formats::new(&args.format);
    if !(formats.oci) && (args.oci_layout.is_some() || args.push.is_some()) {
        bail!("`--oci-layout` and `--push` write the OCI image\n\nhelp: add `--format oci`");
    }
    let targets: Vec<Option<String>> = if args.build.target.is_empty() {
        vec![None]
    } else {
        args.build.target.iter().cloned().map(Some).collect()
    };
    if let Some(dup) = targets
        .iter()
        .enumerate()
        .find(|(i, t)| targets[..*i].contains(t))
        .and_then(|(_, t)| t.as_ref())
    {
        bail!("`--target {dup}` is given twice");
    }
    if let Some(dir) = &args.oci_layout {
        oci::check_layout(dir)?;
    }
    let push = match &args.push {
        Some(r) => Some(push::Destination::parse(r, args.insecure_registry)?),
        None => None,
    };
    let mut out: Option<(OutDir, Created)> = None;
    let mut written = Vec::new();
    let mut images: BTreeMap<String, Vec<oci::Image>> = BTreeMap::new();
    let mut first: Option<(String, String, u64)> = None;
    for target in targets {
        let mut selection = args.build.selection();
        selection.target = target;
        let project = Project::resolve(&selection)?;
        let config = Config::from_metadata(
            &project.package.metadata,
            project.package.manifest_path.as_str(),
        )?;
        let out_dir = match &out {
            Some((o, _)) => o.path.clone(),
            None => {
                let o = OutDir {
                    explicit: args.out_dir.is_some(),
                    path: args
                        .out_dir
                        .clone()
                        .unwrap_or_else(|| project.target_dir.join("bgapp")),
                };
                // Before the build, which may take minutes, and before
                // anything is written: the output directory,
                // SOURCE_DATE_EPOCH, the maintainer.
                o.check()?;
                o.path.clone()
            }
        };
        let preflight = crate::package::preflight(&project, &config)?;
        if formats.deb {
            preflight.maintainer.clone()?;
        }

        let built = if args.no_build {
            project.existing()?
        } else {
            project.build(shell)?
        };
        let loaded = load_tasks(&project, built)?;
        super::note_without_tasks(&loaded, "it is left out of the bundles", shell);
        let mut binaries = loaded.binaries;
        if out.is_none() {
            let o = OutDir {
                explicit: args.out_dir.is_some(),
                path: out_dir.clone(),
            };
            let created = o.create()?;
            out = Some((o, created));
        }
        prepare_binaries(&mut binaries, &project, &config, &out_dir, shell)?;
        let user = config
            .user
            .clone()
            .unwrap_or_else(|| bgapp_manifest::system_user(&project.package.name));
        if formats.oci {
            if first.is_none() {
                for w in oci::warnings(&config, &binaries) {
                    shell.warn(w);
                }
            }
            for (name, image) in oci::images(&project, &config, &user, &binaries, preflight.mtime)?
            {
                images.entry(name).or_default().push(image);
            }
        }
        if formats.k8s && first.is_none() {
            let k8s = k8s_bundle(&project, &config, &binaries, &out_dir, shell)?;
            written.push((k8s, Vec::new(), Vec::new(), None));
        }
        first.get_or_insert((
            project.package.name.to_string(),
            project.package.version.to_string(),
            preflight.mtime,
        ));
        if !(formats.deb || formats.tar) {
            continue;
        }
        let plan = Plan::new(&project, &config, binaries)?;
        shell.status(
            "Packaging",
            format_args!("{} v{} ({})", plan.stem, plan.version, plan.triple),
        );
        for w in &plan.warnings {
            shell.warn(w);
        }
        for bundle in build_bundles(&plan, formats, &out_dir)? {
            written.push((bundle, plan.tasks.clone(), plan.units.clone(), None));
        }
    }
    let (out, created) = out.expect("at least one target");
    let (_, version, mtime) = first.expect("at least one target");
    let multi = args.build.target.len() > 1;
    let mut outputs = Vec::new();
    for (name, images) in images {
        let arch = images[0].platform.clone();
        let output = oci::Output::new(images)?;
        let file = if multi {
            format!("{name}_{version}.oci.tar")
        } else {
            format!("{name}_{version}_{}.oci.tar", arch.deb)
        };
        shell.status(
            "Imaging",
            format_args!("{} {} ({})", output.ref_name, output.digest(), file),
        );
        let bytes = oci::archive(&output, mtime)?;
        let digest = Some(output.digest().to_string());
        written.push((
            ("oci", out.path.join(file), bytes),
            Vec::new(),
            Vec::new(),
            digest,
        ));
        outputs.push(output);
    }
    for ((format, path, bytes), tasks, units, digest) in &written {
        let listed = Listed {
            tasks,
            units,
            digest: digest.as_deref(),
        };
        write_bundle(format, path, bytes, &listed, args.message_format, shell)?;
    }
    if let Some(dir) = &args.oci_layout {
        for output in &outputs {
            oci::write_layout(dir, output)?;
            shell.status(
                "Finished",
                format_args!("oci layout `{}` ({})", dir.display(), output.ref_name),
            );
        }
    }
    created.keep();
    if let Some(dest) = push {
        let oci_files: Vec<&PathBuf> = written
            .iter()
            .filter(|((f, _, _), ..)| *f == "oci")
            .map(|((_, p, _), ..)| p)
            .collect();
        let [file] = oci_files.as_slice() else {
            bail!("`--push` takes one image, and the package has {} binaries with tasks\n\nhelp: choose one with `--bin`", oci_files.len());
        };
        shell.status("Pushing", format_args!("{}", dest.shown(&version)));
        let digest = push::push(file, &dest, &version)?;
        shell.status("Pushed", format_args!("{} {digest}", dest.shown(&version)));
    }
    Ok(ExitCode::SUCCESS)
}

/// The Kubernetes manifests of the package, from the first target's tasks.
fn k8s_bundle(
    project: &Project,
    config: &Config,
    binaries: &[(String, Binary)],
    out_dir: &Path,
    shell: &Shell,
) -> anyhow::Result<Bundle> {
    let (yaml, warnings) = crate::package::k8s::manifests(project, config, binaries)?;
    for w in warnings {
        shell.warn(w);
    }
    let file = format!(
        "{}_{}.k8s.yaml",
        project.package.name, project.package.version
    );
    Ok(("k8s", out_dir.join(file), yaml.into_bytes()))
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
fn build_bundles(plan: &Plan, formats: Formats, out_dir: &Path) -> anyhow::Result<Vec<Bundle>> {
    let (deb_bytes, tar_bytes) = std::thread::scope(|s| {
        let deb = formats.deb.then(|| s.spawn(|| deb::build(plan)));
        let tar = formats.tar.then(|| s.spawn(|| tarball::build(plan)));
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
/// What `--message-format json` says of a bundle besides its file.
struct Listed<'a> {
    tasks: &'a [String],
    units: &'a [String],
    digest: Option<&'a str>,
}

fn write_bundle(
    format: &'static str,
    path: &Path,
    bytes: &[u8],
    listed: &Listed<'_>,
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
                tasks: listed.tasks,
                units: listed.units,
                digest: listed.digest,
            };
            println!("{}", serde_json::to_string(&msg)?);
        }
    }
    Ok(())
}

/// Where the bundles go: `--out-dir`, or `<target-dir>/bgapp`.
struct OutDir {
    path: PathBuf,
    explicit: bool,
}

impl OutDir {
    /// How the directory is named in messages.
    fn shown(&self) -> String {
        let path = self.path.display();
        if self.explicit {
            format!("`--out-dir` `{path}`")
        } else {
            format!("the output directory `{path}`")
        }
    }

    /// Checks, creating nothing, that the directory is one, or can be
    /// created, and is writable.
    fn check(&self) -> anyhow::Result<()> {
        let help = "help: give `--out-dir` a directory, or a path that does not exist yet";
        let existing = self
            .path
            .ancestors()
            .find(|a| fs::symlink_metadata(a).is_ok())
            .unwrap_or(Path::new("/"));
        if !existing.is_dir() {
            if existing == self.path {
                bail!("{} is a file, not a directory\n\n{help}", self.shown());
            }
            bail!(
                "{} cannot be created: `{}` is a file, not a directory\n\n{help}",
                self.shown(),
                existing.display()
            );
        }
        if !writable(existing) {
            let which = if existing == self.path {
                String::new()
            } else {
                format!(": `{}` is not writable", existing.display())
            };
            bail!("{} is not writable{which}", self.shown(),);
        }
        Ok(())
    }

    /// Creates the directory (and those above it that are missing); until
    /// [`Created::keep`], they are removed again if they stay empty.
    fn create(&self) -> anyhow::Result<Created> {
        let missing: Vec<PathBuf> = self
            .path
            .ancestors()
            .take_while(|a| fs::symlink_metadata(a).is_err())
            .map(Path::to_path_buf)
            .collect();
        fs::create_dir_all(&self.path)
            .with_context(|| format!("failed to create {}", self.shown()))?;
        Ok(Created {
            dirs: missing,
            keep: false,
        })
    }
}

/// Whether the current user may create files in `dir` (and the file
/// system is not read-only), by access(2).
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path that lives across the call.
    unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// The directories `package` created, deepest first; removed on drop
/// (when empty) unless kept.
struct Created {
    dirs: Vec<PathBuf>,
    keep: bool,
}

impl Created {
    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        if !self.keep {
            for dir in &self.dirs {
                let _ = fs::remove_dir(dir);
            }
        }
    }
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
