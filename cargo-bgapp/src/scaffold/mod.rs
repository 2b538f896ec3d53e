//! Scaffolding a background app from an embedded template, for
//! `cargo bgapp new` and `cargo bgapp init`.
//!
//! [`plan()`] does everything that can fail before a file is touched: it
//! checks the name, resolves the template's variables, renders every file,
//! merges an existing `Cargo.toml` and prepares the workspace edit. Only
//! then does [`Plan::apply`] write, so that an error leaves nothing behind.
//!
//! Layer: scaffold, below the commands (`new`, `init`) and beside
//! `package/` and `supervise/`; it knows neither the command line nor the
//! terminal.

mod apply;
pub mod names;
mod plan;
pub mod template;
pub mod workspace;

use std::path::{Path, PathBuf};

use template::TemplateError;
use workspace::ManifestError;

pub use names::NameError;
pub use plan::plan;

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
    #[error(
        "the workspace at `{}` already has a package named `{name}` (`{}`); cargo refuses two packages of one name in a workspace\n\n\
         help: choose another name with `--name`{}",
        workspace.display(),
        other.display(),
        if *by_glob { "" } else { ", or keep the app out of the workspace with `--no-workspace`" }
    )]
    DuplicateMember {
        name: String,
        workspace: PathBuf,
        other: PathBuf,
        /// The workspace's `members` already match the new directory, so
        /// `--no-workspace` cannot keep it out.
        by_glob: bool,
    },
    #[error("invalid `--bgapp-version` `{version}`: {reason}\n\nhelp: write a version requirement as in `Cargo.toml`, like `{example}`")]
    BgappVersion {
        version: String,
        reason: String,
        example: &'static str,
    },
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            check_version_requirement(version)?;
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

/// `--bgapp-version`: a requirement cargo takes (`0.1`, `=0.1.2`, `^1`),
/// or every cargo command in the new project would fail.
fn check_version_requirement(version: &str) -> Result<(), ScaffoldError> {
    let invalid = |reason: String| ScaffoldError::BgappVersion {
        version: version.escape_debug().to_string(),
        reason,
        example: env!("CARGO_PKG_VERSION"),
    };
    if version.trim().is_empty() {
        return Err(invalid("it is empty".to_string()));
    }
    semver::VersionReq::parse(version)
        .map(drop)
        .map_err(|e| invalid(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgapp_versions_are_requirements_cargo_takes() {
        let cwd = Path::new("/");
        for ok in ["0.1", "0.1.0", "=0.1.2", "^1", ">=0.1, <0.3", "*"] {
            assert_eq!(
                BgappSource::resolve(None, Some(ok), cwd).unwrap(),
                BgappSource::Version(ok.to_string()),
                "{ok}"
            );
        }
        for bad in ["not a version", "", "0.1.x.y", "v1", "1.0 2.0"] {
            let err = BgappSource::resolve(None, Some(bad), cwd).unwrap_err();
            assert!(
                matches!(err, ScaffoldError::BgappVersion { .. }),
                "{bad}: {err}"
            );
        }
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
