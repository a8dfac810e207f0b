#!/usr/bin/env bash
# Builds a signed update bundle (docs/image.md, "Updates with A/B slots") from the slot of the
# image in out/: kernel, initramfs, device trees and hearth, as that image carries them.
#
#   scripts/build-bundle.sh [--hearth FILE] [--build ID] [--key KEY.pem] [--out FILE]
#
#   --hearth FILE  the hearth binary to ship instead of the image's (default: the image's)
#   --build ID     a label recorded in the manifest and shown on the system page
#                  (default: the commit)
#   --key KEY.pem  sign with this Ed25519 key instead of the update key (tests: a bundle the
#                  box must refuse)
#   --out FILE     default out/hearth-<version>-arm64.bundle
# The bundle is a tar: manifest.json (version, files with size and SHA-256), manifest.sig
# (Ed25519 over manifest.json), then the files. Builds the image first if there is none.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
IMG=$OUT/hearth-$VERSION-arm64.img
HEARTH=; BUILD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown); KEY=; DEST=
while [ $# -gt 0 ]; do
  case $1 in
    --hearth) HEARTH=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --key) KEY=$2; shift 2 ;;
    --out) DEST=$2; shift 2 ;;
    *) die "usage: $0 [--hearth FILE] [--build ID] [--key KEY.pem] [--out FILE]" ;;
  esac
done
DEST=${DEST:-$OUT/hearth-$VERSION-arm64.bundle}
need_host_pkgs mtools tar python3
ensure_update_key
KEY=${KEY:-$UPDATE_KEY}
[ -s "$IMG" ] || "$ROOT/scripts/build-image.sh"

T=$(mktemp -d /tmp/hearth-bundle.XXXXXX)
trap 'rm -rf "$T"' EXIT
# The image's slot A, copied off its boot partition (no mount).
MTOOLS_SKIP_CHECK=1 mcopy -i "$IMG@@1M" -s -n ::/slot-a "$T/" || die "cannot read slot-a from $IMG"
F=$T/slot-a
# Kernel command lines name their slot: the box writes its own, never from a bundle.
rm -f "$F/cmdline.txt" "$F/pi5/cmdline.txt"
[ -n "$HEARTH" ] && cp "$HEARTH" "$F/hearth"
chmod 0644 "$F"/* "$F"/pi5/* 2>/dev/null || true
(cd "$F" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$T/list"
python3 - "$F" "$T/list" "$VERSION" "$BUILD" >"$T/manifest.json" <<'PY'
import hashlib, json, os, sys
root, listing, version, build = sys.argv[1:5]
files = []
for path in open(listing).read().split():
    h, n = hashlib.sha256(), 0
    with open(os.path.join(root, path), "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk); n += len(chunk)
    files.append({"path": path, "size": n, "sha256": h.hexdigest()})
json.dump({"format": 1, "product": "hearth", "arch": "arm64", "version": version,
           "build": build, "files": files}, sys.stdout, indent=1)
PY
openssl pkeyutl -sign -rawin -inkey "$KEY" -in "$T/manifest.json" -out "$T/manifest.sig" ||
  die "cannot sign with $KEY"
mv "$T/manifest.json" "$T/manifest.sig" "$F/"
# manifest.json and manifest.sig first: the box checks the signature before it writes anything.
(cd "$F" && tar --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$DEST.tmp" \
  manifest.json manifest.sig $(cat "$T/list")) && mv -f "$DEST.tmp" "$DEST"
log "wrote $DEST ($(stat -c %s "$DEST") bytes): Hearth $VERSION, build $BUILD, $(wc -l <"$T/list") files"
