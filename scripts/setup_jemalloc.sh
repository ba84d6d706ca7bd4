#!/usr/bin/env bash
# serve_config.yaml preloads jemalloc into the application's processes (LD_PRELOAD libjemalloc.so.2,
# README "Memory"): glibc's malloc fragments under the engines' buffers of every size and never gives
# that memory back. Install Debian's libjemalloc2 where missing.
set -euo pipefail
if /sbin/ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so\.2 '; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "libjemalloc.so.2 missing: install Debian's libjemalloc2 (as root: apt-get install libjemalloc2);" >&2
  echo "without it each replica logs that LD_PRELOAD was ignored and runs on glibc's malloc (more memory" >&2
  echo "held after a long run), and the jemalloc tests are skipped (and fail under CI=true)." >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2 >/dev/null
