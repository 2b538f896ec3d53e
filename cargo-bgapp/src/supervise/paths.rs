//! Path triggers, as a `.path` unit watches them, with inotify (through
//! libc: one instance, a few calls, no crate needed; polling would miss the
//! difference between `changed`, which waits for the writer to close the
//! file, and `modified`, which fires on every write).
//!
//! - `exists` (`PathExists=`) and `not_empty` (`DirectoryNotEmpty=`) are
//!   conditions: they fire whenever they hold and the task is not running,
//!   also when the task ends and at start.
//! - `changed` (`PathChanged=`) and `modified` (`PathModified=`) are
//!   events on the path (or in the directory); events while the task runs
//!   or waits for its restart are dropped, as systemd unwatches the path
//!   while its service is active (the core decides: `core/trigger.rs`).
//!
//! A path that does not exist yet is watched through its deepest existing
//! ancestor, and watched itself as soon as it appears.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use bgapp_manifest::PathCondition;

struct Spec {
    task: usize,
    condition: PathCondition,
    path: PathBuf,
    /// The watch on the path itself, when it exists.
    primary: Option<i32>,
    /// The watch on the deepest existing ancestor, while the path is missing.
    ancestor: Option<i32>,
    existed: bool,
}

pub struct Watcher {
    fd: OwnedFd,
    specs: Vec<Spec>,
}

const SELF_EVENTS: u32 = libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_ATTRIB;

fn primary_mask(condition: PathCondition) -> u32 {
    let changed = libc::IN_CLOSE_WRITE
        | libc::IN_CREATE
        | libc::IN_DELETE
        | libc::IN_MOVED_FROM
        | libc::IN_MOVED_TO;
    SELF_EVENTS
        | match condition {
            PathCondition::Exists => 0,
            PathCondition::Changed => changed,
            PathCondition::Modified => changed | libc::IN_MODIFY,
            PathCondition::NotEmpty => libc::IN_CREATE | libc::IN_MOVED_TO,
        }
}

impl Watcher {
    pub fn new() -> io::Result<Watcher> {
        // SAFETY: inotify_init1 returns a new descriptor that we then own.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Watcher {
            // SAFETY: `fd` is fresh.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            specs: Vec::new(),
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn add(&mut self, task: usize, condition: PathCondition, path: &Path) {
        let mut spec = Spec {
            task,
            condition,
            path: path.to_path_buf(),
            primary: None,
            ancestor: None,
            existed: false,
        };
        spec.existed = self.arm(&mut spec);
        self.specs.push(spec);
    }

    fn watch(&self, path: &Path, mask: u32) -> Option<i32> {
        let c = CString::new(path.as_os_str().as_bytes()).ok()?;
        // IN_MASK_ADD: two tasks may watch the same directory.
        // SAFETY: a valid C string and our inotify descriptor.
        let wd = unsafe {
            libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask | libc::IN_MASK_ADD)
        };
        (wd >= 0).then_some(wd)
    }

    /// (Re)places the spec's watch; returns whether the path exists now.
    fn arm(&self, spec: &mut Spec) -> bool {
        spec.primary = self.watch(&spec.path, primary_mask(spec.condition));
        spec.ancestor = None;
        if spec.primary.is_none() {
            let mut dir = spec.path.parent();
            while let Some(d) = dir {
                if let Some(wd) = self.watch(
                    d,
                    libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF,
                ) {
                    spec.ancestor = Some(wd);
                    break;
                }
                dir = d.parent();
            }
        }
        spec.path.exists()
    }

    /// Reads the pending events; returns the tasks whose path fired: it
    /// changed (`changed`, `modified`), or its condition holds now
    /// (`exists`, `not_empty`).
    pub fn read(&mut self) -> Vec<usize> {
        let mut events: Vec<(i32, u32)> = Vec::new();
        let mut buf = [0u64; 1024];
        loop {
            // SAFETY: reads into a local, suitably aligned buffer.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    std::mem::size_of_val(&buf),
                )
            };
            if n <= 0 {
                break;
            }
            let bytes =
                // SAFETY: the kernel wrote `n` bytes into `buf`.
                unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
            let mut at = 0;
            let header = std::mem::size_of::<libc::inotify_event>();
            while at + header <= bytes.len() {
                // SAFETY: a whole header lies at `at`; read unaligned.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(bytes[at..].as_ptr().cast()) };
                events.push((ev.wd, ev.mask));
                at += header + ev.len as usize;
            }
        }
        let mut out = Vec::new();
        let mut specs = std::mem::take(&mut self.specs);
        for spec in &mut specs {
            let on_primary: u32 = events
                .iter()
                .filter(|(wd, _)| Some(*wd) == spec.primary)
                .fold(0, |m, (_, mask)| m | mask);
            let on_ancestor = events.iter().any(|(wd, _)| Some(*wd) == spec.ancestor);
            if on_primary == 0 && !on_ancestor {
                continue;
            }
            let exists = self.arm(spec);
            let flipped = exists != spec.existed;
            spec.existed = exists;
            let fired = match spec.condition {
                PathCondition::Changed | PathCondition::Modified => {
                    flipped || on_primary & primary_mask(spec.condition) & !libc::IN_IGNORED != 0
                }
                PathCondition::Exists | PathCondition::NotEmpty => {
                    Self::holds(spec.condition, &spec.path)
                }
            };
            if fired {
                out.push(spec.task);
            }
        }
        self.specs = specs;
        out
    }

    /// Whether a condition-type trigger holds now (`exists`, `not_empty`).
    pub fn holds(condition: PathCondition, path: &Path) -> bool {
        match condition {
            PathCondition::Exists => path.exists(),
            PathCondition::NotEmpty => {
                std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some())
            }
            PathCondition::Changed | PathCondition::Modified => false,
        }
    }
}
