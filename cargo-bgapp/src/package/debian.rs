//! The rules of Debian's control fields, checked before a value reaches
//! `DEBIAN/control`, the changelog or the copyright file: a newline or a
//! malformed value there breaks the package for dpkg, or adds fields.
//!
//! See Debian Policy 5.6 (fields), 7.1 (relations) and 2.4 (sections).

use std::fmt::Write as _;

/// Debian's archive sections (Policy 2.4), as lintian knows them.
pub const SECTIONS: &[&str] = &[
    "admin",
    "cli-mono",
    "comm",
    "database",
    "debian-installer",
    "debug",
    "devel",
    "doc",
    "editors",
    "education",
    "electronics",
    "embedded",
    "fonts",
    "games",
    "gnome",
    "gnu-r",
    "gnustep",
    "graphics",
    "hamradio",
    "haskell",
    "httpd",
    "interpreters",
    "introspection",
    "java",
    "javascript",
    "kde",
    "kernel",
    "libdevel",
    "libs",
    "lisp",
    "localization",
    "mail",
    "math",
    "metapackages",
    "misc",
    "net",
    "news",
    "ocaml",
    "oldlibs",
    "otherosfs",
    "perl",
    "php",
    "python",
    "raku",
    "ruby",
    "rust",
    "science",
    "shells",
    "sound",
    "tasks",
    "tex",
    "text",
    "utils",
    "vcs",
    "video",
    "web",
    "x11",
    "xfce",
    "zope",
];

/// The archive areas a section may be prefixed with (`contrib/net`).
const AREAS: &[&str] = &["main", "contrib", "non-free", "non-free-firmware"];

/// The priorities of Policy 2.5 (`extra` is deprecated for `optional`).
pub const PRIORITIES: &[&str] = &["required", "important", "standard", "optional"];

/// Why a value cannot go into a control field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error(
        "maintainer `{value}`{origin} is not `Name <email>`: {why}\n\n\
         help: {help}"
    )]
    Maintainer {
        value: String,
        /// ` (the first of `authors`)` when it comes from there.
        origin: &'static str,
        why: String,
        help: String,
    },
    #[error(
        "`section = \"{0}\"` is not one of Debian's sections\n\n\
         help: write one of {sections}, optionally prefixed by `contrib/` or `non-free/`",
        sections = list(SECTIONS)
    )]
    Section(String),
    #[error(
        "`priority = \"{0}\"` is not one of Debian's priorities\n\n\
         help: write one of {priorities} (`optional` unless the package is part of the base system)",
        priorities = list(PRIORITIES)
    )]
    Priority(String),
    #[error(
        "{key} `{value}` is not a Debian relation: {why}\n\n\
         help: write a package name, optionally with a version and alternatives, like `curl`, `curl (>= 7.88)` or `curl | wget`"
    )]
    Relation {
        key: String,
        value: String,
        why: String,
    },
    #[error("`{key}` of `[package]` is `{value}`, which contains {what}\n\nhelp: write it on one line, without spaces")]
    Url {
        key: &'static str,
        value: String,
        what: &'static str,
    },
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `value`, shown as a Rust string would show it: a newline as `\n`.
fn shown(value: &str) -> String {
    value.escape_debug().to_string()
}

/// Checks a `Maintainer:` value, `Name <email>` (Policy 5.6.2):
/// `from_authors` says that it is the first of Cargo's `authors`, for the
/// message.
pub fn check_maintainer(value: &str, from_authors: bool) -> Result<(), FieldError> {
    let fail = |why: String| {
        let name = value.split('<').next().unwrap_or_default().trim();
        let name = if name.is_empty() || name.chars().any(char::is_control) {
            "Jane Doe"
        } else {
            name
        };
        let example = format!("{name} <jane@example.com>");
        let help = if from_authors {
            format!(
                "write the author as `\"{example}\"` in `authors`, or set `maintainer = \"{example}\"` in `[package.metadata.bgapp]`"
            )
        } else {
            format!("write `maintainer = \"{example}\"` in `[package.metadata.bgapp]`")
        };
        FieldError::Maintainer {
            value: shown(value),
            origin: if from_authors {
                " (the first of `authors`)"
            } else {
                ""
            },
            why,
            help,
        }
    };
    // The rule is the contract's, shared with the scaffolder.
    bgapp_manifest::contact::check_contact(value).map_err(|e| fail(e.to_string()))
}

/// Checks a `Section:` value: a Debian section, optionally `<area>/`.
pub fn check_section(value: &str) -> Result<(), FieldError> {
    let section = match value.split_once('/') {
        Some((area, section)) if AREAS.contains(&area) => section,
        Some(_) => "",
        None => value,
    };
    if SECTIONS.contains(&section) {
        Ok(())
    } else {
        Err(FieldError::Section(shown(value)))
    }
}

