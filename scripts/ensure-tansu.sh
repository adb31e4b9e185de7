#!/usr/bin/env bash
# Makes the tansu Kafka-protocol broker available to the tests (they start their own
# brokers on free loopback ports). Installs it from crates.io when missing (about 11
# minutes once; cached in ~/.cargo/bin). Sourced by scripts/test-all.
set -euo pipefail

TANSU_VERSION=0.6.0
if [ -z "${TANSU_BIN:-}" ]; then
  if command -v tansu >/dev/null 2>&1; then
    TANSU_BIN=$(command -v tansu)
  else
    TANSU_BIN="${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
  fi
fi
if [ ! -x "$TANSU_BIN" ]; then
  echo "ensure-tansu: installing tansu $TANSU_VERSION (once; about 11 minutes)" >&2
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore -j2 >&2
  TANSU_BIN="${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
fi
export TANSU_BIN
echo "ensure-tansu: $("$TANSU_BIN" --version 2>/dev/null || echo "$TANSU_BIN")" >&2
