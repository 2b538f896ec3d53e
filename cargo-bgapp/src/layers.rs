//! The layering of `main.rs`, checked: each top-level module may name only
//! the modules listed for it here (through `crate::`); a new edge, such as
//! the packager reaching into a command, fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module -> the modules it may use.
const ALLOWED: &[(&str, &[&str])] = &[
    ("main", &["cli", "commands"]),
    ("cli", &["project", "scaffold", "shell"]),
    (
        "commands",
        &[
            "cli",
            "deploy",
            "package",
            "project",
            "scaffold",
            "shell",
            "supervise",
        ],
    ),
    ("scaffold", &[]),
    ("package", &["project"]),
    ("supervise", &["shell"]),
    ("deploy", &["project"]),
    ("project", &["shell"]),
    ("shell", &[]),
];

/// `crate::name` paths in `text`, outside comments.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        for (i, _) in code.match_indices("crate::") {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used
}

fn visit(dir: &Path, root: &Path, edges: &mut BTreeMap<String, BTreeSet<String>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, root, edges);
            continue;
        }
        if path.file_name().is_some_and(|n| n == "layers.rs") {
            continue; // Its tests spell `crate::` paths in strings.
        }
        let relative = path.strip_prefix(root).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = Path::new(first)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        edges.entry(module).or_default().extend(crate_paths(&text));
    }
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges = BTreeMap::new();
    visit(&src, &src, &mut edges);
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, used) in &edges {
        let Some(may) = allowed.get(module.as_str()) else {
            wrong.push(format!("`{module}` is not in the table of layers"));
            continue;
        };
        for target in used {
            if target != module && !may.contains(&target.as_str()) {
                wrong.push(format!("`{module}` uses `crate::{target}`"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn finds_crate_paths_in_code_only() {
    let text = "use crate::project::Project;\n// crate::cli in a comment\nlet x = crate::shell::Shell::new(); // crate::package\nmy_crate::other";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, ["project", "shell"]);
}
