#!/usr/bin/env bash
# The lakehouse DAG's silver data tests (issue #13) on N generated tweets, beside `dbt test`
# on the same rows in PostgreSQL.
#   1. N tweets through `lakehouse_bronze_to_gold` (release build, embedded defaults);
#      then `updraft test run lakehouse_bronze_to_gold test_silver` (every silver test:
#      target < 1.5 s on 1,000,000 rows), timed as a whole and per test.
#   2. The same rows loaded into PostgreSQL; the tests dbt-core can run without packages
#      (unique, not_null, accepted_values: 7 tests) under `dbt test` and under Updraft on
#      the Delta table, side by side. Needs PostgreSQL and dbt (scripts/ensure-*.sh).
#
#   bench/data_tests.sh [N]      # default N = 1,000,000
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
source scripts/ensure-postgres.sh
source scripts/ensure-dbt.sh
work=$(mktemp -d)
db="updraft_bench_$$"
trap 'rm -rf "$work"; psql "$UPDRAFT_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
export UPDRAFT_HOME="$work/home" UPDRAFT_LAKE="$work/lake" UPDRAFT_DAGS_FOLDER="$PWD/dags"
echo "events: $N"
"$BIN" generate tweets --count "$N" --bad-ratio 0.01 --seed 1 --to "file://$work/lake/landing" >/dev/null 2>&1
"$BIN" dag trigger lakehouse_bronze_to_gold --run-id bench >/dev/null 2>&1
rows=$("$BIN" -o json lake query "SELECT COUNT(*) AS n FROM silver.tweets" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["n"])')
echo "silver rows: $rows"

seconds() { python3 -c 'import sys,time; print(f"{time.time():.3f}")'; }
t0=$(seconds)
"$BIN" -o json test run lakehouse_bronze_to_gold test_silver >"$work/ours_all.json" 2>/dev/null
t1=$(seconds)
python3 - "$work/ours_all.json" "$t0" "$t1" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    print(f'  {r["test_name"]:<62} {r["status"]:<5} {r["execution_time"]:6.3f} s')
print(f'updraft, all {len(rows)} silver tests (Delta): {sum(r["execution_time"] for r in rows):.3f} s in the tests, '
      f'{float(sys.argv[3]) - float(sys.argv[2]):.3f} s for the whole command')
PY

# The same rows in PostgreSQL.
psql "$UPDRAFT_TEST_PG_URL" -qc "CREATE DATABASE $db" >/dev/null
export UPDRAFT_CONN_WAREHOUSE="${UPDRAFT_TEST_PG_URL%/*}/$db"
mkdir -p "$work/dags" "$work/dbt/models"
cat >"$work/dags/bench_tests.yaml" <<YAML
dag_id: bench_tests
tasks:
  flat:
    type: delta_sql
    with:
      tables: { silver: "$work/lake/silver/tweets" }
      query: SELECT tweet_id, user_id, created_at, sentiment_category, language, region FROM silver
      table: "$work/lake/bench/flat"
      mode: overwrite
  load:
    type: load_warehouse
    depends_on: [flat]
    with: { source: "$work/lake/bench/flat", table: bench.tweets }
  core_tests:
    type: data_test
    depends_on: [flat]
    with:
      schema_file: schema.yml
      tables: { bench.tweets: "$work/lake/bench/flat" }
YAML
cat >"$work/dags/schema.yml" <<'YAML'
version: 2
sources:
  - name: bench
    tables:
      - name: tweets
        columns:
          - name: tweet_id
            data_tests: [unique, not_null]
          - name: user_id
            data_tests: [not_null]
          - name: created_at
            data_tests: [not_null]
          - name: sentiment_category
            data_tests:
              - accepted_values: {arguments: {values: [positive, neutral, negative]}}
          - name: language
            data_tests:
              - accepted_values: {arguments: {values: [en, es, pt, ja, fr, de, ar, hi, it]}}
          - name: region
            data_tests:
              - accepted_values: {arguments: {values: [NA, EU, LATAM, APAC, MEA]}}
YAML
cp "$work/dags/schema.yml" "$work/dbt/models/schema.yml"
UPDRAFT_DAGS_FOLDER="$work/dags" "$BIN" dag trigger bench_tests --run-id bench >/dev/null 2>&1
UPDRAFT_DAGS_FOLDER="$work/dags" "$BIN" -o json test results bench_tests bench >"$work/ours_core.json"
url="$UPDRAFT_CONN_WAREHOUSE"
cat >"$work/dbt/dbt_project.yml" <<'YAML'
name: bench
version: '1.0'
profile: bench
YAML
python3 - "$url" >"$work/dbt/profiles.yml" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
print(f"""bench:
  target: dev
  outputs:
    dev: {{type: postgres, host: '{u.hostname}', port: {u.port or 5432}, user: '{u.username}', password: '', dbname: '{u.path[1:]}', schema: public, threads: 1}}""")
PY
t0=$(seconds)
(cd "$work/dbt" && DBT_SEND_ANONYMOUS_USAGE_STATS=false "$DBT_BIN" test --profiles-dir . >"$work/dbt.log" 2>&1) || true
t1=$(seconds)
python3 - "$work/ours_core.json" "$work/dbt/target/run_results.json" "$t0" "$t1" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
dbt = json.load(open(sys.argv[2]))["results"]
o = sum(r["execution_time"] for r in ours)
d = sum(r["execution_time"] for r in dbt)
wall = float(sys.argv[4]) - float(sys.argv[3])
print(f"the same {len(ours)} core tests: updraft on Delta {o:.3f} s; dbt test on PostgreSQL {d:.3f} s in the tests "
      f"({wall:.1f} s for the whole `dbt test`); ratio dbt/updraft {d / o:.1f}x (tests), {wall / o:.1f}x (commands)")
same = {r["test_name"]: (r["status"], r["failures"]) for r in ours}
theirs = {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in dbt}
print("same verdicts and failure counts:", same == theirs)
PY
