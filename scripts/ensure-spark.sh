#!/usr/bin/env bash
# Makes a local Spark Connect server available to the Spark tests: installs pyspark (a
# whole Spark: jars/, sbin/start-connect-server.sh) and the Python `deltalake` reader from
# PyPI into a virtual environment under ~/.cache/updraft when missing (a few minutes
# once), starts one server on free loopback ports (Java 17, local[2], its status UI on a
# second port) unless UPDRAFT_TEST_SPARK names one, and waits until it listens. Exports
# UPDRAFT_TEST_SPARK (sc://127.0.0.1:PORT), UPDRAFT_TEST_SPARK_UI (its REST status),
# SPARK_PYTHON (pyspark's own Connect client and deltalake) and UPDRAFT_TEST_SPARK_STOP
# (the command that stops the server). Sourced by scripts/test-all.
set -euo pipefail

SPARK_VERSION=4.3.0
venv="${XDG_CACHE_HOME:-$HOME/.cache}/updraft/pyspark-$SPARK_VERSION"
DELTALAKE_VERSION=1.6.6
if [ ! -f "$venv/.complete-$DELTALAKE_VERSION" ]; then
  echo "ensure-spark: installing pyspark $SPARK_VERSION and deltalake $DELTALAKE_VERSION into $venv (once)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "pyspark[connect]==$SPARK_VERSION" "deltalake==$DELTALAKE_VERSION" >&2
  touch "$venv/.complete-$DELTALAKE_VERSION"
fi
export SPARK_PYTHON="$venv/bin/python"
# SPARK_INSTALL_ONLY=1: install, start nothing (scripts/test-all installs while it builds).
if [ -n "${SPARK_INSTALL_ONLY:-}" ]; then
  return 0 2>/dev/null || exit 0
fi
if [ -z "${UPDRAFT_TEST_SPARK:-}" ]; then
  spark_home=$("$SPARK_PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
  free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  port=$(free_port)
  ui_port=$(free_port)
  work=$(mktemp -d)
  echo "ensure-spark: starting Spark Connect on 127.0.0.1:$port (logs in $work)" >&2
  SPARK_HOME="$spark_home" SPARK_LOG_DIR="$work" SPARK_PID_DIR="$work" SPARK_IDENT_STRING="updraft-$port" \
    "$spark_home/sbin/start-connect-server.sh" --master 'local[2]' \
    --conf spark.connect.grpc.binding.address=127.0.0.1 \
    --conf spark.connect.grpc.binding.port="$port" \
    --conf spark.ui.port="$ui_port" --conf spark.driver.host=127.0.0.1 \
    --conf spark.driver.bindAddress=127.0.0.1 >&2
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
  export UPDRAFT_TEST_SPARK_UI="http://127.0.0.1:$ui_port"
  export UPDRAFT_TEST_SPARK_STOP="SPARK_HOME=$spark_home SPARK_PID_DIR=$work SPARK_IDENT_STRING=updraft-$port $spark_home/sbin/stop-connect-server.sh"
fi
echo "ensure-spark: $UPDRAFT_TEST_SPARK" >&2
