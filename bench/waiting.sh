#!/usr/bin/env bash
# Waiting sensors (issue #36): N `wait` tasks (default 1,000) checking every 5 s for a
# file that never comes, in one scheduler, on PostgreSQL (BACKEND=sqlite: the embedded
# default). Prints
#  - the scheduler's CPU (user + system, from /proc) over WINDOW seconds (default 60)
#    while they wait, as % of one core, and PostgreSQL's beside it; and the checks made;
#  - a 32-task DAG (4 layers of 8 `sleep 0.5`, so about 2 s ideally) run TRIALS times
#    alone and TRIALS times beside the waiting sensors: each run's seconds, first task's
#    start to last task's end.
# Targets: under 5 % of a core; the 32-task DAG within 10 % of its time alone.
#
#   bench/waiting.sh [N] [WINDOW] [TRIALS]   # uses target/release/updraft (built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
WINDOW=${2:-60}
TRIALS=${3:-3}
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
export PGOPTIONS="--client-min-messages=warning"
PG_ADMIN=${UPDRAFT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/dags"
python3 - "$work/dags" "$N" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
lines = ["dag_id: sensors", f"max_active_tasks: {n}", "tasks:"]
lines += [f"  s{i:04}: {{type: wait, with: {{for: file, path: 'never/*.json', poke_interval: 5s, timeout: 1h}}}}"
          for i in range(n)]
open(f"{out}/sensors.yaml", "w").write("\n".join(lines) + "\n")
lines = ["dag_id: work32", "max_active_tasks: 8", "tasks:"]
for layer in range(4):
    for i in range(8):
        dep = f", depends_on: [l{layer-1}_{i}]" if layer else ""
        lines.append(f"  l{layer}_{i}: {{type: shell, with: {{command: 'sleep 0.5'}}{dep}}}")
open(f"{out}/work32.yaml", "w").write("\n".join(lines) + "\n")
PY
if [ "${BACKEND:-postgres}" = sqlite ]; then
  url="sqlite://$work/home/updraft.db"
  sql() { sqlite3 "$work/home/updraft.db" "$1"; }
else
  db=updraft_bench_waiting
  url="${PG_ADMIN%/*}/$db"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -qc "CREATE DATABASE $db" >/dev/null
  sql() { psql "$url" -qAtc "$1"; }
fi
export UPDRAFT_DATABASE_URL=$url UPDRAFT_HOME=$work/home UPDRAFT_DAGS_FOLDER=$work/dags
mkdir -p "$work/home"
"$BIN" db migrate >/dev/null
"$BIN" scheduler 2>"$work/scheduler.log" &
pid=$!
sleep 3

cpu_ticks() { # user + system ticks of a process
  awk '{print $14 + $15}' "/proc/$1/stat"
}
postgres_ticks() { # of every postgres process
  local total=0
  for p in $(pgrep -x postgres || true); do
    total=$((total + $(cpu_ticks "$p" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
run_work32() { # run id → seconds from the first task's start to the last one's end
  "$BIN" dag trigger work32 --run-id "$1" --queue-only >/dev/null
  for _ in $(seq 600); do
    state=$(sql "select state from dag_run where dag_id = 'work32' and run_id = '$1'")
    [ "$state" = success ] && break
    [ "$state" = failed ] && { echo "work32 $1 failed" >&2; exit 1; }
    sleep 0.2
  done
  python3 - "$url" "$1" <<'PY'
import sys, subprocess
url, run = sys.argv[1], sys.argv[2]
q = f"select min(started_at), max(ended_at) from task_try where dag_id = 'work32' and run_id = '{run}'"
if url.startswith("sqlite"):
    out = subprocess.check_output(["sqlite3", url.split("://", 1)[1], q], text=True).strip()
    a, b = out.split("|")
else:
    out = subprocess.check_output(["psql", url, "-qAtc", q], text=True).strip()
    a, b = out.split("|")
from datetime import datetime
def t(s): return datetime.fromisoformat(s.strip().replace(" ", "T").replace("+00:00", "").replace("+00", ""))
print(f"{(t(b) - t(a)).total_seconds():.2f}")
PY
}

echo "== the 32-task DAG alone =="
alone=()
for i in $(seq "$TRIALS"); do alone+=("$(run_work32 "alone$i")"); done
echo "seconds: ${alone[*]}"

echo "== $N sensors waiting (poke_interval 5s) =="
"$BIN" dag trigger sensors --run-id s1 --queue-only >/dev/null
for _ in $(seq 600); do
  waiting=$(sql "select count(*) from task_instance where dag_id = 'sensors' and state = 'up_for_reschedule'")
  [ "$waiting" -ge "$N" ] && break
  sleep 0.5
done
echo "waiting: $waiting"
sleep 10 # past the first wave of checks
hz=$(getconf CLK_TCK)
s0=$(cpu_ticks "$pid"); p0=$(postgres_ticks); checks0=$(grep -c "not yet" -r "$work/home/logs/dag_id=sensors" | awk -F: '{s+=$2} END {print s}')
sleep "$WINDOW"
s1=$(cpu_ticks "$pid"); p1=$(postgres_ticks); checks1=$(grep -c "not yet" -r "$work/home/logs/dag_id=sensors" | awk -F: '{s+=$2} END {print s}')
python3 -c "
hz, w = $hz, $WINDOW
print(f'scheduler CPU {100 * ($s1 - $s0) / hz / w:.2f} % of a core; postgres (all processes) {100 * ($p1 - $p0) / hz / w:.2f} %; {($checks1 - $checks0) / w:.0f} checks/s (ideal {$N / 5:.0f}/s)')
"

echo "== the 32-task DAG beside them =="
beside=()
for i in $(seq "$TRIALS"); do beside+=("$(run_work32 "beside$i")"); done
echo "seconds: ${beside[*]}"
python3 -c "
import statistics as s
a, b = [$(IFS=,; echo "${alone[*]}")], [$(IFS=,; echo "${beside[*]}")]
print(f'median alone {s.median(a):.2f} s, beside {s.median(b):.2f} s: ratio {s.median(b) / s.median(a):.3f}')
"
