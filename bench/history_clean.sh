#!/usr/bin/env bash
# Retention on a large history (issue #32): fills a fresh PostgreSQL database with the
# dashboards benchmark's history (N runs of ten DAGs over 100 days, ten tasks each), then
# times `updraft db clean --older-than 1d -y` — every run but the last day's — with a
# scheduler running beside it, and prints what went and how fast.
#
#   bench/history_clean.sh [N]      # default 100,000 runs (1,020,000 task tries)
set -euo pipefail
UPDRAFT_BENCH_RUNS=${1:-100000} exec "$(dirname "$0")/ignored_test.sh" history::clean_a_large_history
