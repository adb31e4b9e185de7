#!/usr/bin/env bash
# The web server on a large history (issue #18): N runs × 20 tasks of one DAG (default
# 10,000 runs: 200,000 task instances and as many attempts) in a fresh SQLite history,
# served by the release binary. Prints how long the grid's first page takes (curl, median
# and worst of 20) and, with wrk, the API's run listing (`dagRuns?limit=100`): requests
# per second and latency percentiles over 10 s with 16 connections.
#
#   bench/webserver.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# UPDRAFT_BIN: another build to measure (the script then builds nothing).
if [ -z "${UPDRAFT_BIN:-}" ]; then cargo build --release -j2 -p updraft; fi
bin=${UPDRAFT_BIN:-$PWD/target/release/updraft}
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/dags"
{
  echo "dag_id: wide"
  echo "tasks:"
  for i in $(seq -w 1 20); do
    if [ "$i" = 01 ]; then echo "  t$i: {type: noop}"; else echo "  t$i: {type: noop, depends_on: [t$(printf %02d $((10#$i - 1)))]}"; fi
  done
} >"$dir/dags/wide.yaml"
export UPDRAFT_HOME=$dir/home UPDRAFT_DAGS_FOLDER=$dir/dags
"$bin" db migrate >/dev/null
python3 - "$dir/home/updraft.db" "$runs" <<'PY'
import sqlite3, sys, datetime as dt
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
iso = lambda t: t.isoformat()
c.execute("INSERT INTO dag (dag_id, is_paused, schedule, timezone, fileloc, last_parsed_at) VALUES ('wide', 0, NULL, 'UTC', 'wide.yaml', ?)", (iso(start),))
runs, tis, tries = [], [], []
for r in range(n):
    t = start + dt.timedelta(hours=r)
    rid = f"scheduled__{iso(t)}"
    failed = r % 50 == 0
    runs.append(("wide", rid, "scheduled", iso(t), iso(t), iso(t + dt.timedelta(hours=1)),
                 "failed" if failed else "success", iso(t), iso(t), iso(t + dt.timedelta(seconds=40 + r % 30))))
    for k in range(1, 21):
        state = "failed" if failed and k == 20 else "success"
        s, e = t + dt.timedelta(seconds=2 * k), t + dt.timedelta(seconds=2 * k + 1.5)
        tid = f"t{k:02d}"
        tis.append(("wide", rid, tid, "noop", state, 1, 1, iso(s), iso(e), 1.5, "host"))
        tries.append(("wide", rid, tid, 1, state, iso(s), iso(e), 1.5, "host"))
c.executemany("INSERT INTO dag_run (dag_id, run_id, run_type, logical_date, data_interval_start, data_interval_end, state, queued_at, started_at, ended_at) VALUES (?,?,?,?,?,?,?,?,?,?)", runs)
c.executemany("INSERT INTO task_instance (dag_id, run_id, task_id, task_type, state, try_number, max_tries, started_at, ended_at, duration, hostname) VALUES (?,?,?,?,?,?,?,?,?,?,?)", tis)
c.executemany("INSERT INTO task_try (dag_id, run_id, task_id, try_number, state, started_at, ended_at, duration, hostname) VALUES (?,?,?,?,?,?,?,?,?)", tries)
c.commit()
c.execute("ANALYZE")
print(f"history: {len(runs)} runs, {len(tis)} task instances, {len(tries)} attempts")
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" webserver --bind "127.0.0.1:$port" 2>"$dir/web.log" &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/v2/monitor/health" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"
echo "grid, first page (/dags/wide), 20 loads:"
for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "$base/dags/wide"; done | sort -n |
  awk '{t[NR]=$1} END {printf "  median %.1f ms, worst %.1f ms\n", t[int((NR+1)/2)]*1000, t[NR]*1000}'
curl -s "$base/dags/wide" | grep -o 'class="sq s-' | wc -l | awk '{print "  cells on the page: " $1}'
echo "API run listing (/api/v2/dags/wide/dagRuns?limit=100), wrk 10 s, 2 threads, 16 connections:"
wrk -t2 -c16 -d10s --latency "$base/api/v2/dags/wide/dagRuns?limit=100" | grep -E "Requests/sec|50%|90%|99%|Non-2xx|Socket errors" | sed 's/^/  /'
echo "API run listing, a page deep in the history (offset=9000, order_by=-logical_date):"
wrk -t2 -c16 -d10s --latency "$base/api/v2/dags/wide/dagRuns?limit=100&offset=9000" | grep -E "Requests/sec|50%|99%|Non-2xx" | sed 's/^/  /'
