//! `cargo bgapp package`: from a package's built binaries and their task
//! manifests to installable bundles.
//!
//! The work is split the way the data flows: [`Plan::new`] resolves the
//! command line, Cargo's metadata, `[package.metadata.bgapp]` and the
//! binaries into one plan (every file of the bundle with its mode, the
//! units, the scripts, the control fields), checking everything that can
//! be wrong before a byte is written; [`deb`] and [`tarball`] only lay the
//! plan out in their format.
//!
//! Bundle layout (the same files in both formats):
//!
//! ```text
//! usr/bin/<bin>                                     0755
//! usr/lib/systemd/system/<package>[-<task>].service 0644  (+ .timer/.socket/.path)
//! usr/lib/sysusers.d/<package>.conf                 0644  the system user
//! usr/lib/tmpfiles.d/<package>.conf                 0644  watched directories, if any
//! usr/share/bgapp/<package>/bgapp-manifest.json     0644
//! usr/share/doc/<package>/copyright                 0644
//! <assets from [package.metadata.bgapp]>
//! ```

pub mod ar;
pub mod archive;
pub mod config;
pub mod deb;
pub mod debian;
pub mod depends;
pub mod escalation;
pub mod k8s;
pub mod oci;
pub mod quote;
pub mod scripts;
pub mod strip;
pub mod tarball;
pub mod units;

#[cfg(test)]
mod golden;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::project::binary::Binary;
use crate::project::tasks::{BinaryDoc, ManifestDoc};
use crate::project::Project;
use archive::BundleFile;
use config::Config;
use scripts::{ScriptFile, ScriptPlan};
use units::{TaskUnits, UnitContext};

/// Used when neither `SOURCE_DATE_EPOCH` nor a git commit gives a time:
/// 2020-01-01T00:00:00Z.
const FALLBACK_EPOCH: u64 = 1_577_836_800;

/// The latest time a bundle can carry: a tar header holds 11 octal digits
/// (2242-03-16T12:56:31Z); the `.deb`'s `ar` header holds more.
pub const MAX_EPOCH: u64 = 0o77_777_777_777;

/// Everything the bundles contain, resolved and checked.
pub struct Plan {
    /// The Cargo package name: unit names, `/var/lib/<stem>`, the user.
    pub stem: String,
    /// The Debian package name (lowercase, `_` -> `-`).
    pub deb_name: String,
    pub version: String,
    /// The Debian version: `~` for a pre-release, and revision `-1`.
    pub deb_version: String,
    pub triple: String,
    pub deb_arch: String,
    /// Sorted by path, each path once; conffiles are marked.
    pub files: Vec<BundleFile>,
    pub depends: Vec<String>,
    /// The `.deb`'s maintainer, or why there is none it could name.
    pub maintainer: Result<String, MaintainerError>,
    pub section: String,
    pub priority: String,
    pub homepage: Option<String>,
    pub summary: String,
    pub long_description: Vec<String>,
    pub scripts: Scripts,
    pub tasks: Vec<String>,
    /// Every unit's name, sorted.
    pub units: Vec<String>,
    pub mtime: u64,
    /// Relaxations of the default sandbox and other things to tell the user.
    pub warnings: Vec<String>,
}

pub struct Scripts {
    pub postinst: String,
    pub prerm: String,
    pub postrm: String,
    pub install_sh: String,
    pub uninstall_sh: String,
}

/// The names the package goes by, resolved once.
struct Names {
    stem: String,
    deb_name: String,
    /// The system user the services run as.
    user: String,
    version: String,
    deb_version: String,
}

/// One binary of the bundle, with the units of its tasks in task order.
struct Installed {
    name: String,
    binary: Binary,
    units: Vec<TaskUnits>,
}

