//! Package names, checked the way `cargo new` checks them, and a little
//! more: a bgapp package name also becomes a systemd unit name, a Debian
//! package name and the name of the system user its tasks run as, so it
//! must be ASCII and, for the user, at most 31 characters long.
//!
//! Layer: scaffold.

use bgapp_manifest::name::USER_NAME_MAX;

/// Why a name cannot be a package name. Each message completes
/// "the name `x` cannot be used as a package name, ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the package name cannot be empty")]
    Empty,
    #[error("the name `{0}` cannot be used as a package name, the name cannot start with a digit")]
    LeadingDigit(String),
    #[error(
        "invalid character `{ch}` in package name `{name}`, \
         characters must be ASCII letters, digits, `-` or `_`"
    )]
    InvalidChar { name: String, ch: char },
    #[error("the name `{0}` cannot be used as a package name, it is a Rust keyword")]
    Keyword(String),
    #[error("the name `{0}` cannot be used as a package name, it conflicts with Rust's built-in test library")]
    Test(String),
    #[error(
        "the name `{0}` cannot be used as a package name, it is part of Rust's standard library"
    )]
    StandardLibrary(String),
    #[error("the name `{0}` cannot be used as a package name, it conflicts with cargo's build directory names")]
    BuildDirectory(String),
    #[error("the name `{0}` cannot be used as a package name, it is a reserved Windows filename")]
    WindowsReserved(String),
    #[error("the name `{0}` cannot be used as a package name, the generated project depends on a crate of that name")]
    Dependency(String),
    #[error(
        "the name `{0}` cannot be used as a background app's name, it must start with a letter\n\n\
         note: the name is also the name of the app's task and of its systemd units"
    )]
    NotALetter(String),
    #[error(
        "the name `{0}` cannot be used as a background app's name, it is longer than {MAX_LEN} characters\n\n\
         note: the name is also the name of the app's task and of its systemd units"
    )]
    TooLong(String),
    #[error(
        "the name `{0}` cannot be used as a background app's name, it is longer than {USER_NAME_MAX} characters\n\n\
         note: the app's tasks run as a system user named like the app, and systemd takes user names of at most {USER_NAME_MAX} characters"
    )]
    UserTooLong(String),
    #[error(
        "the package `{0}` needs a system user name of its own: its name is longer than {USER_NAME_MAX} characters\n\n\
         note: the app's tasks run as a system user named like the package, and systemd takes user names of at most {USER_NAME_MAX} characters\n\n\
         help: add `user = \"...\"` (at most {USER_NAME_MAX} lowercase letters, digits, `_` and `-`) under `[package.metadata.bgapp]` in `Cargo.toml`"
    )]
    ExistingUserTooLong(String),
    #[error("invalid `user` in `[package.metadata.bgapp]`: {0}")]
    ConfiguredUser(bgapp_manifest::name::UserNameError),
}

/// The longest task name `#[background_task]` accepts.
pub const MAX_LEN: usize = bgapp_manifest::name::TASK_NAME_MAX;

/// Rust's keywords in every edition, strict and reserved.
const KEYWORDS: &[&str] = &[
    "Self", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

const STANDARD_LIBRARY: &[&str] = &["core", "std", "alloc", "proc_macro"];

/// Directories cargo creates next to the binaries in `target/<profile>/`.
const BUILD_DIRECTORIES: &[&str] = &["deps", "examples", "build", "incremental"];

/// The crates every template depends on: a package of the same name would
/// depend on itself.
const DEPENDENCIES: &[&str] = &[
    "bgapp",
    "bgapp_macros",
    "bgapp_manifest",
    "anyhow",
    "tokio",
    "serde",
    "tracing",
];

fn is_windows_reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if matches!(lower.as_str(), "con" | "prn" | "aux" | "nul") {
        return true;
    }
    let bytes = lower.as_bytes();
    bytes.len() == 4
        && (lower.starts_with("com") || lower.starts_with("lpt"))
        && (b'1'..=b'9').contains(&bytes[3])
}

/// The name as Rust code refers to the crate: `-` becomes `_`.
pub fn crate_name(package: &str) -> String {
    package.replace('-', "_")
}

/// Checks `name` as the name of a new package: what cargo checks, and
/// that the package can be packaged, its tasks running as the system user
/// named like it.
pub fn check_package_name(name: &str) -> Result<(), NameError> {
    check_cargo_name(name)?;
    if name.len() > USER_NAME_MAX {
        return Err(NameError::UserTooLong(name.to_string()));
    }
    Ok(())
}

