//! The task manifest: what `#[bgapp::background_task]` declares about a task,
//! in one model shared by the three parts of bgapp.
//!
//! - The macro parses and checks the attribute into a [`TaskManifest`] and
//!   compiles it into the binary as a record in the [`SECTION`] link section.
//! - The runtime reads the same record back to learn its deadlines.
//! - The packager reads the records out of the built file (any target, no
//!   need to run it) with [`decode_records`] and turns them into units.
//!
//! A record is `MAGIC`, the manifest as JSON, and a NUL byte. Records are
//! byte-aligned and self-delimiting, so the linker may concatenate them in
//! any order and the reader needs neither relocations nor the target's
//! endianness.

mod calendar;
pub mod contact;
pub mod control;
mod duration;
pub mod env;
pub mod exit;
mod listen;
pub mod name;
pub mod path;
pub mod policy;
mod reason;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use calendar::{validate_calendar, Calendar, CalendarError, CivilTime, CronError};
pub use duration::{format_duration, format_systemd, parse_duration, DurationError};
pub use listen::{ListenAddress, ListenError};
pub use name::{
    check_task_name, check_user_name, package_stem, system_user, unit_stem, TaskNameError,
};
pub use reason::{CancellationReason, UnknownReason};

/// The link section that holds one record per task.
pub const SECTION: &str = "bgapp_manifest";

/// The bytes that open every record.
pub const MAGIC: &[u8] = b"BGAPP-TASK\x01";

/// The prefix of the global symbol of each task's record
/// (`__bgapp_task.<name>`): one per task name, so two tasks of one name do
/// not link, and found in a library's archive index without reading its
/// object files.
pub const TASK_SYMBOL_PREFIX: &str = "__bgapp_task.";

/// The manifest format written by this version; readers refuse newer ones.
pub const FORMAT_VERSION: u32 = 1;

/// The default deadline to save state after a stop request.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the attribute declares about one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskManifest {
    /// Manifest format version, [`FORMAT_VERSION`] when written.
    pub format: u32,
    /// The task's name: the unit name suffix and the binary's argument.
    pub name: String,
    /// The Rust function the attribute is on.
    pub function: String,
    /// The Cargo package the task was compiled in.
    pub package: String,
    /// A one-line description (the package description by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What starts the task.
    pub trigger: Trigger,
    /// When the supervisor restarts it.
    pub restart: Restart,
    /// The deadline to save state after a stop request, in milliseconds.
    pub stop_timeout_ms: u64,
    /// The longest one activation may run, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_ms: Option<u64>,
    /// The liveness interval the supervisor enforces, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog_ms: Option<u64>,
    /// When the task counts as started (`READY=1`). Absent from the JSON
    /// when [`Readiness::Started`], so records of earlier versions read the
    /// same and readers of earlier versions read records that do not ask
    /// for explicit readiness.
    #[serde(default, skip_serializing_if = "Readiness::is_default")]
    pub ready: Readiness,
    /// How long a task with [`Readiness::Explicit`] may take to say it is
    /// ready, in milliseconds (`TimeoutStartSec=`); [`policy::START_TIMEOUT`]
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timeout_ms: Option<u64>,
    /// Who reads the task's command line. Absent from the JSON when
    /// [`Arguments::Task`].
    #[serde(default, skip_serializing_if = "Arguments::is_default")]
    pub args: Arguments,
}

/// Who reads a task's command line: the attribute's `args`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arguments {
    /// The task (the default): every argument, `--help` and `--version`
    /// too, reaches it through `task.args()`.
    #[default]
    Task,
    /// `args = "none"`: the task takes none. bgapp answers `--help` and
    /// `--version` and refuses any other argument (exit 2); none of these
    /// is a run. A packaging `args` key for such a task is an error.
    None,
}

impl Arguments {
    pub const ALL: [Arguments; 2] = [Arguments::Task, Arguments::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Arguments::Task => "task",
            Arguments::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Arguments> {
        Arguments::ALL.into_iter().find(|a| a.as_str() == text)
    }

    fn is_default(&self) -> bool {
        *self == Arguments::Task
    }
}

/// When a task counts as started, for `READY=1` (systemd's `Type=notify`)
/// and for `cargo bgapp run`'s supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// When its function starts: the default.
    #[default]
    Started,
    /// When the task calls `TaskInstance::ready()` (after it bound its
    /// socket, read its configuration); a task that ends before it fails
    /// its start. The attribute's `ready = "explicit"`.
    Explicit,
}

