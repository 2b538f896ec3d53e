//! Misuses of `#[background_task]` that rustc itself reports (a duplicate
//! name, a return type that is not `()` or `Result<(), E: Display>`). Their
//! full text is rustc's and changes between toolchains, so these cases are
//! not snapshots: each `tests/ui-rustc/*.rs` marks the line an error must
//! point at with `//~^ ERROR[CODE] text` (the line above the marker), and the
//! test checks that the case fails to compile with an error of that code,
//! whose message contains the text, at that line, and no error elsewhere.
//! The messages the macro writes itself are snapshots in `tests/ui/`.

use std::path::{Path, PathBuf};

mod scratch;

struct Expected {
    line: usize,
    code: String,
    text: String,
}

fn expectations(source: &str) -> Vec<Expected> {
    source
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let rest = l.trim_start().strip_prefix("//~")?;
            let carets = rest.chars().take_while(|&c| c == '^').count();
            let rest = rest[carets..].trim_start().strip_prefix("ERROR[")?;
            let (code, text) = rest.split_once(']')?;
            Some(Expected {
                line: i + 1 - carets,
                code: code.to_string(),
                text: text.trim().to_string(),
            })
        })
        .collect()
}

#[test]
fn rustc_reports_these_misuses_where_they_are() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui-rustc");
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(&ui)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 4,
        "the cases are missing from {}",
        ui.display()
    );
    let mut bins = String::new();
    for (name, path) in &cases {
        bins.push_str(&format!(
            "\n[[bin]]\nname = {name:?}\npath = {:?}\n",
            path.display().to_string()
        ));
    }
    let scratch = scratch::Scratch::new("ui-rustc", "", &bins);
    let mut failures = Vec::new();
    for (name, path) in &cases {
        let source = std::fs::read_to_string(path).unwrap();
        let expected = expectations(&source);
        assert!(!expected.is_empty(), "{name}.rs marks no `//~^ ERROR[...]`");
        let out = scratch.cargo(&["check", "--quiet", "--message-format=json", "--bin", name]);
        if out.status.success() {
            failures.push(format!("{name}: compiled, but must not"));
            continue;
        }
        // (code, message, line of the primary span in the case's file)
        let errors: Vec<(String, String, usize)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["reason"] == "compiler-message" && v["message"]["level"] == "error")
            .filter_map(|v| {
                let m = &v["message"];
                let span = m["spans"].as_array()?.iter().find(|s| {
                    s["is_primary"] == true
                        && s["file_name"]
                            .as_str()
                            .is_some_and(|f| path.ends_with(f) || Path::new(f) == path)
                })?;
                Some((
                    m["code"]["code"].as_str().unwrap_or_default().to_string(),
                    m["message"].as_str().unwrap_or_default().to_string(),
                    span["line_start"].as_u64()? as usize,
                ))
            })
            .collect();
        for e in &expected {
            if !errors.iter().any(|(code, msg, line)| {
                *code == e.code && msg.contains(&e.text) && *line == e.line
            }) {
                failures.push(format!(
                    "{name}: no error[{}] containing `{}` at line {}; got {errors:?}",
                    e.code, e.text, e.line
                ));
            }
        }
        for (code, msg, line) in &errors {
            if !expected.iter().any(|e| e.line == *line && e.code == *code) {
                failures.push(format!(
                    "{name}: unexpected error[{code}] at line {line}: {msg}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
