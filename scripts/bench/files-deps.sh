# Sourced by the files benchmarks (files.sh, files-interleaved.sh): installs the peers and tools
# they need from Debian when they are missing. Needs `log` and HERE from the caller.
. "$HERE/apt-missing.sh"
missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
dpkg -s libnginx-mod-http-dav-ext >/dev/null 2>&1 || missing+=(libnginx-mod-http-dav-ext)
command -v apache2 >/dev/null || missing+=(apache2)
command -v rclone >/dev/null || missing+=(rclone)
command -v wrk >/dev/null || missing+=(wrk)
apt_install_missing "the affected servers" "${missing[@]}"