impl Plan {
    /// Resolves the command line's project, `[package.metadata.bgapp]` and
    /// the built binaries into the plan, step by step; every check comes
    /// before anything is written.
    pub fn new(
        project: &Project,
        config: &Config,
        binaries: Vec<(String, Binary)>,
    ) -> anyhow::Result<Plan> {
        let Preflight { mtime, maintainer } = preflight(project, config)?;
        let homepage = homepage(project)?;
        let names = names(project, config)?;
        let tasks = task_names(config, &binaries)?;
        let depends = depends(project, config, &binaries)?;
        let (installed, mut warnings) = units(&names, config, binaries)?;
        warnings.extend(escalation_warnings(&names, &installed));
        let doc = manifest_doc(project, &names, &installed);
        let script_plan = script_plan(&names, &installed);

        let mut files = installed_files(installed);
        let documents = Documents {
            doc: &doc,
            scripts: &script_plan,
            maintainer: maintainer.as_deref().ok(),
            mtime,
        };
        files.extend(documents.files(project, config, &names)?);
        files.extend(assets(project, config)?);
        let files = checked(files, config)?;
        let scripts = scripts(&script_plan, &files);
        let (summary, long_description) = description(project, &doc, &mut warnings);
        Ok(Plan {
            units: unit_names(&doc),
            triple: project.target.triple.clone(),
            deb_arch: project.target.deb_arch.to_string(),
            section: config.section.clone().unwrap_or_else(|| "misc".into()),
            priority: config.priority.clone().unwrap_or_else(|| "optional".into()),
            homepage,
            stem: names.stem,
            deb_name: names.deb_name,
            version: names.version,
            deb_version: names.deb_version,
            files,
            depends,
            maintainer,
            summary,
            long_description,
            scripts,
            tasks,
            mtime,
            warnings,
        })
    }

    pub fn deb_file_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.deb_name, self.deb_version, self.deb_arch
        )
    }

    pub fn tar_top(&self) -> String {
        format!("{}-{}-{}", self.stem, self.version, self.triple)
    }

    pub fn tar_file_name(&self) -> String {
        format!("{}.tar.gz", self.tar_top())
    }
}

/// The package's names: Cargo's, Debian's, and the system user's.
fn names(project: &Project, config: &Config) -> anyhow::Result<Names> {
    let stem = project.package.name.to_string();
    let user = config
        .user
        .clone()
        .unwrap_or_else(|| bgapp_manifest::system_user(&stem));
    check_user(&user)?;
    let deb_name = bgapp_manifest::package_stem(&stem);
    if deb_name.len() < 2 {
        bail!(
            "package name `{stem}` is too short for Debian, which wants at least two characters\n\n\
             help: rename the package in `Cargo.toml`"
        );
    }
    let version = project.package.version.to_string();
    Ok(Names {
        deb_name,
        deb_version: format!("{}-1", debian_version(&version)),
        stem,
        user,
        version,
    })
}

/// Every task's name, binary by binary, checked by the contract's rules;
/// every `[package.metadata.bgapp.tasks.<name>]` must name one.
fn task_names(config: &Config, binaries: &[(String, Binary)]) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = binaries
        .iter()
        .flat_map(|(_, b)| b.tasks.iter().map(|t| t.name.clone()))
        .collect();
    config.check_tasks(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
    for name in &names {
        bgapp_manifest::check_task_name(name)?;
    }
    Ok(names)
}

/// `Depends:`: what the binaries need, then what the configuration adds.
fn depends(
    project: &Project,
    config: &Config,
    binaries: &[(String, Binary)],
) -> anyhow::Result<Vec<String>> {
    let bins: Vec<&Binary> = binaries.iter().map(|(_, b)| b).collect();
    let mut out = depends::depends(
        &bins,
        &config.libraries,
        project.target.deb_arch,
        depends::host_arch,
    )?;
    out.extend(config.depends.iter().cloned());
    Ok(out)
}

