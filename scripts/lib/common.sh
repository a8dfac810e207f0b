# Shared by scripts/build-release.sh, build-image.sh and boot-test.sh. Source it; do not run it.
# Everything downloaded or built lives in $HEARTH_IMAGE_CACHE (default ~/.cache/hearth-image),
# outside the clone. See docs/build.md for the route and the pins.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${HEARTH_IMAGE_CACHE:-$HOME/.cache/hearth-image}
CHROOT=$CACHE/chroot
DEBS=$CACHE/debs
OUT=$ROOT/out
mkdir -p "$CACHE" "$DEBS" "$OUT"

# The host's Debian mirror (the URI in its apt sources); the chroot uses the same one.
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}'; } | grep -m1 '/debian/\?$' || true)}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY=${DEBIAN_SECURITY:-${DEBIAN_MIRROR%/debian}/debian-security}

# Pins (docs/build.md). The suite is fixed; package versions are what trixie carries, checked
# against these and recorded in out/build-info.txt.
SUITE=trixie
RUST_PKG_VERSION=${RUST_PKG_VERSION:-1.96.0+dfsg1-1~deb13u1+b1}   # rustc-web / cargo-web
RUST_MIN=1.90                                                   # Cargo.toml rust-version

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Host packages, installed once (idempotent: only what is missing).
need_host_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing host packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$CACHE/host-apt.log" 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update >>"$CACHE/host-apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$CACHE/host-apt.log" 2>&1; } ||
    die "apt-get install ${missing[*]} failed (see $CACHE/host-apt.log)"
}

# Runs a command inside the chroot, in a private mount namespace: /proc, /sys, /dev, the
# clone (read-only at /src) and the .deb cache (/debs) are mounted only for that command and
# vanish with it, so nothing stays mounted whatever happens.
in_chroot() {
  unshare --mount --propagation private -- /bin/sh -c '
    set -e
    C=$1; SRC=$2; D=$3; shift 3
    mount -t proc proc "$C/proc"
    mount --rbind /sys "$C/sys"
    mount --rbind /dev "$C/dev"
    mkdir -p "$C/src" "$C/debs"
    mount --bind "$SRC" "$C/src"; mount -o remount,bind,ro "$C/src"
    mount --bind "$D" "$C/debs"
    exec chroot "$C" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
      LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive "$@"
  ' sh "$CHROOT" "$ROOT" "$DEBS" "$@"
}

# A Debian trixie (amd64) chroot with arm64 multiarch and the Rust cross toolchain.
CHROOT_STAMP_VERSION=2   # 2: trixie-backports in the sources (the image's kernel)
ensure_chroot() {
  need_host_pkgs debootstrap ca-certificates util-linux
  if [ ! -x "$CHROOT/usr/bin/apt-get" ] || [ ! -e "$CHROOT/.debootstrap-done" ]; then
    log "debootstrap $SUITE into $CHROOT (once; ~1 min)"
    rm -rf "$CHROOT"
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$CHROOT" "$DEBIAN_MIRROR" \
      >"$CACHE/debootstrap.log" 2>&1 || die "debootstrap failed (see $CACHE/debootstrap.log)"
    touch "$CHROOT/.debootstrap-done"
  fi
  local want="v$CHROOT_STAMP_VERSION $RUST_PKG_VERSION"
  if [ "$(cat "$CHROOT/.toolchain-done" 2>/dev/null)" != "$want" ]; then
    log "installing the cross toolchain in the chroot (once; ~2 min)"
    # Without the host's extra CA certificates cargo and apt cannot verify the registries here.
    mkdir -p "$CHROOT/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$CHROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
    cat >"$CHROOT/etc/apt/sources.list" <<SRC
deb $DEBIAN_MIRROR $SUITE main non-free-firmware
deb $DEBIAN_MIRROR $SUITE-updates main non-free-firmware
deb $DEBIAN_MIRROR $SUITE-backports main non-free-firmware
deb $DEBIAN_SECURITY $SUITE-security main non-free-firmware
SRC
    rm -f "$CHROOT/etc/apt/sources.list.d/"*
    echo 'APT::Install-Recommends "false";' >"$CHROOT/etc/apt/apt.conf.d/90hearth"
    in_chroot /bin/sh -c '
      set -e
      update-ca-certificates >/dev/null
      dpkg --add-architecture arm64
      apt-get update -q
      v=$1
      if apt-cache show "rustc-web=$v" >/dev/null 2>&1; then pin="=$v"; else
        echo "WARNING: rustc-web $v is no longer on the mirror; installing its current version" >&2; pin=; fi
      apt-get install -y -q "rustc-web$pin" "cargo-web$pin" "libstd-rust-web-dev:arm64$pin" \
        gcc gcc-aarch64-linux-gnu libc6-dev libc6-dev:arm64 file
    ' sh "$RUST_PKG_VERSION" >"$CACHE/chroot-apt.log" 2>&1 || die "toolchain install failed (see $CACHE/chroot-apt.log)"
    mkdir -p "$CHROOT/root/.cargo"
    cat >"$CHROOT/root/.cargo/config.toml" <<'CFG'
[target.aarch64-unknown-linux-gnu]
linker = "aarch64-linux-gnu-gcc"
CFG
    echo "$want" >"$CHROOT/.toolchain-done"
  fi
}

# The Ed25519 key update bundles are signed with (docs/image.md). Its public half is compiled
# into the release binary (HEARTH_UPDATE_PUBKEY), so the image accepts bundles signed by it
# only. Default: a key generated once into the cache (fine for CI and for boxes you build
# yourself); a release sets HEARTH_UPDATE_KEY to its offline key (PEM, PKCS#8).
UPDATE_KEY=${HEARTH_UPDATE_KEY:-$CACHE/update-key/update-key.pem}
ensure_update_key() { # -> sets UPDATE_PUBKEY (64 hex digits)
  need_host_pkgs openssl
  if [ ! -s "$UPDATE_KEY" ]; then
    [ -n "${HEARTH_UPDATE_KEY:-}" ] && die "HEARTH_UPDATE_KEY=$HEARTH_UPDATE_KEY does not exist"
    mkdir -p "$(dirname "$UPDATE_KEY")"; chmod 700 "$(dirname "$UPDATE_KEY")"
    (umask 077 && openssl genpkey -algorithm ed25519 -out "$UPDATE_KEY.tmp") && mv "$UPDATE_KEY.tmp" "$UPDATE_KEY" ||
      die "cannot generate an update signing key"
    log "generated the update signing key $UPDATE_KEY"
  fi
  # The raw public key is the last 32 bytes of its DER (SubjectPublicKeyInfo) form.
  UPDATE_PUBKEY=$(openssl pkey -in "$UPDATE_KEY" -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')
  [ ${#UPDATE_PUBKEY} = 64 ] || die "cannot read the public half of $UPDATE_KEY"
}
