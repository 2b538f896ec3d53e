//! The rules for a task's name: it is the binary's first argument and part
//! of unit names (`<package>-<task>.service`), so the macro, the packager
//! and the scaffolder check it the same way.

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

/// The stem of a task's unit names (`<stem>.service`, `<stem>.timer`...):
/// the package's `stem` for the task named like it, else `<stem>-<task>`.
pub fn unit_stem(stem: &str, task: &str) -> String {
    if task == stem {
        stem.to_string()
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
    fn unit_stems() {
        assert_eq!(unit_stem("hello", "hello"), "hello");
        assert_eq!(unit_stem("hello", "upload"), "hello-upload");
    }
}