/// The units of every task, and the warnings about relaxed sandboxes.
fn units(
    names: &Names,
    config: &Config,
    binaries: Vec<(String, Binary)>,
) -> anyhow::Result<(Vec<Installed>, Vec<String>)> {
    let mut warnings = Vec::new();
    if names.user == "root" {
        warnings.push(
            "`user = \"root\"`: every task runs as root instead of a system user of its own"
                .to_string(),
        );
    }
    let mut installed = Vec::new();
    for (name, binary) in binaries {
        let ctx = UnitContext {
            stem: &names.stem,
            bin: &name,
            user: &names.user,
        };
        let units: Vec<TaskUnits> = binary
            .tasks
            .iter()
            .map(|task| units::generate(&ctx, task, &config.task(&task.name)))
            .collect::<Result<_, _>>()?;
        warnings.extend(units.iter().flat_map(|u| u.warnings.iter().cloned()));
        installed.push(Installed {
            name,
            binary,
            units,
        });
    }
    if !warnings.is_empty() {
        warnings.push(
            "these relax the default sandbox; `systemd-analyze security` will rate the services lower".to_string(),
        );
    }
    Ok((installed, warnings))
}

/// `bgapp-manifest.json`: the tasks of each binary, with installed paths
/// and the units of each task.
fn manifest_doc(project: &Project, names: &Names, installed: &[Installed]) -> ManifestDoc {
    let target = &project.target.triple;
    let binaries = installed
        .iter()
        .map(|b| BinaryDoc {
            name: b.name.clone(),
            path: PathBuf::from(format!("/usr/bin/{}", b.name)),
            target: target.clone(),
            tasks: b.binary.tasks.clone(),
            units: b
                .binary
                .tasks
                .iter()
                .zip(&b.units)
                .map(|(t, u)| (t.name.clone(), u.units().map(|u| u.name.clone()).collect()))
                .collect(),
        })
        .collect();
    ManifestDoc {
        package: names.stem.clone(),
        version: names.version.clone(),
        target: target.clone(),
        binaries,
    }
}

/// Every unit's name, sorted.
fn unit_names(doc: &ManifestDoc) -> Vec<String> {
    let mut all: Vec<String> = doc
        .binaries
        .iter()
        .flat_map(|b| b.units.values().flatten().cloned())
        .collect();
    all.sort();
    all
}

/// What the install and removal scripts act on.
fn script_plan<'a>(names: &'a Names, installed: &[Installed]) -> ScriptPlan<'a> {
    let all: Vec<&TaskUnits> = installed.iter().flat_map(|b| &b.units).collect();
    let services: Vec<String> = all.iter().map(|u| u.service.name.clone()).collect();
    // Triggers stop before the services they start.
    let units: Vec<String> = all
        .iter()
        .filter_map(|u| u.trigger.as_ref().map(|t| t.name.clone()))
        .chain(services.iter().cloned())
        .collect();
    let mut dirs: Vec<String> = all.iter().flat_map(|u| u.dirs.iter().cloned()).collect();
    dirs.sort();
    dirs.dedup();
    // A unit's name before units followed the package's dashes: the same
    // suffix after the old stem.
    let old_names: std::collections::BTreeMap<&str, String> = all
        .iter()
        .flat_map(|u| {
            u.units().filter_map(move |unit| {
                let stem = u.old_stem.as_ref()?;
                let suffix = unit.name.rsplit_once('.')?.1;
                Some((unit.name.as_str(), format!("{stem}.{suffix}")))
            })
        })
        .collect();
    let old = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .filter_map(|n| old_names.get(n.as_str()).cloned())
            .collect()
    };
    let enable: Vec<String> = all.iter().filter_map(|u| u.enable.clone()).collect();
    let old_units = old(&units);
    let old_enable = old(&enable);
    let mut groups: Vec<String> = all.iter().flat_map(|u| u.groups.iter().cloned()).collect();
    groups.sort();
    groups.dedup();
    ScriptPlan {
        old_units,
        old_enable,
        groups,
        stem: &names.stem,
        deb_name: &names.deb_name,
        version: &names.version,
        user: &names.user,
        units,
        enable,
        services,
        dirs,
    }
}

/// The binaries in `/usr/bin` and their units.
fn installed_files(installed: Vec<Installed>) -> Vec<BundleFile> {
    let mut files = Vec::new();
    for b in installed {
        for unit in b.units.iter().flat_map(TaskUnits::units) {
            let path = format!("usr/lib/systemd/system/{}", unit.name);
            files.push(BundleFile::new(path, 0o644, unit.text.clone()));
        }
        files.push(BundleFile::new(
            format!("usr/bin/{}", b.name),
            0o755,
            b.binary.data,
        ));
    }
    files
}

