//! The tasks' output, line by line, prefixed with the task's name
//! (`[ticker] ...`) in a colour of its own, as `--color` allows: stdout
//! lines to stdout, stderr lines (the runtime's log) to stderr.

use std::io::Write as _;
use std::sync::Arc;

use anstyle::{AnsiColor, Style};

use crate::shell::Shell;

const PALETTE: &[AnsiColor] = &[
    AnsiColor::Cyan,
    AnsiColor::Magenta,
    AnsiColor::Blue,
    AnsiColor::Yellow,
    AnsiColor::Green,
    AnsiColor::BrightCyan,
    AnsiColor::BrightMagenta,
    AnsiColor::BrightBlue,
];

#[derive(Clone)]
pub struct Prefix {
    text: Arc<str>,
    style: Style,
    color: anstream::ColorChoice,
}

impl Prefix {
    /// The prefix of the `index`th task.
    pub fn new(name: &str, index: usize, shell: &Shell) -> Prefix {
        Prefix {
            text: format!("[{name}]").into(),
            style: PALETTE[index % PALETTE.len()].on_default().bold(),
            color: match shell.color_arg() {
                "always" => anstream::ColorChoice::Always,
                "never" => anstream::ColorChoice::Never,
                _ => anstream::ColorChoice::Auto,
            },
        }
    }

    /// Prints one line (with or without its `\n`) in a single `write(2)`,
    /// prefix included, so that lines never mix, even where the output is
    /// not a terminal and colour is stripped, and stdout and stderr go to
    /// one file.
    pub fn print(&self, line: &[u8], to_stderr: bool) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let buf = self.render(line, self.colored(to_stderr));
        let _ = if to_stderr {
            std::io::stderr().lock().write_all(&buf)
        } else {
            std::io::stdout().lock().write_all(&buf)
        };
    }

    fn colored(&self, to_stderr: bool) -> bool {
        let choice = match self.color {
            anstream::ColorChoice::Auto if to_stderr => {
                anstream::AutoStream::choice(&std::io::stderr())
            }
            anstream::ColorChoice::Auto => anstream::AutoStream::choice(&std::io::stdout()),
            other => other,
        };
        choice != anstream::ColorChoice::Never
    }

    /// The whole line as written: styled, or with every escape sequence
    /// (the task's own too) stripped.
    fn render(&self, line: &[u8], colored: bool) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.text.len() + line.len() + 16);
        if colored {
            buf.extend(format!("{}{}{:#} ", self.style, self.text, self.style).into_bytes());
            buf.extend_from_slice(line);
        } else {
            buf.extend(format!("{} ", self.text).into_bytes());
            buf.extend(anstream::adapter::strip_bytes(line).into_vec());
        }
        buf.push(b'\n');
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix() -> Prefix {
        Prefix {
            text: "[huge]".into(),
            style: AnsiColor::Cyan.on_default().bold(),
            color: anstream::ColorChoice::Never,
        }
    }

    #[test]
    fn a_line_is_rendered_whole_for_one_write() {
        let p = prefix();
        assert_eq!(
            p.render(b"line \x1b[31mred\x1b[0m 1", false),
            b"[huge] line red 1\n".to_vec()
        );
        let styled = p.render(b"line 1", true);
        assert!(styled.starts_with(b"\x1b["), "{styled:?}");
        assert!(styled.ends_with(b"[huge]\x1b[0m line 1\n"), "{styled:?}");
    }
}
