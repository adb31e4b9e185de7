#!/usr/bin/env bash
# Makes dbt (dbt-core 1.11 with the dbt-postgres adapter, and dbt-artifacts-parser) available
# to the data-test parity tests, which run `dbt test` on the same rows and schema file as
# Updraft and compare verdicts and failure counts. Installs them from PyPI into a virtual
# environment under ~/.cache/updraft when missing (a couple of minutes once). dbt-core 1.12
# downloads a parser at install time, which this machine cannot reach: 1.11 is pinned.
# Sourced by scripts/test-all.
set -euo pipefail

DBT_VERSION=1.11
venv="${XDG_CACHE_HOME:-$HOME/.cache}/updraft/dbt-$DBT_VERSION"
if [ ! -x "$venv/bin/dbt" ] || [ ! -f "$venv/.complete" ]; then
  echo "ensure-dbt: installing dbt-core ~=$DBT_VERSION.0 and dbt-postgres into $venv (once)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "dbt-core~=$DBT_VERSION.0" "dbt-postgres~=$DBT_VERSION.0" \
    "dbt-artifacts-parser" >&2
  touch "$venv/.complete"
fi
export DBT_BIN="$venv/bin/dbt"
export DBT_PYTHON="$venv/bin/python"
echo "ensure-dbt: $DBT_BIN" >&2
