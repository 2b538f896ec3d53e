//! bgapp's logger: one line per event on stderr, for `tracing` events and
//! `log` records alike. Under journald (`JOURNAL_STREAM` names our stderr)
//! each line starts with its syslog priority (`<3>` error, `<4>` warn,
//! `<6>` info, `<7>` debug and trace, as sd-daemon(3) describes), which
//! journald turns into the entry's priority; elsewhere the level is
//! written out.
//!
//! What is logged is chosen by a filter in `tracing`'s directive syntax:
//! `info`, `warn,my_app=debug`, `info,hyper=warn,h2=off`: a default level
//! and levels per target (a module path: `hyper` covers `hyper::proto`).
//! It comes from `BGAPP_LOG` (`info` when unset), or from the app, which
//! may set it from its own `-v` with [`set_filter`] at any time.
//!
//! A global `tracing` subscriber the app installed before the runtime
//! starts (or, with `log = "app"` in the attribute, at the top of its
//! task) is kept; bgapp's lifecycle lines then go through it. A `log`
//! logger the app installed (env_logger) is kept likewise.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Level, LevelFilter, Metadata, Subscriber};

/// What is logged: a default level and levels per target.
struct Filter {
    default: LevelFilter,
    targets: Vec<(String, LevelFilter)>,
}

impl Filter {
    /// The level of the most specific directive for `target` (the longest
    /// prefix at a `::` boundary; of two equal, the later), else the
    /// default. No sorting: a sort would add ~7 KB to every binary for the
    /// few directives a filter has.
    fn level(&self, target: &str) -> LevelFilter {
        let mut best: Option<(usize, LevelFilter)> = None;
        for (prefix, level) in &self.targets {
            let under = target
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
            if under && best.is_none_or(|(len, _)| prefix.len() >= len) {
                best = Some((prefix.len(), *level));
            }
        }
        best.map_or(self.default, |(_, level)| level)
    }

    fn max(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, LevelFilter::max)
    }
}

static FILTER: RwLock<Filter> = RwLock::new(Filter {
    default: LevelFilter::INFO,
    targets: Vec::new(),
});

/// Whether the app set the filter (so `BGAPP_LOG` does not replace it).
static SET_BY_APP: AtomicBool = AtomicBool::new(false);

/// A filter directive that does not parse, from [`set_filter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(String);

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

fn parse_level(text: &str) -> Option<LevelFilter> {
    const LEVELS: [(&str, LevelFilter); 6] = [
        ("off", LevelFilter::OFF),
        ("error", LevelFilter::ERROR),
        ("warn", LevelFilter::WARN),
        ("info", LevelFilter::INFO),
        ("debug", LevelFilter::DEBUG),
        ("trace", LevelFilter::TRACE),
    ];
    LEVELS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, level)| *level)
}

fn parse(spec: &str) -> Result<Filter, FilterError> {
    let mut filter = Filter {
        default: LevelFilter::INFO,
        targets: Vec::new(),
    };
    for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (target, level) = match directive.split_once('=') {
            Some((t, l)) => (Some(t.trim()), parse_level(l.trim())),
            None => match parse_level(directive) {
                Some(l) => (None, Some(l)),
                // A target alone: everything it logs, as env_logger reads it.
                None => (Some(directive), Some(LevelFilter::TRACE)),
            },
        };
        let valid_target =
            |t: &str| !t.is_empty() && t.chars().all(|c| c.is_alphanumeric() || "_:-.".contains(c));
        match (target, level) {
            (None, Some(l)) => filter.default = l,
            (Some(t), Some(l)) if valid_target(t) => filter.targets.push((t.to_string(), l)),
            _ => {
                return Err(FilterError(format!(
                    "invalid log directive `{directive}`; write a level (`off`, `error`, `warn`, `info`, `debug`, `trace`) or `target=level`, like `info,hyper=warn`"
                )))
            }
        }
    }
    Ok(filter)
}

/// Sets what bgapp's logger writes, in `tracing`'s directive syntax
/// (`debug`, `info,hyper=warn`), in place of `BGAPP_LOG`; for `tracing`
/// events and `log` records alike. Call it when the app knows (its `-v`
/// flag, its configuration), before or after the task starts.
///
/// ```no_run
/// # fn f(verbose: bool) -> Result<(), bgapp::log::FilterError> {
/// if verbose {
///     bgapp::log::set_filter("debug,hyper=info")?;
/// }
/// # Ok(()) }
/// ```
///
/// It changes nothing when the app installed its own `tracing`
/// subscriber: filter there.
pub fn set_filter(directives: &str) -> Result<(), FilterError> {
    let filter = parse(directives)?;
    SET_BY_APP.store(true, Ordering::Relaxed);
    apply(filter);
    Ok(())
}

fn apply(filter: Filter) {
    let max = filter.max();
    *FILTER.write().unwrap_or_else(|e| e.into_inner()) = filter;
    sync_log_level(max);
    // Callsites cached whether they are enabled: ask them again.
    tracing_core::callsite::rebuild_interest_cache();
}

/// Whether bgapp's bridge is the `log` crate's logger: only then is `log`'s
/// level bgapp's to set (an app's env_logger keeps its own).
static BRIDGED: AtomicBool = AtomicBool::new(false);

