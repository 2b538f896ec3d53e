//! Embeds the project templates (`templates/` at the repository root) into
//! the binary: `cargo bgapp new` needs no network and no separate install.
//!
//! Generates `$OUT_DIR/templates.rs` with one `(path, contents)` pair per
//! file, paths relative to `templates/` with `/` separators, sorted.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    // A packaged crate carries its own copy; a checkout uses the shared one.
    let root = [
        manifest_dir.join("templates"),
        manifest_dir.join("../templates"),
    ]
    .into_iter()
    .find(|dir| dir.is_dir())
    .expect("the `templates` directory is missing");
    println!("cargo::rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();

    let mut out = String::from("pub static FILES: &[(&str, &str)] = &[\n");
    for (relative, absolute) in &files {
        writeln!(out, "    ({relative:?}, include_str!({absolute:?})),").unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("templates.rs");
    fs::write(dest, out).expect("failed to write templates.rs");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("failed to read `{}`: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("failed to read a directory entry");
        let path = entry.path();
        let file_type = entry.file_type().expect("failed to read a file type");
        // A template built in place leaves a `target` directory and a lock file.
        let name = entry.file_name();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        if file_type.is_dir() {
            collect(root, &path, files);
        } else if file_type.is_file() {
            let relative = path.strip_prefix(root).expect("below the root");
            let relative = relative
                .components()
                .map(|c| c.as_os_str().to_str().expect("template paths are UTF-8"))
                .collect::<Vec<_>>()
                .join("/");
            let absolute = path.to_str().expect("template paths are UTF-8").to_string();
            files.push((relative, absolute));
        }
    }
}
