#!/usr/bin/env bash
# `cargo bgapp new` against `cargo new`: the time to create a project, each
# with its defaults (a git repository) and with `--vcs none`, run the way a
# user runs them (through cargo's subcommand dispatch). The target: no more
# than `cargo new` plus 50 ms.
#
# Uses hyperfine when installed (`apt-get install hyperfine`), else a
# timing loop. Prints a side-by-side table in milliseconds.
#
# Usage: bench/new.sh [RUNS]   (default 30)
# Set CARGO_BGAPP to a built binary to skip building the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"

if [ -z "${CARGO_BGAPP:-}" ]; then
  cargo build --quiet --release -p cargo-bgapp
  target="${CARGO_TARGET_DIR:-$PWD/target}"
  CARGO_BGAPP="$target/release/cargo-bgapp"
fi
bindir="$(mktemp -d)"
work="$(mktemp -d)"
trap 'rm -rf "$bindir" "$work"' EXIT
# `cargo bgapp` finds `cargo-bgapp` on PATH, as an installed one would be.
ln -s "$(realpath "$CARGO_BGAPP")" "$bindir/cargo-bgapp"
export PATH="$bindir:$PATH"
# The git identity and hooks of the machine should not matter.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

cases=(
  "cargo new|cargo new --quiet $work/a"
  "cargo bgapp new|cargo bgapp new --quiet $work/a"
  "cargo new --vcs none|cargo new --quiet --vcs none $work/a"
  "cargo bgapp new --vcs none|cargo bgapp new --quiet --vcs none $work/a"
)

# Mean and standard deviation in ms for each case, one "name|mean|sd" a line.
results=()
if command -v hyperfine >/dev/null 2>&1; then
  for case in "${cases[@]}"; do
    name="${case%%|*}" cmd="${case#*|}"
    hyperfine --style none --warmup 3 --runs "$runs" --prepare "rm -rf $work/a" \
      --export-json "$work/out.json" "$cmd" >/dev/null
    results+=("$name|$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%.1f|%.1f" % (r["mean"] * 1000, (r["stddev"] or 0) * 1000))' "$work/out.json")")
  done
else
  echo "hyperfine not found: timing a loop of $runs runs" >&2
  for case in "${cases[@]}"; do
    name="${case%%|*}" cmd="${case#*|}"
    times=()
    for _ in $(seq "$runs"); do
      rm -rf "$work/a"
      start=$(date +%s%N)
      $cmd
      end=$(date +%s%N)
      times+=($(( (end - start) / 1000 )))
    done
    results+=("$name|$(printf '%s\n' "${times[@]}" | awk '
      { s += $1; q += $1 * $1; n++ }
      END { m = s / n; v = q / n - m * m; if (v < 0) v = 0; printf "%.1f|%.1f", m / 1000, sqrt(v) / 1000 }')")
  done
fi

mean() { for r in "${results[@]}"; do [ "${r%%|*}" = "$1" ] && { r="${r#*|}"; echo "${r%%|*}"; }; done; }
sd() { for r in "${results[@]}"; do [ "${r%%|*}" = "$1" ] && echo "${r##*|}"; done; }

printf '%-14s %22s %22s %12s\n' "vcs" "cargo new (ms)" "cargo bgapp new (ms)" "difference"
status=0
for vcs in git none; do
  suffix=""; [ "$vcs" = none ] && suffix=" --vcs none"
  a="cargo new$suffix" b="cargo bgapp new$suffix"
  diff=$(awk -v a="$(mean "$a")" -v b="$(mean "$b")" 'BEGIN { printf "%+.1f ms", b - a }')
  printf '%-14s %15s ± %-4s %15s ± %-4s %12s\n' "$vcs" "$(mean "$a")" "$(sd "$a")" "$(mean "$b")" "$(sd "$b")" "$diff"
  if awk -v a="$(mean "$a")" -v b="$(mean "$b")" 'BEGIN { exit !(b - a > 50) }'; then
    status=1
  fi
done
if [ "$status" != 0 ]; then
  echo "cargo bgapp new is more than 50 ms slower than cargo new" >&2
fi
exit "$status"