pub fn check_priority(value: &str) -> Result<(), FieldError> {
    if PRIORITIES.contains(&value) {
        Ok(())
    } else {
        Err(FieldError::Priority(shown(value)))
    }
}

/// Checks one relation of a binary package's `Depends:` (Policy 7.1):
/// alternatives separated by `|`, each `name[:arch] [(op version)]`.
/// Architecture lists and build profiles belong to source packages only.
/// `key` names the setting, for the message.
pub fn check_relation(key: &str, value: &str) -> Result<(), FieldError> {
    parse_relation(value).map_err(|why| FieldError::Relation {
        key: key.to_string(),
        value: shown(value),
        why,
    })
}

fn parse_relation(value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        return Err("it contains a control character".into());
    }
    if value.contains(',') {
        return Err("it holds several relations; write each as its own string".into());
    }
    for alternative in value.split('|') {
        parse_alternative(alternative.trim())?;
    }
    Ok(())
}

fn parse_alternative(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("a package name is missing".into());
    }
    let name_end = text
        .find(|c: char| c.is_whitespace() || c == '(' || c == ':' || c == '[' || c == '<')
        .unwrap_or(text.len());
    let (name, mut rest) = text.split_at(name_end);
    check_package_name(name)?;
    if let Some(after) = rest.strip_prefix(':') {
        let end = after
            .find(|c: char| c.is_whitespace() || c == '(')
            .unwrap_or(after.len());
        let arch = &after[..end];
        if arch.is_empty()
            || !arch
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "`{}` is not an architecture qualifier",
                shown(arch)
            ));
        }
        rest = &after[end..];
    }
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Ok(());
    }
    if rest.starts_with('[') || rest.starts_with('<') {
        return Err(
            "architecture lists `[...]` and build profiles `<...>` are for source packages only"
                .into(),
        );
    }
    let Some(inner) = rest.strip_prefix('(') else {
        return Err(format!(
            "unexpected `{}` after the package name",
            shown(rest)
        ));
    };
    let Some(close) = inner.find(')') else {
        return Err("the version constraint has no closing `)`".into());
    };
    if !inner[close + 1..].trim().is_empty() {
        return Err(format!(
            "unexpected `{}` after the version constraint",
            shown(inner[close + 1..].trim())
        ));
    }
    let constraint = inner[..close].trim();
    let op_len = constraint
        .find(|c: char| !"<>=".contains(c))
        .unwrap_or(constraint.len());
    let (op, version) = constraint.split_at(op_len);
    if !["<<", "<=", "=", ">=", ">>"].contains(&op) {
        return Err(format!(
            "`{}` is not a version relation; use `<<`, `<=`, `=`, `>=` or `>>`",
            shown(op)
        ));
    }
    check_version(version.trim())
}

/// A package name: lowercase letters, digits, `+`, `-` and `.`, at least
/// two characters, starting with a letter or digit (Policy 5.6.1).
fn check_package_name(name: &str) -> Result<(), String> {
    let ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a package name (lowercase letters, digits, `+`, `-` and `.`, at least two)",
            shown(name)
        ))
    }
}

/// A version: `[epoch:]upstream[-revision]`, the upstream part starting
/// with a digit (Policy 5.6.12).
fn check_version(version: &str) -> Result<(), String> {
    if version.is_empty() {
        return Err("the version is missing".into());
    }
    let bad = || Err(format!("`{}` is not a Debian version", shown(version)));
    let (epoch, rest) = match version.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, version),
    };
    if epoch.is_some_and(|e| e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit())) {
        return bad();
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    let chars_ok = |s: &str, extra: &[u8]| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.~".contains(&b) || extra.contains(&b))
    };
    let upstream_ok = upstream.starts_with(|c: char| c.is_ascii_digit())
        && chars_ok(upstream, if revision.is_some() { b"-:" } else { b":" });
    let revision_ok = revision.is_none_or(|r| !r.is_empty() && chars_ok(r, b""));
    if upstream_ok && revision_ok {
        Ok(())
    } else {
        bad()
    }
}

/// Checks a URL for `Homepage:` (from `homepage` or `repository`).
pub fn check_url(key: &'static str, value: &str) -> Result<(), FieldError> {
    let what = if value.chars().any(char::is_control) {
        "a control character"
    } else if value.chars().any(char::is_whitespace) {
        "whitespace"
    } else {
        return Ok(());
    };
    Err(FieldError::Url {
        key,
        value: shown(value),
        what,
    })
}