/// What the files that describe the package are made from.
struct Documents<'a> {
    doc: &'a ManifestDoc,
    scripts: &'a ScriptPlan<'a>,
    maintainer: Option<&'a str>,
    mtime: u64,
}

impl Documents<'_> {
    /// The system user, the watched directories, the task manifest, the
    /// copyright and, with a maintainer, the Debian changelog.
    fn files(
        &self,
        project: &Project,
        config: &Config,
        names: &Names,
    ) -> anyhow::Result<Vec<BundleFile>> {
        let stem = &names.stem;
        let doc_dir = format!("usr/share/doc/{}", names.deb_name);
        let mut files = vec![BundleFile::new(
            format!("usr/lib/sysusers.d/{stem}.conf"),
            0o644,
            self.scripts.sysusers(),
        )];
        if let Some(tmpfiles) = self.scripts.tmpfiles() {
            let path = format!("usr/lib/tmpfiles.d/{stem}.conf");
            files.push(BundleFile::new(path, 0o644, tmpfiles));
        }
        let mut json = serde_json::to_vec_pretty(self.doc)?;
        json.push(b'\n');
        let path = format!("usr/share/bgapp/{stem}/bgapp-manifest.json");
        files.push(BundleFile::new(path, 0o644, json));
        let text = copyright(project, config, self.mtime);
        files.push(BundleFile::new(format!("{doc_dir}/copyright"), 0o644, text));
        if let Some(m) = self.maintainer {
            let gz = changelog(names, m, self.mtime)?;
            let path = format!("{doc_dir}/changelog.Debian.gz");
            files.push(BundleFile::new(path, 0o644, gz));
        }
        Ok(files)
    }
}

/// Debian wants a changelog even for a package built from upstream: one
/// entry for this build, gzipped.
fn changelog(names: &Names, maintainer: &str, mtime: u64) -> anyhow::Result<Vec<u8>> {
    let text = format!(
        "{deb_name} ({deb_version}) unstable; urgency=medium\n\n  * Packaged by cargo-bgapp from {stem} {version}.\n\n -- {maintainer}  {date}\n",
        deb_name = names.deb_name,
        deb_version = names.deb_version,
        stem = names.stem,
        version = names.version,
        date = rfc2822(mtime)
    );
    let mut gz = archive::gzip(Vec::new(), 9);
    std::io::Write::write_all(&mut gz, text.as_bytes())?;
    Ok(gz.finish()?)
}

/// The files `assets` names, read from the package's directory; those
/// under `/etc` are conffiles.
fn assets(project: &Project, config: &Config) -> anyhow::Result<Vec<BundleFile>> {
    let mut files = Vec::new();
    for asset in &config.assets {
        let source = project.manifest_dir().join(&asset.source);
        let data = std::fs::read(&source)
            .with_context(|| format!("failed to read asset `{}`", source.display()))?;
        let path = asset.dest.trim_start_matches('/').to_string();
        let mode = match asset.mode {
            Some(mode) => mode,
            None if path.contains("bin/") => 0o755,
            None => 0o644,
        };
        let mut file = BundleFile::new(path, mode, data);
        file.conffile = asset.dest.starts_with("/etc/");
        files.push(file);
    }
    Ok(files)
}

/// The files sorted by path, no two at one path, and those `conf-files`
/// names marked as conffiles.
fn checked(mut files: Vec<BundleFile>, config: &Config) -> anyhow::Result<Vec<BundleFile>> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(dup) = files.windows(2).find(|w| w[0].path == w[1].path) {
        bail!("two files of the bundle go to `/{}`", dup[0].path);
    }
    let paths: std::collections::BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for f in &files {
        let mut p = f.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if paths.contains(parent) {
                bail!(
                    "`/{parent}` is both a file and a directory of the bundle: `/{}` is inside it\n\n\
                     help: change the `dest` of one of them in `assets`",
                    f.path
                );
            }
            p = parent;
        }
    }
    for c in &config.conf_files {
        let Some(file) = files
            .iter_mut()
            .find(|f| c.strip_prefix('/') == Some(f.path.as_str()))
        else {
            bail!("conf-file `{c}` is not a file of the bundle\n\nhelp: add it to `assets` in `[package.metadata.bgapp]`");
        };
        file.conffile = true;
    }
    Ok(files)
}

