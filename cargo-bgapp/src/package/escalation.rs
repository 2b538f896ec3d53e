//! Programs that gain privileges (`sudo`, `pkexec`, `su`...) named in a
//! binary: under the generated units they cannot work (`NoNewPrivileges=yes`
//! makes the kernel ignore their setuid bit; there is no capability to
//! give and, with `PrivateUsers=yes`, no root to become), so a daemon that
//! falls back to `sudo wg show` fails at the first request on a device.
//!
//! The check is a scan of the binary's bytes, honest about what it can
//! see. Rust's string literals sit in the read-only data without
//! terminators, glued to the next one (`Command::new("sudo").arg("wg")`
//! leaves `sudowg`), so a name counts where it starts a word (not
//! `pseudo`), whatever follows it, but `sudoers`; `su`, a prefix of too
//! many words, counts only as a path (`/bin/su`) followed by no letter. A
//! name glued after another literal (`wgsudo`) is missed; a help text
//! that says "run with sudo" is found. It costs one pass over the bytes
//! per name, a few ms for a 10 MB binary.

/// The programs, by name; `su` only as a path.
const PROGRAMS: &[&str] = &["sudo", "pkexec", "doas", "run0", "su"];
const DIRS: &[&str] = &[
    "/usr/local/bin/",
    "/usr/bin/",
    "/usr/sbin/",
    "/bin/",
    "/sbin/",
];

/// A byte that can continue a word or a path.
fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')
}

/// The programs `data` names, sorted, each as found first (`/usr/bin/sudo`
/// or `sudo`).
pub fn programs(data: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for program in PROGRAMS {
        let p = program.as_bytes();
        let mut at = 0;
        while let Some(i) = find(&data[at..], p).map(|i| i + at) {
            at = i + 1;
            let rest = &data[i + p.len()..];
            let path = DIRS.iter().find(|d| {
                i >= d.len()
                    && &data[i - d.len()..i] == d.as_bytes()
                    // Not a directory deeper down (`/opt/x/usr/bin/`);
                    // a glued literal may come before it.
                    && (i == d.len() || data[i - d.len() - 1] != b'/')
            });
            let starts_word = i == 0 || !word_byte(data[i - 1]);
            let shown = match (path, *program) {
                (_, "sudo") if rest.starts_with(b"ers") => continue,
                (Some(dir), "su") if rest.first().is_none_or(|b| !b.is_ascii_alphabetic()) => {
                    format!("{dir}su")
                }
                (_, "su") => continue,
                (Some(dir), _) => format!("{dir}{program}"),
                (None, _) if starts_word => program.to_string(),
                (None, _) => continue,
            };
            found.push(shown);
            break;
        }
    }
    found.sort();
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_paths_and_bare_names() {
        assert_eq!(programs(b"\0/usr/bin/sudo\0wg"), ["/usr/bin/sudo"]);
        assert_eq!(programs(b"x\"sudo\" wg show"), ["sudo"]);
        assert_eq!(programs(b"exec /bin/su -c"), ["/bin/su"]);
        assert_eq!(
            programs(b"/usr/bin/pkexec doas"),
            ["/usr/bin/pkexec", "doas"]
        );
        // Glued to the next literal, as rustc lays them out.
        assert_eq!(programs(b"--label/usr/bin/sudowgshow"), ["/usr/bin/sudo"]);
        assert_eq!(programs(b"\x01sudoallwg"), ["sudo"]);
    }

    /// Words that contain the names are not the programs.
    #[test]
    fn ignores_words_and_other_paths() {
        for text in [
            &b"pseudo-random sudoers /etc/sudoers"[..],
            b"resume subsystem su_x issue /bin/sum",
            b"/home/jsudo/x /srv/sudo-less",
            b"results: su",
            b"--prepend-sudo",
        ] {
            assert_eq!(
                programs(text),
                Vec::<String>::new(),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
