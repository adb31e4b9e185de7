#!/usr/bin/env bash
# Makes a PostgreSQL server answer on 127.0.0.1:5432 for the tests, installing and
# starting it where missing, and exports UPDRAFT_TEST_PG_URL (an admin URL tests create
# their own databases with). Sourced by scripts/test-all.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "ensure-postgres: installing PostgreSQL" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql postgresql-client >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    as_root pg_createcluster "$version" main >/dev/null
  fi
  echo "ensure-postgres: starting PostgreSQL $version" >&2
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi

export UPDRAFT_TEST_PG_URL="${UPDRAFT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! psql "$UPDRAFT_TEST_PG_URL" -qAtc 'select 1' >/dev/null 2>&1; then
  # A fresh Debian install asks TCP clients for a password: give the tests one.
  as_postgres psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
  export UPDRAFT_TEST_PG_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
fi
psql "$UPDRAFT_TEST_PG_URL" -qAtc 'select 1' >/dev/null

# Databases of earlier test runs that failed before dropping theirs.
for db in $(psql "$UPDRAFT_TEST_PG_URL" -qAtc "select datname from pg_database where datname like 'updraft_t_%'"); do
  psql "$UPDRAFT_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
done
echo "ensure-postgres: PostgreSQL ready at 127.0.0.1:5432" >&2
