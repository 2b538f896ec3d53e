//! Scaffolding a background app from an embedded template, for
//! `cargo bgapp new` and `cargo bgapp init`.
//!
//! [`plan`] does everything that can fail before a file is touched: it
//! checks the name, resolves the template's variables, renders every file,
//! merges an existing `Cargo.toml` and prepares the workspace edit. Only
//! then does [`Plan::apply`] write, so that an error leaves nothing behind.

pub mod names;
pub mod template;
pub mod workspace;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use template::{Template, TemplateError, Value, Values};
use workspace::{ManifestError, Membership};

pub use names::NameError;

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{0}\n\nhelp: to give the package a name that differs from the directory name, use `--name`")]
    NameFromDirectory(NameError),
    #[error("cannot infer a package name from the path `{0}`\n\nhelp: use `--name`")]
    NoName(String),
    #[error("the package in `{path}` is called `{existing}`, not `{requested}`")]
    NameMismatch {
        path: String,
        existing: String,
        requested: String,
    },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("destination `{0}` already exists\n\nhelp: use `cargo bgapp init` to add a background app to an existing directory")]
    Exists(String),
    #[error("`{0}` is not a directory")]
    NotADirectory(String),
    #[error(
        "`cargo bgapp init` would overwrite {}\n\nhelp: move {} out of the way, or create the app in a new directory with `cargo bgapp new`",
        list(.0), if .0.len() == 1 { "it" } else { "them" }
    )]
    WouldOverwrite(Vec<String>),
    #[error("`{0}` is not the path of the `bgapp` crate (no `Cargo.toml` of a package called `bgapp` there)")]
    NotBgapp(String),
    #[error("`description` is given twice, with `--description` and with `-d description=...`")]
    DescriptionTwice,
    #[error("failed to {action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`git init` failed in `{}`: {message}", path.display())]
    Git { path: PathBuf, message: String },
}

fn list(files: &[String]) -> String {
    files
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ScaffoldError + 'a {
    move |source| ScaffoldError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    New,
    Init,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Vcs {
    Git,
    None,
}

/// Where the generated project gets the `bgapp` crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BgappSource {
    Path(PathBuf),
    Version(String),
}

/// This repository's `bgapp` crate, when `cargo-bgapp` was built from
/// this repository and the checkout is still there.
fn repository_bgapp() -> Option<PathBuf> {
    let dir = workspace::normalize(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../bgapp")));
    is_bgapp_crate(&dir).then_some(dir)
}

fn is_bgapp_crate(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
        return false;
    };
    let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
        return false;
    };
    doc.get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        == Some("bgapp")
}

impl BgappSource {
    /// The source the options ask for: `--bgapp-path` (relative to `cwd`),
    /// `--bgapp-version`, or else this repository's crate if there is one,
    /// or else the version of `bgapp` released with this `cargo-bgapp`.
    pub fn resolve(
        path: Option<&Path>,
        version: Option<&str>,
        cwd: &Path,
    ) -> Result<BgappSource, ScaffoldError> {
        if let Some(path) = path {
            let dir = workspace::normalize(&cwd.join(path));
            if !is_bgapp_crate(&dir) {
                return Err(ScaffoldError::NotBgapp(path.display().to_string()));
            }
            return Ok(BgappSource::Path(dir));
        }
        if let Some(version) = version {
            return Ok(BgappSource::Version(version.to_string()));
        }
        Ok(match repository_bgapp() {
            Some(dir) => BgappSource::Path(dir),
            None => BgappSource::Version(env!("CARGO_PKG_VERSION").to_string()),
        })
    }

    /// The dependency's value in `Cargo.toml`.
    fn toml(&self) -> String {
        match self {
            BgappSource::Path(dir) => {
                let mut table = toml_edit::InlineTable::new();
                table.insert("path", dir.display().to_string().into());
                table.fmt();
                toml_edit::Value::InlineTable(table).to_string()
            }
            BgappSource::Version(v) => toml_edit::Value::from(v.as_str()).to_string(),
        }
        .trim()
        .to_string()
    }
}

