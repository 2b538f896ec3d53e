//! Quoting a value for each file format it is written into, so that a path
//! with spaces, quotes, `$`, backticks or `%` means the same path to `sh`,
//! to systemd and to systemd-tmpfiles as it does in `Cargo.toml`.
//!
//! Control characters never get here: every path is checked first
//! (`bgapp_manifest::path::check_absolute_path`).

/// One word for POSIX `sh`: in single quotes, where nothing is special
/// but the quote itself, written `'\''`.
pub fn sh(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Text in a unit setting that systemd expands specifiers in but does not
/// unquote (`Description=`, `PathChanged=`, `ListenStream=`): `%` is
/// written `%%`.
pub fn specifiers(text: &str) -> String {
    text.replace('%', "%%")
}

/// One item of a setting that systemd splits into quoted words
/// (`ReadWritePaths=`, `DeviceAllow=`), or one field of a tmpfiles.d line:
/// `%` as `%%` for the specifier expansion, and, when it holds whitespace,
/// a quote or a backslash, in double quotes with `\` and `"` escaped
/// C-style (systemd.syntax(7), "Quoting"; tmpfiles.d(5)).
pub fn systemd_word(word: &str) -> String {
    let plain = !word.is_empty()
        && !word.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\');
    if plain {
        return specifiers(word);
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Free text for a unit setting whose value systemd takes as it is
/// (`Description=`): on one line, specifiers escaped, and no trailing `\`,
/// which would continue the setting onto the next line of the unit.
pub fn unit_text(text: &str) -> String {
    let line = super::debian::one_line(text);
    specifiers(line.trim_end_matches('\\').trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_words_survive_the_shell() {
        let words = [
            "/opt/sp/my notes.txt",
            "/opt/it's \"q\" $HOME `date` $(id) \\ * ? [a] ~ ; & | < > #",
            "/opt/sp/-rf",
            "",
        ];
        for w in words {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", sh(w)))
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), w);
        }
    }

    #[test]
    fn systemd_words() {
        assert_eq!(systemd_word("/var/spool/hello"), "/var/spool/hello");
        assert_eq!(systemd_word("-/srv/100%"), "-/srv/100%%");
        assert_eq!(systemd_word("/it's"), "\"/it's\"");
        assert_eq!(
            systemd_word("/var/spool/my spool"),
            "\"/var/spool/my spool\""
        );
        assert_eq!(systemd_word(r#"/a "b" \c 100%"#), r#""/a \"b\" \\c 100%%""#);
        assert_eq!(unit_text("Says 100% hello\\\\"), "Says 100%% hello");
        assert_eq!(unit_text("two\nlines\t"), "two lines");
    }
}
