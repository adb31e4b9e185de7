#!/usr/bin/env bash
# Scheduler benchmark (issue #4), on PostgreSQL with full history:
#  - latency: a chain of 200 `noop` tasks run by `updraft scheduler`; for each edge, the
#    time from the upstream attempt's end to the downstream attempt's start (median, p95);
#  - throughput: a fan-out of N `noop` tasks (default 6000) run by one scheduler, then
#    by two schedulers on the same database: attempts per second from the first attempt's
#    start to the last one's end.
#
#   bench/scheduler.sh [N]     # uses target/release/updraft (built if missing)
#   BENCH_HOME=/dev/shm/updraft-bench bench/scheduler.sh   # task logs on tmpfs instead
#   EXTRA_DAGS=1000 TOUCH_DAGS=1 bench/scheduler.sh        # with 1,000 more DAG files in
#     the folder, each saved again (unchanged) every second, so the scheduler re-reads
#     them every loop; it then prints how many DAG versions were recorded (one per DAG
#     file is right: saving a file unchanged makes no version)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-6000}
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
export PGOPTIONS="--client-min-messages=warning"
PG_ADMIN=${UPDRAFT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}" ${toucher:-}; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work" "${BENCH_HOME:-}"
}
trap cleanup EXIT
mkdir -p "$work/dags"
# Updraft's home holds a log file per attempt (in a folder per task).
home=${BENCH_HOME:-$work/home}
python3 - "$work/dags" "$N" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
lines = ["dag_id: chain200", "tasks:"]
for i in range(200):
    dep = f", depends_on: [t{i-1:03}]" if i else ""
    lines.append(f"  t{i:03}: {{ type: noop{dep} }}")
open(f"{out}/chain200.yaml", "w").write("\n".join(lines) + "\n")
lines = [f"dag_id: fanout", f"max_active_tasks: {n}", "tasks:"]
lines += [f"  t{i:05}: {{ type: noop }}" for i in range(n)]
open(f"{out}/fanout.yaml", "w").write("\n".join(lines) + "\n")
PY
extra=${EXTRA_DAGS:-0}
for i in $(seq -w 1 "$extra"); do
  printf 'dag_id: extra%s\ntasks:\n  a: {type: noop}\n  b: {type: noop, depends_on: [a]}\n  c: {type: shell, depends_on: [b], with: {command: "echo %s"}}\n' \
    "$i" "$i" >"$work/dags/extra$i.yaml"
done
toucher=
if [ "${TOUCH_DAGS:-0}" = 1 ]; then
  # Saved again, unchanged, every second: new modification times, the same content.
  (while true; do touch "$work/dags"/*.yaml; sleep 1; done) &
  toucher=$!
fi
versions() { # how many DAG versions the history holds, against how many DAG files
  local files=$(ls "$work/dags"/*.yaml | wc -l)
  local recorded="none (a build without DAG versions)"
  if [ -n "$(psql "$url" -qAtc "select to_regclass('dag_version')")" ]; then
    recorded=$(psql "$url" -qAtc "select count(*) from dag_version")
  fi
  echo "DAG files $files, versions recorded $recorded"
}

base=${PG_ADMIN%/*}
db=updraft_bench_scheduler
url="$base/$db"
fresh_db() {
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -qc "CREATE DATABASE $db" >/dev/null
  UPDRAFT_DATABASE_URL=$url "$BIN" --home "$home" --dags-folder "$work/dags" db migrate >/dev/null
}
updraft() { UPDRAFT_DATABASE_URL=$url "$BIN" --home "$home" --dags-folder "$work/dags" "$@"; }
start_schedulers() { # count
  for i in $(seq "$1"); do
    # The binary itself in the background (not the shell function), so $! is its pid.
    UPDRAFT_DATABASE_URL=$url UPDRAFT_PARALLELISM=${PARALLELISM:-256} \
      "$BIN" --home "$home" --dags-folder "$work/dags" scheduler 2>"$work/scheduler$i.log" &
    pids+=($!)
  done
}
stop_schedulers() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
wait_run() { # dag
  for _ in $(seq 600); do
    state=$(psql "$url" -qAtc "select state from dag_run where dag_id = '$1'")
    [ "$state" = success ] && return 0
    [ "$state" = failed ] && { echo "run of $1 failed" >&2; exit 1; }
    sleep 0.2
  done
  echo "run of $1 did not finish" >&2; exit 1
}

echo "== latency: chain of 200 noop tasks, one scheduler =="
fresh_db
start_schedulers 1
sleep 2
updraft dag trigger chain200 --queue-only >/dev/null
wait_run chain200
stop_schedulers
versions
psql "$url" -qAt <<'SQL'
WITH edges AS (
  SELECT EXTRACT(EPOCH FROM (d.started_at - u.ended_at)) * 1000 AS ms
  FROM task_try u JOIN task_try d
    ON d.dag_id = u.dag_id AND d.run_id = u.run_id
   AND d.task_id = 't' || lpad((substr(u.task_id, 2)::int + 1)::text, 3, '0')
  WHERE u.dag_id = 'chain200')
SELECT format('edges %s, median %s ms, p95 %s ms, max %s ms', COUNT(*),
  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
  round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2),
  round(MAX(ms)::numeric, 2)) FROM edges;
SQL

for schedulers in 1 2; do
  echo "== throughput: fan-out of $N noop tasks, $schedulers scheduler(s) =="
  fresh_db
  start_schedulers "$schedulers"
  sleep 2
  updraft dag trigger fanout --queue-only >/dev/null
  wait_run fanout
  stop_schedulers
  versions
  psql "$url" -qAt <<'SQL'
SELECT format('attempts %s by %s job(s), %s s, %s attempts/s', COUNT(*), COUNT(DISTINCT job_id),
  round(EXTRACT(EPOCH FROM MAX(ended_at) - MIN(started_at))::numeric, 2),
  round((COUNT(*) / EXTRACT(EPOCH FROM MAX(ended_at) - MIN(started_at)))::numeric, 0))
FROM task_try WHERE dag_id = 'fanout';
SQL
done
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
