//! The rules for the names systemd and Debian see: a task's name, the
//! binary's first argument and part of unit names
//! (`<package>-<task>.service`), and the system user a package's tasks run
//! as. The macro, the packager and the scaffolder check them the same way.

/// The longest task name.
pub const TASK_NAME_MAX: usize = 64;

/// Why a name cannot be a task's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskNameError {
    #[error("a task name cannot be empty")]
    Empty,
    #[error(
        "invalid task name `{0}`: use ASCII letters, digits, `-` and `_`, starting with a letter"
    )]
    Invalid(String),
    #[error("task name `{0}` is longer than {TASK_NAME_MAX} characters")]
    TooLong(String),
}

/// Checks a task name: an ASCII letter, then ASCII letters, digits, `-` and
/// `_`, at most [`TASK_NAME_MAX`] characters.
pub fn check_task_name(name: &str) -> Result<(), TaskNameError> {
    let first_ok = name.starts_with(|c: char| c.is_ascii_alphabetic());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if name.is_empty() {
        Err(TaskNameError::Empty)
    } else if !first_ok || !rest_ok {
        Err(TaskNameError::Invalid(name.to_string()))
    } else if name.len() > TASK_NAME_MAX {
        Err(TaskNameError::TooLong(name.to_string()))
    } else {
        Ok(())
    }
}

/// The longest system user name: systemd (`systemd-sysusers`, `User=`)
/// refuses longer ones, as utmp holds 31 characters and a NUL.
pub const USER_NAME_MAX: usize = 31;

/// Why a name cannot be a system user's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserNameError {
    #[error("a system user name cannot be empty")]
    Empty,
    #[error(
        "`{0}` is not a valid system user name: use lowercase ASCII letters, digits, `_` and `-`, starting with a letter or `_`"
    )]
    Invalid(String),
    #[error("system user name `{0}` is longer than {USER_NAME_MAX} characters")]
    TooLong(String),
}

/// The system user a package's tasks run as unless its configuration
/// names another: the package name in lowercase.
pub fn system_user(package: &str) -> String {
    package.to_lowercase()
}

/// Checks a system user name as the packager writes it into `User=` and
/// `sysusers.d`: a lowercase ASCII letter or `_`, then lowercase ASCII
/// letters, digits, `_` and `-`, at most [`USER_NAME_MAX`] characters.
pub fn check_user_name(user: &str) -> Result<(), UserNameError> {
    let first_ok = user.starts_with(|c: char| c.is_ascii_lowercase() || c == '_');
    let rest_ok = user
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if user.is_empty() {
        Err(UserNameError::Empty)
    } else if !first_ok || !rest_ok {
        Err(UserNameError::Invalid(user.to_string()))
    } else if user.len() > USER_NAME_MAX {
        Err(UserNameError::TooLong(user.to_string()))
    } else {
        Ok(())
    }
}

/// The name the package goes by on the device, in its units and as a
/// Debian package: the Cargo package name in lowercase, with `_` written
/// `-` (`prometheus_wireguard_exporter` -> `prometheus-wireguard-exporter`),
/// as Debian package names cannot hold `_`.
pub fn package_stem(package: &str) -> String {
    package.to_lowercase().replace('_', "-")
}

/// The stem of a task's unit names (`<stem>.service`, `<stem>.timer`...)
/// in Cargo package `package`: the [`package_stem`] for the task named like
/// the package (`_` and `-` alike, any case), else `<package_stem>-<task>`.
pub fn unit_stem(package: &str, task: &str) -> String {
    let stem = package_stem(package);
    if package_stem(task) == stem {
        stem
    } else {
        format!("{stem}-{task}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "upload", "nightly-upload", "x_1", &"a".repeat(64)] {
            assert_eq!(check_task_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_task_name(""), Err(TaskNameError::Empty));
        for bad in ["1up", "-x", "_x", "a b", "größe", "a.b", "a/b", "a%i"] {
            assert_eq!(
                check_task_name(bad),
                Err(TaskNameError::Invalid(bad.into())),
                "{bad}"
            );
        }
        assert!(matches!(
            check_task_name(&"a".repeat(65)),
            Err(TaskNameError::TooLong(_))
        ));
    }

    #[test]
    fn user_names() {
        for ok in ["app", "_app", "my-app_2", &"a".repeat(31)] {
            assert_eq!(check_user_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_user_name(""), Err(UserNameError::Empty));
        for bad in ["App", "1app", "-app", "a b", "a.b", "café"] {
            assert_eq!(
                check_user_name(bad),
                Err(UserNameError::Invalid(bad.into())),
                "{bad}"
            );
        }
        let long = "a".repeat(32);
        assert_eq!(
            check_user_name(&long),
            Err(UserNameError::TooLong(long.clone()))
        );
        assert_eq!(system_user("My-App"), "my-app");
    }

    #[test]
    fn unit_stems() {
        assert_eq!(unit_stem("hello", "hello"), "hello");
        assert_eq!(unit_stem("hello", "upload"), "hello-upload");
        // Units follow the Debian package's dashes (they followed Cargo's
        // underscores: `prometheus_wireguard_exporter.socket` in package
        // `prometheus-wireguard-exporter`).
        let p = "prometheus_wireguard_exporter";
        assert_eq!(package_stem(p), "prometheus-wireguard-exporter");
        assert_eq!(unit_stem(p, p), "prometheus-wireguard-exporter");
        assert_eq!(
            unit_stem(p, "prometheus-wireguard-exporter"),
            "prometheus-wireguard-exporter"
        );
        assert_eq!(
            unit_stem("My_App", "fetch_all"),
            "my-app-fetch_all",
            "the task part is the task's name, the binary's first argument"
        );
    }
}
