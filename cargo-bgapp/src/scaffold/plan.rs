//! [`plan`]: everything `new` and `init` decide before a file is touched,
//! in the order it is decided: the destination and the existing manifest,
//! the name, the template's values, version control, the workspace above,
//! and every file rendered.
//!
//! Layer: scaffold (below the commands, beside `package/`).

use std::path::{Path, PathBuf};

use toml_edit::DocumentMut;

use super::template::{self, Template, TemplateError, Value, Values, VarKind};
use super::workspace::{self, Membership};
use super::{
    io, names, Action, GitInit, Mode, Plan, PlannedFile, Request, ScaffoldError, Vcs, WorkspaceEdit,
};

/// Files an existing project keeps in `init`, with a warning, instead of
/// being an error.
const KEPT_IF_PRESENT: &[&str] = &["README.md"];

/// Checks and renders everything; writes nothing.
pub fn plan(request: &Request) -> Result<Plan, ScaffoldError> {
    let dest = Destination::read(request)?;
    let name = choose_name(request, &dest)?;
    let template = template::find(&request.template)?;
    let mut warnings = Vec::new();
    let values = resolve_values(&template, request, &name, &mut warnings)?;
    let (git_init, write_gitignore) = version_control(request, &dest.dir);
    let ws = join_workspace(request, &dest, &name, &mut warnings)?;
    let mut render = Render {
        dest: &dest,
        mode: request.mode,
        template: &template,
        standalone: ws.standalone,
        member: ws.member,
        files: Vec::new(),
        conflicts: Vec::new(),
        warnings,
    };
    for &(source_path, text) in &template.files {
        let path = template::render(source_path, source_path, &values)?;
        let contents = template::render(source_path, text, &values)?;
        if path == ".gitignore" && !write_gitignore {
            continue;
        }
        render.file(path, contents)?;
    }
    if !render.conflicts.is_empty() {
        return Err(ScaffoldError::WouldOverwrite(render.conflicts));
    }
    Ok(Plan {
        name,
        template: template.name.clone(),
        mode: request.mode,
        files: render.files,
        git_init,
        workspace: ws.edit,
        warnings: render.warnings,
        dir: dest.dir,
    })
}

/// The project directory, and the `Cargo.toml` already in it (`init`).
struct Destination {
    dir: PathBuf,
    /// The path as given, for messages.
    shown: String,
    manifest: Option<DocumentMut>,
}

impl Destination {
    fn read(request: &Request) -> Result<Destination, ScaffoldError> {
        let dir = workspace::normalize(&request.cwd.join(&request.path));
        let shown = request.path.display().to_string();
        let manifest = match request.mode {
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
        Ok(Destination {
            dir,
            shown,
            manifest,
        })
    }
}

/// The existing package's name, else `--name`, else the directory's name;
/// checked as cargo checks it.
fn choose_name(request: &Request, dest: &Destination) -> Result<String, ScaffoldError> {
    let existing = dest.manifest.as_ref().and_then(|doc| {
        doc.get("package")?
            .get("name")?
            .as_str()
            .map(str::to_string)
    });
    match (&request.name, existing) {
        (Some(requested), Some(existing)) if *requested != existing => {
            Err(ScaffoldError::NameMismatch {
                path: dest.shown.clone(),
                existing,
                requested: requested.clone(),
            })
        }
        (_, Some(existing)) => {
            let user = dest.manifest.as_ref().and_then(|doc| {
                doc.get("package")?
                    .get("metadata")?
                    .get("bgapp")?
                    .get("user")?
                    .as_str()
                    .map(str::to_string)
            });
            names::check_existing_name(&existing, user.as_deref())?;
            Ok(existing)
        }
        (Some(requested), None) => {
            names::check_package_name(requested)?;
            Ok(requested.clone())
        }
        (None, None) => {
            let from_dir = dest
                .dir
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| ScaffoldError::NoName(dest.shown.clone()))?
                .to_string();
            names::check_package_name(&from_dir).map_err(ScaffoldError::NameFromDirectory)?;
            Ok(from_dir)
        }
    }
}

