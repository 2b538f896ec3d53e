//! Benchmark: saving 4 KiB of state through `StateStore::save` against one
//! hand-written durable replace (write, fsync, rename, fsync the directory)
//! of the same bytes. Run by `bench/runtime.py`.

use std::fs::{self, File};
use std::io::Write;
use std::time::{Duration, Instant};

use bgapp::testing::TestDriver;

const RUNS: usize = 200;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn by_hand(dir: &std::path::Path, bytes: &[u8]) -> Duration {
    let path = dir.join("hand.json");
    let tmp = dir.join("hand.json.tmp");
    let t = Instant::now();
    let mut f = File::create(&tmp).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs::rename(&tmp, &path).unwrap();
    File::open(dir).unwrap().sync_all().unwrap();
    t.elapsed()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("bgapp-save-bench-{}", std::process::id()));
    let driver = TestDriver::new("save-bench").state_dir(&dir);
    let payload: String = "x".repeat(4096 - 24);
    let times = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), Vec::new())));
    let (out, hand_dir) = (times.clone(), dir.clone());
    driver
        .run(move |task: bgapp::TaskInstance| async move {
            let bytes = serde_json::to_vec(&payload).unwrap();
            for _ in 0..RUNS {
                let t = Instant::now();
                task.state().save(&payload).unwrap();
                let ours = t.elapsed();
                let hand = by_hand(&hand_dir, &bytes);
                let mut out = out.lock().unwrap();
                out.0.push(ours);
                out.1.push(hand);
            }
        })
        .await;
    let (ours, hand) = std::mem::take(&mut *times.lock().unwrap());
    let (a, b) = (median(ours), median(hand));
    println!(
        "{:<36} {:>12} {:>12} {:>8}  target",
        "4 KiB durable save, median (µs)", "bgapp", "by hand", "ratio"
    );
    println!(
        "{:<36} {:>12} {:>12} {:>7.2}x  <= 1x (+ noise)",
        "",
        a.as_micros(),
        b.as_micros(),
        a.as_secs_f64() / b.as_secs_f64()
    );
    let _ = fs::remove_dir_all(&dir);
}
