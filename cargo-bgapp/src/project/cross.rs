//! Cross-compiling for a device of another architecture: the Rust standard
//! library for the target, and the linker cargo needs for it.
//!
//! Layer: project. Cargo links with the host's `cc` unless told otherwise,
//! and the host's linker cannot link an AArch64 or ARM binary. Debian's
//! cross compilers are named after the GNU type of the architecture
//! (`aarch64-linux-gnu-gcc`, `arm-linux-gnueabihf-gcc`), so bgapp sets
//! `CARGO_TARGET_<TRIPLE>_LINKER` to that compiler for the build, unless the
//! user has already chosen a linker (environment, `.cargo/config.toml`,
//! `-C linker` in the rustflags). What is missing is said in one line each,
//! with the command that installs it, before anything is built.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::arch::{Arch, Target};

/// A linker bgapp sets for the build: `(variable, program)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linker {
    pub variable: String,
    pub program: String,
}

/// What the environment and cargo's configuration say, read once so that
/// [`plan`] is a pure function.
#[derive(Debug)]
pub struct Inputs {
    /// The host's architecture (`None` when bgapp does not know it).
    pub host: Option<&'static Arch>,
    /// Whether the Rust standard library for the target is installed.
    pub std_installed: bool,
    /// Whether the user chose a linker for the target already.
    pub user_linker: bool,
    /// Whether the program is on `PATH`.
    pub on_path: fn(&str) -> bool,
}

/// `CARGO_TARGET_<TRIPLE>_LINKER`, as cargo spells it.
pub fn linker_variable(triple: &str) -> String {
    let upper: String = triple
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    format!("CARGO_TARGET_{upper}_LINKER")
}

/// Decides the linker for `target`, or says what is missing.
pub fn plan(target: &Target, inputs: &Inputs) -> anyhow::Result<Option<Linker>> {
    if !inputs.std_installed {
        bail!(
            "the Rust standard library for target `{triple}` is not installed\n\n\
             help: install it with `rustup target add {triple}`",
            triple = target.triple
        );
    }
    let Some(arch) = Arch::for_target(target) else {
        return Ok(None);
    };
    let same_cpu = inputs.host.is_some_and(|host| host.machine == arch.machine);
    // musl targets link with the self-contained linker rustc ships; only
    // glibc targets need the cross toolchain's C library and linker.
    if same_cpu || inputs.user_linker || !target.triple.contains("-linux-gnu") {
        return Ok(None);
    }
    let program = format!("{}-gcc", arch.gnu_type);
    if !(inputs.on_path)(&program) {
        bail!(
            "no linker for target `{triple}`: `{program}` is not installed\n\n\
             help: install Debian's cross compiler with `apt install {package}`\n\
             help: or set `target.{triple}.linker` in `.cargo/config.toml`",
            triple = target.triple,
            package = debian_package(arch),
        );
    }
    Ok(Some(Linker {
        variable: linker_variable(&target.triple),
        program,
    }))
}

/// Debian's cross compiler package for an architecture:
/// `gcc-aarch64-linux-gnu`, `gcc-arm-linux-gnueabihf`, `gcc-x86-64-linux-gnu`.
fn debian_package(arch: &Arch) -> String {
    format!("gcc-{}", arch.gnu_type.replace('_', "-"))
}

/// Reads [`Inputs`] from this machine for a build of the project in
/// `manifest_dir`.
pub fn inputs(target: &Target, manifest_dir: &Path, target_libdir: Option<PathBuf>) -> Inputs {
    Inputs {
        host: Arch::host(),
        std_installed: target_libdir.is_none_or(|dir| dir.is_dir()),
        user_linker: user_chose_linker(&target.triple, manifest_dir),
        on_path,
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let file = dir.join(program);
            file.metadata().is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    })
}

/// Whether the environment or a cargo configuration file that applies to
/// `manifest_dir` already names a linker for `triple`.
fn user_chose_linker(triple: &str, manifest_dir: &Path) -> bool {
    if std::env::var_os(linker_variable(triple)).is_some() {
        return true;
    }
    let per_target = linker_variable(triple).replace("_LINKER", "_RUSTFLAGS");
    let in_rustflags = [
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        per_target.as_str(),
    ]
    .into_iter()
    .filter_map(|name| std::env::var(name).ok())
    .any(|flags| names_linker(&flags));
    if in_rustflags {
        return true;
    }
    config_files(manifest_dir)
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .any(|text| config_names_linker(&text, triple))
}

fn names_linker(rustflags: &str) -> bool {
    rustflags.contains("linker=")
}

