//! A small `tracing` subscriber for the runtime and the task: one line per
//! event on stderr. Under journald (`JOURNAL_STREAM` names our stderr) each
//! line starts with its syslog priority (`<6>`), which journald turns into
//! the entry's priority; elsewhere the level is written out. The level comes
//! from `BGAPP_LOG` (`error`, `warn`, `info`, `debug`, `trace`, `off`),
//! `info` by default. A subscriber the app installed first is kept.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, LevelFilter, Metadata, Subscriber};

struct Logger {
    max: LevelFilter,
    journald: bool,
}

pub(crate) fn install() {
    let max = match std::env::var("BGAPP_LOG").ok().as_deref().map(str::trim) {
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
    // SAFETY: fstat fills the zeroed struct for a valid descriptor.
    let st = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(2, &mut st) != 0 {
            return false;
        }
        st
    };
    dev.parse::<u64>().ok() == Some(st.st_dev) && ino.parse::<u64>().ok() == Some(st.st_ino)
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
