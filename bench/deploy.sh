#!/bin/sh
# Deploy benchmark: `cargo bgapp deploy --settle 0` of the built hello app
# to one namespaced device over SSH, against the shell a user writes by
# hand (scp + ssh dpkg -i + systemctl is-active polling), and to 8 devices
# with --parallel 8. Boots 8 devices (root needed, as for the e2e suite)
# from a lean image (mmdebstrap --variant=minbase, built once), each
# capped at an eighth of a core as devices have CPUs of their own; prints
# the README's table rows and fails if deploy is over 1.5x the script or
# 8 devices take over 2x one.
#
# Usage: sudo sh bench/deploy.sh [RUNS]   (median of RUNS, default 5)
#   BGAPP_BENCH_DEVICE_CPU=F|shared   each device's CPU: F of a core, or
#                                     none of its own (all share the cores)
#   BGAPP_BENCH_DEVICES=host          overlays of this machine's root
set -eu
cd "$(dirname "$0")/.."
BGAPP_BENCH_RUNS="${1:-5}" exec cargo test --release -q -p cargo-bgapp --test deploy \
    benchmark_deploy_against_a_hand_written_script -- --ignored --nocapture --exact
