//! The templates embedded in the binary, and the one placeholder engine.
//!
//! A template is a directory under `cargo-bgapp/templates/`: the files of
//! a project (its `Cargo.toml` stored as `Cargo.toml.tmpl`, see `build.rs`),
//! and a `template.toml` that describes it and declares its variables.
//!
//! Layer: scaffold.
//!
//! Placeholders are a variable name in double braces, `{{name}}`, with
//! optional spaces inside the braces. A placeholder that names no variable
//! is an error, never an empty string; so is a `{{` that does not open a
//! placeholder. `\{{` writes a literal `{{`. In `.rs` and `.toml` files a
//! placeholder stands inside a string literal, so its value is escaped for
//! one; a variable whose value is TOML code (`bgapp_dep`) is inserted as it
//! is, and only in `.toml` files.

use std::collections::BTreeMap;
use std::fmt;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/templates.rs"));
}

/// The file in each template directory that describes the template.
pub const DESCRIPTION_FILE: &str = "template.toml";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "unknown template `{name}`\n\nhelp: the templates are {}",
        backticked(known)
    )]
    Unknown { name: String, known: Vec<String> },
    #[error("`{file}`, line {line}: undefined placeholder `{{{{{name}}}}}`")]
    Undefined {
        file: String,
        line: usize,
        name: String,
    },
    #[error("`{file}`, line {line}: `{{{{` does not open a placeholder\n\nhelp: write `\\{{{{` for a literal `{{{{`")]
    Malformed { file: String, line: usize },
    #[error(
        "`{file}`, line {line}: `{name}` holds TOML code and can only be used in a `.toml` file"
    )]
    TomlOutsideToml {
        file: String,
        line: usize,
        name: String,
    },
    #[error(
        "unknown variable `{key}` for template `{template}`\n\nhelp: its variables are {}",
        backticked(known)
    )]
    UnknownVariable {
        key: String,
        template: String,
        known: Vec<String>,
    },
    #[error("`{key}` is not set with `-d`\n\nhelp: use `{flag}`")]
    BuiltinVariable { key: String, flag: &'static str },
    #[error("invalid value `{value}` for `{key}`: {reason}{help}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
        /// Empty, or `\n\nhelp: ...`.
        help: String,
    },
    #[error("the description of template `{template}` is invalid: {reason}")]
    BadDescription { template: String, reason: String },
}

fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What values a template variable takes, named for where the value goes;
/// checked before anything is written, by the rules of what reads it
/// later (the attribute, the packager, cargo), so that what `new` accepts
/// builds, runs and packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// One line of text.
    Text,
    /// The package description: one line, not empty.
    Description,
    /// `Name <email>`, the `.deb`'s Maintainer (`bgapp_manifest::contact`).
    Maintainer,
    /// An SPDX license expression (`MIT OR Apache-2.0`).
    License,
    /// A duration as the task attributes take it (`15m`), longer than zero.
    Duration,
    /// A socket address as `socket(listen = ...)` takes it (`8080`).
    Listen,
    /// A TCP port or address (`8080`, `127.0.0.1:8080`), for a template
    /// that serves TCP.
    TcpListen,
    /// An absolute, normalized path (`bgapp_manifest::path`).
    Path,
    /// The directory a path task watches and owns: a path, and not a
    /// directory the system owns (`bgapp_manifest::policy::watched_dir`).
    WatchedDir,
}

/// Why a value was refused, and what to write instead when the reason
/// does not say it.
struct Refusal {
    reason: String,
    help: Option<String>,
}

fn refuse(reason: impl Into<String>, help: Option<String>) -> Refusal {
    Refusal {
        reason: reason.into(),
        help,
    }
}

impl VarKind {
    fn parse(text: &str) -> Option<VarKind> {
        Some(match text {
            "text" => VarKind::Text,
            "description" => VarKind::Description,
            "maintainer" => VarKind::Maintainer,
            "license" => VarKind::License,
            "duration" => VarKind::Duration,
            "listen" => VarKind::Listen,
            "tcp-listen" => VarKind::TcpListen,
            "path" => VarKind::Path,
            "watched-dir" => VarKind::WatchedDir,
            _ => return None,
        })
    }

