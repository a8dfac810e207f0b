#!/usr/bin/env bash
# Installs what the real-browser tests in tests/browser need: Debian's chromium
# (playwright-core never downloads a browser here) and the npm packages.
# Idempotent and quiet on success; prints the failing step's output on error.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

run() {
  if ! "$@" >"$log" 2>&1; then
    echo "install-browser-deps: failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

if ! [ -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  run "${sudo_cmd[@]}" apt-get update
  run "${sudo_cmd[@]}" apt-get install -y --no-install-recommends chromium
fi

if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  run "${sudo_cmd[@]}" apt-get update
  run "${sudo_cmd[@]}" apt-get install -y --no-install-recommends nodejs npm
fi

cd "$root/tests/browser"
if [ -f package-lock.json ]; then
  run npm ci --no-audit --no-fund --loglevel=error
else
  run npm install --no-audit --no-fund --loglevel=error
fi
