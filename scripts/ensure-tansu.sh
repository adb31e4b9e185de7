#!/usr/bin/env bash
# Makes the tansu Kafka-protocol broker available and exports TANSU_BIN. Sourced by
# scripts/test-all (the tests start their own brokers on free loopback ports) and by the
# benchmarks; or run it to install only.
#
# Installs tansu from crates.io when missing, cached under ~/.cache/updraft, in one of two
# builds (TANSU_PROFILE):
#   debug   (default) for the tests, which send a few thousand records: no optimisation to
#           wait for (scripts/test-all builds it in the background; bench/README.md)
#   release for the benchmarks, which measure throughput through the broker
# A `tansu` already on the PATH, or TANSU_BIN, is used as it is.
set -euo pipefail

TANSU_VERSION=0.6.0
TANSU_PROFILE=${TANSU_PROFILE:-debug}
if [ -z "${TANSU_BIN:-}" ] && command -v tansu >/dev/null 2>&1; then
  TANSU_BIN=$(command -v tansu)
fi
if [ -z "${TANSU_BIN:-}" ]; then
  root="${XDG_CACHE_HOME:-$HOME/.cache}/updraft/tansu-$TANSU_VERSION-$TANSU_PROFILE"
  TANSU_BIN="$root/bin/tansu"
  if [ ! -x "$TANSU_BIN" ]; then
    echo "ensure-tansu: installing tansu $TANSU_VERSION ($TANSU_PROFILE build) into $root (once)" >&2
    flags=()
    [ "$TANSU_PROFILE" = debug ] && flags+=(--debug)
    # Only the in-memory storage engine (`memory://`, part of `dynostore`) is used.
    cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore \
      --root "$root" -j2 "${flags[@]}" >&2
  fi
fi
export TANSU_BIN
echo "ensure-tansu: $TANSU_BIN" >&2
