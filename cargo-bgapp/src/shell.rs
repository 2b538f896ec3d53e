//! Cargo-style terminal output: status lines on stderr with the verb
//! right-aligned in 12 columns (`   Packaging hello v0.1.0`), `warning:` and
//! `error:` labels, colour only where the stream is a terminal and
//! `--color` allows it. Machine output goes to stdout through `println!`.
//!
//! Layer: beside the others; every layer that reports to the user (the
//! commands, the supervisor, cargo's build) writes through a [`Shell`].

use std::io::Write;

use anstyle::{AnsiColor, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub struct Shell {
    verbosity: Verbosity,
    color: ColorChoice,
}

const STATUS: Style = AnsiColor::Green.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();
const ERROR: Style = AnsiColor::Red.on_default().bold();
const NOTE: Style = AnsiColor::Cyan.on_default().bold();

impl Shell {
    pub fn new(verbosity: Verbosity, color: ColorChoice) -> Shell {
        Shell { verbosity, color }
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// The `--color` value to pass on to child cargo processes.
    pub fn color_arg(&self) -> &'static str {
        match self.color {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }

    /// Whether stderr gets colour: `--color`, and with `auto` whether it
    /// is a terminal (and `NO_COLOR`, `CLICOLOR_FORCE`), as anstream decides.
    fn colored(&self) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
            }
        }
    }

    /// Writes one message, styled or with every escape sequence stripped,
    /// in a single `write(2)`: a message built piece by piece through an
    /// unbuffered stderr is several writes, between which the lines of
    /// the tasks under `cargo bgapp run` (or of cargo) could land.
    fn emit(&self, styled: String) {
        let text = if self.colored() {
            styled
        } else {
            anstream::adapter::strip_str(&styled).to_string()
        };
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// `   Packaging hello v0.1.0`: hidden with `-q`.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        self.emit(format!("{STATUS}{verb:>12}{STATUS:#} {message}\n"));
    }

    /// Like `status`, but only with `-v`.
    pub fn verbose(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity == Verbosity::Verbose {
            self.status(verb, message);
        }
    }

    /// `warning: ...`: hidden with `-q`, as cargo does.
    pub fn warn(&self, message: impl std::fmt::Display) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        self.emit(format!("{WARN}warning{WARN:#}: {message}\n"));
    }

    /// `note: ...`.
    pub fn note(&self, message: impl std::fmt::Display) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        self.emit(format!("{NOTE}note{NOTE:#}: {message}\n"));
    }

    /// `error: ...` with the causes, then hints after a blank line; in one
    /// write, as every message.
    pub fn error(&self, error: &anyhow::Error) {
        let mut text = format!("{ERROR}error{ERROR:#}: {error}\n");
        for cause in error.chain().skip(1) {
            text.push_str(&format!("\nCaused by:\n  {cause}\n"));
        }
        self.emit(text);
    }
}