/// What the user asked for, with the options resolved to values.
#[derive(Debug, Clone)]
pub struct Request {
    pub mode: Mode,
    /// The directory, as given (for messages).
    pub path: PathBuf,
    /// The directory the path is relative to.
    pub cwd: PathBuf,
    pub name: Option<String>,
    pub template: String,
    pub vcs: Option<Vcs>,
    pub description: Option<String>,
    pub defines: Vec<(String, String)>,
    pub join_workspace: bool,
    pub bgapp: BgappSource,
}

/// How a planned file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new file; it must not exist.
    Create,
    /// An existing file, merged with the template's (`Cargo.toml`, `.gitignore`).
    Merge,
}

#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Relative to the project directory, with `/`.
    pub path: String,
    pub contents: String,
    pub action: Action,
}

/// The workspace `Cargo.toml` to rewrite with the new member.
#[derive(Debug, Clone)]
pub struct WorkspaceEdit {
    pub manifest_path: PathBuf,
    pub contents: String,
}

/// Whether `apply` runs `git init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitInit {
    No,
    /// `--vcs git`: without git, an error.
    Required,
    /// The default: without git, a warning.
    IfInstalled,
}

/// Everything `apply` will do, decided and rendered.
#[derive(Debug)]
pub struct Plan {
    pub dir: PathBuf,
    pub name: String,
    pub template: String,
    pub mode: Mode,
    pub files: Vec<PlannedFile>,
    pub git_init: GitInit,
    pub workspace: Option<WorkspaceEdit>,
    /// Things to warn about; nothing that stops the plan.
    pub warnings: Vec<String>,
}

/// Files an existing project keeps in `init`, with a warning, instead of
/// being an error.
const KEPT_IF_PRESENT: &[&str] = &["README.md"];

fn inside_git_repository(dir: &Path) -> bool {
    dir.ancestors().any(|a| a.join(".git").exists())
}

