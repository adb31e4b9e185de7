#!/usr/bin/env bash
# dbt projects (issue #34): a generated project of N models (default 1,000) in layers of
# `ref`s (each model reads two of the layer before; even layers tables, odd ones views), a project macro called from every
# model, a seed, and two tests on every model, run side by side on one PostgreSQL by
# dbt-core (DBT_BIN, scripts/ensure-dbt.sh installs it) and by Updraft:
#  - parse + compile: `dbt parse` then `dbt compile` (no partial parsing) against
#    `updraft dbt compile` (which parses too);
#  - the whole build: `dbt build` against `updraft dbt build`, each into its own schema;
#    then `updraft dbt build --conn lake` (Delta tables, for the record: no target).
# Prints each wall time and the ratios. Targets: parse + compile >= 20x faster; the build
# <= 0.5x dbt's, on 2 cores (dbt with threads 2).
#
#   bench/dbt.sh [N]   # uses target/release/updraft (UPDRAFT_BIN to choose)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
BIN=${UPDRAFT_BIN:-$PWD/target/release/updraft}
[ -x "$BIN" ] || cargo build --release -j2 -p updraft
DBT=${DBT_BIN:-$HOME/.cache/updraft/dbt-1.11/bin/dbt}
[ -x "$DBT" ] || { echo "no dbt at $DBT: run scripts/ensure-dbt.sh" >&2; exit 1; }
export PGOPTIONS="--client-min-messages=warning" DBT_SEND_ANONYMOUS_USAGE_STATS=false
PG_ADMIN=${UPDRAFT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=updraft_bench_dbt
url="${PG_ADMIN%/*}/$db"
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -qc "CREATE DATABASE $db" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
project=$work/bench
python3 - "$project" "$N" "$url" <<'PY'
import os, sys, urllib.parse
root, n, url = sys.argv[1], int(sys.argv[2]), urllib.parse.urlparse(sys.argv[3])
for d in ("models", "macros", "seeds"):
    os.makedirs(f"{root}/{d}", exist_ok=True)
open(f"{root}/dbt_project.yml", "w").write(
    "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\n"
    "models:\n  bench:\n    +materialized: view\n"
    # Views on views with two parents each would make the last layer's query exponential:
    # every other layer is a table.
    + "".join(f"    layer_{l}:\n      +materialized: table\n" for l in range(0, (n + 49) // 50, 2)))
open(f"{root}/profiles.yml", "w").write(
    f"bench:\n  target: dev\n  outputs:\n    dev: {{type: postgres, host: '{url.hostname}', "
    f"port: {url.port or 5432}, user: '{url.username}', password: '', "
    f"dbname: '{url.path.lstrip('/')}', schema: theirs, threads: 2}}\n")
open(f"{root}/seeds/base.csv", "w").write(
    "id,amount,day\n" + "".join(f"{i},{i * 1.5},2024-01-{i % 28 + 1:02}\n" for i in range(1, 201)))
open(f"{root}/macros/scaled.sql", "w").write(
    "{% macro scaled(column, factor=2) -%}\n  ({{ column }} * {{ factor }})\n{%- endmacro %}\n")
width = 50
layers = (n + width - 1) // width
props = ["version: 2", "models:"]
made = 0
for layer in range(layers):
    os.makedirs(f"{root}/models/layer_{layer}", exist_ok=True)
    for i in range(width):
        if made == n:
            break
        name = f"m_{layer}_{i}"
        if layer == 0:
            body = (f"select id, {{{{ scaled('amount', {i + 1}) }}}} as amount, day\n"
                    f"from {{{{ ref('base') }}}}\nwhere id % {width} <> {i}")
        else:
            a, b = f"m_{layer - 1}_{i}", f"m_{layer - 1}_{(i + 1) % width}"
            body = (f"select a.id, {{{{ scaled('a.amount') }}}} + coalesce(b.amount, 0) as amount, a.day\n"
                    f"from {{{{ ref('{a}') }}}} a left join {{{{ ref('{b}') }}}} b on b.id = a.id")
        open(f"{root}/models/layer_{layer}/{name}.sql", "w").write(body + "\n")
        props += [f"  - name: {name}", "    columns:", "      - name: id",
                  "        data_tests: [unique, not_null]"]
        made += 1
open(f"{root}/models/schema.yml", "w").write("\n".join(props) + "\n")
PY
cd "$project"
secs() { python3 -c 'import sys,time; print(f"{time.time()-float(sys.argv[1]):.2f}")' "$1"; }
now() { python3 -c 'import time; print(time.time())'; }

echo "project: $N models in layers of 50, $((N * 2)) tests, on $url"
t=$(now); "$DBT" parse --no-partial-parse --profiles-dir . --project-dir . >/dev/null; dbt_parse=$(secs "$t")
t=$(now); "$DBT" compile --no-partial-parse --profiles-dir . --project-dir . >/dev/null; dbt_compile=$(secs "$t")
export UPDRAFT_CONN_WAREHOUSE=$url UPDRAFT_HOME=$work/home
mkdir -p "$work/home"
t=$(now); "$BIN" dbt compile --project . --conn warehouse --schema ours >/dev/null; ours_compile=$(secs "$t")
python3 - "$dbt_parse" "$dbt_compile" "$ours_compile" <<'PY'
import sys
p, c, o = map(float, sys.argv[1:])
print(f"parse + compile: dbt {p:.2f} + {c:.2f} = {p + c:.2f} s; updraft dbt compile {o:.2f} s -> {(p + c) / o:.1f}x faster (target >= 20x)")
PY
t=$(now); "$DBT" build --profiles-dir . --project-dir . >"$work/dbt.out" || true; dbt_build=$(secs "$t")
t=$(now); "$BIN" dbt build --project . --conn warehouse --schema ours >"$work/ours.out" || true; ours_build=$(secs "$t")
echo "dbt:     $(grep -o 'Done\..*' "$work/dbt.out" | tail -1)"
echo "updraft: $(grep -o 'Done\..*' "$work/ours.out" | tail -1)"
python3 - "$dbt_build" "$ours_build" <<'PY'
import sys
d, o = map(float, sys.argv[1:])
print(f"build: dbt {d:.2f} s; updraft {o:.2f} s -> {o / d:.2f}x dbt's time (target <= 0.5x)")
PY
# The same project on the lake: each model a Delta table computed by DataFusion.
t=$(now); UPDRAFT_LAKE=$work/lake "$BIN" dbt build --project . --conn lake --schema lake >"$work/lake.out" || true; lake_build=$(secs "$t")
echo "updraft on the lake: $(grep -o 'Done\..*' "$work/lake.out" | tail -1)"
python3 - "$dbt_build" "$lake_build" <<'PY'
import sys
d, o = map(float, sys.argv[1:])
print(f"build on the lake: updraft {o:.2f} s -> {o / d:.2f}x dbt's time on PostgreSQL")
PY
psql "$url" -qAtc "SELECT 'tables+views: theirs ' || (SELECT count(*) FROM information_schema.tables WHERE table_schema = 'theirs') || ', ours ' || (SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ours')"
