//! Embeds the project templates (`cargo-bgapp/templates/`, inside this
//! crate so that the packaged crate carries them) into the binary:
//! `cargo bgapp new` needs no network and no separate install.
//!
//! Generates `$OUT_DIR/templates.rs` with one `(path, contents)` pair per
//! file, paths relative to `templates/` with `/` separators, sorted. A
//! template's manifest is stored as `Cargo.toml.tmpl` and embedded as
//! `Cargo.toml`: cargo leaves any directory holding a `Cargo.toml` out of a
//! packaged crate (it takes it for another package).
//!
//! Also passes on the target triple cargo-bgapp is built for, as
//! `CARGO_BGAPP_HOST_TRIPLE`: the architecture of the machine it runs on.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

/// The name a template's `Cargo.toml` is stored under.
const STORED_MANIFEST: &str = "Cargo.toml.tmpl";

fn main() {
    let target = env::var("TARGET").expect("set by cargo");
    println!("cargo::rustc-env=CARGO_BGAPP_HOST_TRIPLE={target}");

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.join("templates");
    assert!(
        root.is_dir(),
        "the `templates` directory is missing from `{}`",
        manifest_dir.display()
    );
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
        let name = entry.file_name();
        // A generated project built for a try leaves these behind.
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        assert!(
            name != "Cargo.toml",
            "`{}`: name it `{STORED_MANIFEST}`; cargo leaves a directory with a `Cargo.toml` out of the packaged crate",
            path.display()
        );
        if file_type.is_dir() {
            collect(root, &path, files);
        } else if file_type.is_file() {
            let relative = path.strip_prefix(root).expect("below the root");
            let relative = relative
                .components()
                .map(|c| match c.as_os_str().to_str() {
                    Some(STORED_MANIFEST) => "Cargo.toml",
                    Some(part) => part,
                    None => panic!("`{}`: template paths are UTF-8", path.display()),
                })
                .collect::<Vec<_>>()
                .join("/");
            let absolute = path.to_str().expect("template paths are UTF-8").to_string();
            files.push((relative, absolute));
        }
    }
}
