#!/usr/bin/env bash
# The Grafana dashboards' queries on a large history (issue #15): fills a fresh PostgreSQL
# database with N runs of ten DAGs over 100 days (ten tasks each, so 10×N task instances
# and attempts, plus retries and data-test results), then runs every query of every
# shipped dashboard as Grafana sends it for the last 24 hours — six times, printing the
# median of the last five.
#
#   bench/dashboards.sh [N]      # default 100,000 runs (1,000,000 task tries)
#
# It builds the test binary the way scripts/test-all does, so the two share a build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-postgres.sh
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
UPDRAFT_BENCH_RUNS=${1:-100000} cargo test -j2 --workspace --test e2e -- \
  --ignored --nocapture --test-threads 1 grafana::bench
