#!/usr/bin/env bash
# Makes a real SMTP server available to the alert tests, which start their own on free
# loopback ports to receive the `email` action's messages: aiosmtpd from PyPI, installed
# into a virtual environment under ~/.cache/updraft when missing (seconds, once). Sourced
# by scripts/test-all.
set -euo pipefail

AIOSMTPD_VERSION=1.4.6
venv="${XDG_CACHE_HOME:-$HOME/.cache}/updraft/aiosmtpd-$AIOSMTPD_VERSION"
if [ ! -f "$venv/.complete" ]; then
  echo "ensure-smtp-receiver: installing aiosmtpd $AIOSMTPD_VERSION into $venv (once)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "aiosmtpd==$AIOSMTPD_VERSION" >&2
  touch "$venv/.complete"
fi
export AIOSMTPD_PYTHON="$venv/bin/python"
echo "ensure-smtp-receiver: $AIOSMTPD_PYTHON" >&2
