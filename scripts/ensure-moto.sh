#!/usr/bin/env bash
# Makes moto's S3-compatible server available to the object-storage tests (they start
# their own on free loopback ports). Installs `moto[server]` from PyPI into a virtual
# environment under ~/.cache/updraft when missing (about a minute once). Sourced by
# scripts/test-all.
set -euo pipefail

MOTO_VERSION=5.2.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/updraft/moto-$MOTO_VERSION"
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "ensure-moto: installing moto[server] $MOTO_VERSION into $venv (once)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" >&2
fi
export MOTO_SERVER="$venv/bin/moto_server"
echo "ensure-moto: $MOTO_SERVER" >&2
