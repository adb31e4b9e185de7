#!/usr/bin/env bash
# The engine under load (issue #39), release build, PostgreSQL at UPDRAFT_TEST_PG_URL:
#   bench/engine.sh output [BYTES]   a chatty `shell` task (`yes | head -c BYTES`, default
#                                    200,000,000: 100 million 2-byte lines) beside the same
#                                    command into /dev/null: how fast its output is logged
#   bench/engine.sh idle [N]         `updraft scheduler` with N DAG files (default 1000) and
#                                    nothing due: its CPU (% of one core) and RSS over 30 s
#   bench/engine.sh catchup [HOURS]  an hourly no-op DAG with catchup over HOURS intervals
#                                    (default 17,520: two years), max_active_runs 16, one
#                                    scheduler: how long until every run succeeded
#   bench/engine.sh chains           chains of 100, 1,000 and 5,000 no-op tasks run by
#                                    `dag trigger`: the cost per task of each
# UPDRAFT_BIN picks the binary (default target/release/updraft, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?output, idle, catchup or chains}
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
export PGOPTIONS="--client-min-messages=warning"
PG_ADMIN=${UPDRAFT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=updraft_bench_engine
url="${PG_ADMIN%/*}/$db"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/dags"
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -qc "CREATE DATABASE $db" >/dev/null
updraft() { UPDRAFT_DATABASE_URL=$url "$BIN" --home "$work/home" --dags-folder "$work/dags" "$@"; }
updraft db migrate >/dev/null
seconds() { date +%s.%N; }

case "$what" in
output)
  bytes=${2:-200000000}
  printf 'dag_id: chatty\ntasks:\n  talk: {type: shell, with: {command: "yes | head -c %s"}}\n' "$bytes" >"$work/dags/chatty.yaml"
  start=$(seconds); { yes || true; } | head -c "$bytes" >/dev/null; plain=$(echo "$(seconds) - $start" | bc)
  updraft dag trigger chatty --run-id r >/dev/null 2>&1
  logged=$(psql "$url" -qAtc "select round(duration::numeric, 2) from task_try where dag_id = 'chatty'")
  size=$(stat -c %s "$work/home/logs/dag_id=chatty/run_id=r/task_id=talk/attempt=1.log")
  echo "output of $bytes bytes: into /dev/null $(printf %.2f "$plain") s; as a logged task $logged s ($(echo "$bytes / $logged / 1000000" | bc) MB/s), log kept $size bytes"
  ;;
idle)
  n=${2:-1000}
  python3 - "$work/dags" "$n" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    # Half manual, half daily from a start date to come: nothing is due.
    schedule = "null" if i % 2 else '"0 3 * * *"\nstart_date: 2030-01-01'
    open(f"{out}/d{i:05}.yaml", "w").write(
        f"dag_id: d{i:05}\nschedule: {schedule}\ntasks:\n"
        f"  a: {{type: noop}}\n  b: {{type: shell, depends_on: [a], with: {{command: 'echo {i}'}}}}\n")
PY
  UPDRAFT_DATABASE_URL=$url "$BIN" --home "$work/home" --dags-folder "$work/dags" scheduler 2>"$work/scheduler.log" &
  pid=$!; pids+=("$pid")
  # First start: every DAG recorded; then nothing to do.
  for _ in $(seq 600); do
    [ "$(psql "$url" -qAtc "select count(*) from dag")" = "$n" ] && break
    sleep 1
  done
  sleep 20
  ticks=$(getconf CLK_TCK)
  cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
  before=$(cpu); start=$(seconds); sleep 30
  after=$(cpu); took=$(echo "$(seconds) - $start" | bc)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  echo "idle scheduler, $n DAG files: $(echo "scale=2; 100 * ($after - $before) / $ticks / $took" | bc) % of one core, RSS $((rss / 1024)) MiB"
  ;;
catchup)
  hours=${2:-17520}
  start_date=$(date -u -d "@$(( ($(date +%s) / 3600 - hours) * 3600 ))" +%Y-%m-%dT%H:%M:%SZ)
  printf 'dag_id: hourly\nschedule: "@hourly"\nstart_date: %s\ncatchup: true\nmax_active_runs: 16\ntasks:\n  a: {type: noop}\n' "$start_date" >"$work/dags/hourly.yaml"
  start=$(seconds)
  UPDRAFT_DATABASE_URL=$url "$BIN" --home "$work/home" --dags-folder "$work/dags" scheduler 2>"$work/scheduler.log" &
  pids+=($!)
  while true; do
    done_runs=$(psql "$url" -qAtc "select count(*) from dag_run where dag_id = 'hourly' and state = 'success'")
    [ "$done_runs" -ge "$hours" ] && break
    sleep 1
  done
  took=$(echo "$(seconds) - $start" | bc)
  echo "catchup of $hours hourly runs (max_active_runs 16): $(printf %.1f "$took") s, $(echo "$hours / $took" | bc) runs/s"
  ;;
chains)
  for n in 100 1000 5000; do
    python3 - "$work/dags" "$n" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
lines = [f"dag_id: chain{n}", f"max_active_tasks: 16", "tasks:"]
for i in range(n):
    dep = f", depends_on: [t{i-1:05}]" if i else ""
    lines.append(f"  t{i:05}: {{ type: noop{dep} }}")
open(f"{out}/chain{n}.yaml", "w").write("\n".join(lines) + "\n")
PY
    updraft dag trigger "chain$n" --run-id r >/dev/null 2>&1
    psql "$url" -qAt <<SQL
SELECT format('chain of %s tasks: run %s s, %s ms a task, %s tasks/s', COUNT(*),
  round(EXTRACT(EPOCH FROM MAX(t.ended_at) - MIN(t.started_at))::numeric, 2),
  round((EXTRACT(EPOCH FROM MAX(t.ended_at) - MIN(t.started_at)) * 1000 / COUNT(*))::numeric, 2),
  round((COUNT(*) / EXTRACT(EPOCH FROM MAX(t.ended_at) - MIN(t.started_at)))::numeric, 0))
FROM task_try t WHERE t.dag_id = 'chain$n';
SQL
  done
  ;;
*)
  echo "bench/engine.sh: output, idle, catchup or chains" >&2
  exit 2
  ;;
esac
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