impl Readiness {
    pub const ALL: [Readiness; 2] = [Readiness::Started, Readiness::Explicit];

    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Started => "started",
            Readiness::Explicit => "explicit",
        }
    }

    pub fn parse(text: &str) -> Option<Readiness> {
        Readiness::ALL.into_iter().find(|r| r.as_str() == text)
    }

    fn is_default(&self) -> bool {
        *self == Readiness::Started
    }
}

impl TaskManifest {
    pub fn stop_timeout(&self) -> Duration {
        Duration::from_millis(self.stop_timeout_ms)
    }

    pub fn time_limit(&self) -> Option<Duration> {
        self.time_limit_ms.map(Duration::from_millis)
    }

    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog_ms.map(Duration::from_millis)
    }

    /// How long the task may take to be ready, when it says so itself
    /// (`ready = "explicit"`); `None` when it is ready as it starts.
    pub fn start_timeout(&self) -> Option<Duration> {
        (self.ready == Readiness::Explicit).then(|| {
            self.start_timeout_ms
                .map_or(policy::START_TIMEOUT, Duration::from_millis)
        })
    }

    /// Encodes the manifest as one record for the [`SECTION`] link section.
    pub fn to_record(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("a manifest always serializes");
        let mut out = Vec::with_capacity(MAGIC.len() + json.len() + 1);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&json);
        out.push(0);
        out
    }

    /// Decodes one record (as written by [`TaskManifest::to_record`]).
    pub fn from_record(record: &[u8]) -> Result<Self, DecodeError> {
        let body = record.strip_prefix(MAGIC).ok_or(DecodeError::BadMagic)?;
        let end = body
            .iter()
            .position(|&b| b == 0)
            .ok_or(DecodeError::Truncated)?;
        parse_body(&body[..end])
    }
}

/// What starts a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "wire::Trigger", into = "wire::Trigger")]
pub enum Trigger {
    /// Started at boot and kept running.
    Boot,
    /// Started by a timer: every interval, or on a calendar.
    Timer { schedule: Schedule },
    /// Started by a connection to a listening socket.
    Socket { listen: String },
    /// Started when a path changes.
    Path {
        condition: PathCondition,
        path: String,
    },
    /// Started only by an operator (`systemctl start`).
    Manual,
}

/// When a timer task fires: exactly one of an interval or a calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every interval, measured from the last activation
    /// (`OnUnitActiveSec=`); never zero.
    Every(Duration),
    /// On a systemd calendar expression (`OnCalendar=`), as written.
    Calendar(String),
}

impl Trigger {
    /// The short name used in attributes, logs and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Boot => "boot",
            Trigger::Timer { .. } => "timer",
            Trigger::Socket { .. } => "socket",
            Trigger::Path { .. } => "path",
            Trigger::Manual => "manual",
        }
    }

    /// The restart policy a task gets when its attribute names none.
    pub fn default_restart(&self) -> Restart {
        match self {
            Trigger::Boot => Restart::Always,
            _ => Restart::OnFailure,
        }
    }
}

/// Which change of a path starts a path-triggered task; these are the
/// conditions of a systemd `.path` unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathCondition {
    /// `PathChanged=`: a file written to was closed, or an entry was created
    /// or removed in a watched directory.
    Changed,
    /// `PathModified=`: as `changed`, and also on every write.
    Modified,
    /// `PathExists=`: the path exists.
    Exists,
    /// `DirectoryNotEmpty=`: the directory holds at least one entry; the
    /// natural trigger for a spool directory.
    NotEmpty,
}

impl PathCondition {
    pub const ALL: [PathCondition; 4] = [
        PathCondition::Changed,
        PathCondition::Modified,
        PathCondition::Exists,
        PathCondition::NotEmpty,
    ];

    /// The attribute's spelling (`changed`, `not_empty`, ...).
    pub fn attribute_name(self) -> &'static str {
        match self {
            PathCondition::Changed => "changed",
            PathCondition::Modified => "modified",
            PathCondition::Exists => "exists",
            PathCondition::NotEmpty => "not_empty",
        }
    }

    /// The `.path` unit directive.
    pub fn directive(self) -> &'static str {
        match self {
            PathCondition::Changed => "PathChanged",
            PathCondition::Modified => "PathModified",
            PathCondition::Exists => "PathExists",
            PathCondition::NotEmpty => "DirectoryNotEmpty",
        }
    }
}

