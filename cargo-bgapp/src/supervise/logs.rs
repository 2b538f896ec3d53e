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

    /// Prints one line (with or without its `\n`) in a single write, so
    /// that lines of different tasks never mix.
    pub fn print(&self, line: &[u8], to_stderr: bool) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut buf = format!("{}{}{:#} ", self.style, self.text, self.style).into_bytes();
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let _ = if to_stderr {
            anstream::AutoStream::new(std::io::stderr().lock(), self.color).write_all(&buf)
        } else {
            anstream::AutoStream::new(std::io::stdout().lock(), self.color).write_all(&buf)
        };
    }
}