/// Checks the name of the existing package `init` adds an app to, with
/// the system user its `[package.metadata.bgapp]` names, if any.
pub fn check_existing_name(name: &str, user: Option<&str>) -> Result<(), NameError> {
    check_cargo_name(name)?;
    match user {
        Some(user) => bgapp_manifest::check_user_name(user).map_err(NameError::ConfiguredUser),
        None if name.len() > USER_NAME_MAX => Err(NameError::ExistingUserTooLong(name.to_string())),
        None => Ok(()),
    }
}

/// What cargo checks, and the task-name rules the default task's name
/// (the package name) must follow.
fn check_cargo_name(name: &str) -> Result<(), NameError> {
    let owned = || name.to_string();
    let mut chars = name.chars();
    let first = chars.next().ok_or(NameError::Empty)?;
    if first.is_ascii_digit() {
        return Err(NameError::LeadingDigit(owned()));
    }
    if let Some(ch) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(NameError::InvalidChar { name: owned(), ch });
    }
    if first == '-' {
        return Err(NameError::InvalidChar {
            name: owned(),
            ch: '-',
        });
    }
    let krate = crate_name(name);
    if KEYWORDS.contains(&krate.as_str()) {
        return Err(NameError::Keyword(owned()));
    }
    if krate == "test" {
        return Err(NameError::Test(owned()));
    }
    if STANDARD_LIBRARY.contains(&krate.as_str()) {
        return Err(NameError::StandardLibrary(owned()));
    }
    if BUILD_DIRECTORIES.contains(&name) {
        return Err(NameError::BuildDirectory(owned()));
    }
    if is_windows_reserved(name) {
        return Err(NameError::WindowsReserved(owned()));
    }
    if DEPENDENCIES.contains(&krate.as_str()) {
        return Err(NameError::Dependency(owned()));
    }
    // The package name is the default task name, which the macro checks.
    if !first.is_ascii_alphabetic() {
        return Err(NameError::NotALetter(owned()));
    }
    if name.len() > MAX_LEN {
        return Err(NameError::TooLong(owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["hello", "hello-world", "hello_world", "Sensor2", "a"] {
            assert_eq!(check_package_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_what_cargo_new_rejects() {
        type Expected = fn(String) -> NameError;
        let cases: &[(&str, Expected)] = &[
            ("fn", NameError::Keyword),
            ("async", NameError::Keyword),
            ("Self", NameError::Keyword),
            ("test", NameError::Test),
            ("std", NameError::StandardLibrary),
            ("core", NameError::StandardLibrary),
            ("proc-macro", NameError::StandardLibrary),
            ("deps", NameError::BuildDirectory),
            ("incremental", NameError::BuildDirectory),
            ("con", NameError::WindowsReserved),
            ("NUL", NameError::WindowsReserved),
            ("com1", NameError::WindowsReserved),
            ("lpt9", NameError::WindowsReserved),
            ("1st", NameError::LeadingDigit),
            ("tokio", NameError::Dependency),
            ("bgapp", NameError::Dependency),
            ("_private", NameError::NotALetter),
        ];
        for (name, error) in cases {
            assert_eq!(
                check_package_name(name),
                Err(error(name.to_string())),
                "{name}"
            );
        }
        assert_eq!(check_package_name(""), Err(NameError::Empty));
        let long = "a".repeat(MAX_LEN + 1);
        assert_eq!(
            check_package_name(&long),
            Err(NameError::TooLong(long.clone()))
        );
    }

    /// The package name is also the system user's, which systemd takes
    /// only up to 31 characters: a longer name builds but never packages.
    #[test]
    fn names_longer_than_a_system_user_name_are_refused() {
        let longest = "a".repeat(USER_NAME_MAX);
        assert_eq!(check_package_name(&longest), Ok(()));
        for len in [USER_NAME_MAX + 1, MAX_LEN] {
            let name = "a".repeat(len);
            assert_eq!(
                check_package_name(&name),
                Err(NameError::UserTooLong(name.clone())),
                "{len}"
            );
        }
        let name = "a".repeat(40);
        assert_eq!(
            check_existing_name(&name, None),
            Err(NameError::ExistingUserTooLong(name.clone()))
        );
        assert_eq!(check_existing_name(&name, Some("app")), Ok(()));
        assert!(matches!(
            check_existing_name("app", Some("Bad User")),
            Err(NameError::ConfiguredUser(_))
        ));
    }

    #[test]
    fn rejects_characters_outside_ascii_identifiers() {
        for (name, ch) in [
            ("hello world", ' '),
            ("a.b", '.'),
            ("café", 'é'),
            ("-x", '-'),
            ("a/b", '/'),
        ] {
            assert_eq!(
                check_package_name(name),
                Err(NameError::InvalidChar {
                    name: name.to_string(),
                    ch
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn windows_names_need_the_exact_form() {
        for name in ["console", "com0", "com10", "lpt", "nul-device"] {
            assert_eq!(check_package_name(name), Ok(()), "{name}");
        }
    }
}
