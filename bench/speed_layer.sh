#!/usr/bin/env bash
# The user-events speed layer (issue #17), release build, embedded defaults.
#   1. One user_events_realtime run over N events that arrived at once (default
#      3,000,000: 30 s of events at 100,000 a second), TRIALS times from a fresh lake.
#      Target: under 10 s, so the layer keeps up at that rate.
#   2. With --live RATE SECONDS: a Kafka-protocol broker (tansu), PostgreSQL, `updraft
#      scheduler` running the speed layer every 30 s and `generate user-events --rate
#      RATE` for SECONDS; every second the warehouse's lag (now − the newest event in
#      realtime.events_per_minute) is read; prints the largest and the totals.
#      Target at 2,000 events a second: under 45 s.
#
#   bench/speed_layer.sh [N] [TRIALS]
#   bench/speed_layer.sh --live 2000 120
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

if [ "${1:-}" != "--live" ]; then
  N=${1:-3000000}
  TRIALS=${2:-3}
  export UPDRAFT_DAGS_FOLDER="$PWD/dags"
  start=$(date -u -d '-1 hour' +%Y-%m-%dT%H:00:00Z)
  "$BIN" generate user-events --count "$N" --seed 1 --start "$start" --hours 1 \
    --to "file://$work/landing" >/dev/null 2>&1
  echo "events: $N ($(du -sh "$work/landing" | cut -f1) of JSON)"
  for trial in $(seq "$TRIALS"); do
    export UPDRAFT_HOME="$work/home$trial" UPDRAFT_LAKE="$work/lake$trial"
    t0=$(date +%s.%N)
    "$BIN" dag trigger user_events_realtime --run-id bench --conf "{\"source\": \"file://$work/landing\"}" >/dev/null 2>&1
    t1=$(date +%s.%N)
    printf 'trial %s: one run %.2f s\n' "$trial" "$(echo "$t1 - $t0" | bc)"
    "$BIN" -o json task states user_events_realtime bench | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    print("  {:<28} {:<8} {:6.2f} s".format(t["task_id"], t["state"], t["duration"] or 0))'
    rm -rf "$work/lake$trial" "$work/home$trial"
  done
  exit 0
fi

RATE=${2:-2000}
SECONDS_LIVE=${3:-120}
source scripts/ensure-postgres.sh
source scripts/ensure-tansu.sh
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
pids+=($!)
db="updraft_live_$$"
psql "$UPDRAFT_TEST_PG_URL" -qc "CREATE DATABASE $db" >/dev/null
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; psql "$UPDRAFT_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
url="${UPDRAFT_TEST_PG_URL%/*}/$db"
mkdir -p "$work/dags"
cp dags/user_events_realtime.yaml "$work/dags/"
cp -r sql "$work/sql"
topic="kafka://127.0.0.1:$port/user-events"
export UPDRAFT_HOME="$work/home" UPDRAFT_LAKE="$work/lake" UPDRAFT_DAGS_FOLDER="$work/dags" \
  UPDRAFT_DATABASE_URL="$url" UPDRAFT_CONN_WAREHOUSE="$url" USER_EVENTS_SOURCE="$topic"
sleep 1
count=$((RATE * SECONDS_LIVE))
"$BIN" generate user-events --rate "$RATE" --count "$count" --to "$topic" >"$work/producer.log" 2>&1 &
producer=$!
pids+=($producer)
"$BIN" scheduler >"$work/scheduler.log" 2>&1 &
pids+=($!)
worst=0
while kill -0 "$producer" 2>/dev/null; do
  lag=$(psql "$url" -Atqc "SELECT round(extract(epoch FROM now() - max(last_event_at)))::int FROM realtime.events_per_minute" 2>/dev/null || true)
  if [ -n "$lag" ]; then
    [ "$lag" -gt "$worst" ] && worst=$lag
  fi
  sleep 1
done
echo "producer done: $count events at $RATE/s; largest lag while it ran: ${worst} s"
for _ in $(seq 90); do
  total=$(psql "$url" -Atqc "SELECT coalesce(sum(events), 0) FROM realtime.events_per_minute" 2>/dev/null || echo 0)
  [ "$total" = "$count" ] && break
  sleep 1
done
echo "realtime.events_per_minute holds $total of $count events"
psql "$url" -Atqc "SELECT 'runs: ' || count(*) || ', median ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ended_at - started_at))::numeric, 2) || ' s, max ' || round(max(extract(epoch FROM ended_at - started_at))::numeric, 2) || ' s' FROM dag_run WHERE state = 'success'"
