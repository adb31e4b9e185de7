#!/usr/bin/env bash
# Orchestration overhead benchmark (issue #2): a chain of 200 `noop` tasks, a chain of
# 200 `shell: true` tasks and a fan-out of 2,000 `noop` tasks, each run once with full
# history on SQLite and on PostgreSQL. Prints wall time per task and the engine's own
# share (run wall time minus the time spent inside attempts), from the history tables.
#
#   bench/overhead.sh            # uses target/release/updraft (built if missing)
#   UPDRAFT_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres bench/overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
export PGOPTIONS="--client-min-messages=warning"
PG_ADMIN=${UPDRAFT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dags"

python3 - "$work/dags" <<'PY'
import sys
out = sys.argv[1]
def chain(name, n, body):
    lines = [f"dag_id: {name}", "max_active_tasks: 16", "tasks:"]
    for i in range(n):
        dep = f", depends_on: [t{i-1}]" if i else ""
        lines.append(f"  t{i}: {{ {body}{dep} }}")
    open(f"{out}/{name}.yaml", "w").write("\n".join(lines) + "\n")
chain("chain200_noop", 200, "type: noop")
chain("chain200_shell", 200, 'type: shell, with: { command: "true" }')
lines = ["dag_id: fanout2000_noop", "max_active_tasks: 64", "tasks:"]
lines += [f"  t{i}: {{ type: noop }}" for i in range(2000)]
open(f"{out}/fanout2000_noop.yaml", "w").write("\n".join(lines) + "\n")
PY

run_one() { # backend database_url dag tasks
  local backend=$1 url=$2 dag=$3 n=$4
  local t0 t1
  t0=$(date +%s.%N)
  UPDRAFT_DATABASE_URL=$url "$BIN" --home "$work/home" --dags-folder "$work/dags" \
    dag trigger "$dag" --run-id bench >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  t1=$(date +%s.%N)
  UPDRAFT_DATABASE_URL=$url "$BIN" --home "$work/home" --dags-folder "$work/dags" \
    task states "$dag" bench -o json >"$work/states.json"
  UPDRAFT_DATABASE_URL=$url "$BIN" --home "$work/home" --dags-folder "$work/dags" \
    dag runs "$dag" -o json >"$work/runs.json"
  python3 - "$backend" "$dag" "$n" "$t0" "$t1" "$work/states.json" "$work/runs.json" <<'PY'
import json, sys
from datetime import datetime
backend, dag, n, t0, t1, states, runs = sys.argv[1:]
n = int(n)
tis = json.load(open(states))
run = json.load(open(runs))[0]
assert run["state"] == "success" and len(tis) == n and all(t["state"] == "success" for t in tis)
p = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
run_wall = (p(run["ended_at"]) - p(run["started_at"])).total_seconds()
inside = sum(t["duration"] or 0 for t in tis)
print(f"| {backend:8} | {dag:16} | {n:5} | {float(t1)-float(t0):7.2f} s | {1000*(float(t1)-float(t0))/n:6.2f} ms "
      f"| {1000*run_wall/n:6.2f} ms | {1000*max(run_wall-inside,0)/n:6.2f} ms | {n/run_wall:8.0f} |")
PY
}

echo "| backend  | dag              | tasks | process   | per task  | run/task  | engine/task | tasks/s  |"
echo "|----------|------------------|-------|-----------|-----------|-----------|-------------|----------|"
for dag in chain200_noop:200 chain200_shell:200 fanout2000_noop:2000; do
  run_one sqlite "sqlite://$work/home/bench-${dag%%:*}.db" "${dag%%:*}" "${dag##*:}"
done
if psql "$PG_ADMIN" -qAtc 'select 1' >/dev/null 2>&1; then
  base=${PG_ADMIN%/*}
  for dag in chain200_noop:200 chain200_shell:200 fanout2000_noop:2000; do
    db="updraft_bench_${dag%%:*}"
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -qc "CREATE DATABASE $db" >/dev/null
    run_one postgres "$base/$db" "${dag%%:*}" "${dag##*:}"
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  done
else
  echo "(PostgreSQL not reachable at $PG_ADMIN: skipped)" >&2
fi