    /// Checks `value` for the variable `key`, whose default (rendered) is
    /// `default`, shown as what to write instead.
    pub fn check(self, key: &str, value: &str, default: &str) -> Result<(), TemplateError> {
        let Err(refusal) = self.refusal(key, value, default) else {
            return Ok(());
        };
        Err(TemplateError::InvalidValue {
            key: key.to_string(),
            value: value.escape_debug().to_string(),
            reason: refusal.reason,
            help: refusal
                .help
                .map(|h| format!("\n\nhelp: {h}"))
                .unwrap_or_default(),
        })
    }

    fn refusal(self, key: &str, value: &str, default: &str) -> Result<(), Refusal> {
        let like_default = || {
            Some(format!(
                "write a value like the default, `-d {key}={default}`"
            ))
        };
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(refuse(
                format!("it contains the control character {c:?}"),
                Some("write one line of text".to_string()),
            ));
        }
        match self {
            VarKind::Text => Ok(()),
            VarKind::Description if value.trim().is_empty() => {
                Err(refuse("the description is empty", like_default()))
            }
            VarKind::Description => Ok(()),
            VarKind::Maintainer => bgapp_manifest::contact::check_contact(value).map_err(|e| {
                let example = bgapp_manifest::contact::example(value);
                refuse(
                    e.to_string(),
                    Some(format!("write `-d {key}=\"{example}\"`")),
                )
            }),
            VarKind::License => check_license(value).map_err(|why| {
                refuse(
                    why,
                    Some("write an SPDX license expression, like `MIT OR Apache-2.0`".to_string()),
                )
            }),
            VarKind::Duration => match bgapp_manifest::parse_duration(value) {
                // The attribute refuses a zero duration for every key.
                Ok(d) if d.is_zero() => Err(refuse(
                    "it must be longer than zero",
                    Some("write a duration like `30s`, `15m` or `1h30m`".to_string()),
                )),
                Ok(_) => Ok(()),
                Err(e) => Err(refuse(e.to_string(), None)),
            },
            VarKind::Listen => bgapp_manifest::ListenAddress::parse(value)
                .map(drop)
                .map_err(|e| refuse(e.to_string(), like_default())),
            VarKind::TcpListen => {
                let tcp = || {
                    Some(
                        "write a port like `8080`, or an address like `127.0.0.1:8080`".to_string(),
                    )
                };
                match bgapp_manifest::ListenAddress::parse(value) {
                    Ok(address) if address.port().is_some() => Ok(()),
                    Ok(_) => Err(refuse(
                        "it is a Unix socket address, and this template serves TCP",
                        tcp(),
                    )),
                    Err(e) => Err(refuse(e.to_string(), tcp())),
                }
            }
            VarKind::Path => check_path(value, default),
            VarKind::WatchedDir => {
                check_path(value, default)?;
                let condition = bgapp_manifest::PathCondition::NotEmpty;
                if bgapp_manifest::policy::watched_dir(condition, value).is_none() {
                    return Err(refuse(
                        "it is a directory the system owns, and a path task owns the directory it watches (it is created for the app's user, which consumes the files in it)",
                        Some(format!(
                            "write a directory of the app's own, like the default `{default}`"
                        )),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// An absolute path as the attribute and the packager take it.
fn check_path(value: &str, default: &str) -> Result<(), Refusal> {
    use bgapp_manifest::path::{check_absolute_path, PathError};
    let help = || {
        Some(format!(
            "write an absolute path like the default, `{default}`"
        ))
    };
    match check_absolute_path(value) {
        // These say what to write instead.
        Err(e @ (PathError::NotNormalized { .. } | PathError::Relative(_))) => {
            Err(refuse(e.to_string(), None))
        }
        Err(e) => Err(refuse(e.to_string(), help())),
        Ok(()) if value.trim_end() != value => Err(refuse(
            "it ends with whitespace, which systemd and dpkg do not keep",
            Some(format!("write `{}`", value.trim_end())),
        )),
        // A Rust string literal could hold them, but systemd reads `\` as
        // an escape in unit files.
        Ok(()) if value.contains(['"', '\\']) => {
            Err(refuse("the path cannot contain `\"` or `\\`", help()))
        }
        Ok(()) => Ok(()),
    }
}

/// An SPDX license expression, as Cargo's `license` takes it: license
/// identifiers joined by `AND`, `OR` and `WITH`, with parentheses.
fn check_license(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("the license is empty".to_string());
    }
    if let Some(c) = value
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || " .+-()".contains(c)))
    {
        return Err(format!(
            "`{c}` cannot be part of an SPDX license expression"
        ));
    }
    Ok(())
}

/// A variable a template declares in its `template.toml`.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub help: String,
    /// The default value; may hold placeholders of the built-in variables.
    pub default: String,
    pub kind: VarKind,
}

/// One template, as embedded.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub variables: Vec<Variable>,
    /// `(path relative to the template directory, contents)`, sorted,
    /// without the description file.
    pub files: Vec<(&'static str, &'static str)>,
}

impl Variable {
    /// The default for `--list`, with `<name>` where the package name goes.
    pub fn shown_default(&self) -> String {
        let mut values = Values::new();
        for name in ["name", "crate_name", "stem"] {
            values.insert(name.to_string(), Value::Text(format!("<{name}>")));
        }
        render("", &self.default, &values).unwrap_or_else(|_| self.default.clone())
    }
}

impl Template {
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }
}

