#!/usr/bin/env bash
# What people feel of the history's size (issue #32): on PostgreSQL, the scheduler's cost
# per attempt (a chain of 50 no-ops run by `dag trigger`), the grid's first page and the
# run listing API, measured on a history of 1,000 runs (every page full; an empty one
# would answer pages of nothing), then on one of N runs — the dashboards benchmark's
# history (ten DAGs, ten tasks each). Prints both and the ratio. The Grafana panels' figures on the same history: bench/dashboards.sh N.
#
#   bench/history_growth.sh [N]      # default 1,000,000 runs (10,000,000 task tries)
set -euo pipefail
UPDRAFT_BENCH_RUNS=${1:-1000000} exec "$(dirname "$0")/ignored_test.sh" grafana::growth
