#!/usr/bin/env bash
# Makes OpenLineage's own Python client available to the lineage test, which rebuilds
# every run event Updraft sends with the client's models (and their validators) and
# checks it comes out the same: openlineage-python from PyPI, installed into a virtual
# environment under ~/.cache/updraft when missing (seconds, once). Sourced by
# scripts/test-all.
set -euo pipefail

OPENLINEAGE_VERSION=1.54.0
venv="${XDG_CACHE_HOME:-$HOME/.cache}/updraft/openlineage-$OPENLINEAGE_VERSION"
if [ ! -f "$venv/.complete" ]; then
  echo "ensure-openlineage: installing openlineage-python $OPENLINEAGE_VERSION into $venv (once)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "openlineage-python==$OPENLINEAGE_VERSION" >&2
  touch "$venv/.complete"
fi
export OPENLINEAGE_PYTHON="$venv/bin/python"
echo "ensure-openlineage: $OPENLINEAGE_PYTHON" >&2