/// Every embedded template, sorted by name.
pub fn all() -> Result<Vec<Template>, TemplateError> {
    let mut groups: BTreeMap<&str, Vec<(&'static str, &'static str)>> = BTreeMap::new();
    for &(path, contents) in embedded::FILES {
        if let Some((template, rest)) = path.split_once('/') {
            groups.entry(template).or_default().push((rest, contents));
        }
    }
    groups
        .into_iter()
        .map(|(name, files)| parse_template(name, files))
        .collect()
}

/// The template called `name`.
pub fn find(name: &str) -> Result<Template, TemplateError> {
    let mut all = all()?;
    match all.iter().position(|t| t.name == name) {
        Some(i) => Ok(all.swap_remove(i)),
        None => Err(TemplateError::Unknown {
            name: name.to_string(),
            known: all.into_iter().map(|t| t.name).collect(),
        }),
    }
}

fn parse_template(
    name: &str,
    mut files: Vec<(&'static str, &'static str)>,
) -> Result<Template, TemplateError> {
    let bad = |reason: String| TemplateError::BadDescription {
        template: name.to_string(),
        reason,
    };
    let index = files
        .iter()
        .position(|(path, _)| *path == DESCRIPTION_FILE)
        .ok_or_else(|| bad(format!("`{DESCRIPTION_FILE}` is missing")))?;
    let (_, text) = files.remove(index);
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| bad(format!("{e}")))?;
    let description = doc
        .get("description")
        .and_then(|d| d.as_str())
        .ok_or_else(|| bad("`description` is missing".to_string()))?
        .to_string();
    let mut variables = Vec::new();
    if let Some(table) = doc.get("variables") {
        let table = table
            .as_table_like()
            .ok_or_else(|| bad("`variables` is not a table".to_string()))?;
        for (key, item) in table.iter() {
            let field = |field: &str| {
                item.get(field)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| bad(format!("`variables.{key}.{field}` is missing")))
            };
            let kind = field("kind")?;
            variables.push(Variable {
                name: key.to_string(),
                help: field("help")?.to_string(),
                default: field("default")?.to_string(),
                kind: VarKind::parse(kind)
                    .ok_or_else(|| bad(format!("`variables.{key}.kind`: unknown kind `{kind}`")))?,
            });
        }
    }
    Ok(Template {
        name: name.to_string(),
        description,
        variables,
        files,
    })
}

/// A variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text, escaped where it lands inside a string literal.
    Text(String),
    /// TOML code, inserted as it is (only in `.toml` files).
    Toml(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(t) | Value::Toml(t) => f.write_str(t),
        }
    }
}

pub type Values = BTreeMap<String, Value>;

/// How the values are written into a file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// `.rs`, `.toml`: inside a string literal.
    Literal {
        toml: bool,
    },
    Plain,
}

fn context(file: &str) -> Context {
    if file.ends_with(".toml") {
        Context::Literal { toml: true }
    } else if file.ends_with(".rs") {
        Context::Literal { toml: false }
    } else {
        Context::Plain
    }
}