/// Checks and renders everything; writes nothing.
pub fn plan(request: &Request) -> Result<Plan, ScaffoldError> {
    let dir = workspace::normalize(&request.cwd.join(&request.path));
    let shown = request.path.display().to_string();
    let mut warnings = Vec::new();

    // The directory, and the name.
    let existing_manifest = match request.mode {
        Mode::New => {
            if std::fs::symlink_metadata(&dir).is_ok() {
                return Err(ScaffoldError::Exists(shown));
            }
            None
        }
        Mode::Init => {
            if dir.exists() && !dir.is_dir() {
                return Err(ScaffoldError::NotADirectory(shown));
            }
            let manifest_path = dir.join("Cargo.toml");
            match std::fs::read_to_string(&manifest_path) {
                Ok(text) => Some(workspace::parse(&manifest_path, &text)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io("read", &manifest_path)(e)),
            }
        }
    };
    let existing_name = existing_manifest.as_ref().and_then(|doc| {
        doc.get("package")?
            .get("name")?
            .as_str()
            .map(str::to_string)
    });
    let name = match (&request.name, existing_name) {
        (Some(requested), Some(existing)) if *requested != existing => {
            return Err(ScaffoldError::NameMismatch {
                path: shown,
                existing,
                requested: requested.clone(),
            });
        }
        (_, Some(existing)) => {
            names::check_package_name(&existing)?;
            existing
        }
        (Some(requested), None) => {
            names::check_package_name(requested)?;
            requested.clone()
        }
        (None, None) => {
            let from_dir = dir
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| ScaffoldError::NoName(shown.clone()))?
                .to_string();
            names::check_package_name(&from_dir).map_err(ScaffoldError::NameFromDirectory)?;
            from_dir
        }
    };

    // The template and its variables.
    let template = template::find(&request.template)?;
    let values = resolve_values(&template, request, &name)?;

    // Version control: like Cargo, no new repository inside an existing one.
    let in_repository = inside_git_repository(&dir);
    let vcs = request
        .vcs
        .unwrap_or(if in_repository { Vcs::None } else { Vcs::Git });
    let git_init = if vcs != Vcs::Git || dir.join(".git").exists() {
        GitInit::No
    } else if request.vcs.is_some() {
        GitInit::Required
    } else {
        GitInit::IfInstalled
    };
    let write_gitignore =
        vcs == Vcs::Git || (request.mode == Mode::Init && dir.join(".git").exists());

    // The workspace above, if any.
    // A package that is a workspace of its own joins none.
    let own_workspace = existing_manifest
        .as_ref()
        .is_some_and(|doc| doc.contains_key("workspace"));
    let (found, unreadable) = if own_workspace {
        (None, Vec::new())
    } else {
        workspace::find_workspace(&dir)
    };
    for path in unreadable {
        warnings.push(format!(
            "`{}` could not be parsed; not looking for a workspace there",
            path.display()
        ));
    }
    let mut standalone = false;
    let mut workspace_edit = None;
    if let Some(mut ws) = found {
        match ws.membership(&dir) {
            Membership::Member | Membership::Excluded => {}
            Membership::Add(member) if request.join_workspace => {
                ws.add_member(&member)?;
                workspace_edit = Some(WorkspaceEdit {
                    contents: ws.document.to_string(),
                    manifest_path: ws.manifest_path,
                });
            }
            Membership::Add(_) => standalone = true,
        }
    }

    // Render every file.
    let mut files = Vec::new();
    let mut conflicts = Vec::new();
    for &(source_path, text) in &template.files {
        let path = template::render(source_path, source_path, &values)?;
        let contents = template::render(source_path, text, &values)?;
        if path == ".gitignore" && !write_gitignore {
            continue;
        }
        let target = dir.join(&path);
        let exists = request.mode == Mode::Init && std::fs::symlink_metadata(&target).is_ok();
        let file = if path == "Cargo.toml" {
            let mut rendered = workspace::parse(
                Path::new(&format!("templates/{}/Cargo.toml", template.name)),
                &contents,
            )?;
            if standalone {
                workspace::make_standalone(&mut rendered);
            }
            match &existing_manifest {
                Some(existing) => {
                    let mut merged = existing.clone();
                    workspace::merge(&mut merged, &rendered);
                    PlannedFile {
                        path,
                        contents: merged.to_string(),
                        action: Action::Merge,
                    }
                }
                None if exists => {
                    conflicts.push(path);
                    continue;
                }
                None => PlannedFile {
                    path,
                    contents: rendered.to_string(),
                    action: Action::Create,
                },
            }
        } else if !exists {
            PlannedFile {
                path,
                contents,
                action: Action::Create,
            }
        } else if path == ".gitignore" {
            let current = std::fs::read_to_string(&target).map_err(io("read", &target))?;
            PlannedFile {
                contents: merge_lines(&current, &contents),
                path,
                action: Action::Merge,
            }
        } else if KEPT_IF_PRESENT.contains(&path.as_str()) {
            warnings.push(format!(
                "kept the existing `{path}`; the template's is not written"
            ));
            continue;
        } else {
            conflicts.push(path);
            continue;
        };
        files.push(file);
    }
    if !conflicts.is_empty() {
        return Err(ScaffoldError::WouldOverwrite(conflicts));
    }

    Ok(Plan {
        dir,
        name,
        template: template.name,
        mode: request.mode,
        files,
        git_init,
        workspace: workspace_edit,
        warnings,
    })
}