/// The `.deb`'s maintainer scripts and the tarball's install scripts.
fn scripts(plan: &ScriptPlan<'_>, files: &[BundleFile]) -> Scripts {
    let list: Vec<ScriptFile<'_>> = files
        .iter()
        .map(|f| ScriptFile {
            path: &f.path,
            mode: f.mode,
            conffile: f.conffile,
        })
        .collect();
    Scripts {
        postinst: plan.postinst(),
        prerm: plan.prerm(),
        postrm: plan.postrm(),
        install_sh: plan.install_sh(&list),
        uninstall_sh: plan.uninstall_sh(&list),
    }
}

/// Programs that gain privileges named in a binary: they cannot work under
/// the units' `NoNewPrivileges=yes` (see [`escalation`]).
fn escalation_warnings(names: &Names, installed: &[Installed]) -> Vec<String> {
    if names.user == "root" {
        return Vec::new();
    }
    installed
        .iter()
        .filter_map(|b| {
            let found = escalation::programs(&b.binary.data);
            (!found.is_empty()).then(|| {
                format!(
                    "binary `{}` names {}: its tasks run with `NoNewPrivileges=yes` and no capabilities, where no program can gain privileges, so running one fails on the device\n\nhelp: give the task what it needs itself: `supplementary-groups` to read a group's files, `capabilities` (like `CAP_DAC_READ_SEARCH` to read root-only files, `CAP_NET_ADMIN` for `wg show`), or `user = \"root\"`; see \"Root-only configuration\" in bgapp's README",
                    b.name,
                    found
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect()
}

/// Whether a synopsis is just the package's name, as lintian compares them
/// (`description-is-pkg-name`, an error): in lowercase, with `-`, `_`, `/`
/// and `\` as spaces.
fn is_package_name(synopsis: &str, package: &str) -> bool {
    let fold = |s: &str| {
        s.to_lowercase()
            .replace(['-', '_', '/', '\\'], " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    fold(synopsis) == fold(package)
}

/// The summary (the first line of the package's description) and the long
/// description (the README's first paragraph, else the tasks). A
/// description that is only the package's name is replaced, with a warning.
fn description(
    project: &Project,
    doc: &ManifestDoc,
    warnings: &mut Vec<String>,
) -> (String, Vec<String>) {
    let package = &project.package;
    let fallback = format!("background application {}", package.name);
    let summary = package
        .description
        .as_deref()
        .and_then(|d| d.lines().next())
        .map(|d| debian::one_line(d).trim_end_matches('.').to_string())
        .filter(|d| !d.is_empty());
    let summary = match summary {
        Some(s) if is_package_name(&s, &bgapp_manifest::package_stem(&package.name)) => {
            warnings.push(format!(
                "`description = \"{s}\"` in `[package]` is only the package's name, which Debian refuses as a synopsis (lintian: description-is-pkg-name); the .deb says `{fallback}`\n\n\
                 help: write what the app does in `description`, like `Prometheus exporter for WireGuard`"
            ));
            fallback
        }
        Some(s) => s,
        None => fallback,
    };
    let readme = match &package.readme {
        Some(r) => project.manifest_dir().join(r.as_std_path()),
        None => project.manifest_dir().join("README.md"),
    };
    let long = std::fs::read_to_string(readme)
        .ok()
        .map(|text| first_paragraph(&text, &summary))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| describe_tasks(doc, package.description.as_deref()));
    (summary, long)
}

/// Why the `.deb` cannot name a maintainer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MaintainerError {
    #[error("the .deb needs a maintainer, and package `{0}` names none\n\n\
             help: set `authors = [\"Name <email>\"]` in `[package]`, or `maintainer = \"Name <email>\"` in `[package.metadata.bgapp]`")]
    Missing(String),
    #[error(transparent)]
    Malformed(#[from] debian::FieldError),
}

/// The `.deb`'s `Maintainer:`, checked: `maintainer` (which the
/// configuration has checked already) or the first of `authors`, which
/// must be `Name <email>` too. The tarball needs none.
///
/// `package` calls this before it builds or writes anything when it is to
/// write a `.deb`.
pub fn deb_maintainer(project: &Project, config: &Config) -> Result<String, MaintainerError> {
    if let Some(m) = &config.maintainer {
        return Ok(m.clone());
    }
    let Some(author) = project.package.authors.first() else {
        return Err(MaintainerError::Missing(project.package.name.to_string()));
    };
    debian::check_maintainer(author, true)?;
    Ok(author.clone())
}

/// `Homepage:`: `homepage`, else `repository`, on one line.
fn homepage(project: &Project) -> anyhow::Result<Option<String>> {
    let p = &project.package;
    if let Some(h) = &p.homepage {
        debian::check_url("homepage", h)?;
    }
    if let Some(r) = &p.repository {
        debian::check_url("repository", r)?;
    }
    Ok(p.homepage.clone().or_else(|| p.repository.clone()))
}

/// What `package` can check before it builds or writes anything.
pub struct Preflight {
    /// The bundles' timestamp: a valid `SOURCE_DATE_EPOCH`, else the last
    /// commit's time.
    pub mtime: u64,
    /// The `.deb`'s maintainer: an error only when a `.deb` is wanted.
    pub maintainer: Result<String, MaintainerError>,
}

/// Checks `SOURCE_DATE_EPOCH` and finds the maintainer; `package` calls it
/// before it builds or writes anything (and fails on the maintainer if it
/// is to write a `.deb`), and [`Plan::new`] takes its values from it.
pub fn preflight(project: &Project, config: &Config) -> anyhow::Result<Preflight> {
    Ok(Preflight {
        mtime: source_date_epoch(project.manifest_dir())?,
        maintainer: deb_maintainer(project, config),
    })
}

/// A system user name that `useradd` and sysusers accept (the contract's
/// rule, shared with the scaffolder).
pub(crate) fn check_user(user: &str) -> anyhow::Result<()> {
    if let Err(e) = bgapp_manifest::check_user_name(user) {
        bail!(
            "{e}\n\n\
             help: set `user = \"...\"` in `[package.metadata.bgapp]`: lowercase letters, digits, `_` and `-`, at most {}",
            bgapp_manifest::name::USER_NAME_MAX
        );
    }
    Ok(())
}

/// `1.2.0-rc.1+build5` -> `1.2.0~rc.1+build5`: a pre-release sorts before
/// the release in Debian only with `~`.
fn debian_version(v: &str) -> String {
    let (main, build) = match v.split_once('+') {
        Some((m, b)) => (m, Some(b)),
        None => (v, None),
    };
    let mut out = main.replacen('-', "~", 1);
    if let Some(b) = build {
        out.push('+');
        out.push_str(b);
    }
    out
}

/// The long description when there is no README: what the tasks are.
fn describe_tasks(doc: &ManifestDoc, package_description: Option<&str>) -> Vec<String> {
    let mut lines = vec!["Background tasks, run by systemd:".to_string()];
    for task in doc.binaries.iter().flat_map(|b| b.tasks.iter()) {
        let when = match &task.trigger {
            bgapp_manifest::Trigger::Boot => "at boot".to_string(),
            bgapp_manifest::Trigger::Timer {
                schedule: bgapp_manifest::Schedule::Every(every),
            } => format!("every {}", bgapp_manifest::format_duration(*every)),
            bgapp_manifest::Trigger::Timer {
                schedule: bgapp_manifest::Schedule::Calendar(calendar),
            } => format!("on `{calendar}`"),
            bgapp_manifest::Trigger::Socket { listen } => format!("on a connection to {listen}"),
            bgapp_manifest::Trigger::Path { path, .. } => format!("when {path} changes"),
            bgapp_manifest::Trigger::Manual => "when started by an operator".to_string(),
        };
        // A task's description defaults to the package's: say it once.
        let what = task
            .description
            .as_deref()
            .filter(|d| Some(*d) != package_description)
            .map(debian::one_line);
        let mut line = format!(" - {}: {when}", task.name);
        if let Some(what) = what.filter(|w| !w.is_empty()) {
            line.push_str("; ");
            line.push_str(&what);
        }
        if line.len() > 79 {
            let cut = (0..=76)
                .rev()
                .find(|i| line.is_char_boundary(*i))
                .unwrap_or(0);
            line.truncate(cut);
            line.push_str("...");
        }
        lines.push(line);
    }
    lines
}

/// The first prose paragraph of a README that does not repeat `summary`
/// (Debian rejects a long description that starts with the synopsis):
/// no headings, badges or HTML, and Markdown links as their text.
fn first_paragraph(text: &str, summary: &str) -> Vec<String> {
    let normalize = |s: &str| s.trim().trim_end_matches('.').to_lowercase();
    let mut paragraph: Vec<String> = Vec::new();
    let mut lines = text.lines().map(str::trim).peekable();
    while let Some(t) = lines.next() {
        let skip = t.starts_with('#')
            || t.starts_with("[!")
            || t.starts_with("![")
            || t.starts_with('<')
            || t.starts_with("```");
        if !t.is_empty() && !skip {
            paragraph.push(unlink(t));
        }
        let ends = t.is_empty() || skip || lines.peek().is_none();
        if ends && !paragraph.is_empty() {
            let joined = paragraph.join(" ");
            if normalize(&joined) != normalize(summary) {
                return wrap(&joined, 78).into_iter().take(10).collect();
            }
            paragraph.clear();
        }
    }
    Vec::new()
}

/// Words in lines of at most `width` columns (Debian's limit is 80).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `[text](url)` -> `text`.
fn unlink(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| open + i) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|i| close + i) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `SOURCE_DATE_EPOCH`, else the last commit's time, else a fixed epoch.
///
/// A malformed or out-of-range `SOURCE_DATE_EPOCH` is an error, as the
/// reproducible-builds specification asks: a build must never quietly use
/// another time than the one it was given. Empty counts as unset.
fn source_date_epoch(dir: &Path) -> anyhow::Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => return parse_epoch(&v),
        Err(std::env::VarError::NotUnicode(v)) => {
            return parse_epoch(&v.to_string_lossy());
        }
        _ => {}
    }
    Ok(std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t| *t <= MAX_EPOCH)
        .unwrap_or(FALLBACK_EPOCH))
}

/// A `SOURCE_DATE_EPOCH` value: decimal digits only, as `date +%s` prints a
/// time from 1970 on, up to [`MAX_EPOCH`].
fn parse_epoch(value: &str) -> anyhow::Result<u64> {
    let shown = value.escape_debug();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "`SOURCE_DATE_EPOCH={shown}` is not a Unix time: it must be a whole number of seconds since 1970, as `date +%s` prints\n\n\
             help: set it like `SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)`, or unset it to use the last commit's time"
        );
    }
    match value.parse::<u64>() {
        Ok(t) if t <= MAX_EPOCH => Ok(t),
        _ => bail!(
            "`SOURCE_DATE_EPOCH={shown}` is out of range: a bundle's timestamps go up to {MAX_EPOCH} (2242-03-16)\n\n\
             help: set it like `SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)`, or unset it to use the last commit's time"
        ),
    }
}

