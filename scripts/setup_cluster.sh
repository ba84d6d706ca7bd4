#!/usr/bin/env bash
# The cluster test (tests/cluster) makes network namespaces and veth pairs with iproute2's `ip`,
# as root; install it where missing.
set -euo pipefail
if command -v ip >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "iproute2 missing: install Debian's iproute2 (as root: apt-get install iproute2);" >&2
  echo "without it the cluster test is skipped (and fails under CI=true)." >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
