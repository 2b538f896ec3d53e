//! The `Cargo.toml` edits, all through `toml_edit` so that a user's
//! formatting and comments survive: joining an enclosing workspace, and
//! merging a template's manifest into an existing one (`init`).
//!
//! Layer: scaffold.

use std::path::{Component, Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Table, Value};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("failed to parse `{}`: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("`{}`: `{key}` is not {expected}", path.display())]
    Shape {
        path: PathBuf,
        key: String,
        expected: &'static str,
    },
}

pub fn parse(path: &Path, text: &str) -> Result<DocumentMut, ManifestError> {
    text.parse()
        .map_err(|e: toml_edit::TomlError| ManifestError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
}

/// Removes `.` and resolves `..` without touching the file system, so that
/// paths compare as the user wrote them, through symlinks too.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The workspace that a package in `dir` would belong to: the closest
/// `Cargo.toml` above `dir` with a `[workspace]` table, as Cargo finds it.
pub struct Workspace {
    /// The workspace's `Cargo.toml`.
    pub manifest_path: PathBuf,
    pub document: DocumentMut,
}

/// Finds the workspace above `dir` (absolute). Manifests that fail to
/// parse are skipped, as Cargo would fail on them later anyway; their
/// paths are returned to be warned about.
pub fn find_workspace(dir: &Path) -> (Option<Workspace>, Vec<PathBuf>) {
    let mut unreadable = Vec::new();
    for ancestor in dir.ancestors().skip(1) {
        let manifest_path = ancestor.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest_path) else {
            continue;
        };
        match parse(&manifest_path, &text) {
            Ok(document) if document.contains_key("workspace") => {
                return (
                    Some(Workspace {
                        manifest_path,
                        document,
                    }),
                    unreadable,
                );
            }
            Ok(_) => {}
            Err(_) => unreadable.push(manifest_path),
        }
    }
    (None, unreadable)
}

/// What becomes of a new package in an enclosing workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// `members` already covers it (by name or by a glob).
    Member,
    /// `exclude` names it (or a directory above it).
    Excluded,
    /// It must be added to `members`, as this relative path.
    Add(String),
}

impl Workspace {
    pub fn root(&self) -> &Path {
        self.manifest_path
            .parent()
            .expect("a manifest path has a parent")
    }

