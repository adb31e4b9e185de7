#!/usr/bin/env bash
# Makes Debian's Prometheus (the metrics test scrapes the web server with it) and
# Chromium with its WebDriver (the UI tests drive it) available, installing the packages
# where missing (about 30 s once). Each test starts its own on free loopback ports.
# Sourced by scripts/test-all.
set -euo pipefail

missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-browser-and-prometheus: installing ${missing[*]} (once)" >&2
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PROMETHEUS_BIN=${PROMETHEUS_BIN:-$(command -v prometheus)}
export CHROMIUM_BIN=${CHROMIUM_BIN:-$(command -v chromium)}
export CHROMEDRIVER_BIN=${CHROMEDRIVER_BIN:-$(command -v chromedriver)}
echo "ensure-browser-and-prometheus: $PROMETHEUS_BIN, $CHROMIUM_BIN, $CHROMEDRIVER_BIN" >&2