/// The cargo configuration files that apply to a build in `dir`, as cargo
/// finds them: `.cargo/config.toml` (or `.cargo/config`) in `dir` and every
/// folder above it, then in `$CARGO_HOME`.
fn config_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut push = |base: &Path| {
        for name in ["config.toml", "config"] {
            let file = base.join(name);
            if file.is_file() {
                files.push(file);
                break;
            }
        }
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    for ancestor in dir.ancestors() {
        push(&ancestor.join(".cargo"));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(home) = cargo_home {
        push(&home);
    }
    files
}

/// Whether a cargo configuration names a linker for `triple`: in
/// `[target.<triple>]`, in a `[target.'cfg(...)']` table (which may apply;
/// bgapp leaves the choice to it), or as `-C linker=` in rustflags there or
/// in `[build]`.
fn config_names_linker(text: &str, triple: &str) -> bool {
    let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
        return false;
    };
    let rustflags_name_linker = |item: Option<&toml_edit::Item>| {
        item.is_some_and(|flags| match flags {
            toml_edit::Item::Value(toml_edit::Value::String(s)) => names_linker(s.value()),
            toml_edit::Item::Value(toml_edit::Value::Array(a)) => {
                a.iter().filter_map(|v| v.as_str()).any(names_linker)
            }
            _ => false,
        })
    };
    if rustflags_name_linker(doc.get("build").and_then(|b| b.get("rustflags"))) {
        return true;
    }
    let Some(targets) = doc.get("target").and_then(|t| t.as_table_like()) else {
        return false;
    };
    let found = targets.iter().any(|(key, table)| {
        (key == triple || key.starts_with("cfg("))
            && (table.get("linker").is_some() || rustflags_name_linker(table.get("rustflags")))
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(triple: &str) -> Target {
        Target::from_triple(triple).unwrap()
    }

    fn inputs(host: &str, on_path: fn(&str) -> bool) -> Inputs {
        Inputs {
            host: Arch::by_deb(host),
            std_installed: true,
            user_linker: false,
            on_path,
        }
    }

    #[test]
    fn a_cross_target_gets_debians_cross_compiler() {
        let linker = plan(
            &target("aarch64-unknown-linux-gnu"),
            &inputs("amd64", |_| true),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            linker.variable,
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"
        );
        assert_eq!(linker.program, "aarch64-linux-gnu-gcc");
        let linker = plan(
            &target("armv7-unknown-linux-gnueabihf"),
            &inputs("amd64", |_| true),
        )
        .unwrap()
        .unwrap();
        assert_eq!(linker.program, "arm-linux-gnueabihf-gcc");
        assert_eq!(
            linker.variable,
            "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER"
        );
    }

    #[test]
    fn the_hosts_cpu_musl_and_a_users_linker_need_nothing() {
        let host = inputs("amd64", |_| panic!("not looked up"));
        assert_eq!(
            plan(&target("x86_64-unknown-linux-gnu"), &host).unwrap(),
            None
        );
        assert_eq!(
            plan(&target("x86_64-unknown-linux-musl"), &host).unwrap(),
            None
        );
        assert_eq!(
            plan(&target("aarch64-unknown-linux-musl"), &host).unwrap(),
            None
        );
        let user = Inputs {
            user_linker: true,
            ..inputs("amd64", |_| panic!("not looked up"))
        };
        assert_eq!(
            plan(&target("aarch64-unknown-linux-gnu"), &user).unwrap(),
            None
        );
    }

    #[test]
    fn what_is_missing_is_named_with_the_command_that_installs_it() {
        let err = plan(
            &target("aarch64-unknown-linux-gnu"),
            &inputs("amd64", |_| false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`aarch64-linux-gnu-gcc` is not installed"),
            "{err}"
        );
        assert!(err.contains("`apt install gcc-aarch64-linux-gnu`"), "{err}");
        let err = plan(
            &target("x86_64-unknown-linux-gnu"),
            &inputs("arm64", |_| false),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`apt install gcc-x86-64-linux-gnu`"), "{err}");
        let no_std = Inputs {
            std_installed: false,
            ..inputs("amd64", |_| true)
        };
        let err = plan(&target("armv7-unknown-linux-gnueabihf"), &no_std)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`rustup target add armv7-unknown-linux-gnueabihf`"),
            "{err}"
        );
    }

    #[test]
    fn a_linker_in_cargo_config_is_the_users_choice() {
        let triple = "aarch64-unknown-linux-gnu";
        assert!(config_names_linker(
            "[target.aarch64-unknown-linux-gnu]\nlinker = \"clang\"\n",
            triple
        ));
        assert!(config_names_linker(
            "[target.'cfg(target_arch = \"aarch64\")']\nlinker = \"x\"\n",
            triple
        ));
        assert!(config_names_linker(
            "[build]\nrustflags = [\"-C\", \"linker=clang\"]\n",
            triple
        ));
        assert!(config_names_linker(
            "[target.aarch64-unknown-linux-gnu]\nrustflags = \"-Clinker=cc\"\n",
            triple
        ));
        assert!(!config_names_linker(
            "[target.armv7-unknown-linux-gnueabihf]\nlinker = \"x\"\n",
            triple
        ));
        assert!(!config_names_linker("[build]\njobs = 2\n", triple));
        assert!(!config_names_linker("not toml [", triple));
    }
}