/// Escapes `text` for the inside of a Rust or TOML basic string: the two
/// share `\\` and `\"`, and control characters were refused earlier.
fn escape_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Replaces the placeholders of `text`, the contents of `file` (named in
/// errors, and whose extension decides the escaping).
pub fn render(file: &str, text: &str, values: &Values) -> Result<String, TemplateError> {
    let context = context(file);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let line_of = |rest: &str| text[..text.len() - rest.len()].matches('\n').count() + 1;
    while let Some(start) = rest.find("{{") {
        if rest[..start].ends_with('\\') {
            out.push_str(&rest[..start - 1]);
            out.push_str("{{");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let malformed = || TemplateError::Malformed {
            file: file.to_string(),
            line: line_of(&rest[start..]),
        };
        let end = after.find("}}").ok_or_else(malformed)?;
        let name = after[..end].trim();
        let is_ident = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_ident {
            return Err(malformed());
        }
        let value = values.get(name).ok_or_else(|| TemplateError::Undefined {
            file: file.to_string(),
            line: line_of(&rest[start..]),
            name: name.to_string(),
        })?;
        match (value, context) {
            (Value::Text(t), Context::Literal { .. }) => out.push_str(&escape_literal(t)),
            (Value::Text(t), Context::Plain)
            | (Value::Toml(t), Context::Literal { toml: true }) => out.push_str(t),
            (Value::Toml(_), _) => {
                return Err(TemplateError::TomlOutsideToml {
                    file: file.to_string(),
                    line: line_of(&rest[start..]),
                    name: name.to_string(),
                });
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        let mut v = Values::new();
        v.insert("name".into(), Value::Text("hello".into()));
        v.insert("description".into(), Value::Text(r#"say "hi" \o/"#.into()));
        v.insert("dep".into(), Value::Toml(r#"{ path = "/x" }"#.into()));
        v
    }

    #[test]
    fn replaces_placeholders() {
        let out = render("README.md", "# {{name}}\n{{ description }}\n", &values()).unwrap();
        assert_eq!(out, "# hello\nsay \"hi\" \\o/\n");
    }

    #[test]
    fn escapes_inside_literals() {
        let out = render(
            "Cargo.toml",
            "description = \"{{description}}\"\nbgapp = {{dep}}\n",
            &values(),
        )
        .unwrap();
        assert_eq!(
            out,
            "description = \"say \\\"hi\\\" \\\\o/\"\nbgapp = { path = \"/x\" }\n"
        );
        let doc: toml_edit::DocumentMut = out.parse().unwrap();
        assert_eq!(doc["description"].as_str(), Some(r#"say "hi" \o/"#));
    }

    #[test]
    fn undefined_placeholder_is_an_error() {
        let err = render("src/main.rs", "a\nb {{nmae}}", &values()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`src/main.rs`, line 2: undefined placeholder `{{nmae}}`"
        );
    }

    #[test]
    fn stray_braces_are_an_error_and_can_be_escaped() {
        for text in ["{{", "{{ }}", "{{a b}}", "{{1x}}", "x {{name"] {
            let err = render("f.rs", text, &values()).unwrap_err();
            assert!(
                matches!(err, TemplateError::Malformed { line: 1, .. }),
                "{text}: {err}"
            );
        }
        assert_eq!(render("f.rs", r"\{{name}}", &values()).unwrap(), "{{name}}");
    }

    #[test]
    fn toml_values_stay_in_toml_files() {
        let err = render("src/main.rs", "{{dep}}", &values()).unwrap_err();
        assert!(
            matches!(err, TemplateError::TomlOutsideToml { .. }),
            "{err}"
        );
    }

    #[test]
    fn the_embedded_templates_parse() {
        let all = all().unwrap();
        let names: Vec<_> = all.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["hello", "http", "server", "timer", "watcher"]);
        for t in &all {
            assert!(
                t.files.iter().any(|(p, _)| *p == "Cargo.toml"),
                "{}",
                t.name
            );
            assert!(t.variable("description").is_some(), "{}", t.name);
        }
    }

    #[test]
    fn every_placeholder_of_the_embedded_templates_is_defined() {
        for t in all().unwrap() {
            let mut values = Values::new();
            values.insert("name".into(), Value::Text("app".into()));
            values.insert("crate_name".into(), Value::Text("app".into()));
            values.insert("stem".into(), Value::Text("app".into()));
            values.insert("bgapp_dep".into(), Value::Toml("\"0.1\"".into()));
            let builtins = values.clone();
            for v in &t.variables {
                let value = render("default", &v.default, &builtins).unwrap();
                v.kind.check(&v.name, &value, &value).unwrap();
                values.insert(v.name.clone(), Value::Text(value));
            }
            for (path, text) in &t.files {
                render(path, path, &values).unwrap();
                render(path, text, &values).unwrap_or_else(|e| panic!("{}: {e}", t.name));
            }
        }
    }

    #[test]
    fn kinds_check_values() {
        assert!(VarKind::Duration.check("interval", "15m", "15m").is_ok());
        let err = VarKind::Duration
            .check("interval", "15", "15m")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value `15` for `interval`: `15` has no unit; write `15s`, `15m` or `15ms`"
        );
        assert!(VarKind::Listen.check("port", "8080", "8080").is_ok());
        assert!(VarKind::Listen.check("port", "70000", "8080").is_err());
        assert!(VarKind::Path.check("spool_dir", "relative", "/x").is_err());
        assert!(VarKind::Text
            .check("description", "two\nlines", "x")
            .is_err());
    }

    /// Each value the attribute, the packager or cargo would refuse later
    /// is refused by `new`, with what to write instead.
    #[test]
    fn kinds_refuse_what_builds_or_packages_would() {
        let refused = |kind: VarKind, key: &str, value: &str, default: &str| {
            kind.check(key, value, default)
                .expect_err(value)
                .to_string()
        };
        // `every = "0s"`: "`every` must be longer than zero".
        for zero in ["0s", "0ms", "0m 0s"] {
            let msg = refused(VarKind::Duration, "interval", zero, "15m");
            assert!(msg.contains("must be longer than zero"), "{msg}");
            assert!(msg.contains("help: write a duration like `30s`"), "{msg}");
        }
        assert!(refused(VarKind::Duration, "interval", "1.5s", "15m").contains("write `1500ms`"));
        // A Unix socket for a template that serves TCP.
        for unix in ["/path.sock", "@abstract"] {
            let msg = refused(VarKind::TcpListen, "port", unix, "8080");
            assert!(msg.contains("this template serves TCP"), "{msg}");
            assert!(msg.contains("help: write a port like `8080`"), "{msg}");
        }
        for tcp in ["8080", "127.0.0.1:8080", "[::1]:80"] {
            assert!(
                VarKind::TcpListen.check("port", tcp, "8080").is_ok(),
                "{tcp}"
            );
        }
        // Directories a path task cannot own.
        let spool = "/var/spool/app";
        for (dir, says) in [
            ("/", "is the root directory"),
            ("/tmp", "a directory the system owns"),
            ("/var/spool", "a directory the system owns"),
            ("/usr/share/app", "a directory the system owns"),
            ("/var/spool/../app", "write `/var/app`"),
            ("spool", "is not absolute"),
            ("/var/spool/app ", "ends with whitespace"),
        ] {
            let msg = refused(VarKind::WatchedDir, "spool_dir", dir, spool);
            assert!(msg.contains(says), "{dir}: {msg}");
        }
        let msg = refused(VarKind::WatchedDir, "spool_dir", "/tmp", spool);
        assert!(msg.contains("like the default `/var/spool/app`"), "{msg}");
        for ok in ["/var/spool/app", "/srv/app/in", "/var/spool/my spool"] {
            assert!(
                VarKind::WatchedDir.check("spool_dir", ok, spool).is_ok(),
                "{ok}"
            );
        }
        // The packager's Maintainer, cargo's license.
        let msg = refused(VarKind::Maintainer, "maintainer", "Jane Doe", "x");
        assert!(msg.contains("no email address"), "{msg}");
        assert!(
            msg.contains(r#"help: write `-d maintainer="Jane Doe <jane@example.com>"`"#),
            "{msg}"
        );
        assert!(VarKind::Maintainer
            .check("maintainer", "J <j@e.com>", "x")
            .is_ok());
        assert!(refused(VarKind::License, "license", "MIT/Apache", "x").contains("`/`"));
        assert!(VarKind::License
            .check("license", "(MIT OR Apache-2.0) AND BSD-3-Clause", "x")
            .is_ok());
        assert!(
            refused(VarKind::Description, "description", "  ", "Background app").contains("empty")
        );
    }
}
