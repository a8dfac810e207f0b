#!/usr/bin/env bash
# Runs every real-client interop suite (each on its own fresh server) and summarises.
# ARTIFACTS defaults to out/test-artifacts/interop; HEARTH_BIN picks the binary.
# Usage: tests/interop/run-all.sh [suite...]   (suites: curl-manual litmus rclone nextcloudcmd groupware mdns acme)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export ARTIFACTS=${ARTIFACTS:-$here/../../out/test-artifacts/interop}
mkdir -p "$ARTIFACTS"
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(curl-manual litmus rclone nextcloudcmd groupware mdns acme)

bash "$here/install-deps.sh" || exit 1
failed=()
for s in "${suites[@]}"; do
  echo "=== $s"
  if ! bash "$here/$s.sh"; then
    failed+=("$s")
  fi
done
echo
[ ${#failed[@]} -gt 0 ] && printf 'failed suite: %s\n' "${failed[@]}"
echo "suites: $((${#suites[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
