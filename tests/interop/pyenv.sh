#!/usr/bin/env bash
# Creates (once) the virtualenv with the pinned Python clients of requirements.txt, outside
# the clone so a warm machine reuses it. Prints the venv's bin directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${HEARTH_PYENV:-$HOME/.cache/hearth-pyenv}
stamp=$venv/.requirements
if [ -x "$venv/bin/python" ] && cmp -s "$here/requirements.txt" "$stamp"; then
  echo "$venv/bin"
  exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! python3 -m venv "$venv" >"$log" 2>&1; then
  # Debian's python3 keeps venv support in a separate package.
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -q >>"$log" 2>&1 || true
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends python3-venv python3-pip >>"$log" 2>&1 || true
  python3 -m venv "$venv" >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
if ! "$venv/bin/pip" install -q -r "$here/requirements.txt" >>"$log" 2>&1; then
  echo "pyenv: pip install failed" >&2
  cat "$log" >&2
  exit 1
fi
cp "$here/requirements.txt" "$stamp"
echo "$venv/bin"
