# Sourced by the benchmarks: `apt_install_missing SKIPPED PKG...` installs Debian packages
# (tries without `apt-get update` first, then with it). Needs `log` from the caller. A failed
# install is logged with SKIPPED, what goes unmeasured, and the caller carries on without it.
apt_install_missing() {
  local skipped=$1; shift
  [ $# -gt 0 ] || return 0
  log "installing missing packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq "$@" || { apt-get update -qq && apt-get install -y -qq "$@"; }; } >&2 \
    || log "apt-get install failed; $skipped will be skipped"
}
