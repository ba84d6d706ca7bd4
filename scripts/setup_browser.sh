#!/usr/bin/env bash
# What tests/browser needs, installed when missing: Debian's Chromium (apt-get, as root) and
# playwright-core (npm ci in tests/browser). Nothing here downloads a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser tests need Chromium at $CHROMIUM: install Debian's package" \
      "(sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium" >&2
    exit 1
  fi
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "error: the browser tests need Node.js (20 or newer) and npm" >&2
  exit 1
fi

cd tests/browser
if [ ! -f node_modules/.installed ] || [ package-lock.json -nt node_modules/.installed ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.installed
fi
