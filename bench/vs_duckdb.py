"""Updraft vs DuckDB on the same files, for bench/vs_duckdb.sh (which prepares the lake).

Trials are interleaved (Updraft, DuckDB, Updraft, ...) so that both meet the same
machine; each side runs in its own process, whose peak RSS is taken. Times leave out
starting the process on both sides: Updraft's is the task's own (from opening its
tables to its commit), DuckDB's is taken inside its process from connecting to the end
of its last COPY.
The same work on both sides: bronze Parquet -> JSON parsed against the lakehouse DAG's
schema, bad records to a quarantine with the reason of the first failing column, the
first copy of each tweet_id kept (by file and line), the derived columns, silver written
as Parquet partitioned by event_date; then each gold query of sql/gold/ over silver,
written partitioned by event_date. After the trials the outputs are compared.

  python vs_duckdb.py compare WORK BIN TRIALS   (the driver)
  python vs_duckdb.py duck-silver WORK          (one DuckDB silver run, prints seconds)
  python vs_duckdb.py duck-gold WORK NAME       (one DuckDB gold query, prints seconds)
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOLD = [
    "popular_hashtags_by_hour",
    "active_users_by_day",
    "tweet_volume_by_region",
    "tweet_metrics_by_language",
]

# The lakehouse DAG's silver schema: (name, JSON path, type, nullable).
COLUMNS = [
    ("tweet_id", "$.tweet_id", "string", False),
    ("text", "$.text", "string", False),
    ("user_id", "$.user.user_id", "string", False),
    ("username", "$.user.username", "string", False),
    ("display_name", "$.user.display_name", "string", True),
    ("followers_count", "$.user.followers_count", "long", False),
    ("verified", "$.user.verified", "boolean", False),
    ("created_at", "$.created_at", "timestamp", False),
    ("hashtags", "$.hashtags", "strings", True),
    ("mentions", "$.mentions", "strings", True),
    ("language", "$.language", "string", False),
    ("region", "$.region", "string", False),
    ("sentiment_score", "$.sentiment_score", "double", False),
    ("engagement_score", "$.engagement_score", "long", False),
]
CARRY = ['topic', '"partition"', '"offset"', 'file', 'line', 'ingested_at']


DUCK_TYPES = {
    "string": "VARCHAR",
    "long": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "strings": ["VARCHAR"],
}


def structure():
    """The schema as a JSON structure for DuckDB's from_json, nested by path."""
    out = {}
    for _, path, kind, _ in COLUMNS:
        keys = path[2:].split(".")
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = DUCK_TYPES[kind]
    return json.dumps(out)


def duck_silver(work):
    """The silver step as a DuckDB user writes it: from_json with the schema's structure
    (a value that does not cast reads NULL), a reason for the first failing column
    (missing when the path holds nothing, else the wrong type), the first copy of each
    key by file and line, the derived columns, Parquet partitioned by event_date. Looser
    than Updraft in one way: from_json casts a number to text where text is expected."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    checks = []
    values = []
    for name, path, _, nullable in COLUMNS:
        field = "t." + path[2:]
        values.append(f"{field} AS {name}")
        if not nullable:
            raw = f"json_extract(value, '{path}')"
            checks.append(
                f"WHEN {field} IS NULL THEN CASE WHEN {raw} IS NULL OR json_type({raw}) = 'NULL' "
                "THEN 'missing_field' ELSE 'wrong_type' END"
            )
    carry = ", ".join(CARRY)
    con.execute(f"""
        CREATE TEMP TABLE checked AS
        WITH raw AS (
            SELECT value, {carry}, json_valid(value) AS is_json
            FROM read_parquet('{work}/lake/bronze/tweets/**/*.parquet', hive_partitioning = false)
        ), typed AS (
            SELECT *, CASE WHEN is_json AND json_type(value) = 'OBJECT'
                           THEN from_json(value, '{structure()}') END AS t
            FROM raw
        )
        SELECT {", ".join(values)}, {carry}, value,
               CASE WHEN NOT is_json THEN 'invalid_json'
                    WHEN json_type(value) <> 'OBJECT' THEN 'not_an_object'
                    {' '.join(checks)} END AS reason_code
        FROM typed
    """)
    out = f"{work}/duck"
    con.execute(f"""
        COPY (SELECT value AS raw, reason_code, {carry} FROM checked WHERE reason_code IS NOT NULL)
        TO '{out}/quarantine.parquet' (FORMAT parquet)
    """)
    names = ", ".join(name for name, _, _, _ in COLUMNS)
    con.execute(f"""
        COPY (
            SELECT *, CAST(length(text) AS INT) AS text_length,
                   CASE WHEN sentiment_score > 0.1 THEN 'positive'
                        WHEN sentiment_score < -0.1 THEN 'negative' ELSE 'neutral' END AS sentiment_category,
                   CAST(created_at AS DATE) AS event_date,
                   CAST(date_part('hour', created_at) AS INT) AS event_hour
            FROM (
                SELECT {names}, {carry} FROM checked WHERE reason_code IS NULL
                QUALIFY row_number() OVER (PARTITION BY tweet_id ORDER BY file, line, "partition", "offset") = 1
            )
        ) TO '{out}/silver' (FORMAT parquet, PARTITION_BY (event_date))
    """)
    print(time.perf_counter() - started)


def duck_gold(work, name):
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""CREATE VIEW silver AS SELECT * FROM read_parquet(
        '{work}/lake/silver/tweets/**/*.parquet', hive_partitioning = true)""")
    sql = Path(f"sql/gold/{name}.sql").read_text()
    Path(f"{work}/duck/gold").mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({sql}) TO '{work}/duck/gold/{name}' (FORMAT parquet, PARTITION_BY (event_date))")
    print(time.perf_counter() - started)


