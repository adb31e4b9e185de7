#!/usr/bin/env bash
# Bronze → silver → gold and the warehouse load (issue #3), on N generated tweets.
#   1. N tweets into a landing folder, then `lakehouse_bronze_to_gold` on embedded
#      defaults; reports each task's duration and the span from silver's start to the
#      last gold table's end (target: < 10 s for 1,000,000 events).
#   2. Silver's scalar columns (N rows) loaded into PostgreSQL with `load_warehouse`
#      (target: >= 200,000 rows/s). Needs PostgreSQL (scripts/ensure-postgres.sh).
#
#   bench/lakehouse.sh [N]      # default N = 1,000,000
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
source scripts/ensure-postgres.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export UPDRAFT_HOME="$work/home" UPDRAFT_LAKE="$work/lake" UPDRAFT_DAGS_FOLDER="$PWD/dags"
echo "events: $N"
"$BIN" generate tweets --count "$N" --bad-ratio 0.01 --to "file://$work/lake/landing" >/dev/null
"$BIN" dag trigger lakehouse_bronze_to_gold --run-id bench >/dev/null
"$BIN" -o json task states lakehouse_bronze_to_gold bench >"$work/states.json"
python3 - "$work/states.json" <<'PY'
import json, sys
from datetime import datetime
rows = json.load(open(sys.argv[1]))
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
for r in sorted(rows, key=lambda r: r["started_at"] or ""):
    print(f'  {r["task_id"]:<36} {r["state"]:<8} {float(r["duration"] or 0):7.2f} s')
silver = next(r for r in rows if r["task_id"] == "silver")
gold = [r for r in rows if r["task_id"].startswith("gold_")]
span = (max(t(r["ended_at"]) for r in gold) - t(silver["started_at"])).total_seconds()
print(f"bronze -> silver -> all gold: {span:.2f} s")
PY

db="updraft_bench_$$"
psql "$UPDRAFT_TEST_PG_URL" -qc "CREATE DATABASE $db" >/dev/null
export UPDRAFT_CONN_WAREHOUSE="${UPDRAFT_TEST_PG_URL%/*}/$db"
mkdir -p "$work/dags"
cat >"$work/dags/bench_load.yaml" <<YAML
dag_id: bench_load
tasks:
  flat:
    type: delta_sql
    with:
      tables: { silver: "$work/lake/silver/tweets" }
      query: >
        SELECT tweet_id, user_id, username, followers_count, verified, created_at, language,
               region, sentiment_score, engagement_score, text_length, sentiment_category, event_date
        FROM silver
      table: "$work/lake/bench/flat"
      mode: overwrite
  load:
    type: load_warehouse
    depends_on: [flat]
    with: { source: "$work/lake/bench/flat", table: bench.tweets }
YAML
UPDRAFT_DAGS_FOLDER="$work/dags" "$BIN" dag trigger bench_load --run-id bench >/dev/null
UPDRAFT_DAGS_FOLDER="$work/dags" "$BIN" -o json task states bench_load bench >"$work/load.json"
psql "$UPDRAFT_TEST_PG_URL" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
python3 - "$work/load.json" <<'PY'
import json, sys
rows = {r["task_id"]: r for r in json.load(open(sys.argv[1]))}
load = rows["load"]
print(f'warehouse load: task {float(load["duration"]):.2f} s for the silver rows (see its log for rows/s)')
PY
grep -h "rows/s" "$work/home/logs/dag_id=bench_load/run_id=bench/task_id=load/"*.log | tail -1
