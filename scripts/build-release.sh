#!/usr/bin/env bash
# Builds the release `hearth` for the image: fully static (glibc, +crt-static), stripped,
# size-optimised ([profile.release] in Cargo.toml), from the project's Cargo.lock (--locked).
#
#   scripts/build-release.sh [aarch64|x86_64|all]     (default: all)
#
# Writes out/hearth-aarch64 and/or out/hearth-x86_64 and out/build-info.txt. The toolchain is
# Debian trixie's rustc-web/cargo-web in a debootstrapped chroot cached in
# ~/.cache/hearth-image (route 1a of shared/docs/image-pipeline.md; docs/build.md says why).
# First run ~1 min chroot + ~2 min toolchain + the builds; later runs only rebuild what changed.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

which=${1:-all}
case $which in
  aarch64) targets=(aarch64) ;;
  x86_64) targets=(x86_64) ;;
  all) targets=(aarch64 x86_64) ;;
  *) die "usage: $0 [aarch64|x86_64|all]" ;;
esac

ensure_chroot
need_host_pkgs file
ensure_update_key

for arch in "${targets[@]}"; do
  triple=$arch-unknown-linux-gnu
  t0=$SECONDS
  log "cargo build --release --locked --target $triple (static)"
  # Its own target directory inside the cache (never the dev build's ~/.cache/hearth-target).
  # The update key's public half is compiled in (src/appliance/update.rs).
  in_chroot /usr/bin/nice -n 10 /bin/sh -c '
    cd /src
    RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=/var/cache/hearth-target \
      HEARTH_UPDATE_PUBKEY="$2" exec cargo build --release --locked --quiet --target "$1"
  ' sh "$triple" "$UPDATE_PUBKEY" >&2 || die "cargo build for $triple failed"
  bin=$CHROOT/var/cache/hearth-target/$triple/release/hearth
  [ -x "$bin" ] || die "no binary at $bin"
  install -m 0755 "$bin" "$OUT/hearth-$arch.tmp" && mv -f "$OUT/hearth-$arch.tmp" "$OUT/hearth-$arch"
  desc=$(file -b "$OUT/hearth-$arch")
  case $desc in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) die "out/hearth-$arch is not statically linked: $desc" ;;
  esac
  case $desc in
    *"not stripped"*) die "out/hearth-$arch is not stripped: $desc" ;;
  esac
  log "out/hearth-$arch: $(stat -c %s "$OUT/hearth-$arch") bytes, $((SECONDS - t0)) s — $desc"
done

{
  echo "update key (public, compiled in): $UPDATE_PUBKEY"
  echo "hearth $(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown))"
  in_chroot /bin/sh -c 'rustc -V; cargo -V; aarch64-linux-gnu-gcc --version | head -1; dpkg-query -W rustc-web cargo-web libstd-rust-web-dev:arm64 libc6-dev:arm64 gcc-aarch64-linux-gnu'
  for arch in aarch64 x86_64; do
    [ -e "$OUT/hearth-$arch" ] && echo "hearth-$arch $(stat -c %s "$OUT/hearth-$arch") $(sha256sum "$OUT/hearth-$arch" | cut -c1-64)"
  done
} >"$OUT/build-info.txt" 2>&1
log "done: $(tr '\n' ';' <"$OUT/build-info.txt" | cut -c1-200)"
