#!/usr/bin/env bash
# Installs the real clients the interop suites drive, from Debian's packages:
# litmus, nextcloud-desktop-cmd (nextcloudcmd), rclone, pebble (the ACME test server), bind9 (DNS-01), avahi-daemon (the
# zeroconf feature), plus
# curl and python3; and the pinned
# Python clients of requirements.txt (pyenv.sh).
# Idempotent and quiet: does nothing when everything is present; prints the failing
# step's output on error.
set -euo pipefail

log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {
  if ! "$@" >"$log" 2>&1; then
    echo "install-deps: failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

# command → Debian package
declare -A pkg_of=(
  [litmus]=litmus
  [nextcloudcmd]=nextcloud-desktop-cmd
  [rclone]=rclone
  [curl]=curl
  [python3]=python3
  [timeout]=coreutils
  [sha1sum]=coreutils
  [ip]=iproute2
  [openssl]=openssl
  [pip3]=python3-pip
  [pebble]=pebble
  [pebble-challtestsrv]=pebble
  [named]=bind9
  [dig]=bind9-dnsutils
  [avahi-daemon]=avahi-daemon
  [dbus-daemon]=dbus
)
missing=()
for cmd in "${!pkg_of[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_of[$cmd]}")
done
# nextcloudcmd refuses to run without the system exclude list (nextcloud-desktop-common)
if command -v nextcloudcmd >/dev/null 2>&1 && ! [ -e /etc/Nextcloud/sync-exclude.lst ]; then
  missing+=(nextcloud-desktop-common)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  run "${sudo_cmd[@]}" apt-get update -q
  run "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The Python clients (caldav, vdirsyncer, caldav-server-tester, aiosmtpd) live in a venv.
run bash "$(dirname "$0")/pyenv.sh"
