//! What a task's function returns, and how that becomes an exit status.
//!
//! | code | meaning | restarted |
//! | --- | --- | --- |
//! | 0 | finished, or stopped and saved in time; a timer task found new data | under `always` |
//! | 1 | failed: returned an error, panicked, or reported `FetchResult::Failed` | under `always`, `on-failure` |
//! | 2 | usage error: unknown task name or argument | never |
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

/// How the task's function ended, as the runtime sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returned {
    Ok,
    Err { message: String, permanent: bool },
    Panicked(String),
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
            Err(e) => Returned::Err {
                permanent: is_permanent(&e),
                // `{:#}` prints anyhow's whole chain on one line.
                message: format!("{e:#}"),
            },
        }
    }
}

fn is_permanent<E: 'static>(e: &E) -> bool {
    let any = e as &dyn std::any::Any;
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
