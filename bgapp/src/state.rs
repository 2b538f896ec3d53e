//! Saved state: one typed value per task, persisted atomically in the
//! task's state directory as `<task>.state.json`.
//!
//! Each save records which run wrote it. State written by a run that ended
//! cleanly (or by the current run) is offered by [`StateStore::load`];
//! state written by a run that crashed is offered only by
//! [`StateStore::load_after_crash`], which says so.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::durable;

/// Why saved state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("failed to read saved state `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to save state to `{path}`: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("saved state `{path}` does not match the type it is loaded as: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    writer: u64,
    data: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    writer: u64,
    data: serde_json::Value,
}

/// A task's persisted store. Cheap to clone.
#[derive(Clone)]
pub struct StateStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    run: u64,
    trusted_writer: Option<u64>,
    saved: AtomicBool,
}

impl StateStore {
    pub(crate) fn new(dir: &Path, task: &str, run: u64, trusted_writer: Option<u64>) -> Self {
        StateStore {
            inner: Arc::new(Inner {
                path: dir.join(format!("{task}.state.json")),
                run,
                trusted_writer,
                saved: AtomicBool::new(false),
            }),
        }
    }

    /// The file the state lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether this run saved state.
    pub(crate) fn saved_this_run(&self) -> bool {
        self.inner.saved.load(Ordering::Acquire)
    }

    fn read(&self) -> Result<Option<EnvelopeIn>, StateError> {
        let path = &self.inner.path;
        let Some(bytes) = durable::read_if_exists(path).map_err(|source| StateError::Read {
            path: path.clone(),
            source,
        })?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StateError::Format {
                path: path.clone(),
                source,
            })
    }

    fn decode<T: DeserializeOwned>(&self, env: EnvelopeIn) -> Result<T, StateError> {
        serde_json::from_value(env.data).map_err(|source| StateError::Format {
            path: self.inner.path.clone(),
            source,
        })
    }

    /// The saved state, if a run that ended cleanly (or this run) saved it.
    /// `None` when nothing was saved, or when the last save came from a run
    /// that crashed: see [`StateStore::load_after_crash`].
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, StateError> {
        match self.read()? {
            Some(env)
                if env.writer == self.inner.run
                    || Some(env.writer) == self.inner.trusted_writer =>
            {
                self.decode(env).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The saved state whoever wrote it, with whether it may be trusted: a
    /// run that crashed may have saved it halfway through an update. The
    /// file itself is always whole.
    pub fn load_after_crash<T: DeserializeOwned>(&self) -> Result<Option<(T, Trust)>, StateError> {
        match self.read()? {
            Some(env) => {
                let trust = if env.writer == self.inner.run
                    || Some(env.writer) == self.inner.trusted_writer
                {
                    Trust::CleanEnd
                } else {
                    Trust::WrittenBeforeCrash
                };
                self.decode(env).map(|v| Some((v, trust)))
            }
            None => Ok(None),
        }
    }

    /// Saves `value` durably, replacing what was saved before.
    pub fn save<T: Serialize>(&self, value: &T) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(&EnvelopeOut {
            writer: self.inner.run,
            data: value,
        })
        .map_err(|source| StateError::Format {
            path: self.inner.path.clone(),
            source,
        })?;
        durable::replace(&self.inner.path, &bytes, true).map_err(|source| StateError::Write {
            path: self.inner.path.clone(),
            source,
        })?;
        self.inner.saved.store(true, Ordering::Release);
        Ok(())
    }

    /// Removes the saved state.
    pub fn clear(&self) -> Result<(), StateError> {
        match std::fs::remove_file(&self.inner.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Write {
                path: self.inner.path.clone(),
                source,
            }),
        }
    }
}

/// Whether state returned by [`StateStore::load_after_crash`] can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Saved by a run that ended cleanly, or by this run.
    CleanEnd,
    /// Saved by a run that later crashed: whole, but perhaps mid-update.
    WrittenBeforeCrash,
}

/// Where a task keeps its state: `$BGAPP_STATE_DIR` (tests, `cargo bgapp
/// run`), else `$STATE_DIRECTORY` (systemd's `StateDirectory=`), else
/// `$XDG_STATE_HOME/bgapp/<package>` or `~/.local/state/bgapp/<package>`.
pub(crate) fn state_dir(package: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(bgapp_manifest::env::STATE_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dirs) =
        std::env::var_os(bgapp_manifest::env::STATE_DIRECTORY).filter(|d| !d.is_empty())
    {
        // systemd joins several directories with `:`; the first is ours.
        let first = dirs
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return PathBuf::from(first);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/var/lib"));
    base.join("bgapp").join(package)
}
