#!/usr/bin/env bash
# The Grafana dashboards' queries on a large history (issue #15): fills a fresh PostgreSQL
# database with N runs of ten DAGs over 100 days (ten tasks each, so 10×N task instances
# and attempts, plus retries and data-test results), then runs every query of every
# shipped dashboard as Grafana sends it for the last 24 hours — six times, printing the
# median of the last five.
#
#   bench/dashboards.sh [N]      # default 100,000 runs (1,000,000 task tries)
set -euo pipefail
UPDRAFT_BENCH_RUNS=${1:-100000} exec "$(dirname "$0")/ignored_test.sh" grafana::bench