/// When the supervisor restarts a task that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Whenever it ends, however it ended (but not after an operator stop or
    /// a declared permanent failure).
    Always,
    /// When it failed: an error, a panic, a crash, a missed deadline.
    OnFailure,
    /// Never.
    Never,
}

impl Restart {
    pub const ALL: [Restart; 3] = [Restart::Always, Restart::OnFailure, Restart::Never];

    pub fn as_str(self) -> &'static str {
        match self {
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::Never => "never",
        }
    }

    pub fn parse(text: &str) -> Option<Restart> {
        Restart::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// The JSON shape of [`Trigger`]: `{"kind":"timer","every_ms":900000}`.
/// Kept apart from the model so the model can say what the JSON cannot
/// (exactly one schedule per timer).
mod wire {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
    pub(super) enum Trigger {
        Boot,
        Timer {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            every_ms: Option<u64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            calendar: Option<String>,
        },
        Socket {
            listen: String,
        },
        Path {
            condition: PathCondition,
            path: String,
        },
        Manual,
    }

    impl TryFrom<Trigger> for super::Trigger {
        type Error = String;

        fn try_from(t: Trigger) -> Result<Self, String> {
            Ok(match t {
                Trigger::Boot => super::Trigger::Boot,
                Trigger::Timer { every_ms, calendar } => super::Trigger::Timer {
                    schedule: match (every_ms, calendar) {
                        (Some(0), None) => return Err("a timer's `every_ms` cannot be 0".into()),
                        (Some(ms), None) => Schedule::Every(Duration::from_millis(ms)),
                        (None, Some(c)) => Schedule::Calendar(c),
                        _ => {
                            return Err(
                                "a timer has exactly one of `every_ms` and `calendar`".into()
                            )
                        }
                    },
                },
                Trigger::Socket { listen } => super::Trigger::Socket { listen },
                Trigger::Path { condition, path } => super::Trigger::Path { condition, path },
                Trigger::Manual => super::Trigger::Manual,
            })
        }
    }

    impl From<super::Trigger> for Trigger {
        fn from(t: super::Trigger) -> Self {
            match t {
                super::Trigger::Boot => Trigger::Boot,
                super::Trigger::Timer { schedule } => match schedule {
                    Schedule::Every(d) => Trigger::Timer {
                        every_ms: Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                        calendar: None,
                    },
                    Schedule::Calendar(c) => Trigger::Timer {
                        every_ms: None,
                        calendar: Some(c),
                    },
                },
                super::Trigger::Socket { listen } => Trigger::Socket { listen },
                super::Trigger::Path { condition, path } => Trigger::Path { condition, path },
                super::Trigger::Manual => Trigger::Manual,
            }
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the record does not start with the bgapp marker")]
    BadMagic,
    #[error("the record is truncated")]
    Truncated,
    #[error("the record was written by a newer bgapp (manifest format {0}, this reader knows {FORMAT_VERSION}); update cargo-bgapp")]
    NewerFormat(u32),
    #[error("the record is not a valid task manifest: {0}")]
    Json(#[from] serde_json::Error),
}

fn parse_body(body: &[u8]) -> Result<TaskManifest, DecodeError> {
    #[derive(Deserialize)]
    struct Version {
        format: u32,
    }
    let version: Version = serde_json::from_slice(body)?;
    if version.format > FORMAT_VERSION {
        return Err(DecodeError::NewerFormat(version.format));
    }
    Ok(serde_json::from_slice(body)?)
}

/// Finds every task record in the bytes of a [`SECTION`] section, in order.
///
/// Linkers may pad between input sections, so bytes between records are
/// skipped; a record that starts but does not parse is an error.
pub fn decode_records(section: &[u8]) -> Result<Vec<TaskManifest>, DecodeError> {
    let mut out = Vec::new();
    let mut rest = section;
    while let Some(start) = find(rest, MAGIC) {
        let body = &rest[start + MAGIC.len()..];
        let end = body
            .iter()
            .position(|&b| b == 0)
            .ok_or(DecodeError::Truncated)?;
        out.push(parse_body(&body[..end])?);
        rest = &body[end + 1..];
    }
    Ok(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> TaskManifest {
        TaskManifest {
            format: FORMAT_VERSION,
            name: name.into(),
            function: name.replace('-', "_"),
            package: "demo".into(),
            description: Some("Uploads readings".into()),
            trigger: Trigger::Timer {
                schedule: Schedule::Every(Duration::from_secs(900)),
            },
            restart: Restart::OnFailure,
            stop_timeout_ms: 5_000,
            time_limit_ms: Some(600_000),
            watchdog_ms: None,
            ready: Readiness::Started,
            start_timeout_ms: None,
            args: Default::default(),
        }
    }

    #[test]
    fn readiness_is_in_the_json_only_when_explicit() {
        let started = sample("a");
        let json = serde_json::to_string(&started).unwrap();
        assert!(!json.contains("ready"), "{json}");
        let explicit = TaskManifest {
            ready: Readiness::Explicit,
            ..sample("a")
        };
        let json = serde_json::to_string(&explicit).unwrap();
        assert!(json.contains(r#""ready":"explicit""#), "{json}");
        assert_eq!(
            TaskManifest::from_record(&explicit.to_record()).unwrap(),
            explicit
        );
        assert_eq!(
            TaskManifest::from_record(&started.to_record()).unwrap(),
            started
        );
    }

    #[test]
    fn arguments_are_in_the_json_only_when_none() {
        let task = sample("a");
        assert!(!serde_json::to_string(&task).unwrap().contains("args"));
        let none = TaskManifest {
            args: Arguments::None,
            ..sample("a")
        };
        let json = serde_json::to_string(&none).unwrap();
        assert!(json.contains(r#""args":"none""#), "{json}");
        assert_eq!(TaskManifest::from_record(&none.to_record()).unwrap(), none);
    }

    #[test]
    fn a_start_timeout_holds_for_explicit_readiness_only() {
        let started = sample("a");
        assert_eq!(started.start_timeout(), None);
        let explicit = TaskManifest {
            ready: Readiness::Explicit,
            ..sample("a")
        };
        assert_eq!(explicit.start_timeout(), Some(policy::START_TIMEOUT));
        let slow = TaskManifest {
            start_timeout_ms: Some(300_000),
            ..explicit.clone()
        };
        assert_eq!(slow.start_timeout(), Some(Duration::from_secs(300)));
        let json = serde_json::to_string(&slow).unwrap();
        assert!(json.contains(r#""start_timeout_ms":300000"#), "{json}");
        assert!(!serde_json::to_string(&explicit)
            .unwrap()
            .contains("start_timeout"));
        assert_eq!(TaskManifest::from_record(&slow.to_record()).unwrap(), slow);
    }

    #[test]
    fn records_round_trip_through_padding() {
        let mut section = vec![0u8; 3];
        section.extend(sample("uploader").to_record());
        section.extend([0, 0, 0, 0]);
        section.extend(sample("cleaner").to_record());
        let tasks = decode_records(&section).unwrap();
        assert_eq!(tasks, vec![sample("uploader"), sample("cleaner")]);
        assert_eq!(
            TaskManifest::from_record(&sample("x").to_record()).unwrap(),
            sample("x")
        );
    }

    #[test]
    fn json_shape_is_stable() {
        let json = serde_json::to_string(&sample("uploader")).unwrap();
        assert_eq!(
            json,
            r#"{"format":1,"name":"uploader","function":"uploader","package":"demo","description":"Uploads readings","trigger":{"kind":"timer","every_ms":900000},"restart":"on-failure","stop_timeout_ms":5000,"time_limit_ms":600000}"#
        );
    }

    #[test]
    fn refuses_newer_formats_and_torn_records() {
        let mut m = sample("x");
        m.format = FORMAT_VERSION + 1;
        assert!(matches!(
            decode_records(&m.to_record()),
            Err(DecodeError::NewerFormat(2))
        ));
        let rec = sample("x").to_record();
        assert!(matches!(
            decode_records(&rec[..rec.len() - 1]),
            Err(DecodeError::Truncated)
        ));
    }

    #[test]
    fn a_timer_has_exactly_one_schedule() {
        let parse = |json: &str| serde_json::from_str::<Trigger>(json);
        assert_eq!(
            parse(r#"{"kind":"timer","calendar":"hourly"}"#).unwrap(),
            Trigger::Timer {
                schedule: Schedule::Calendar("hourly".into())
            }
        );
        for bad in [
            r#"{"kind":"timer"}"#,
            r#"{"kind":"timer","every_ms":1000,"calendar":"hourly"}"#,
            r#"{"kind":"timer","every_ms":0}"#,
            r#"{"kind":"timer","every_ms":1000,"extra":1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