/// A machine-readable `debian/copyright` from the package's license.
fn copyright(project: &Project, config: &Config, mtime: u64) -> String {
    let p = &project.package;
    let mut holders: Vec<String> = p.authors.iter().map(|a| debian::one_line(a)).collect();
    if holders.is_empty() {
        holders.extend(config.maintainer.clone());
    }
    if holders.is_empty() {
        holders.push(format!("the {} authors", p.name));
    }
    let license = p
        .license
        .as_deref()
        .map(debian::one_line)
        .unwrap_or_else(|| "UNKNOWN".to_string());
    let mut s = String::from(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
    );
    s.push_str(&format!("Upstream-Name: {}\n", p.name));
    if let Some(repo) = &p.repository {
        s.push_str(&format!("Source: {}\n", debian::one_line(repo)));
    }
    s.push_str("\nFiles: *\n");
    let year = civil(mtime).year;
    let holders: Vec<String> = holders.iter().map(|h| format!("{year} {h}")).collect();
    s.push_str(&format!("Copyright: {}\n", holders.join("\n           ")));
    s.push_str(&format!("License: {license}\n"));
    if let Some(file) = &p.license_file {
        s.push_str(&format!(
            " See {} in the source of {}.\n",
            debian::one_line(file.as_str()),
            p.name
        ));
    }
    s
}

