//! YAML, written here: block style, two-space indents, every string
//! double-quoted with JSON's escapes (which YAML's double-quoted style
//! reads the same: YAML 1.2 is a superset of JSON), so no value can be
//! misread as a number, a boolean or null. Keys are plain when they are
//! plainly names. The manifests are serde_json values, so one writer of
//! ~60 lines replaces a YAML crate (serde_yaml is unmaintained; its forks
//! are young) for output only.

use serde_json::Value;

/// Several documents, each after `---`.
pub fn documents(values: &[Value]) -> String {
    let mut out = String::new();
    for v in values {
        out.push_str("---\n");
        match v {
            Value::Object(m) if !m.is_empty() => map(m, 0, false, &mut out),
            other => {
                scalar(other, &mut out);
                out.push('\n');
            }
        }
    }
    out
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn key(k: &str, out: &mut String) {
    let plain = !k.is_empty()
        && k.starts_with(|c: char| c.is_ascii_alphabetic())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        out.push_str(k);
    } else {
        scalar(&Value::String(k.to_string()), out);
    }
}

fn scalar(v: &Value, out: &mut String) {
    match v {
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
        // Numbers, booleans and null as JSON writes them; strings quoted.
        other => out.push_str(&other.to_string()),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => false,
    }
}

/// A mapping at `indent`; with `inline_first`, the first key follows a
/// `- ` already written.
fn map(m: &serde_json::Map<String, Value>, indent: usize, inline_first: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if !(inline_first && i == 0) {
            pad(indent, out);
        }
        key(k, out);
        out.push(':');
        value(v, indent + 2, out);
    }
}

/// What follows `key:`.
fn value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            map(m, indent, false, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            seq(a, indent, out);
        }
        other => {
            out.push(' ');
            scalar(other, out);
            out.push('\n');
        }
    }
}

fn seq(a: &[Value], indent: usize, out: &mut String) {
    for item in a {
        pad(indent, out);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                out.push(' ');
                map(m, indent + 2, true, out)
            }
            Value::Array(inner) if is_block(item) => {
                out.push('\n');
                seq(inner, indent + 2, out);
            }
            other => {
                out.push(' ');
                scalar(other, out);
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_style_with_quoted_strings() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "labels": { "app.kubernetes.io/name": "on" } },
            "spec": {
                "containers": [
                    { "name": "a", "args": ["x", "1"], "env": [], "securityContext": {} }
                ],
                "n": 30,
                "yes": true,
                "list": [["a"], []]
            }
        });
        assert_eq!(
            documents(&[v]),
            "---\napiVersion: \"v1\"\nkind: \"Pod\"\nmetadata:\n  labels:\n    app.kubernetes.io/name: \"on\"\nspec:\n  containers:\n    - args:\n        - \"x\"\n        - \"1\"\n      env: []\n      name: \"a\"\n      securityContext: {}\n  list:\n    -\n      - \"a\"\n    - []\n  \"n\": 30\n  \"yes\": true\n"
        );
    }
}
