//! Absolute paths as systemd takes them in unit files (`PathChanged=`,
//! `ReadWritePaths=`...): systemd refuses a path that is not normalised
//! ("path is not normalized... Refusing"), so bgapp refuses it first, at
//! the attribute or in `Cargo.toml`, and says what to write instead.

/// Why a path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("`{0}` is not absolute; write a path that starts with `/`")]
    Relative(String),
    #[error("`{path}` is not normalized (systemd refuses `.`, `..` and `//` in paths); write `{normalized}`")]
    NotNormalized { path: String, normalized: String },
    #[error("`{0}` is the root directory")]
    Root(String),
    #[error("`{0}` contains a control character")]
    Control(String),
}

/// Checks an absolute path: it starts with `/`, has no `.` or `..`
/// component, no empty component (`//`) and no control character; one
/// trailing `/` is allowed. `/` itself is refused: no task may own it.
pub fn check_absolute_path(path: &str) -> Result<(), PathError> {
    if path.chars().any(char::is_control) {
        return Err(PathError::Control(path.escape_debug().to_string()));
    }
    if !path.starts_with('/') {
        return Err(PathError::Relative(path.to_string()));
    }
    let body = path.strip_suffix('/').unwrap_or(path);
    if body.is_empty() {
        return Err(PathError::Root(path.to_string()));
    }
    if body[1..]
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(PathError::NotNormalized {
            path: path.to_string(),
            normalized: normalize(path),
        });
    }
    Ok(())
}

/// The path with `.` and empty components dropped and `..` applied (never
/// above `/`).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for ok in [
            "/var/spool/app",
            "/var/spool/app/",
            "/etc/app.conf",
            "/a b/c",
        ] {
            assert_eq!(check_absolute_path(ok), Ok(()), "{ok}");
        }
        for (bad, normalized) in [
            ("/etc/../tmp/x", "/tmp/x"),
            ("/var//spool", "/var/spool"),
            ("/var/./spool", "/var/spool"),
            ("/var/spool/..", "/var"),
            ("/../../etc", "/etc"),
        ] {
            assert_eq!(
                check_absolute_path(bad),
                Err(PathError::NotNormalized {
                    path: bad.into(),
                    normalized: normalized.into()
                }),
                "{bad}"
            );
        }
        assert_eq!(
            check_absolute_path("var/spool"),
            Err(PathError::Relative("var/spool".into()))
        );
        assert_eq!(check_absolute_path("/"), Err(PathError::Root("/".into())));
        assert!(matches!(
            check_absolute_path("/var/a\nb"),
            Err(PathError::Control(_))
        ));
    }
}
