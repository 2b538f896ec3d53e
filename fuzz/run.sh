#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time over its seed
# corpus; exits non-zero if any target crashes, panics, hangs (10 s on one
# input) or runs out of memory.
#
#   fuzz/run.sh                  every target, FUZZ_SECONDS (30) each
#   FUZZ_SECONDS=300 fuzz/run.sh dbus_message dbus_stream
#
# Stable Rust: `cargo fuzz` with `--sanitizer none` builds libFuzzer's
# coverage instrumentation with stable -C flags only. Without a sanitizer,
# memory errors in unsafe code go unseen; the parsers fuzzed here have no
# unsafe code, and panics (asserts, overflow, out-of-bounds) are caught.
#
# New inputs go to fuzz/target/corpus/<target>/ (kept between runs, never
# committed); the seeds in fuzz/corpus/<target>/ are only read. A failing
# input is saved under fuzz/artifacts/<target>/; reproduce it with
#   cd fuzz && cargo fuzz run -s none <target> artifacts/<target>/<file>
# and, once fixed, add it to the seeds so `cargo test` keeps checking it.
set -euo pipefail

cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-30}
cargo_fuzz_version=0.13.2

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz $cargo_fuzz_version (cargo install --locked)" >&2
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

# Every target at once (`cargo fuzz run` would build each in turn).
cargo fuzz build --sanitizer none

failed=()
for t in "${targets[@]}"; do
    mkdir -p "target/corpus/$t"
    echo "fuzz/run.sh: $t for ${seconds}s" >&2
    # A dictionary of the format's words, shared by targets of one format
    # (dict/dbus.dict for dbus_message and dbus_stream).
    dict=()
    [ -f "dict/${t%%_*}.dict" ] && dict=(-dict="dict/${t%%_*}.dict")
    if ! cargo fuzz run --sanitizer none "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}" \
        2>"target/$t.log"; then
        tail -n 60 "target/$t.log" >&2
        failed+=("$t")
    else
        grep -E '^(stat::number_of_executed_units|Done )' "target/$t.log" >&2 || true
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz/run.sh: failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz/run.sh: ${#targets[@]} targets, ${seconds}s each, no failure" >&2
