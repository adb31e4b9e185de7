#!/usr/bin/env bash
# Makes Airflow's own API client (apache-airflow-client 3.3 from PyPI) available to the
# tests that check Updraft's API against Airflow 3's response models: the client validates
# every answer with them. Installs it into a virtual environment under ~/.cache/updraft
# when missing (under a minute once). Sourced by scripts/test-all.
set -euo pipefail

AIRFLOW_CLIENT_VERSION=3.3
venv="${XDG_CACHE_HOME:-$HOME/.cache}/updraft/airflow-client-$AIRFLOW_CLIENT_VERSION"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "ensure-airflow-client: installing apache-airflow-client ==$AIRFLOW_CLIENT_VERSION.* into $venv (once)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "apache-airflow-client==$AIRFLOW_CLIENT_VERSION.*" >&2
  touch "$venv/.complete"
fi
export AIRFLOW_CLIENT_PYTHON="$venv/bin/python"
echo "ensure-airflow-client: $AIRFLOW_CLIENT_PYTHON" >&2