fn sync_log_level(max: LevelFilter) {
    if BRIDGED.load(Ordering::Relaxed) {
        ::log::set_max_level(match max {
            LevelFilter::OFF => ::log::LevelFilter::Off,
            LevelFilter::ERROR => ::log::LevelFilter::Error,
            LevelFilter::WARN => ::log::LevelFilter::Warn,
            LevelFilter::INFO => ::log::LevelFilter::Info,
            LevelFilter::DEBUG => ::log::LevelFilter::Debug,
            _ => ::log::LevelFilter::Trace,
        });
    }
}

fn enabled(target: &str, level: Level) -> bool {
    level
        <= FILTER
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .level(target)
}

struct Logger {
    journald: bool,
}

/// The `log` crate's records, through the same writer.
struct LogBridge;

static JOURNALD: AtomicBool = AtomicBool::new(false);

/// Installs bgapp's `tracing` subscriber and `log` logger, unless the app
/// installed its own; reads `BGAPP_LOG` unless the app set the filter.
pub(crate) fn install() {
    let journald = stderr_is_journal();
    JOURNALD.store(journald, Ordering::Relaxed);
    let mut bad = None;
    if !SET_BY_APP.load(Ordering::Relaxed) {
        let spec = std::env::var(bgapp_manifest::env::LOG).unwrap_or_default();
        match parse(&spec) {
            Ok(f) => apply(f),
            Err(e) => {
                apply(parse("info").expect("`info` parses"));
                bad = Some(e);
            }
        }
    }
    // The app's own subscriber, installed first, is kept; so is its way
    // of handling `log` records (tracing-log, or none).
    let ours = tracing::subscriber::set_global_default(Logger { journald }).is_ok();
    if ours && ::log::set_logger(&LogBridge).is_ok() {
        BRIDGED.store(true, Ordering::Relaxed);
        sync_log_level(FILTER.read().unwrap_or_else(|e| e.into_inner()).max());
    }
    if let Some(e) = bad {
        // Written as a warning line; not an event, whose callsite would
        // cost every binary its metadata for a line rarely written.
        let message = format!("`{}`: {e}; logging at `info`", bgapp_manifest::env::LOG);
        write_line(journald, Level::WARN, &message);
    }
}

/// One line, with its priority or level, written at once.
fn write_line(journald: bool, level: Level, message: &str) {
    let text = if journald {
        let prio = match level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            _ => 7,
        };
        format!("<{prio}>{message}\n")
    } else {
        format!("{level:>5} {message}\n")
    };
    // One write per line, so lines from threads do not interleave.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

impl ::log::Log for LogBridge {
    fn enabled(&self, metadata: &::log::Metadata<'_>) -> bool {
        enabled(metadata.target(), log_level(metadata.level()))
    }

    fn log(&self, record: &::log::Record<'_>) {
        if ::log::Log::enabled(self, record.metadata()) {
            let message = record.args().to_string();
            write_line(
                JOURNALD.load(Ordering::Relaxed),
                log_level(record.level()),
                &message,
            );
        }
    }

    fn flush(&self) {}
}

fn log_level(level: ::log::Level) -> Level {
    match level {
        ::log::Level::Error => Level::ERROR,
        ::log::Level::Warn => Level::WARN,
        ::log::Level::Info => Level::INFO,
        ::log::Level::Debug => Level::DEBUG,
        ::log::Level::Trace => Level::TRACE,
    }
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
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        match self.enabled(metadata) {
            true => Interest::always(),
            false => Interest::never(),
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        enabled(metadata.target(), *metadata.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(FILTER.read().unwrap_or_else(|e| e.into_inner()).max())
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        write_line(self.journald, *event.metadata().level(), &line.0);
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
    use super::{parse, write_f64, LevelFilter};

    #[test]
    fn directives_set_levels_per_target() {
        let f = parse("warn,hyper=debug,hyper::proto=off,my_app").unwrap();
        assert_eq!(f.level("other"), LevelFilter::WARN);
        assert_eq!(f.level("hyper"), LevelFilter::DEBUG);
        assert_eq!(f.level("hyper::client"), LevelFilter::DEBUG);
        assert_eq!(f.level("hyper::proto::h1"), LevelFilter::OFF);
        // A prefix only at a module boundary.
        assert_eq!(f.level("hyperx"), LevelFilter::WARN);
        assert_eq!(f.level("my_app::net"), LevelFilter::TRACE);
        assert_eq!(f.max(), LevelFilter::TRACE);
        let f = parse("").unwrap();
        assert_eq!(
            (f.level("x"), f.max()),
            (LevelFilter::INFO, LevelFilter::INFO)
        );
        // Of two directives for one target, the later.
        let f = parse("a=warn,a::b=info,a=debug").unwrap();
        assert_eq!(
            (f.level("a::c"), f.level("a::b::c")),
            (LevelFilter::DEBUG, LevelFilter::INFO)
        );
        let f = parse(" Debug , ").unwrap();
        assert_eq!(f.level("x"), LevelFilter::DEBUG);
        assert_eq!(
            parse("info,hyper=loud").err().map(|e| e.to_string()),
            Some("invalid log directive `hyper=loud`; write a level (`off`, `error`, `warn`, `info`, `debug`, `trace`) or `target=level`, like `info,hyper=warn`".to_string())
        );
        assert!(parse("=info").is_err());
    }

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
