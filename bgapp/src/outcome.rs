//! What a task's function returns, and how that becomes an exit status.
//!
//! | code | meaning | restarted |
//! | --- | --- | --- |
//! | 0 | finished, or stopped and saved in time; a timer task found new data | under `always` |
//! | 1 | failed: returned an error, panicked, or reported `FetchResult::Failed` | under `always`, `on-failure` |
//! | 2 | usage error: unknown task name or argument, or [`Usage`] | never |
//! | 3 | missed the stop deadline: work was abandoned | under `always`, `on-failure` |
//! | 4 | permanent failure declared with [`Permanent`] | never |
//! | 5 | a timer task found no new data (a success) | under `always` |
//! | 130 | a second Ctrl-C ended it at once | no (it was being stopped) |
//!
//! The constants are in [`crate::exit`].

use std::fmt;

/// The result of a background fetch, reported with
/// [`TaskInstance::report`](crate::TaskInstance::report), as in iOS's
/// `UIBackgroundFetchResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchResult {
    /// New data was found and handled. Exit status 0.
    NewData,
    /// There was nothing new. Exit status 5, a success for systemd.
    NoData,
    /// The fetch failed. Exit status 1.
    Failed,
}

impl FetchResult {
    const ALL: [FetchResult; 3] = [
        FetchResult::NewData,
        FetchResult::NoData,
        FetchResult::Failed,
    ];

    /// The name a run record stores, read back.
    pub(crate) fn from_name(name: &str) -> Option<FetchResult> {
        FetchResult::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FetchResult::NewData => "new data",
            FetchResult::NoData => "no data",
            FetchResult::Failed => "failed",
        }
    }
}

impl fmt::Display for FetchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that retrying cannot fix (a bad configuration, a missing
/// device). Returning it makes the process exit with status 4, which the
/// generated units never restart.
///
/// ```
/// # async fn f() -> anyhow::Result<()> {
/// return Err(bgapp::Permanent::new("`/etc/app.toml` is missing").into());
/// # }
/// ```
#[derive(Debug)]
pub struct Permanent(Box<dyn std::error::Error + Send + Sync>);

impl Permanent {
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Permanent(error.into())
    }
}

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Permanent {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The command line was not for a run: the task printed its help or
/// version (exit status 0), or refused its arguments (exit status 2,
/// [`crate::exit::USAGE`], never restarted). A run that ends with it is
/// not a run: it leaves no run record and, ended before its first `.await`,
/// no "started" line, no `READY=1`.
///
/// ```
/// # async fn f(task: bgapp::TaskInstance) -> anyhow::Result<()> {
/// let Some(port) = task.args().first() else {
///     return Err(bgapp::Usage::new("missing the port; write `app PORT`").into());
/// };
/// # Ok(()) }
/// ```
///
/// With the `clap` feature, a `clap::Error` is one too: see
/// [`TaskInstance::parse_args`](crate::TaskInstance::parse_args).
#[derive(Debug)]
pub struct Usage {
    text: String,
    code: u8,
}

impl Usage {
    /// A usage error: printed on stderr as `error: {message}`, exit status 2.
    pub fn new(message: impl fmt::Display) -> Self {
        Usage {
            text: format!("error: {message}\n"),
            code: crate::exit::USAGE,
        }
    }

    /// Help or version text the task answers its command line with:
    /// printed on stdout as it is, exit status 0.
    pub fn output(text: impl Into<String>) -> Self {
        let mut text = text.into();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Usage { text, code: 0 }
    }

    /// The exit status: 0 for help and version, 2 for an error.
    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.trim_end())
    }
}

impl std::error::Error for Usage {}

#[cfg(feature = "clap")]
impl From<clap::Error> for Usage {
    fn from(e: clap::Error) -> Self {
        usage_of_clap(&e)
    }
}

#[cfg(feature = "clap")]
fn usage_of_clap(e: &clap::Error) -> Usage {
    // clap's own rendering: `--help` and `--version` text, or the error
    // with its usage line and `For more information, try '--help'.`
    let code = if e.use_stderr() {
        crate::exit::USAGE
    } else {
        0
    };
    Usage {
        text: e.render().to_string(),
        code,
    }
}

