//! A small `tracing` subscriber for the runtime and the task: one line per
//! event on stderr. Under journald (`JOURNAL_STREAM` names our stderr) each
//! line starts with its syslog priority (`<6>`), which journald turns into
//! the entry's priority; elsewhere the level is written out. The level comes
//! from `BGAPP_LOG` (`error`, `warn`, `info`, `debug`, `trace`, `off`),
//! `info` by default. A subscriber the app installed first is kept.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, LevelFilter, Metadata, Subscriber};

struct Logger {
    max: LevelFilter,
    journald: bool,
}

pub(crate) fn install() {
    let max = match std::env::var(bgapp_manifest::env::LOG)
        .ok()
        .as_deref()
        .map(str::trim)
    {
        Some("off") => LevelFilter::OFF,
        Some("error") => LevelFilter::ERROR,
        Some("warn") => LevelFilter::WARN,
        Some("debug") => LevelFilter::DEBUG,
        Some("trace") => LevelFilter::TRACE,
        _ => LevelFilter::INFO,
    };
    let logger = Logger {
        max,
        journald: stderr_is_journal(),
    };
    let _ = tracing::subscriber::set_global_default(logger);
}

fn stderr_is_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    // std's metadata is the 64-bit `fstat` on every target, as journald
    // prints the numbers (`libc::stat`'s `st_ino` is 32 bits on armhf).
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(meta.dev()) && ino.parse::<u64>().ok() == Some(meta.ino())
}

struct Line(String);

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }

    // Floats are written with integer arithmetic, to six decimals: the
    // standard float formatter would add ~20 KB to every binary for a
    // value that logs of background tasks rarely carry.
    fn record_f64(&mut self, field: &Field, value: f64) {
        let _ = write!(self.0, " {}=", field.name());
        write_f64(&mut self.0, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let msg = format!("{value:?}");
            self.0.insert_str(0, &msg);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        let level = *event.metadata().level();
        let text = if self.journald {
            let prio = match level {
                Level::ERROR => 3,
                Level::WARN => 4,
                Level::INFO => 6,
                _ => 7,
            };
            format!("<{prio}>{}\n", line.0)
        } else {
            format!("{level:>5} {}\n", line.0)
        };
        // One write per line, so lines from threads do not interleave.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// `value` in plain decimal notation with at most six decimals, trailing
/// zeros dropped (`1.5`, `-0.000001`, `3`); beyond 1e18, in whole units.
fn write_f64(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
        return;
    }
    if value.is_sign_negative() && value != 0.0 {
        out.push('-');
    }
    let abs = value.abs();
    if abs.is_infinite() {
        out.push_str("inf");
        return;
    }
    if abs >= 1e18 {
        // Whole units; u128 holds up to ~3.4e38, larger saturates.
        let _ = write!(out, "{}", abs as u128);
        return;
    }
    let micros = (abs * 1e6).round() as u128;
    let (whole, mut fraction) = (micros / 1_000_000, micros % 1_000_000);
    let _ = write!(out, "{whole}");
    if fraction != 0 {
        let mut digits = 6;
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{fraction:0digits$}");
    }
}

#[cfg(test)]
mod tests {
    use super::write_f64;

    fn f(value: f64) -> String {
        let mut s = String::new();
        write_f64(&mut s, value);
        s
    }

    #[test]
    fn floats_are_plain_decimals() {
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(3.0), "3");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-0.0), "0");
        assert_eq!(f(-2.25), "-2.25");
        assert_eq!(f(0.000001), "0.000001");
        assert_eq!(f(0.1 + 0.2), "0.3");
        assert_eq!(f(1234567.891), "1234567.891");
        assert_eq!(f(2e18), "2000000000000000000");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::NEG_INFINITY), "-inf");
    }
}
