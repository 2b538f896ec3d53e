//! The control channel: how a local supervisor (`cargo bgapp run`) tells a
//! task what the system is doing, without D-Bus.
//!
//! The supervisor creates a connected `AF_UNIX`/`SOCK_STREAM` socket pair,
//! passes one end to the app as an inherited fd and names it in the
//! environment ([`crate::env::CONTROL_FD`]). It writes one
//! [`ControlMessage`] per line, each ending in `\n`:
//!
//! | line | effect |
//! | --- | --- |
//! | `sleep <deadline_ms>` | `LifecycleEvent::Suspending`, deadline now + `deadline_ms` |
//! | `resume` | `LifecycleEvent::Resuming` |
//! | `stop <reason> [<deadline_ms>]` | a stop request for a [`CancellationReason`]; the deadline defaults to the task's `stop_timeout` |
//!
//! The runtime writes nothing back: the supervisor learns the outcome from
//! the exit status and the task's run record.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::CancellationReason;

/// One line of the control channel, without its `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMessage {
    /// The system is about to sleep; the task has `deadline` to get ready.
    Sleep { deadline: Duration },
    /// The system woke up.
    Resume,
    /// Stop for `reason`, by `deadline` (the task's `stop_timeout` if none).
    Stop {
        reason: CancellationReason,
        deadline: Option<Duration>,
    },
}

impl fmt::Display for ControlMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlMessage::Sleep { deadline } => write!(f, "sleep {}", deadline.as_millis()),
            ControlMessage::Resume => f.write_str("resume"),
            ControlMessage::Stop {
                reason,
                deadline: None,
            } => write!(f, "stop {reason}"),
            ControlMessage::Stop {
                reason,
                deadline: Some(d),
            } => write!(f, "stop {reason} {}", d.as_millis()),
        }
    }
}

/// A line that is not a [`ControlMessage`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "malformed control message `{0}`; expected `sleep <ms>`, `resume` or `stop <reason> [<ms>]`"
)]
pub struct ControlParseError(pub String);

impl FromStr for ControlMessage {
    type Err = ControlParseError;

    /// Words are separated by ASCII whitespace; a trailing `\r` is allowed.
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let bad = || ControlParseError(line.to_string());
        let ms = |s: &str| -> Result<Duration, ControlParseError> {
            // Digits only: `u64::from_str` would also take a leading `+`.
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map(Duration::from_millis).map_err(|_| bad())
        };
        let reason = |s: &str| s.parse::<CancellationReason>().map_err(|_| bad());
        let mut words = line.split_ascii_whitespace();
        let words = [words.next(), words.next(), words.next(), words.next()];
        match words {
            [Some("sleep"), Some(d), None, _] => Ok(ControlMessage::Sleep { deadline: ms(d)? }),
            [Some("resume"), None, ..] => Ok(ControlMessage::Resume),
            [Some("stop"), Some(r), None, _] => Ok(ControlMessage::Stop {
                reason: reason(r)?,
                deadline: None,
            }),
            [Some("stop"), Some(r), Some(d), None] => Ok(ControlMessage::Stop {
                reason: reason(r)?,
                deadline: Some(ms(d)?),
            }),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let mut all = vec![
            ControlMessage::Sleep {
                deadline: Duration::from_millis(1500),
            },
            ControlMessage::Resume,
        ];
        for reason in CancellationReason::ALL {
            all.push(ControlMessage::Stop {
                reason,
                deadline: None,
            });
            all.push(ControlMessage::Stop {
                reason,
                deadline: Some(Duration::from_millis(250)),
            });
        }
        for m in all {
            assert_eq!(m.to_string().parse::<ControlMessage>(), Ok(m), "{m}");
        }
    }

    #[test]
    fn wire_text_is_stable() {
        assert_eq!(
            ControlMessage::Sleep {
                deadline: Duration::from_secs(5)
            }
            .to_string(),
            "sleep 5000"
        );
        assert_eq!(
            ControlMessage::Stop {
                reason: CancellationReason::SystemShutdown,
                deadline: None
            }
            .to_string(),
            "stop system-shutdown"
        );
        assert_eq!(
            "stop time-limit 250\r".parse(),
            Ok(ControlMessage::Stop {
                reason: CancellationReason::TimeLimit,
                deadline: Some(Duration::from_millis(250))
            })
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            "",
            "sleep",
            "sleep soon",
            "sleep -1",
            "sleep +1",
            "sleep 99999999999999999999",
            "resume now",
            "stop",
            "stop reboot",
            "stop watchdog 1 2",
            "STOP watchdog",
        ] {
            assert!(bad.parse::<ControlMessage>().is_err(), "{bad:?}");
        }
    }
}
