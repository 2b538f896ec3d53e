//! Saved state survives SIGKILL at any instant: a child process saves
//! values of varying size in a loop, is killed at a random moment once it
//! has saved, and the state file must be whole every time: either the
//! previous value or the new one, never a torn one. 500 kills.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KILLS: usize = 500;
const CHILD: &str = "BGAPP_CRASH_WRITER_DIR";
/// What the child prints once its first save is on disk.
const SAVED: &str = "crash-writer: saved";
/// How long a child may take to start and save once, however loaded the
/// machine.
const START: Duration = Duration::from_secs(60);

/// A value whose every element and length derive from `k`, so a torn or
/// mixed file cannot pass the check.
fn value(k: u64) -> Vec<u64> {
    vec![k; (k % 4096) as usize + 1]
}

#[test]
fn writer_child() {
    // Only does something when started by the test below.
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let driver = bgapp::testing::TestDriver::new("writer").state_dir(&dir);
        driver
            .run::<_, _, ()>(|task: bgapp::TaskInstance| async move {
                let mut k: u64 = std::process::id() as u64 * 7919;
                task.state().save(&value(k)).unwrap();
                println!("{SAVED}");
                loop {
                    k += 1;
                    task.state().save(&value(k)).unwrap();
                }
            })
            .await;
    });
}

/// A small xorshift, so the test needs no random-number crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_random_moments_never_tears_the_state() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ std::process::id() as u64);
    let state = dir.path().join("writer.state.json");
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
            .env(CHILD, dir.path())
            .env(bgapp_manifest::env::LOG, "off")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the first save, then kill at a random moment of the
        // saves that follow.
        let stdout = child.stdout.take().unwrap();
        let (saved, first_save) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if line.is_ok_and(|l| l.contains(SAVED)) {
                    let _ = saved.send(());
                }
            }
        });
        if first_save.recv_timeout(START).is_err() {
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!("round {round}: the child did not save within {START:?} ({status})");
        }
        std::thread::sleep(Duration::from_micros(rng.next() % 20_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let bytes = std::fs::read(&state)
            .unwrap_or_else(|e| panic!("round {round}: no state file after a save: {e}"));
        let envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "round {round}: torn state file ({e}): {} bytes",
                bytes.len()
            )
        });
        let data: Vec<u64> = serde_json::from_value(envelope["data"].clone()).unwrap();
        let k = data[0];
        assert_eq!(data, value(k), "round {round}: a mixed value");
    }
}
