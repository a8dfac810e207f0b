# Sourced by the files benchmarks (files.sh, files-interleaved.sh): installs the peers and tools
# they need from Debian when they are missing. Needs `log` from the caller; a failed install is
# logged, and the servers it concerns are skipped.
missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
dpkg -s libnginx-mod-http-dav-ext >/dev/null 2>&1 || missing+=(libnginx-mod-http-dav-ext)
command -v apache2 >/dev/null || missing+=(apache2)
command -v rclone >/dev/null || missing+=(rclone)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq "${missing[@]}" || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }; } >&2 \
    || log "apt-get install failed; the affected servers will be skipped"
fi