    /// How the package in `dir` (absolute, normalized) relates to this workspace.
    pub fn membership(&self, dir: &Path) -> Membership {
        let relative = dir
            .strip_prefix(self.root())
            .expect("the workspace is above the package");
        let relative: Vec<&str> = relative.iter().filter_map(|c| c.to_str()).collect();
        let workspace = &self.document["workspace"];
        let strings = |key: &str| -> Vec<String> {
            workspace
                .get(key)
                .and_then(Item::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let components = |entry: &str| -> Vec<String> {
            let path = normalize(Path::new(entry));
            path.iter()
                .filter_map(|c| c.to_str())
                .map(str::to_string)
                .collect()
        };
        if relative.is_empty() {
            return Membership::Member;
        }
        for entry in strings("exclude") {
            let excluded = components(&entry);
            if relative.len() >= excluded.len()
                && relative.iter().zip(&excluded).all(|(a, b)| a == b)
            {
                return Membership::Excluded;
            }
        }
        for entry in strings("members") {
            let pattern = components(&entry);
            if pattern.len() == relative.len()
                && pattern.iter().zip(&relative).all(|(p, c)| glob_match(p, c))
            {
                return Membership::Member;
            }
        }
        Membership::Add(relative.join("/"))
    }

    /// The packages of the workspace, by name, with their manifests: the
    /// root's own package and each directory `members` names or matches
    /// (globs as [`Workspace::membership`] reads them), but those `exclude`
    /// names and `except` (the directory `init` adds an app to).
    pub fn packages(&self, except: &Path) -> Vec<(String, PathBuf)> {
        let mut found = Vec::new();
        let mut seen = Vec::new();
        let mut visit = |dir: PathBuf, found: &mut Vec<(String, PathBuf)>| {
            if dir == except || seen.contains(&dir) || !dir.starts_with(self.root()) {
                return;
            }
            seen.push(dir.clone());
            if dir != self.root() && self.membership(&dir) != Membership::Member {
                return;
            }
            let manifest_path = dir.join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&manifest_path) else {
                return;
            };
            let Ok(doc) = text.parse::<DocumentMut>() else {
                return;
            };
            if let Some(name) = doc
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
            {
                found.push((name.to_string(), manifest_path));
            }
        };
        visit(self.root().to_path_buf(), &mut found);
        let patterns: Vec<String> = self.document["workspace"]
            .get("members")
            .and_then(Item::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        for pattern in patterns {
            let mut dirs = vec![self.root().to_path_buf()];
            for component in normalize(Path::new(&pattern)).iter() {
                let Some(component) = component.to_str() else {
                    dirs.clear();
                    break;
                };
                let mut next = Vec::new();
                for dir in dirs {
                    if !component.contains(['*', '?']) {
                        next.push(dir.join(component));
                        continue;
                    }
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        continue;
                    };
                    let mut matched: Vec<PathBuf> = entries
                        .flatten()
                        .filter(|e| {
                            e.file_name()
                                .to_str()
                                .is_some_and(|n| glob_match(component, n))
                        })
                        .map(|e| e.path())
                        .collect();
                    matched.sort();
                    next.extend(matched);
                }
                dirs = next;
            }
            for dir in dirs {
                visit(normalize(&dir), &mut found);
            }
        }
        found
    }

    /// Adds `member` to `[workspace] members`, in order if the list is
    /// sorted, in the list's own layout.
    pub fn add_member(&mut self, member: &str) -> Result<(), ManifestError> {
        let shape = |key: &str, expected| ManifestError::Shape {
            path: self.manifest_path.clone(),
            key: key.to_string(),
            expected,
        };
        let workspace = self.document["workspace"]
            .as_table_like_mut()
            .ok_or_else(|| shape("workspace", "a table"))?;
        if !workspace.contains_key("members") {
            workspace.insert("members", toml_edit::value(Array::new()));
        }
        let members = workspace
            .get_mut("members")
            .and_then(Item::as_array_mut)
            .ok_or_else(|| shape("workspace.members", "an array"))?;
        insert_in_layout(members, member);
        Ok(())
    }
}

/// Inserts `text` into `array`, sorted if the array is, with the
/// whitespace its other elements have (one per line stays one per line,
/// and a comment after an element stays on that element's line).
fn insert_in_layout(array: &mut Array, text: &str) {
    let existing: Vec<&str> = array.iter().filter_map(|v| v.as_str()).collect();
    let sorted = existing.len() == array.len() && existing.windows(2).all(|w| w[0] <= w[1]);
    let index = if sorted {
        existing.partition_point(|m| *m < text)
    } else {
        array.len()
    };
    let prefix = |v: &Value| {
        v.decor()
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_string()
    };
    let trailing = array.trailing().as_str().unwrap_or("").to_string();
    let multi_line = array.iter().any(|v| prefix(v).contains('\n')) || trailing.contains('\n');
    let mut value = Value::from(text);
    if !multi_line {
        array.insert_formatted(index, value);
        array.fmt();
        return;
    }
    // In a multi-line array, the whitespace before an element starts with
    // the end of the line before it (`,  # comment\n`): that part stays
    // where it is, and the new element takes the indentation.
    let indent = |p: &str| p.rsplit('\n').next().unwrap_or("").to_string();
    if index < array.len() {
        let old = prefix(array.get(index).expect("in bounds"));
        let (line_end, rest) = split_line_end(&old);
        value
            .decor_mut()
            .set_prefix(format!("{line_end}{}", indent(&old)));
        let next = array.get_mut(index).expect("in bounds");
        next.decor_mut().set_prefix(format!("\n{rest}"));
    } else if array.trailing_comma() {
        let last_indent = array
            .iter()
            .last()
            .map(|v| indent(&prefix(v)))
            .unwrap_or_else(|| "    ".to_string());
        let (line_end, rest) = split_line_end(&trailing);
        value
            .decor_mut()
            .set_prefix(format!("{line_end}{last_indent}"));
        array.set_trailing(format!("\n{rest}"));
    } else if let Some(last) = array.iter_mut().last() {
        // No trailing comma: the line break before `]` follows the last
        // element, and now follows the new one.
        let last_indent = indent(&prefix(last));
        let suffix = last
            .decor()
            .suffix()
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_string();
        last.decor_mut().set_suffix("");
        value.decor_mut().set_prefix(format!("\n{last_indent}"));
        value.decor_mut().set_suffix(suffix);
    }
    array.insert_formatted(index, value);
}

/// Splits whitespace after the first line break: `("  # c\n", "  ")`.
fn split_line_end(text: &str) -> (&str, &str) {
    match text.find('\n') {
        Some(i) => text.split_at(i + 1),
        None => ("\n", text),
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// Makes the package its own workspace root (`[workspace]`), so that it
/// builds although a workspace above it does not list it.
pub fn make_standalone(document: &mut DocumentMut) {
    if !document.contains_key("workspace") {
        document.insert("workspace", Item::Table(Table::new()));
    }
}

/// Merges `template` into `existing` by adding what is missing: tables,
/// keys, and the features a dependency needs. Nothing already in
/// `existing` is changed or removed, so its comments and layout survive.
/// Returns the dotted keys that were added.
pub fn merge(existing: &mut DocumentMut, template: &DocumentMut) -> Vec<String> {
    let mut added = Vec::new();
    merge_table(existing.as_table_mut(), template.as_table(), "", &mut added);
    added
}

fn is_dependency_table(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    matches!(
        last,
        "dependencies" | "dev-dependencies" | "build-dependencies"
    )
}

fn merge_table(
    existing: &mut dyn toml_edit::TableLike,
    template: &dyn toml_edit::TableLike,
    path: &str,
    added: &mut Vec<String>,
) {
    for (key, item) in template.iter() {
        let dotted = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        match existing.get_mut(key) {
            None => {
                existing.insert(key, item.clone());
                added.push(dotted);
            }
            Some(current) if is_dependency_table(path) => {
                if merge_features(current, item) {
                    added.push(format!("{dotted}.features"));
                }
            }
            Some(current) => {
                if let (Some(current), Some(item)) =
                    (current.as_table_like_mut(), item.as_table_like())
                {
                    merge_table(current, item, &dotted, added);
                }
            }
        }
    }
}

/// Adds to the dependency `current` the features `template` asks for.
/// Returns whether anything was added.
fn merge_features(current: &mut Item, template: &Item) -> bool {
    let wanted: Vec<String> = template
        .get("features")
        .and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if wanted.is_empty() {
        return false;
    }
    // `tokio = "1"` becomes `tokio = { version = "1", features = [...] }`.
    if let Some(version) = current.as_str().map(str::to_string) {
        let mut table = toml_edit::InlineTable::new();
        table.insert("version", Value::from(version));
        let decor = current
            .as_value()
            .map(|v| v.decor().clone())
            .unwrap_or_default();
        let mut value = Value::InlineTable(table);
        *value.decor_mut() = decor;
        *current = Item::Value(value);
    }
    let Some(table) = current.as_table_like_mut() else {
        return false;
    };
    if !table.contains_key("features") {
        table.insert("features", toml_edit::value(Array::new()));
    }
    let Some(features) = table.get_mut("features").and_then(Item::as_array_mut) else {
        return false;
    };
    let mut changed = false;
    for feature in wanted {
        if !features.iter().any(|f| f.as_str() == Some(&feature)) {
            features.push(feature);
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(text: &str) -> Workspace {
        Workspace {
            manifest_path: PathBuf::from("/ws/Cargo.toml"),
            document: text.parse().unwrap(),
        }
    }

    #[test]
    fn membership_follows_members_and_exclude() {
        let ws = workspace(
            "[workspace]\nmembers = [\"apps/*\", \"tool\"]\nexclude = [\"apps/old\", \"vendor\"]\n",
        );
        assert_eq!(ws.membership(Path::new("/ws/apps/new")), Membership::Member);
        assert_eq!(ws.membership(Path::new("/ws/tool")), Membership::Member);
        assert_eq!(
            ws.membership(Path::new("/ws/apps/old")),
            Membership::Excluded
        );
        assert_eq!(
            ws.membership(Path::new("/ws/vendor/x/y")),
            Membership::Excluded
        );
        assert_eq!(
            ws.membership(Path::new("/ws/apps/a/b")),
            Membership::Add("apps/a/b".into())
        );
        assert_eq!(
            ws.membership(Path::new("/ws/other")),
            Membership::Add("other".into())
        );
        assert_eq!(ws.membership(Path::new("/ws")), Membership::Member);
    }

    #[test]
    fn adds_members_in_the_lists_layout() {
        let cases = [
            (
                "[workspace]\nmembers = [\"a\", \"c\"]\n",
                "[workspace]\nmembers = [\"a\", \"b\", \"c\"]\n",
            ),
            (
                "[workspace]\nmembers = [\n    \"a\",\n    \"c\",\n]\n",
                "[workspace]\nmembers = [\n    \"a\",\n    \"b\",\n    \"c\",\n]\n",
            ),
            (
                "[workspace]\nmembers = [\n    \"c\",\n    \"d\", # last\n]\n",
                "[workspace]\nmembers = [\n    \"b\",\n    \"c\",\n    \"d\", # last\n]\n",
            ),
            (
                "[workspace]\nmembers = [\"z\", \"a\"]\n",
                "[workspace]\nmembers = [\"z\", \"a\", \"b\"]\n",
            ),
            (
                "[workspace]\nmembers = [\n    \"a\",  # first\n    \"c\",\n]\n",
                "[workspace]\nmembers = [\n    \"a\",  # first\n    \"b\",\n    \"c\",\n]\n",
            ),
            (
                "[workspace]\nmembers = [\n    \"a\", # last\n]\n",
                "[workspace]\nmembers = [\n    \"a\", # last\n    \"b\",\n]\n",
            ),
            (
                "[workspace]\nmembers = [\n  \"a\"\n]\n",
                "[workspace]\nmembers = [\n  \"a\",\n  \"b\"\n]\n",
            ),
            (
                "[workspace]\nmembers = []\n",
                "[workspace]\nmembers = [\"b\"]\n",
            ),
            (
                "[workspace]\nmembers = [ \"a\" ]\n",
                "[workspace]\nmembers = [\"a\", \"b\"]\n",
            ),
            (
                "# root\n[workspace] # here\nresolver = \"2\"\n",
                "# root\n[workspace] # here\nresolver = \"2\"\nmembers = [\"b\"]\n",
            ),
        ];
        for (before, after) in cases {
            let mut ws = workspace(before);
            ws.add_member("b").unwrap();
            assert_eq!(ws.document.to_string(), after, "from:\n{before}");
        }
    }

    #[test]
    fn merge_adds_and_never_changes() {
        let mut existing: DocumentMut = "# mine\n[package]\nname = \"mine\" # keep\nedition = \"2021\"\n\n[dependencies]\ntokio = \"1\" # rt\nserde = { version = \"1\", features = [\"derive\"] }\n"
            .parse()
            .unwrap();
        let template: DocumentMut = "[package]\nname = \"x\"\nedition = \"2024\"\ndescription = \"d\"\n\n[dependencies]\nbgapp = \"0.1\"\ntokio = { version = \"1\", features = [\"macros\"] }\nserde = { version = \"1\", features = [\"derive\"] }\n"
            .parse()
            .unwrap();
        let added = merge(&mut existing, &template);
        assert_eq!(
            added,
            [
                "package.description",
                "dependencies.bgapp",
                "dependencies.tokio.features"
            ]
        );
        assert_eq!(
            existing.to_string(),
            "# mine\n[package]\nname = \"mine\" # keep\nedition = \"2021\"\ndescription = \"d\"\n\n[dependencies]\ntokio = { version = \"1\", features = [\"macros\"] } # rt\nserde = { version = \"1\", features = [\"derive\"] }\nbgapp = \"0.1\"\n"
        );
    }

    #[test]
    fn lists_the_packages_of_the_workspace() {
        let root = tempfile::tempdir().unwrap();
        let write = |dir: &str, name: &str| {
            let dir = root.path().join(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("Cargo.toml"),
                format!("[package]\nname = \"{name}\"\n"),
            )
            .unwrap();
        };
        write("apps/one", "one");
        write("apps/two", "two");
        write("apps/old", "old");
        write("tool", "tool");
        write("elsewhere", "elsewhere");
        let text = "[package]\nname = \"root\"\n[workspace]\nmembers = [\"apps/*\", \"tool\", \"missing\"]\nexclude = [\"apps/old\"]\n";
        std::fs::write(root.path().join("Cargo.toml"), text).unwrap();
        let ws = Workspace {
            manifest_path: root.path().join("Cargo.toml"),
            document: text.parse().unwrap(),
        };
        let names = |except: &str| -> Vec<String> {
            ws.packages(&root.path().join(except))
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        assert_eq!(names("new"), ["root", "one", "two", "tool"]);
        assert_eq!(names("apps/two"), ["root", "one", "tool"]);
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
