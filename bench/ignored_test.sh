#!/usr/bin/env bash
# Runs one of the end-to-end benchmarks (an `#[ignore]`d test of tests/, printing its
# figures) with the build scripts/test-all makes, so the two share it:
#
#   bench/ignored_test.sh FILTER        # e.g. grafana::bench
#
# PostgreSQL is started first (scripts/ensure-postgres.sh); UPDRAFT_BENCH_RUNS passes on.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-postgres.sh
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test -j2 --workspace --test e2e -- --ignored --nocapture --test-threads 1 "$1"
