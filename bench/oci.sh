#!/usr/bin/env bash
# Benchmark of `cargo bgapp package --format oci` (issue 12).
#
# On the same already-built binary (the `hello` test fixture), the wall time
# of `cargo bgapp package --no-build --format oci` (cargo metadata, reading
# the binary, resolving its libraries, two gzipped layers, the oci-archive)
# against buildah making an image of the same files: `buildah from
# scratch`, `buildah copy` of bgapp's unpacked root file system, `buildah
# config` (entrypoint, cmd, user, env, volumes), `buildah commit
# oci-archive:` and `buildah rm`, each with a storage root of its own
# (vfs, as this machine's sandbox allows). Also the two archives' sizes.
# Targets: at most half buildah's time, an image no larger.
#
# Usage: bench/oci.sh [RUNS]   (default 10). Needs root, buildah and umoci.
set -euo pipefail

runs=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
fixtures_target=$target/tmp/bgapp-fixtures
work=$(mktemp -d)
trap 'buildah --root "$work/b/root" --runroot "$work/b/run" --storage-driver vfs rm -a >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

say() { printf '%s\n' "$*" >&2; }

say "building cargo-bgapp (release) and the hello fixture"
(cd "$root" && CARGO_TARGET_DIR=$target cargo build --quiet --release -p cargo-bgapp)
CARGO_TARGET_DIR=$fixtures_target cargo build --quiet --release \
    --manifest-path "$root/cargo-bgapp/tests/fixtures/hello/Cargo.toml"
export PATH="$target/release:$PATH"
export CARGO_TARGET_DIR=$fixtures_target SOURCE_DATE_EPOCH=1700000000
cd "$root/cargo-bgapp/tests/fixtures/hello"

ours() { cargo bgapp package -q --no-build --format oci --out-dir "$work/ours" >/dev/null; }
# Without the system layer's cache (target/bgapp/oci-cache): the first build.
ours_cold() { rm -rf "$CARGO_TARGET_DIR/bgapp/oci-cache"; ours; }
ours
image=$(ls "$work"/ours/*.oci.tar)
# The same files for buildah: bgapp's image, unpacked.
mkdir "$work/layout"
tar -xf "$image" -C "$work/layout"
umoci unpack --image "$work/layout:hello:0.1.0" "$work/bundle" >/dev/null
rootfs=$work/bundle/rootfs

theirs() {
    local b="buildah --root $work/b/root --runroot $work/b/run --storage-driver vfs"
    local c
    c=$($b from --quiet scratch)
    $b copy --quiet "$c" "$rootfs/" / >/dev/null
    $b config --entrypoint '["/usr/bin/hello"]' --cmd hello --user 65532:65532 \
        --env STATE_DIRECTORY=/var/lib/hello --env BGAPP_ENGINE=oci \
        --volume /tmp --volume /var/lib/hello --stop-signal SIGTERM "$c"
    $b commit --quiet --format oci "$c" "oci-archive:$work/theirs.oci.tar" >/dev/null
    $b rm "$c" >/dev/null
}
theirs

ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_runs() {
    local f=$1 i t0
    for ((i = 0; i < runs; i++)); do
        t0=$(ms); $f; echo $(( ($(ms) - t0) / 1000000 ))
    done | median
}
say "timing $runs runs each (load average: $(cut -d" " -f1-3 /proc/loadavg))"
c=$(time_runs ours_cold)
o=$(time_runs ours)
t=$(time_runs theirs)
os=$(stat -c %s "$image")
ts=$(stat -c %s "$work/theirs.oci.tar")
printf '| metric | cargo bgapp | buildah | ratio | target |\n| --- | --- | --- | --- | --- |\n'
printf '| image from a built binary, first build (median wall time) | %s ms | %s ms | %sx | <= 0.5x |\n' "$c" "$t" "$(awk "BEGIN {printf \"%.2f\", $c/$t}")"
printf '| image from a rebuilt binary, system layer cached (median) | %s ms | %s ms | %sx | <= 0.5x |\n' "$o" "$t" "$(awk "BEGIN {printf \"%.2f\", $o/$t}")"
printf '| oci-archive size | %s B | %s B | %sx | <= 1x |\n' "$os" "$ts" "$(awk "BEGIN {printf \"%.2f\", $os/$ts}")"
