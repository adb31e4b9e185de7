#!/usr/bin/env bash
# Makes `protoc` and the protobuf well-known types available: building the Spark Connect
# protocol (the apache-spark-connect-proto crate) compiles Spark's .proto files. Installs
# Debian's protobuf-compiler and libprotobuf-dev where missing (seconds, once). Sourced by
# scripts/test-all and scripts/quickstart before they build.
set -euo pipefail

if ! command -v protoc >/dev/null || [ ! -f /usr/include/google/protobuf/any.proto ]; then
  echo "ensure-protoc: installing protobuf-compiler and libprotobuf-dev (once)" >&2
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    protobuf-compiler libprotobuf-dev >/dev/null
fi
echo "ensure-protoc: $(protoc --version)" >&2