/// How the task's function ended, as the runtime sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returned {
    Ok,
    Err {
        message: String,
        permanent: bool,
    },
    Panicked(String),
    /// Not a run: print `text` (on stdout for status 0), exit with `code`.
    Usage {
        text: String,
        code: u8,
    },
}

/// Converts what a task function returns into [`Returned`]. Implemented for
/// `()` and `Result<(), E>` where `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a background task must return `()` or `Result<(), E>` where `E: Display`, not `{Self}`",
    label = "this return type is not supported",
    note = "`anyhow::Result<()>`, `std::io::Result<()>` and `Result<(), String>` all work"
)]
pub trait TaskReturn {
    fn into_returned(self) -> Returned;
}

impl TaskReturn for () {
    fn into_returned(self) -> Returned {
        Returned::Ok
    }
}

impl<E: fmt::Display + 'static> TaskReturn for Result<(), E> {
    fn into_returned(self) -> Returned {
        match self {
            Ok(()) => Returned::Ok,
            // `{:#}` prints anyhow's whole chain on one line.
            Err(e) => classify(&e, format!("{e:#}")),
        }
    }
}

/// What an error returned by the task means. Not generic, so that it is
/// compiled once, not once per task.
#[inline(never)]
fn classify(e: &dyn std::any::Any, message: String) -> Returned {
    match usage(e) {
        Some(u) => Returned::Usage {
            text: u.text,
            code: u.code,
        },
        None => Returned::Err {
            permanent: is_permanent(e),
            message,
        },
    }
}

/// The [`Usage`] (or, with the `clap` feature, the `clap::Error`) an error
/// is or wraps.
fn usage(any: &dyn std::any::Any) -> Option<Usage> {
    fn of(e: &(dyn std::error::Error + 'static)) -> Option<Usage> {
        if let Some(u) = e.downcast_ref::<Usage>() {
            return Some(Usage {
                text: u.text.clone(),
                code: u.code,
            });
        }
        #[cfg(feature = "clap")]
        if let Some(c) = e.downcast_ref::<clap::Error>() {
            return Some(usage_of_clap(c));
        }
        None
    }
    if let Some(u) = any.downcast_ref::<Usage>() {
        return of(u);
    }
    #[cfg(feature = "clap")]
    if let Some(c) = any.downcast_ref::<clap::Error>() {
        return of(c);
    }
    #[cfg(feature = "anyhow")]
    if let Some(e) = any.downcast_ref::<anyhow::Error>() {
        return e.chain().find_map(of);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        return of(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn std::error::Error>>() {
        return of(&**e);
    }
    None
}

fn is_permanent(any: &dyn std::any::Any) -> bool {
    if any.is::<Permanent>() {
        return true;
    }
    #[cfg(feature = "anyhow")]
    if let Some(e) = any.downcast_ref::<anyhow::Error>() {
        return e.chain().any(|c| c.is::<Permanent>());
    }
    if let Some(e) = any.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        return e.is::<Permanent>();
    }
    if let Some(e) = any.downcast_ref::<Box<dyn std::error::Error>>() {
        return e.is::<Permanent>();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_map_to_returned() {
        assert_eq!(().into_returned(), Returned::Ok);
        assert_eq!(Ok::<(), String>(()).into_returned(), Returned::Ok);
        assert_eq!(
            Err::<(), _>("boom".to_string()).into_returned(),
            Returned::Err {
                message: "boom".into(),
                permanent: false
            }
        );
        let e: anyhow::Error = Permanent::new("no config").into();
        assert_eq!(
            Err::<(), _>(e.context("starting")).into_returned(),
            Returned::Err {
                message: "starting: no config".into(),
                permanent: true
            }
        );
        let e: anyhow::Error = Usage::new("unknown option `-x`").into();
        assert_eq!(
            Err::<(), _>(e).into_returned(),
            Returned::Usage {
                text: "error: unknown option `-x`\n".into(),
                code: 2
            }
        );
        assert_eq!(
            Err::<(), _>(Usage::output("app 1.0")).into_returned(),
            Returned::Usage {
                text: "app 1.0\n".into(),
                code: 0
            }
        );
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Permanent::new("x"));
        assert!(matches!(
            Err::<(), _>(boxed).into_returned(),
            Returned::Err {
                permanent: true,
                ..
            }
        ));
    }
}
