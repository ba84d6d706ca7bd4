#!/usr/bin/env bash
# The store tests also run against a real PostgreSQL server, which they start themselves from
# Debian's postgresql binaries (tests/integration/databases.py); install them where missing.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "PostgreSQL binaries missing: install Debian's postgresql (as root: apt-get install postgresql);" >&2
  echo "without them the PostgreSQL store tests are skipped (and fail under CI=true)." >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
