#!/usr/bin/env bash
# Generator and landing throughput (issue #3): N tweets into a tansu broker (in memory, on
# this machine) and into JSON-lines files, then the `land` task into a bronze Delta table.
# Reports events/s and the landing process's peak memory (max RSS).
#
#   bench/landing.sh [N]      # default N = 1,000,000; needs tansu (scripts/ensure-tansu.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
export TANSU_PROFILE=${TANSU_PROFILE:-release}  # throughput through the broker is measured
source scripts/ensure-tansu.sh
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ >/dev/null 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
mkdir -p "$work/dags"

eps() { python3 -c 'import json,sys; print(format(json.load(sys.stdin)["events_per_second"], ",.0f"))'; }
echo "events: $N"
echo "generate -> kafka: $("$BIN" -o json generate tweets --count "$N" --to "kafka://127.0.0.1:$port/tweets" | eps) events/s"
echo "generate -> files: $("$BIN" -o json generate tweets --count "$N" --to "file://$work/landing" | eps) events/s"

land() { # name source
  cat >"$work/dags/$1.yaml" <<YAML
dag_id: $1
tasks:
  land:
    type: land
    with: { source: "$2", table: "$work/lake/$1", batch_size: 100000 }
YAML
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/rss" "$BIN" --home "$work/home" --dags-folder "$work/dags" \
    dag trigger "$1" --run-id bench >/dev/null 2>&1
  t1=$(date +%s.%N)
  python3 - "$1" "$N" "$t0" "$t1" "$(cat "$work/rss")" <<'PY'
import sys
name, n, t0, t1, rss_kb = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
print(f"{name}: {n:,} records in {t1-t0:.2f} s = {n/(t1-t0):,.0f} records/s, peak RSS {rss_kb/1024:.0f} MiB")
PY
}
land land_kafka "kafka://127.0.0.1:$port/tweets"
land land_files "file://$work/landing"
