#!/usr/bin/env bash
# Retention on a large history (issue #32): fills a fresh PostgreSQL database with the
# dashboards benchmark's history (N runs of ten DAGs over 100 days, ten tasks each), then
# times `updraft db clean --older-than 1d -y` — every run but the last day's — with a
# scheduler running beside it, and prints what went and how fast.
#
#   bench/history_clean.sh [N]      # default 100,000 runs (1,020,000 task tries)
#
# It builds the test binary the way scripts/test-all does, so the two share a build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-postgres.sh
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
UPDRAFT_BENCH_RUNS=${1:-100000} cargo test -j2 --workspace --test e2e -- \
  --ignored --nocapture --test-threads 1 history::clean_a_large_history
