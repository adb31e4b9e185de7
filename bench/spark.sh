#!/usr/bin/env bash
# Spark over Spark Connect (issue #37), against a local Spark Connect server
# (scripts/ensure-spark.sh starts one: local[2], Java 17):
#   1. The lakehouse's four gold tables from N tweets' silver (default 1,000,000), each
#      task run alone on an empty gold folder, with `engine: datafusion` and with
#      `engine: spark`.
#   2. Updraft's overhead around one Spark query (its session, the views over the
#      snapshot's files, the staging folder, the commit) against the same SQL through
#      pyspark's own Connect client (a session, a view over the same files, the query
#      written as Parquet).
#   3. Committing the files Spark wrote for 100 partitions (200 files: its two tasks
#      write one each per partition), from the task's log.
#
#   bench/spark.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
BIN=${UPDRAFT_BIN:-$PWD/target/debug/updraft}
[ -x "$BIN" ] || cargo build -j2 -p updraft
source scripts/ensure-spark.sh
work=$(mktemp -d)
trap 'rm -rf "$work"; if [ -n "${UPDRAFT_TEST_SPARK_STOP:-}" ]; then bash -c "$UPDRAFT_TEST_SPARK_STOP" >/dev/null 2>&1 || true; fi' EXIT
export UPDRAFT_HOME="$work/home" UPDRAFT_LAKE="$work/lake" UPDRAFT_DAGS_FOLDER="$PWD/dags"
export UPDRAFT_CONN_SPARK="$UPDRAFT_TEST_SPARK"
echo "events: $N, updraft: $BIN, spark: $UPDRAFT_TEST_SPARK"
"$BIN" generate tweets --count "$N" --bad-ratio 0.01 --to "file://$work/lake/landing" >/dev/null
"$BIN" dag trigger lakehouse_bronze_to_gold --run-id silver >/dev/null
now() { date +%s.%N; }
for engine in datafusion spark spark datafusion; do
  rm -rf "$work/lake/gold"
  total=0
  line="  $engine:"
  for task in gold_popular_hashtags_by_hour gold_active_users_by_day gold_tweet_volume_by_region gold_tweet_metrics_by_language; do
    start=$(now)
    "$BIN" task test lakehouse_bronze_to_gold "$task" --conf "{\"engine\": \"$engine\"}" >"$work/$task.log"
    took=$(echo "$(now) - $start" | bc)
    total=$(echo "$total + $took" | bc)
    line="$line ${task#gold_} $(printf %.2f "$took") s,"
  done
  echo "$line all four $(printf %.2f "$total") s"
done

echo "one query (gold_active_users_by_day), Updraft vs pyspark's client:"
files=$("$SPARK_PYTHON" - "$work/lake/silver/tweets" <<'PY'
import json, sys
from deltalake import DeltaTable
print(json.dumps(DeltaTable(sys.argv[1]).file_uris()))
import os; os._exit(0)
PY
)
for round in 1 2 3; do
  rm -rf "$work/lake/gold"
  start=$(now)
  "$BIN" task test lakehouse_bronze_to_gold gold_active_users_by_day --conf '{"engine": "spark"}' >"$work/u.log"
  updraft=$(echo "$(now) - $start" | bc)
  start=$(now)
  "$SPARK_PYTHON" - "$UPDRAFT_TEST_SPARK" "$work/lake/silver/tweets" "$files" "$work/pyspark-out-$round" "$PWD/sql/gold/active_users_by_day.sql" <<'PY' 2>/dev/null
import json, sys
from pyspark.sql import SparkSession
url, root, files, out, sql = sys.argv[1:6]
s = SparkSession.builder.remote(url).getOrCreate().newSession()
s.conf.set("spark.sql.session.timeZone", "UTC")
s.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
s.read.option("basePath", root).parquet(*json.loads(files)).createOrReplaceTempView("silver")
s.sql(open(sql).read()).write.partitionBy("event_date").parquet(out)
import os; os._exit(0)
PY
  pyspark=$(echo "$(now) - $start" | bc)
  echo "  round $round: updraft $(printf %.2f "$updraft") s (whole process: snapshot, session, view, query, staging, commit), pyspark $(printf %.2f "$pyspark") s (interpreter, session, view, query, write)"
done

cat >"$work/hundred.yaml" <<YAML
dag_id: hundred
tasks:
  hundred:
    type: delta_sql
    with:
      engine: spark
      query: "SELECT id % 100 AS bucket, id FROM range(100000)"
      table: "$work/lake/hundred"
      mode: overwrite
      partition_by: [bucket]
YAML
for round in 1 2 3; do
  UPDRAFT_DAGS_FOLDER="$work" "$BIN" task test hundred hundred | grep -o "committed the .* ms" | sed "s/^/  round $round: /"
done
