//! The systemd notification protocol (`sd_notify`): `READY=1`, `STATUS=`,
//! `STOPPING=1`, `WATCHDOG=1`. Silent and free when `NOTIFY_SOCKET` is not
//! set; recorded in memory under the test driver.

use std::sync::{Arc, Mutex};

use sd_notify::NotifyState;

#[derive(Clone)]
pub(crate) enum Notifier {
    /// Not under a service manager.
    Off,
    /// `NOTIFY_SOCKET` is set.
    Systemd,
    /// The test driver: keeps every message.
    Recorder(Arc<Mutex<Vec<String>>>),
}

impl Notifier {
    pub(crate) fn from_env() -> Notifier {
        if std::env::var_os("NOTIFY_SOCKET").is_some() {
            Notifier::Systemd
        } else {
            Notifier::Off
        }
    }

    fn send(&self, states: &[NotifyState]) {
        match self {
            Notifier::Off => {}
            Notifier::Systemd => {
                if let Err(e) = sd_notify::notify(states) {
                    tracing::debug!("sd_notify failed: {e}");
                }
            }
            Notifier::Recorder(log) => {
                let mut log = log.lock().unwrap();
                log.extend(states.iter().map(|s| s.to_string()));
            }
        }
    }

    pub(crate) fn ready(&self, status: Option<&str>) {
        match status {
            Some(status) => self.send(&[NotifyState::Ready, NotifyState::Status(status)]),
            None => self.send(&[NotifyState::Ready]),
        }
    }

    pub(crate) fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    pub(crate) fn stopping(&self, status: &str) {
        self.send(&[NotifyState::Stopping, NotifyState::Status(status)]);
    }

    pub(crate) fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }
}