/// The UTC civil time of a Unix time.
fn civil(t: u64) -> bgapp_manifest::CivilTime {
    bgapp_manifest::CivilTime::from_unix_utc(i64::try_from(t).unwrap_or(i64::MAX))
}

/// `Wed, 01 Jan 2020 00:00:00 +0000`, as Debian changelogs want it.
fn rfc2822(t: u64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(t);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[c.weekday() as usize],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_577_836_800), "Wed, 01 Jan 2020 00:00:00 +0000");
        assert_eq!(rfc2822(1_709_210_096), "Thu, 29 Feb 2024 12:34:56 +0000");
    }

    use super::*;

    #[test]
    fn debian_versions() {
        assert_eq!(debian_version("0.1.0"), "0.1.0");
        assert_eq!(debian_version("1.2.0-rc.1"), "1.2.0~rc.1");
        assert_eq!(debian_version("1.2.0-rc.1+b5"), "1.2.0~rc.1+b5");
    }

    #[test]
    fn readme_paragraph() {
        let text = "# Hello\n\n[![ci](x)](y)\n\nSays hello\nevery day.\n\nMore.\n";
        assert_eq!(
            first_paragraph(text, "Hello app"),
            ["Says hello every day."]
        );
        let text = "# app\n\nA hello app\n\nA [bgapp](https://x) app\nthat says hello.\n";
        assert_eq!(
            first_paragraph(text, "A hello app."),
            ["A bgapp app that says hello."]
        );
        assert_eq!(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
    }

    /// A malformed or out-of-range `SOURCE_DATE_EPOCH` is refused (it was
    /// replaced by 2020-01-01, or made a corrupt `ar` header), naming it.
    #[test]
    fn source_date_epochs() {
        assert_eq!(parse_epoch("0").unwrap(), 0);
        assert_eq!(parse_epoch("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_epoch("8589934591").unwrap(), MAX_EPOCH);
        for bad in ["-1", "abc", "1e9", " 17", "17 ", "1.5", "+5", "0x10"] {
            let msg = parse_epoch(bad).unwrap_err().to_string();
            assert!(
                msg.starts_with(&format!("`SOURCE_DATE_EPOCH={bad}` is not a Unix time")),
                "{msg}"
            );
        }
        for bad in [
            "18446744073709551615",
            "8589934592",
            "99999999999999999999999",
        ] {
            let msg = parse_epoch(bad).unwrap_err().to_string();
            assert!(
                msg.starts_with(&format!("`SOURCE_DATE_EPOCH={bad}` is out of range")),
                "{msg}"
            );
        }
        // The bundles hold the latest time allowed.
        let mut ar = ar::ArWriter::new(Vec::new(), MAX_EPOCH).unwrap();
        ar.append("debian-binary", b"2.0\n").unwrap();
        assert_eq!(ar.finish().len(), 8 + 60 + 4);
    }

    /// lintian's `description-is-pkg-name` folds case, `-`, `_`, `/`, `\`.
    #[test]
    fn a_synopsis_that_is_the_package_name() {
        for s in ["wg_exporter", "WG-Exporter", "wg exporter", "wg/exporter"] {
            assert!(is_package_name(s, "wg-exporter"), "{s}");
        }
        for s in ["wg-exporter for WireGuard", "exporter", "wgexporter"] {
            assert!(!is_package_name(s, "wg-exporter"), "{s}");
        }
    }

    #[test]
    fn user_names() {
        assert!(check_user("hello-app").is_ok());
        assert!(check_user("Hello").is_err());
        assert!(check_user("1app").is_err());
    }
}
