#!/usr/bin/env python3
"""Runtime benchmark: a one-task bgapp hello app against the same app with
plain #[tokio::main]. Prints stripped size, idle RSS, context switches over
10 s of idle, start-to-first-line time and SIGTERM-to-exit time, side by
side with ratios. Also runs the 4 KiB durable-save benchmark.

Usage: python3 bench/runtime.py [--idle SECONDS] [--runs N]
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")) + "/bench"


def build(app):
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "--manifest-path",
         os.path.join(ROOT, "bench/apps", app, "Cargo.toml")],
        check=True, env={**os.environ, "CARGO_TARGET_DIR": TARGET})
    return os.path.join(TARGET, "release", app)


def spawn(binary, state):
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    env["BGAPP_STATE_DIR"] = state
    t0 = time.perf_counter()
    p = subprocess.Popen([binary], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    # Both apps print "hello" as the first line of their own code.
    while True:
        line = p.stderr.readline()
        if not line or b"hello" in line:
            break
    return p, time.perf_counter() - t0


def switches(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def stop(p):
    t0 = time.perf_counter()
    p.send_signal(signal.SIGTERM)
    p.wait()
    return time.perf_counter() - t0


def measure(binary, idle, runs):
    state = tempfile.mkdtemp(prefix="bgapp-bench-")
    starts, stops = [], []
    for _ in range(runs):
        p, started = spawn(binary, state)
        time.sleep(0.05)
        starts.append(started)
        stops.append(stop(p))
    p, _ = spawn(binary, state)
    time.sleep(1.0)
    rss = rss_kib(p.pid)
    before = switches(p.pid)
    time.sleep(idle)
    after = switches(p.pid)
    stop(p)
    return {
        "size": os.path.getsize(binary),
        "rss": rss,
        "switches": after - before,
        "start_ms": statistics.median(starts) * 1000,
        "stop_ms": statistics.median(stops) * 1000,
    }


def ratio(a, b):
    return f"{a / b:.2f}x" if b else ("1.00x" if a == b else "n/a")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    bg = measure(build("bgapp-hello"), args.idle, args.runs)
    tk = measure(build("tokio-hello"), args.idle, args.runs)
    rows = [
        ("stripped release binary (bytes)", "size", "{:.0f}", "<= 1.5x"),
        ("idle RSS (KiB)", "rss", "{:.0f}", "<= 1.2x"),
        (f"context switches in {args.idle:.0f} s idle", "switches", "{:.0f}", "<= tokio"),
        ("start to first line, median (ms)", "start_ms", "{:.2f}", "+ < 2 ms"),
        ("SIGTERM to exit, median (ms)", "stop_ms", "{:.2f}", "< 10 ms"),
    ]
    print(f"{'metric':<36} {'bgapp':>12} {'tokio':>12} {'ratio':>8}  target")
    for label, key, fmt, target in rows:
        a, b = bg[key], tk[key]
        extra = ratio(a, b)
        if key == "start_ms":
            extra = f"+{a - b:.2f}ms"
        print(f"{label:<36} {fmt.format(a):>12} {fmt.format(b):>12} {extra:>8}  {target}")
    print()
    subprocess.run(
        ["cargo", "run", "--quiet", "--release", "-p", "bgapp", "--example", "save_bench"],
        check=True, cwd=ROOT, env={**os.environ, "CARGO_TARGET_DIR": TARGET})


if __name__ == "__main__":
    sys.exit(main())
