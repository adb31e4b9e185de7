#!/usr/bin/env bash
# Makes Airflow's own API clients (apache-airflow-client 3.3 and airflowctl from PyPI)
# available to the tests that check Updraft's API against Airflow 3's response models:
# the clients validate every answer with them; and openapi-spec-validator, which checks
# that Updraft's /api/v2/openapi.json is valid OpenAPI 3.1. Installs them into a virtual environment
# under ~/.cache/updraft when missing (under a minute once). Sourced by scripts/test-all.
set -euo pipefail

AIRFLOW_CLIENT_VERSION=3.3
AIRFLOW_CTL_VERSION=0.1
SPEC_VALIDATOR_VERSION=0.9
venv="${XDG_CACHE_HOME:-$HOME/.cache}/updraft/airflow-client-$AIRFLOW_CLIENT_VERSION"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete-validator-$SPEC_VALIDATOR_VERSION" ]; then
  echo "ensure-airflow-client: installing apache-airflow-client ==$AIRFLOW_CLIENT_VERSION.* and apache-airflow-ctl ==$AIRFLOW_CTL_VERSION.* into $venv (once)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "apache-airflow-client==$AIRFLOW_CLIENT_VERSION.*" \
    "apache-airflow-ctl==$AIRFLOW_CTL_VERSION.*" \
    "openapi-spec-validator==$SPEC_VALIDATOR_VERSION.*" >&2
  touch "$venv/.complete-validator-$SPEC_VALIDATOR_VERSION"
fi
export AIRFLOW_CLIENT_PYTHON="$venv/bin/python"
export AIRFLOWCTL_BIN="$venv/bin/airflowctl"
echo "ensure-airflow-client: $AIRFLOW_CLIENT_PYTHON, $AIRFLOWCTL_BIN" >&2
