//! Scratch packages that depend on this bgapp, built with cargo by the
//! tests that need a whole build (rustc's own errors, rebuild tracking).
//! They share one target directory, so bgapp's dependencies build once.
//! Each test binary uses part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Scratch {
    pub dir: PathBuf,
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn target_root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("tests")
}

impl Scratch {
    /// A package `name` in its own folder, with `extra` appended to its
    /// `Cargo.toml` (after `[dependencies] bgapp = ...`) and the
    /// workspace's lock file, so nothing is resolved anew.
    pub fn new(name: &str, package_extra: &str, extra: &str) -> Scratch {
        let dir = target_root().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let scratch = Scratch { dir };
        scratch.write_manifest(name, package_extra, extra);
        std::fs::copy(
            workspace().join("Cargo.lock"),
            scratch.dir.join("Cargo.lock"),
        )
        .unwrap();
        scratch
    }

    pub fn write_manifest(&self, name: &str, package_extra: &str, extra: &str) {
        let bgapp = Path::new(env!("CARGO_MANIFEST_DIR")).display().to_string();
        let toml = format!(
            "[package]\nname = {name:?}\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n{package_extra}\n\
             [dependencies]\nbgapp = {{ path = {bgapp:?} }}\n\n[workspace]\n{extra}"
        );
        std::fs::write(self.dir.join("Cargo.toml"), toml).unwrap();
    }

    pub fn cargo(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO"))
            .args(args)
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", target_root().join("scratch-target"))
            .output()
            .unwrap()
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        target_root().join("scratch-target/debug").join(name)
    }
}