/// `current` with the lines of `wanted` it lacks appended.
fn merge_lines(current: &str, wanted: &str) -> String {
    let mut out = current.to_string();
    let missing: Vec<&str> = wanted
        .lines()
        .filter(|line| !line.trim().is_empty() && !current.lines().any(|l| l.trim() == line.trim()))
        .collect();
    if missing.is_empty() {
        return out;
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for line in missing {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The built-in variables, then the template's: `-d`, the flags, or the
/// default; each value checked against its kind.
fn resolve_values(
    template: &Template,
    request: &Request,
    name: &str,
) -> Result<Values, ScaffoldError> {
    let mut builtins = Values::new();
    builtins.insert("name".into(), Value::Text(name.to_string()));
    builtins.insert("crate_name".into(), Value::Text(names::crate_name(name)));
    builtins.insert("bgapp_dep".into(), Value::Toml(request.bgapp.toml()));

    for (key, _) in &request.defines {
        if template.variable(key).is_some() {
            continue;
        }
        let flag = match key.as_str() {
            "name" | "crate_name" => Some("--name"),
            "bgapp_dep" => Some("--bgapp-path` or `--bgapp-version"),
            _ => None,
        };
        return Err(match flag {
            Some(flag) => TemplateError::BuiltinVariable {
                key: key.clone(),
                flag,
            },
            None => TemplateError::UnknownVariable {
                key: key.clone(),
                template: template.name.clone(),
                known: template.variables.iter().map(|v| v.name.clone()).collect(),
            },
        }
        .into());
    }
    let defined = |key: &str| {
        request
            .defines
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    if request.description.is_some() && defined("description").is_some() {
        return Err(ScaffoldError::DescriptionTwice);
    }

    let mut values = builtins.clone();
    for variable in &template.variables {
        let value = match defined(&variable.name) {
            Some(value) => value,
            None if variable.name == "description" && request.description.is_some() => {
                request.description.clone().unwrap_or_default()
            }
            None => template::render(
                &format!("{}.default", variable.name),
                &variable.default,
                &builtins,
            )?,
        };
        variable.kind.check(&variable.name, &value)?;
        values.insert(variable.name.clone(), Value::Text(value));
    }
    Ok(values)
}

impl Plan {
    /// Writes the plan. In `new`, a failure removes the new directory.
    /// Returns warnings about what could not be done but is not needed.
    pub fn apply(&self) -> Result<Vec<String>, ScaffoldError> {
        let created_dir = !self.dir.exists();
        let result = self.write_files();
        if result.is_err() && created_dir && self.mode == Mode::New {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        let warnings = result?;
        if let Some(edit) = &self.workspace {
            std::fs::write(&edit.manifest_path, &edit.contents)
                .map_err(io("write", &edit.manifest_path))?;
        }
        Ok(warnings)
    }

    fn write_files(&self) -> Result<Vec<String>, ScaffoldError> {
        let mut warnings = Vec::new();
        std::fs::create_dir_all(&self.dir).map_err(io("create directory", &self.dir))?;
        match (self.git_init, git_init(&self.dir, self.git_init)) {
            (_, Ok(())) => {}
            (GitInit::IfInstalled, Err(GitError::NotInstalled(_))) => {
                warnings.push("git is not installed: no repository was created".to_string());
            }
            (_, Err(GitError::NotInstalled(e))) => {
                return Err(ScaffoldError::Git {
                    path: self.dir.clone(),
                    message: format!("{e}; is git installed? (`--vcs none` creates no repository)"),
                });
            }
            (_, Err(GitError::Failed(message))) => {
                return Err(ScaffoldError::Git {
                    path: self.dir.clone(),
                    message,
                });
            }
        }
        for file in &self.files {
            let path = self.dir.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("create directory", parent))?;
            }
            match file.action {
                Action::Create => {
                    let mut out = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                        .map_err(io("create", &path))?;
                    out.write_all(file.contents.as_bytes())
                        .map_err(io("write", &path))?;
                }
                Action::Merge => {
                    std::fs::write(&path, &file.contents).map_err(io("write", &path))?
                }
            }
        }
        Ok(warnings)
    }
}

enum GitError {
    NotInstalled(std::io::Error),
    Failed(String),
}

fn git_init(dir: &Path, mode: GitInit) -> Result<(), GitError> {
    if mode == GitInit::No {
        return Ok(());
    }
    let output = Command::new("git")
        .arg("init")
        .arg("--quiet")
        .arg(dir)
        .output()
        .map_err(GitError::NotInstalled)?;
    if !output.status.success() {
        return Err(GitError::Failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_missing_lines() {
        assert_eq!(merge_lines("", "/target\n"), "/target\n");
        assert_eq!(merge_lines("*.log", "/target\n*.log\n"), "*.log\n/target\n");
        assert_eq!(merge_lines("/target\n", "/target\n"), "/target\n");
    }

    #[test]
    fn bgapp_dependency_values() {
        assert_eq!(
            BgappSource::Path(PathBuf::from("/src/bgapp")).toml(),
            r#"{ path = "/src/bgapp" }"#
        );
        assert_eq!(BgappSource::Version("0.1.0".into()).toml(), r#""0.1.0""#);
    }
}
