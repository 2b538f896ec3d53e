#!/usr/bin/env bash
# Benchmark of `cargo bgapp package` (issue 5).
#
# 1. On the same already-built binary (the `hello` test fixture), the wall
#    time of `cargo bgapp package --no-build --format deb` against
#    `cargo deb --no-build` with the same systemd unit, and the size of the
#    two .deb files. Targets: at most half cargo-deb's time, no larger .deb.
# 2. A 64 MiB binary (the fixture with real machine code from the system's
#    libraries appended, so it still carries its task section) packaged into
#    both bundles. Target: under 3 s.
#
# Usage: bench/package.sh [RUNS]   (default 20 runs; uses hyperfine if
# installed, else a shell loop). Installs cargo-deb with `cargo install`
# when it is missing.
set -euo pipefail

runs=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
# The integration tests build the fixtures here too, so this reuses them.
fixtures_target=$target/tmp/bgapp-fixtures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { printf '%s\n' "$*" >&2; }

say "building cargo-bgapp (release) and the hello fixture"
(cd "$root" && CARGO_TARGET_DIR=$target cargo build --quiet --release -p cargo-bgapp)
CARGO_TARGET_DIR=$fixtures_target cargo build --quiet --release \
    --manifest-path "$root/cargo-bgapp/tests/fixtures/hello/Cargo.toml"
# Both tools run as cargo subcommands, the way users run them.
export PATH="$target/release:$PATH"

if ! command -v cargo-deb >/dev/null 2>&1; then
    say "installing cargo-deb"
    cargo install --quiet --locked cargo-deb
fi

# A copy of the fixture that cargo-deb can package with the same unit.
app=$work/hello
mkdir -p "$app/src" "$app/debian" "$work/ours" "$work/theirs"
cp "$root/cargo-bgapp/tests/fixtures/hello/src/main.rs" "$app/src/"
cp "$root/cargo-bgapp/tests/fixtures/hello/README.md" "$app/"
sed "s|../../../../bgapp|$root/bgapp|" "$root/cargo-bgapp/tests/fixtures/hello/Cargo.toml" >"$app/Cargo.toml"
cat >>"$app/Cargo.toml" <<'EOF'

[package.metadata.deb]
maintainer-scripts = "debian/"
systemd-units = { unit-name = "hello", enable = true, start = true }
EOF
cd "$app"
export CARGO_TARGET_DIR=$fixtures_target
export SOURCE_DATE_EPOCH=1700000000
cargo bgapp package -q --no-build --format deb --out-dir "$work/ours" >/dev/null
dpkg-deb --fsys-tarfile "$work/ours"/hello_*.deb |
    tar -xO ./usr/lib/systemd/system/hello.service >"$app/debian/hello.service"

ours_cmd="cargo bgapp package -q --no-build --format deb --out-dir $work/ours"
theirs_cmd="cargo deb --no-build --quiet --output $work/theirs/hello.deb"
$theirs_cmd >/dev/null 2>&1 || { say "cargo deb failed:"; $theirs_cmd; exit 1; }

# Mean wall time in milliseconds of a command.
mean_ms() {
    local cmd=$1 n=$2
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine --style none --warmup 3 --runs "$n" --export-json "$work/h.json" "$cmd" >/dev/null 2>&1
        python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["mean"]*1000, 1))' "$work/h.json"
    else
        local start end i
        for i in 1 2 3; do $cmd >/dev/null 2>&1; done
        start=$(date +%s%N)
        for ((i = 0; i < n; i++)); do $cmd >/dev/null 2>&1; done
        end=$(date +%s%N)
        python3 -c "print(round(($end - $start) / $n / 1e6, 1))"
    fi
}

say "timing ($runs runs each)"
ours_ms=$(mean_ms "$ours_cmd" "$runs")
theirs_ms=$(mean_ms "$theirs_cmd" "$runs")
ours_size=$(stat -c %s "$work/ours"/hello_*.deb)
theirs_size=$(stat -c %s "$work/theirs/hello.deb")

# The 64 MiB binary: the fixture followed by real code, cut to 64 MiB. The
# ELF headers and the task section stay where they were.
big=$work/big
mkdir -p "$big/release"
cp "$fixtures_target/release/hello" "$big/release/hello"
find /usr/lib /usr/bin -type f -size +100k \( -name '*.so*' -o -perm -u+x \) 2>/dev/null | sort |
    while read -r f; do
        [ "$(stat -c %s "$big/release/hello")" -ge $((64 << 20)) ] && break
        cat "$f" >>"$big/release/hello"
    done
truncate -s 64M "$big/release/hello"
big_cmd="env CARGO_TARGET_DIR=$big cargo bgapp package -q --no-build --out-dir $work/big-out"
say "timing the 64 MiB binary (5 runs)"
big_ms=$(mean_ms "$big_cmd" 5)
big_deb=$(stat -c %s "$work/big-out"/hello_*.deb)
big_tar=$(stat -c %s "$work/big-out"/hello-*.tar.gz)

python3 - "$ours_ms" "$theirs_ms" "$ours_size" "$theirs_size" "$big_ms" "$big_deb" "$big_tar" "$(cargo deb --version 2>/dev/null | head -1)" <<'EOF'
import sys
ours_ms, theirs_ms, ours_size, theirs_size, big_ms = (float(x) for x in sys.argv[1:6])
big_deb, big_tar, deb_version = int(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
ok = lambda c: "met" if c else "MISSED"
print(f"same binary (hello fixture), .deb only; cargo-deb: {deb_version}")
print()
print("| measure | cargo bgapp package | cargo deb | ratio | target |")
print("| --- | ---: | ---: | ---: | --- |")
print(f"| wall time | {ours_ms:.1f} ms | {theirs_ms:.1f} ms | {ours_ms / theirs_ms:.2f}x | <= 0.5x: {ok(ours_ms <= theirs_ms / 2)} |")
print(f"| .deb size | {int(ours_size):,} B | {int(theirs_size):,} B | {ours_size / theirs_size:.2f}x | <= 1.0x: {ok(ours_size <= theirs_size)} |")
print()
print("| 64 MiB binary, .deb + .tar.gz | time | .deb | .tar.gz | target |")
print("| --- | ---: | ---: | ---: | --- |")
print(f"| cargo bgapp package | {big_ms / 1000:.2f} s | {big_deb / 2**20:.1f} MiB | {big_tar / 2**20:.1f} MiB | < 3 s: {ok(big_ms < 3000)} |")
EOF
