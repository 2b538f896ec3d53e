#!/usr/bin/env bash
# The main job, end to end: build cargo-bgapp, scaffold a background app
# from the `hello` template, package it, and show the bundles.
#   bash scripts/demo.sh [TEMPLATE]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
template="${1:-hello}"
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p cargo-bgapp
export PATH="$root/target/release:$PATH"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
cargo bgapp new demo-app --template "$template" --description "Demo background app made with bgapp" --vcs none
cd demo-app
CARGO_TARGET_DIR="$root/target/demo" cargo bgapp package --message-format human > bundles.txt
cat bundles.txt
while read -r bundle; do
  case "$bundle" in
    *.deb) dpkg-deb --info "$bundle"; dpkg-deb --contents "$bundle" ;;
    *.tar.gz) tar -tzvf "$bundle" ;;
  esac
done < bundles.txt
for unit in $(dpkg-deb --contents "$(grep '\.deb$' bundles.txt)" | awk '{print $6}' | grep -E '\.(service|timer|socket|path)$'); do
  echo "--- $unit"
  dpkg-deb --fsys-tarfile "$(grep '\.deb$' bundles.txt)" | tar -xO "$unit"
done