/// Whether to run `git init`, and whether to write `.gitignore`. Like
/// cargo, no new repository inside an existing one.
fn version_control(request: &Request, dir: &Path) -> (GitInit, bool) {
    let in_repository = dir.ancestors().any(|a| a.join(".git").exists());
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
    (git_init, write_gitignore)
}

/// What to do about a workspace above the project.
struct WorkspacePlan {
    /// The workspace's manifest with the new member added.
    edit: Option<WorkspaceEdit>,
    /// `--no-workspace` under a workspace: the project becomes its own.
    standalone: bool,
    /// The project is (or becomes) a member of the workspace above.
    member: bool,
}

fn join_workspace(
    request: &Request,
    dest: &Destination,
    name: &str,
    warnings: &mut Vec<String>,
) -> Result<WorkspacePlan, ScaffoldError> {
    let mut plan = WorkspacePlan {
        edit: None,
        standalone: false,
        member: false,
    };
    // A package that is a workspace of its own joins none.
    if dest
        .manifest
        .as_ref()
        .is_some_and(|doc| doc.contains_key("workspace"))
    {
        return Ok(plan);
    }
    let (found, unreadable) = workspace::find_workspace(&dest.dir);
    for path in unreadable {
        warnings.push(format!(
            "`{}` could not be parsed; not looking for a workspace there",
            path.display()
        ));
    }
    let Some(mut ws) = found else {
        return Ok(plan);
    };
    let membership = ws.membership(&dest.dir);
    let joins = match &membership {
        Membership::Member => true,
        Membership::Add(_) => request.join_workspace,
        Membership::Excluded => false,
    };
    plan.member = joins;
    // Cargo refuses a workspace with two packages of one name.
    if let Some((_, other)) = joins
        .then(|| ws.packages(&dest.dir))
        .into_iter()
        .flatten()
        .find(|(member, _)| member == name)
    {
        return Err(ScaffoldError::DuplicateMember {
            name: name.to_string(),
            workspace: ws.root().to_path_buf(),
            other,
            by_glob: membership == Membership::Member,
        });
    }
    match membership {
        Membership::Member | Membership::Excluded => {}
        Membership::Add(member) if request.join_workspace => {
            ws.add_member(&member)?;
            plan.edit = Some(WorkspaceEdit {
                contents: ws.document.to_string(),
                manifest_path: ws.manifest_path,
            });
        }
        Membership::Add(_) => plan.standalone = true,
    }
    Ok(plan)
}

/// The rendered files, sorted into what is written, merged, kept, or in
/// the way.
struct Render<'a> {
    dest: &'a Destination,
    mode: Mode,
    template: &'a Template,
    standalone: bool,
    member: bool,
    files: Vec<PlannedFile>,
    conflicts: Vec<String>,
    warnings: Vec<String>,
}