/// Free text on one line: control characters (a newline, a tab) become
/// spaces, runs of spaces one, and the ends are trimmed.
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Description:` with its synopsis and extended description folded as
/// Policy 5.6.13 wants: every extended line starts with a space, an empty
/// line is ` .`, and no line can start a field. `long` may hold lines with
/// newlines in them; each becomes lines of its own.
pub fn description_field(summary: &str, long: &[String]) -> String {
    let mut s = format!("Description: {}\n", one_line(summary));
    let lines: Vec<String> = long
        .iter()
        .flat_map(|l| l.split('\n'))
        .map(|l| {
            // Tabs and other control characters: spaces, as dpkg shows them.
            let l: String = l
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            l.trim_end().to_string()
        })
        .collect();
    // No empty line at either end.
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    if let (Some(first), Some(last)) = (first, last) {
        for line in &lines[first..=last] {
            if line.trim().is_empty() {
                s.push_str(" .\n");
            } else if line.starts_with('.') {
                // ` .text` is reserved; two spaces show the line as is.
                let _ = writeln!(s, "  {line}");
            } else {
                let _ = writeln!(s, " {line}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintainers() {
        for ok in [
            "Jane Doe <jane@example.com>",
            "Bgapp Tests <tests@bgapp.invalid>",
            "J. R. Hacker <jr@h.example.org>",
        ] {
            assert_eq!(check_maintainer(ok, false), Ok(()), "{ok}");
        }
        for bad in [
            "Jane Doe",
            "<jane@example.com>",
            "Jane Doe<jane@example.com>",
            "Jane Doe <jane>",
            "Jane Doe <jane@localhost>",
            "Jane <Doe> <jane@example.com>",
            "A <a@b.c>\nEssential: yes",
            "Jane Doe <jane@example.com> extra",
            "Doe, Jane <jane@example.com>",
        ] {
            assert!(check_maintainer(bad, false).is_err(), "{bad}");
        }
        let msg = check_maintainer("Jane Doe", true).unwrap_err().to_string();
        assert!(
            msg.starts_with("maintainer `Jane Doe` (the first of `authors`) is not `Name <email>`"),
            "{msg}"
        );
        assert!(msg.contains("\"Jane Doe <jane@example.com>\""), "{msg}");
        let msg = check_maintainer("A <a@b.c>\nEssential: yes", false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`A <a@b.c>\\nEssential: yes`"), "{msg}");
    }

    #[test]
    fn sections_and_priorities() {
        for ok in ["net", "misc", "contrib/net", "non-free/utils", "rust"] {
            assert_eq!(check_section(ok), Ok(()), "{ok}");
        }
        for bad in ["net\nEvil: yes", "networking", "", "foo/net", "Net"] {
            assert!(check_section(bad).is_err(), "{bad}");
        }
        assert!(check_section("net\nEvil: yes")
            .unwrap_err()
            .to_string()
            .starts_with("`section = \"net\\nEvil: yes\"` is not one of Debian's sections"));
        assert_eq!(check_priority("optional"), Ok(()));
        assert!(check_priority("extra").is_err());
    }

    #[test]
    fn relations() {
        for ok in [
            "curl",
            "curl (>= 7.88)",
            "curl (>= 7.88.1-10+deb12u5)",
            "libc6 (>= 2.34)",
            "libfoo1 (>= 1:1.2~rc1)",
            "curl | wget",
            "python3:any",
            "libstdc++6 (<< 13)",
            "a0 (= 1.0)",
        ] {
            assert_eq!(check_relation("depends", ok), Ok(()), "{ok}");
        }
        for bad in [
            "curl (>= ",
            "curl (>= )",
            "curl (> 1.0)",
            "curl (>= 1.0) extra",
            "Curl",
            "c",
            "curl, wget",
            "curl |",
            "curl [amd64]",
            "curl <!nocheck>",
            "curl (>= x1)",
            "curl\nEssential: yes",
            "",
        ] {
            assert!(check_relation("depends", bad).is_err(), "{bad}");
        }
        let msg = check_relation("`depends` entry", "curl (>= ")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("`depends` entry `curl (>= ` is not a Debian relation: the version constraint has no closing `)`"),
            "{msg}"
        );
    }

    #[test]
    fn descriptions_fold() {
        let long = vec![
            "Line one\nline two".to_string(),
            String::new(),
            ".hidden\tfiles".to_string(),
            String::new(),
        ];
        assert_eq!(
            description_field("Says\nhello", &long),
            "Description: Says hello\n Line one\n line two\n .\n  .hidden files\n"
        );
        assert_eq!(description_field("x", &[]), "Description: x\n");
        assert_eq!(one_line(" a\n\tb  c "), "a b c");
    }

    #[test]
    fn urls() {
        assert_eq!(check_url("homepage", "https://example.com/x"), Ok(()));
        assert!(check_url("homepage", "https://x\nEvil: yes").is_err());
        assert!(check_url("repository", "https://x y").is_err());
    }
}
