#!/usr/bin/env bash
# Makes a local Spark Connect server available to the Spark tests: installs pyspark (a
# whole Spark: jars/, sbin/start-connect-server.sh) from PyPI into a virtual environment
# under ~/.cache/updraft when missing (a few minutes once), starts one server on a free
# loopback port (Java 17, local[2]) unless UPDRAFT_TEST_SPARK names one, and waits until it
# listens. Exports UPDRAFT_TEST_SPARK (sc://127.0.0.1:PORT) and SPARK_PYTHON (pyspark's own
# Connect client, for the benchmarks). Sourced by scripts/test-all.
set -euo pipefail

SPARK_VERSION=4.3.0
venv="${XDG_CACHE_HOME:-$HOME/.cache}/updraft/pyspark-$SPARK_VERSION"
if [ ! -f "$venv/.complete" ]; then
  echo "ensure-spark: installing pyspark $SPARK_VERSION into $venv (once)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "pyspark[connect]==$SPARK_VERSION" >&2
  touch "$venv/.complete"
fi
export SPARK_PYTHON="$venv/bin/python"
if [ -z "${UPDRAFT_TEST_SPARK:-}" ]; then
  spark_home=$("$SPARK_PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  work=$(mktemp -d)
  echo "ensure-spark: starting Spark Connect on 127.0.0.1:$port (logs in $work)" >&2
  SPARK_HOME="$spark_home" SPARK_LOG_DIR="$work" SPARK_PID_DIR="$work" SPARK_IDENT_STRING="updraft-$port" \
    "$spark_home/sbin/start-connect-server.sh" --master 'local[2]' \
    --conf spark.connect.grpc.binding.address=127.0.0.1 \
    --conf spark.connect.grpc.binding.port="$port" \
    --conf spark.ui.enabled=false >&2
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.5
  done
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "ensure-spark: Spark Connect did not listen on $port within 60 s:" >&2
    cat "$work"/*.out >&2 || true
    exit 1
  fi
  export UPDRAFT_TEST_SPARK="sc://127.0.0.1:$port"
  export UPDRAFT_TEST_SPARK_STOP="SPARK_HOME=$spark_home SPARK_PID_DIR=$work SPARK_IDENT_STRING=updraft-$port $spark_home/sbin/stop-connect-server.sh"
fi
echo "ensure-spark: $UPDRAFT_TEST_SPARK" >&2
