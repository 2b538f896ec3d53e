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
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
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

/// What values a template variable takes; checked before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// One line of text.
    Text,
    /// A duration as the task attributes take it (`15m`).
    Duration,
    /// A socket address as `socket(listen = ...)` takes it (`8080`).
    Listen,
    /// An absolute path.
    Path,
}

impl VarKind {
    fn parse(text: &str) -> Option<VarKind> {
        Some(match text {
            "text" => VarKind::Text,
            "duration" => VarKind::Duration,
            "listen" => VarKind::Listen,
            "path" => VarKind::Path,
            _ => return None,
        })
    }

    pub fn check(self, key: &str, value: &str) -> Result<(), TemplateError> {
        let invalid = |reason: String| TemplateError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason,
        };
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(invalid(format!("it contains the control character {c:?}")));
        }
        match self {
            VarKind::Text => Ok(()),
            VarKind::Duration => bgapp_manifest::parse_duration(value)
                .map(drop)
                .map_err(|e| invalid(e.to_string())),
            VarKind::Listen => bgapp_manifest::ListenAddress::parse(value)
                .map(drop)
                .map_err(|e| invalid(e.to_string())),
            VarKind::Path if !value.starts_with('/') => {
                Err(invalid("the path must be absolute".to_string()))
            }
            VarKind::Path if value.contains(['"', '\\']) => {
                Err(invalid("the path cannot contain `\"` or `\\`".to_string()))
            }
            VarKind::Path => Ok(()),
        }
    }
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
        for name in ["name", "crate_name"] {
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
        assert_eq!(names, ["hello", "server", "timer", "watcher"]);
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
            values.insert("bgapp_dep".into(), Value::Toml("\"0.1\"".into()));
            let builtins = values.clone();
            for v in &t.variables {
                let value = render("default", &v.default, &builtins).unwrap();
                v.kind.check(&v.name, &value).unwrap();
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
        assert!(VarKind::Duration.check("interval", "15m").is_ok());
        let err = VarKind::Duration.check("interval", "15").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value `15` for `interval`: `15` has no unit; write `15s`, `15m` or `15ms`"
        );
        assert!(VarKind::Listen.check("port", "8080").is_ok());
        assert!(VarKind::Listen.check("port", "70000").is_err());
        assert!(VarKind::Path.check("spool_dir", "relative").is_err());
        assert!(VarKind::Text.check("description", "two\nlines").is_err());
    }
}
