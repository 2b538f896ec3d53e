#!/bin/sh
# Deploy benchmark: `cargo bgapp deploy --settle 0` of the built hello app
# to one namespaced device over SSH, against the shell a user writes by
# hand (scp + ssh dpkg -i + systemctl is-active polling), and to 8 devices
# with --parallel 8. Boots 8 devices (root needed, as for the e2e suite);
# prints the README's table rows and fails if deploy is over 1.5x the
# script or 8 devices take over 2x one.
#
# Usage: sudo sh bench/deploy.sh [RUNS]   (median of RUNS, default 5)
set -eu
cd "$(dirname "$0")/.."
BGAPP_BENCH_RUNS="${1:-5}" exec cargo test --release -q -p cargo-bgapp --test deploy \
    benchmark_deploy_against_a_hand_written_script -- --ignored --nocapture --exact
