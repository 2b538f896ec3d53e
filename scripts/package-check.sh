#!/usr/bin/env bash
# Proves that cargo-bgapp works as published: packages it, installs it from
# the unpacked .crate, and runs the installed binary.
#
# bgapp-manifest (a path dependency, "=0.1.0") is not on crates.io yet, so
# `cargo package -p cargo-bgapp` alone cannot resolve it. The install
# patches crates.io's bgapp-manifest to its unpacked .crate, and uses the
# packaged Cargo.lock: that build is the verification.
#
# Not `cargo package`'s own verify step: it builds cargo-bgapp against the
# packaged bgapp-manifest from a temporary local registry, and cargo treats
# a registry crate of a given name and version as immutable. Its unpacked
# copy (in $CARGO_HOME/registry/src/-<hash of the registry's path>/) and its
# compiled library (in the target directory) are reused without comparing
# checksums, so from the same checkout path (CI's, run after run) cargo-bgapp
# was verified against the bgapp-manifest of an earlier run, and failed. A
# path patch is fingerprinted by content.
#
#   scripts/package-check.sh [--allow-dirty]   (extra arguments go to `cargo package`)
#
# The install builds in <target-dir>/package-check, kept between runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
version="$(cargo pkgid -p cargo-bgapp | sed 's/.*[#@]//')"
[ -n "$target" ] && [ -n "$version" ] || { echo "package-check: cannot read the target directory or the version" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo package --no-verify -p bgapp-manifest -p cargo-bgapp "$@"
for crate in bgapp-manifest cargo-bgapp; do
  tar -xzf "$target/package/$crate-$version.crate" -C "$work"
done
cargo install --locked --debug \
  --path "$work/cargo-bgapp-$version" \
  --root "$work/root" \
  --target-dir "$target/package-check" \
  --config "patch.crates-io.bgapp-manifest.path='$work/bgapp-manifest-$version'"

bin="$work/root/bin/cargo-bgapp"
fail() { echo "package-check: $*" >&2; exit 1; }
[ "$("$bin" bgapp --version)" = "cargo-bgapp $version" ] || fail "\`cargo-bgapp --version\` printed \`$("$bin" bgapp --version)\`"
# The templates came with the crate: every one is listed, and one scaffolds.
listed="$("$bin" bgapp new --list | awk '{print $1}' | sort | tr '\n' ' ')"
expected="$(ls cargo-bgapp/templates | sort | tr '\n' ' ')"
[ "$listed" = "$expected" ] || fail "the installed binary lists templates \`$listed\`, the repository has \`$expected\`"
(cd "$work" && "$bin" bgapp new probe --vcs none --quiet)
for file in Cargo.toml README.md src/main.rs; do
  [ -f "$work/probe/$file" ] || fail "\`cargo bgapp new\` wrote no \`$file\`"
done
echo "package-check: cargo-bgapp $version packages, installs from its .crate and scaffolds"