impl Render<'_> {
    /// Plans one rendered file.
    fn file(&mut self, path: String, contents: String) -> Result<(), ScaffoldError> {
        let target = self.dest.dir.join(&path);
        let exists = self.mode == Mode::Init && std::fs::symlink_metadata(&target).is_ok();
        if path == "Cargo.toml" {
            return self.manifest(path, &contents, exists);
        }
        if !exists {
            self.files.push(PlannedFile {
                path,
                contents,
                action: Action::Create,
            });
        } else if path == ".gitignore" {
            let current = std::fs::read_to_string(&target).map_err(io("read", &target))?;
            self.files.push(PlannedFile {
                contents: merge_lines(&current, &contents),
                path,
                action: Action::Merge,
            });
        } else if KEPT_IF_PRESENT.contains(&path.as_str()) {
            self.warnings.push(format!(
                "kept the existing `{path}`; the template's is not written"
            ));
        } else {
            self.conflicts.push(path);
        }
        Ok(())
    }

    /// `Cargo.toml`: the template's, or the existing one merged with it.
    fn manifest(
        &mut self,
        path: String,
        contents: &str,
        exists: bool,
    ) -> Result<(), ScaffoldError> {
        let mut rendered = workspace::parse(
            Path::new(&format!("templates/{}/Cargo.toml", self.template.name)),
            contents,
        )?;
        if self.standalone {
            workspace::make_standalone(&mut rendered);
        }
        // Cargo reads profiles only from the workspace root (and warns
        // about a member's at every build): a member keeps the workspace's.
        if self.member {
            rendered.remove("profile");
        }
        let file = match &self.dest.manifest {
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
                self.conflicts.push(path);
                return Ok(());
            }
            None => PlannedFile {
                path,
                contents: rendered.to_string(),
                action: Action::Create,
            },
        };
        self.files.push(file);
        Ok(())
    }
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
    warnings: &mut Vec<String>,
) -> Result<Values, ScaffoldError> {
    let mut builtins = Values::new();
    builtins.insert("name".into(), Value::Text(name.to_string()));
    builtins.insert("crate_name".into(), Value::Text(names::crate_name(name)));
    // The Debian package's name, its units' and its state directory's.
    builtins.insert(
        "stem".into(),
        Value::Text(bgapp_manifest::name::package_stem(name)),
    );
    builtins.insert("bgapp_dep".into(), Value::Toml(request.bgapp.toml()));
    check_defines(template, request)?;
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
        let default = template::render(
            &format!("{}.default", variable.name),
            &variable.default,
            &builtins,
        )?;
        let value = match defined(&variable.name) {
            Some(value) => value,
            None if variable.name == "description" && request.description.is_some() => {
                request.description.clone().unwrap_or_default()
            }
            None => default.clone(),
        };
        variable.kind.check(&variable.name, &value, &default)?;
        if variable.kind == VarKind::Description {
            warnings.extend(synopsis_warning(&value));
        }
        values.insert(variable.name.clone(), Value::Text(value));
    }
    Ok(values)
}

/// Debian's synopsis, which the description becomes, should not start
/// with an article (lintian: `description-synopsis-starts-with-article`).
fn synopsis_warning(description: &str) -> Option<String> {
    let first = description.split_whitespace().next()?;
    ["a", "an", "the"]
        .iter()
        .any(|a| first.eq_ignore_ascii_case(a))
        .then(|| {
            format!(
                "the description starts with the article `{first}`; Debian's synopsis should not (lintian: description-synopsis-starts-with-article)\n\n\
                 help: start with what the app is or does, like `Background app that ...`"
            )
        })
}

/// Every `-d KEY` names a variable of the template; a built-in one says
/// which flag sets it.
fn check_defines(template: &Template, request: &Request) -> Result<(), TemplateError> {
    let Some(key) = request
        .defines
        .iter()
        .map(|(key, _)| key)
        .find(|key| template.variable(key).is_none())
    else {
        return Ok(());
    };
    let flag = match key.as_str() {
        "name" | "crate_name" | "stem" => Some("--name"),
        "bgapp_dep" => Some("--bgapp-path` or `--bgapp-version"),
        _ => None,
    };
    Err(match flag {
        Some(flag) => TemplateError::BuiltinVariable {
            key: key.clone(),
            flag,
        },
        None => TemplateError::UnknownVariable {
            key: key.clone(),
            template: template.name.clone(),
            known: template.variables.iter().map(|v| v.name.clone()).collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synopsis_starting_with_an_article_is_warned_about() {
        for d in ["A background app", "an app", "THE app", "  a b"] {
            assert!(synopsis_warning(d).is_some(), "{d}");
        }
        for d in ["Background app", "Another app", "Theme server", "", "Apps"] {
            assert_eq!(synopsis_warning(d), None, "{d}");
        }
    }

    #[test]
    fn merges_missing_lines() {
        assert_eq!(merge_lines("", "/target\n"), "/target\n");
        assert_eq!(merge_lines("*.log", "/target\n*.log\n"), "*.log\n/target\n");
        assert_eq!(merge_lines("/target\n", "/target\n"), "/target\n");
    }
}
