#!/usr/bin/env bash
# Fan-out (issue #36): a task mapped over N items (default 500), each `sleep 1`, at
# parallelism P (default 32: the DAG's max_active_tasks), run by one scheduler on
# PostgreSQL (BACKEND=sqlite: the embedded default). Prints the run's seconds from its
# first attempt's start to its last one's end against the ideal ceil(N / P) s, and the
# time the engine took to expand a list of BIG items (default 10,000 `noop` instances)
# into instances, from its log.
# Targets: within 1.15× of the ideal; the 10,000-item expansion under 1 s.
#
#   bench/mapping.sh [N] [P] [BIG]   # uses target/release/updraft (UPDRAFT_BIN to choose)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
P=${2:-32}
BIG=${3:-10000}
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
mkdir -p "$work/dags" "$work/home"
cat >"$work/dags/fan.yaml" <<EOF
dag_id: fan
max_active_tasks: $P
tasks:
  each:
    type: shell
    for_each: "{{ range($N) | list }}"
    max_items: $N
    with: {command: sleep 1}
EOF
cat >"$work/dags/wide.yaml" <<EOF
dag_id: wide
tasks:
  each:
    type: noop
    for_each: "{{ range($BIG) | list }}"
    max_items: $BIG
EOF
if [ "${BACKEND:-postgres}" = sqlite ]; then
  url="sqlite://$work/home/updraft.db"
  sql() { sqlite3 "$work/home/updraft.db" "$1"; }
else
  db=updraft_bench_mapping
  url="${PG_ADMIN%/*}/$db"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -qc "CREATE DATABASE $db" >/dev/null
  sql() { psql "$url" -qAtc "$1"; }
fi
export UPDRAFT_DATABASE_URL=$url UPDRAFT_HOME=$work/home UPDRAFT_DAGS_FOLDER=$work/dags
"$BIN" db migrate >/dev/null
"$BIN" scheduler 2>"$work/scheduler.log" &
pid=$!
sleep 3

wait_run() { # dag, run id
  for _ in $(seq 1200); do
    state=$(sql "select state from dag_run where dag_id = '$1' and run_id = '$2'")
    [ "$state" = success ] && return
    [ "$state" = failed ] && { echo "$1 $2 failed" >&2; exit 1; }
    sleep 0.5
  done
  echo "$1 $2 did not finish" >&2
  exit 1
}

"$BIN" dag trigger fan --run-id r1 --queue-only >/dev/null
wait_run fan r1
python3 - "$url" "$N" "$P" <<'PY'
import math, subprocess, sys
url, n, p = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
q = "select min(started_at), max(ended_at), count(*) from task_try where dag_id = 'fan' and run_id = 'r1'"
if url.startswith("sqlite"):
    out = subprocess.check_output(["sqlite3", url.split("://", 1)[1], q], text=True).strip()
else:
    out = subprocess.check_output(["psql", url, "-qAtc", q], text=True).strip()
a, b, tries = out.split("|")
from datetime import datetime
def t(s): return datetime.fromisoformat(s.strip().replace(" ", "T").replace("+00:00", "").replace("+00", ""))
seconds = (t(b) - t(a)).total_seconds()
ideal = math.ceil(n / p)
print(f"{n} x sleep 1 at parallelism {p}: {seconds:.2f} s for {tries} tries; ideal {ideal} s: {seconds / ideal:.3f}x")
PY

"$BIN" dag trigger wide --run-id r1 --queue-only >/dev/null
wait_run wide r1
grep -o "each mapped over $BIG items ([0-9]* ms)" "$work/scheduler.log" | sed "s/^/expansion: /"
