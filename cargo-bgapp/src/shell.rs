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

    fn stderr(&self) -> anstream::AutoStream<std::io::Stderr> {
        let choice = match self.color {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        };
        anstream::AutoStream::new(std::io::stderr(), choice)
    }

    /// `   Packaging hello v0.1.0`: hidden with `-q`.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let _ = writeln!(self.stderr(), "{STATUS}{verb:>12}{STATUS:#} {message}");
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
        let _ = writeln!(self.stderr(), "{WARN}warning{WARN:#}: {message}");
    }

    /// `note: ...`.
    pub fn note(&self, message: impl std::fmt::Display) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let _ = writeln!(self.stderr(), "{NOTE}note{NOTE:#}: {message}");
    }

    /// `error: ...` with the causes, then hints after a blank line.
    pub fn error(&self, error: &anyhow::Error) {
        let mut err = self.stderr();
        let _ = writeln!(err, "{ERROR}error{ERROR:#}: {error}");
        for cause in error.chain().skip(1) {
            let _ = writeln!(err, "\nCaused by:\n  {cause}");
        }
    }
}