def run_measured(cmd):
    """Runs cmd under /usr/bin/time; returns (wall seconds, peak RSS MiB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    rss_kib = int(proc.stderr.strip().splitlines()[-1])
    return wall, rss_kib / 1024, proc.stdout


def updraft_task(bin_, task):
    """Runs one task of the lakehouse DAG (recording nothing); returns the task's own
    duration (as DuckDB's is taken inside its process: no process start) and peak RSS."""
    _, rss, out = run_measured([bin_, "task", "test", "lakehouse_bronze_to_gold", task])
    outcome = next(l for l in reversed(out.splitlines()) if " success {" in l)
    return json.loads(outcome.split(" success ", 1)[1])["seconds"], rss


def compare(work, bin_, trials):
    lake = Path(work) / "lake"
    duck = Path(work) / "duck"
    py = sys.executable
    me = __file__
    results = {}

    def record(step, who, wall, rss):
        results.setdefault(step, {}).setdefault(who, []).append((wall, rss))

    for trial in range(trials):
        shutil.rmtree(lake / "silver", ignore_errors=True)
        record("silver", "updraft", *updraft_task(bin_, "silver"))
        shutil.rmtree(duck, ignore_errors=True)
        duck.mkdir()
        wall, rss, out = run_measured([py, me, "duck-silver", work])
        record("silver", "duckdb", float(out.strip().splitlines()[-1]), rss)
        for name in GOLD:
            shutil.rmtree(lake / "gold" / name, ignore_errors=True)
            record(f"gold {name}", "updraft", *updraft_task(bin_, f"gold_{name}"))
            shutil.rmtree(duck / "gold" / name, ignore_errors=True)
            wall, rss, out = run_measured([py, me, "duck-gold", work, name])
            record(f"gold {name}", "duckdb", float(out.strip().splitlines()[-1]), rss)
        print(f"trial {trial + 1}/{trials} done", file=sys.stderr)

    print(f"{'step':<36} {'Updraft s':>10} {'DuckDB s':>10} {'ratio':>7} {'Updraft MiB':>12} {'DuckDB MiB':>11}")
    for step, by in results.items():
        u = statistics.median(w for w, _ in by["updraft"])
        d = statistics.median(w for w, _ in by["duckdb"])
        ur = max(r for _, r in by["updraft"])
        dr = max(r for _, r in by["duckdb"])
        print(f"{step:<36} {u:>10.2f} {d:>10.2f} {u / d:>6.2f}x {ur:>12.0f} {dr:>11.0f}")

    agree(work)


def agree(work):
    """Both sides produced the same silver, quarantine and gold."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW ours AS SELECT * FROM read_parquet('{work}/lake/silver/tweets/**/*.parquet', hive_partitioning = true)")
    con.execute(f"CREATE VIEW theirs AS SELECT * FROM read_parquet('{work}/duck/silver/**/*.parquet', hive_partitioning = true)")
    con.execute(f"CREATE VIEW our_q AS SELECT * FROM read_parquet('{work}/lake/silver/tweets_quarantine/**/*.parquet')")
    con.execute(f"CREATE VIEW their_q AS SELECT * FROM read_parquet('{work}/duck/quarantine.parquet')")
    one = lambda sql: con.execute(sql).fetchall()
    checks = {
        "silver rows": ("SELECT count(*) FROM ours", "SELECT count(*) FROM theirs"),
        "sum followers_count, engagement_score": (
            "SELECT sum(followers_count), sum(engagement_score) FROM ours",
            "SELECT sum(followers_count), sum(engagement_score) FROM theirs",
        ),
        "quarantine by reason": (
            "SELECT reason_code, count(*) FROM our_q GROUP BY 1 ORDER BY 1",
            "SELECT reason_code, count(*) FROM their_q GROUP BY 1 ORDER BY 1",
        ),
    }
    failed = False
    for what, (a, b) in checks.items():
        x, y = one(a), one(b)
        print(f"agree: {what}: {'yes' if x == y else 'NO'} {x}" + ("" if x == y else f" vs {y}"))
        failed |= x != y
    only = one("SELECT (SELECT count(*) FROM (SELECT tweet_id FROM ours EXCEPT SELECT tweet_id FROM theirs)),"
               " (SELECT count(*) FROM (SELECT tweet_id FROM theirs EXCEPT SELECT tweet_id FROM ours))")[0]
    print(f"agree: same tweet_id set: {'yes' if only == (0, 0) else 'NO'} (only ours, only theirs: {only})")
    moved = one("SELECT count(*) FROM ours JOIN theirs USING (tweet_id)"
                " WHERE ours.file IS DISTINCT FROM theirs.file OR ours.line IS DISTINCT FROM theirs.line")[0][0]
    print(f"agree: the same copy of each tweet_id survives: {'yes' if moved == 0 else f'NO ({moved} differ)'}")
    failed |= only != (0, 0) or moved != 0
    for name in GOLD:
        sql = "SELECT count(*), sum(tweet_count) FROM read_parquet('{}/**/*.parquet')"
        x = one(sql.format(f"{work}/lake/gold/{name}"))
        y = one(sql.format(f"{work}/duck/gold/{name}"))
        print(f"agree: gold {name} rows, tweets: {'yes' if x == y else 'NO'} {x}" + ("" if x == y else f" vs {y}"))
        failed |= x != y
    if failed:
        sys.exit("the two sides disagree")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "compare":
        compare(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "duck-silver":
        duck_silver(sys.argv[2])
    elif cmd == "duck-gold":
        duck_gold(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
