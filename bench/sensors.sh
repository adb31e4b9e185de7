#!/usr/bin/env bash
# The iot_sensors DAG (issue #17) on N generated readings (1 % bad) from files, release
# build, embedded defaults: the whole DAG from a fresh lake (land → silver → gold →
# tests → load), TRIALS times; prints each run's wall time and its tasks' durations.
# Target: 1,000,000 readings in under 8 s.
#
#   bench/sensors.sh [N] [TRIALS]     # default 1,000,000 readings, 3 trials
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
TRIALS=${2:-3}
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export UPDRAFT_DAGS_FOLDER="$PWD/dags"
"$BIN" generate sensors --count "$N" --bad-ratio 0.01 --seed 1 --to "file://$work/landing" >/dev/null 2>&1
echo "readings: $N ($(du -sh "$work/landing" | cut -f1) of JSON)"
for trial in $(seq "$TRIALS"); do
  export UPDRAFT_HOME="$work/home$trial" UPDRAFT_LAKE="$work/lake$trial"
  start=$(date +%s.%N)
  "$BIN" dag trigger iot_sensors --run-id bench --conf "{\"files\": \"file://$work/landing\"}" >/dev/null 2>&1
  end=$(date +%s.%N)
  printf 'trial %s: whole DAG %.2f s\n' "$trial" "$(echo "$end - $start" | bc)"
  "$BIN" -o json task states iot_sensors bench | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    print("  {:<28} {:<8} {:6.2f} s".format(t["task_id"], t["state"], t["duration"] or 0))'
  rm -rf "$work/lake$trial" "$work/home$trial"
done
