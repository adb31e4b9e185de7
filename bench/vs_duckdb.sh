#!/usr/bin/env bash
# Updraft vs DuckDB, side by side in one run on this machine (issue #14): N generated
# tweets (1 % malformed) are landed into bronze once; then, in interleaved trials, the
# lakehouse DAG's silver task and each gold task (`updraft task test`, the release
# build) against the same work in DuckDB (Python, in-process) over the same Parquet files.
# Prints median wall times, their ratios and peak RSS, checks that both sides agree
# (rows, sums, quarantine reasons, the same tweet_id set and the same surviving copy of
# each key, gold rows), then times the whole DAG (land -> silver -> gold -> loads, on
# the embedded SQLite warehouse) from a fresh lake.
#
#   bench/vs_duckdb.sh [N] [TRIALS]      # default 1,000,000 tweets, 5 trials
#
# DuckDB comes from PyPI into its own venv (~/.cache/updraft/duckdb-venv), for this
# benchmark only: neither the product nor the tests use it.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
TRIALS=${2:-5}
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
venv=${UPDRAFT_CACHE:-$HOME/.cache/updraft}/duckdb-venv
if ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'duckdb==2.0.0'
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export UPDRAFT_HOME="$work/home" UPDRAFT_LAKE="$work/lake" UPDRAFT_DAGS_FOLDER="$PWD/dags"
"$BIN" generate tweets --count "$N" --bad-ratio 0.01 --seed 14 --to "file://$work/lake/landing" >/dev/null
cp -r "$work/lake/landing" "$work/landing"
"$BIN" task test lakehouse_bronze_to_gold land >/dev/null
echo "tweets: $N, trials: $TRIALS, $(nproc) cores"
"$venv/bin/python" bench/vs_duckdb.py compare "$work" "$BIN" "$TRIALS"

# The whole DAG from a fresh lake and history, as a user runs it.
export UPDRAFT_HOME="$work/home2" UPDRAFT_LAKE="$work/lake2"
mkdir -p "$work/lake2" && cp -r "$work/landing" "$work/lake2/landing"
started=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/dag.rss" "$BIN" dag trigger lakehouse_bronze_to_gold --run-id bench >/dev/null 2>&1
ended=$(date +%s.%N)
echo "whole DAG (17 tasks: land, silver, tests, gold, loads into SQLite): $(echo "$ended - $started" | bc) s, peak RSS $(( $(cat "$work/dag.rss") / 1024 )) MiB"
"$BIN" -o json task states lakehouse_bronze_to_gold bench >"$work/states.json"
python3 - "$work/states.json" <<'PY'
import json, sys
for r in sorted(json.load(open(sys.argv[1])), key=lambda r: r["started_at"] or ""):
    print(f'  {r["task_id"]:<36} {r["state"]:<8} {float(r["duration"] or 0):6.2f} s')
PY
