#!/usr/bin/env bash
# Builds the SD-card image: out/hearth-<version>-arm64.img and .img.xz, without root loop
# mounts (every file system is made as a file, then placed with dd).
#
#   scripts/build-image.sh            (builds out/hearth-aarch64 first if needed)
#
# Layout (MBR, so one FAT32 partition serves the Pi firmware and UEFI alike):
#   p1  FAT32 "HEARTHBOOT" 384 MiB: Pi firmware, config.txt + slot.txt, EFI/BOOT/BOOTAA64.EFI
#       (systemd-boot) + loader/, and slot-a/: vmlinuz + initrd.img (Debian trixie 6.12), DTBs,
#       cmdline.txt, pi5/ (trixie-backports 7.x kernel, initrd, DTBs for the Pi 5), hearth.
#       An update installs into slot-b/ (docs/image.md).
#   p2  ext4 "hearthdata" 64 MiB, grown to fill the card on first boot
# The root file system is the initramfs: busybox, kernel modules, /init (image/); hearth itself
# runs from the boot partition (mounted read-only).
# Inputs: image/ and board/ in this clone, arm64 .debs from Debian trixie cached in
# ~/.cache/hearth-image/debs (image/packages.txt). docs/image.md explains the choices.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

BOOT_MIB=384   # ~112 MiB per slot (two kernels, initramfs, hearth): room for slot B and growth
DATA_MIB=64
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
IMG=$OUT/hearth-$VERSION-arm64.img
# Device trees for the supported Raspberry Pi boards (from the kernel package).
DTBS="bcm2837-rpi-3-b bcm2837-rpi-3-b-plus bcm2837-rpi-3-a-plus bcm2837-rpi-zero-2-w
  bcm2837-rpi-cm3-io3 bcm2711-rpi-4-b bcm2711-rpi-400 bcm2711-rpi-cm4-io"
DTBS_PI5="bcm2712-rpi-5-b bcm2712-d-rpi-5-b"   # with the Pi 5 kernel, under pi5/
# Pi firmware files (Pi 0–3: bootcode.bin + start/fixup; Pi 4/400/CM4: start4/fixup4).
FIRMWARE="bootcode.bin start.elf fixup.dat start4.elf fixup4.dat"

need_host_pkgs mtools dosfstools fdisk e2fsprogs kmod cpio xz-utils gzip binutils
t0=$SECONDS

# --- 1. the aarch64 binary ------------------------------------------------------------------
if [ -z "${HEARTH_AARCH64_BIN:-}" ]; then
  "$ROOT/scripts/build-release.sh" aarch64
  HEARTH_AARCH64_BIN=$OUT/hearth-aarch64
fi
[ -x "$HEARTH_AARCH64_BIN" ] || die "no aarch64 binary at $HEARTH_AARCH64_BIN"

# --- 2. the .debs (downloaded once, then only from the cache) --------------------------------
ensure_chroot
deb_for() { # name[:arch] -> cached file, if any
  local n=${1%%:*} a=${1#*:} f
  [ "$a" = "$1" ] && a=all
  for f in "$DEBS/${n}_"*"_$a.deb" "$DEBS/${n}_"*"_all.deb"; do
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  return 0
}
# Two kernels, both Debian's generic arm64 one: trixie's own (6.12, security-supported) for
# everything the firmware or UEFI boots by default, and trixie-backports' (7.x, the first with
# the RP1 drivers behind a Pi 5's Ethernet and USB) for the Pi 5 only (config.txt [pi5] →
# pi5/). Each is resolved once from linux-image-arm64 and then kept (debs/kernel-packages.*).
resolve_kernel() { # main|pi5 -> debs/kernel-packages.<name>
  local list=$DEBS/kernel-packages.$1 suite=
  [ "$1" = pi5 ] && suite=/$SUITE-backports
  [ -s "$list" ] && return 0
  # linux-image-arm64 -> linux-image-<abi> -> (7.x) linux-{binary,base,modules}-<abi>
  in_chroot /bin/sh -c '
    img=$(apt-cache depends "linux-image-arm64:arm64$1" | sed -n "s/.*Depends: \(linux-image-[0-9][^ :]*\).*/\1/p" | head -1)
    [ -n "$img" ] || exit 1
    abi=${img#linux-image-}
    parts=$(apt-cache depends "$img:arm64" | sed -n "s/.*Depends: \(linux-\(binary\|base\|modules\)-$abi\).*/\1/p" | sort -u)
    if [ -n "$parts" ]; then for p in $parts; do echo "$p:arm64"; done; else echo "$img:arm64"; fi
  ' sh "$suite" >"$list.tmp" 2>/dev/null && [ -s "$list.tmp" ] && mv "$list.tmp" "$list" ||
    die "cannot resolve linux-image-arm64$suite"
}
resolve_kernel main
resolve_kernel pi5
mapfile -t KPKGS_MAIN <"$DEBS/kernel-packages.main"
mapfile -t KPKGS_PI5 <"$DEBS/kernel-packages.pi5"
mapfile -t PKGS < <(sed -e 's/#.*//' -e '/^\s*$/d' "$ROOT/image/packages.txt" | grep -vx KERNEL)
PKGS=("${KPKGS_MAIN[@]}" "${KPKGS_PI5[@]}" "${PKGS[@]}")
missing=()
for p in "${PKGS[@]}"; do [ -n "$(deb_for "$p")" ] || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "downloading ${missing[*]}"
  in_chroot /bin/sh -c 'cd /debs && { apt-get download -q "$@" || { apt-get update -q && apt-get download -q "$@"; }; }' \
    sh "${missing[@]}" >"$CACHE/download.log" 2>&1 || die "download failed (see $CACHE/download.log)"
  for p in "${missing[@]}"; do [ -n "$(deb_for "$p")" ] || die "$p did not download"; done
fi

# Skip everything below when no input changed since the last image.
inputs_hash=$( {
  for p in "${PKGS[@]}"; do basename "$(deb_for "$p")"; done
  sha256sum "$HEARTH_AARCH64_BIN" "$0" "$ROOT/scripts/lib/common.sh" | cut -c1-64
  find "$ROOT/image" "$ROOT/board" -type f | sort | xargs sha256sum | cut -c1-64
  echo "$VERSION $BOOT_MIB $DATA_MIB"
} | sha256sum | cut -c1-16)
if [ -s "$IMG.xz" ] && [ -s "$IMG" ] && [ "$(cat "$IMG.inputs" 2>/dev/null)" = "$inputs_hash" ]; then
  log "image up to date: $IMG.xz ($(stat -c %s "$IMG.xz") bytes)"
  exit 0
fi

EX=$CACHE/extract
mkdir -p "$EX"
extract() { # name -> directory with the unpacked .deb (cached)
  local f d
  f=$(deb_for "$1"); d=$EX/$(basename "$f" .deb)
  if [ ! -e "$d/.done" ]; then rm -rf "$d"; mkdir -p "$d"; dpkg-deb -x "$f" "$d"; touch "$d/.done"; fi
  echo "$d"
}
unpack_kernel() { # package names... -> sets K (unpacked tree), KVER, KMOD
  K=$EX/kernel-$(basename "$(deb_for "$1")" .deb)
  if [ ! -e "$K/.done" ]; then
    rm -rf "$K"; mkdir -p "$K"
    local p; for p in "$@"; do dpkg-deb -x "$(deb_for "$p")" "$K"; done
    touch "$K/.done"
  fi
  KVER=$(ls "$K/usr/lib/modules" 2>/dev/null | head -1)
  [ -n "$KVER" ] || die "no modules directory in $*"
  KMOD=$K/usr/lib/modules/$KVER
  [ -e "$KMOD/modules.dep" ] || depmod -b "$K/usr" "$KVER"
}
BB=$(extract busybox-static:arm64)
FW=$(extract raspi-firmware)
SDB=$(extract systemd-boot-efi:arm64)

W=$CACHE/work-image
rm -rf "$W"; mkdir -p "$W"

# --- 3. initramfs (the root file system) ------------------------------------------------------
R=$W/initramfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,lib/modules,proc,sys,dev,run,tmp,data,boot}
install -m 0755 "$BB/usr/bin/busybox" "$R/bin/busybox"
install -m 0755 "$ROOT/image/init" "$R/init"
for f in udhcpc.script show-banner memory-report listeners-report set-clock grow-data move-data; do
  install -m 0755 "$ROOT/image/$f" "$R/etc/$f"
done
install -m 0644 "$ROOT/image/time-urls" "$R/etc/time-urls"
echo "$VERSION ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown))" >"$R/etc/hearth-version"
# The clock never starts before this (the commit time; the box has no RTC).
git -C "$ROOT" log -1 --format=%ct >"$R/etc/build-time" 2>/dev/null || date +%s >"$R/etc/build-time"
printf 'root:x:0:0:root:/data:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf 'hosts: files dns\n' >"$R/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$R/etc/hosts"
: >"$R/etc/resolv.conf"

# e2fsprogs (dynamic) with exactly the shared libraries they need: resize2fs and e2fsck for the
# data partition, mke2fs and tune2fs for moving the data to a USB disk (image/move-data).
E2=$(extract e2fsprogs:arm64)
install -m 0755 "$E2/usr/sbin/resize2fs" "$E2/usr/sbin/e2fsck" "$E2/usr/sbin/mke2fs" "$E2/usr/sbin/tune2fs" "$R/sbin/"
install -m 0644 "$E2/etc/mke2fs.conf" "$R/etc/mke2fs.conf"
libdirs=()
for p in "${PKGS[@]}"; do case $p in lib*|zlib1g*) libdirs+=("$(extract "$p")") ;; esac; done
find_lib() {
  local d f
  for d in "${libdirs[@]}"; do
    for f in "$d/usr/lib/aarch64-linux-gnu/$1" "$d/lib/aarch64-linux-gnu/$1"; do
      [ -e "$f" ] && { echo "$f"; return 0; }
    done
  done
  return 0
}
# dropbear (SSH, opt-in: /init deletes it and the libraries when not enabled).
DB=$(extract dropbear-bin:arm64)
install -m 0755 "$DB/usr/sbin/dropbear" "$R/usr/sbin/dropbear"
# Copies the shared libraries an ELF file needs (recursively) into a directory, printing
# their names.
copy_libs() { # file dest-dir
  local q=("$1") seen=" " path need src
  while [ ${#q[@]} -gt 0 ]; do
    path=${q[0]}; q=("${q[@]:1}")
    for need in $(readelf -d "$path" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
      case $seen in *" $need "*) continue ;; esac
      seen="$seen$need "
      src=$(find_lib "$need"); [ -n "$src" ] || die "library $need (for ${1##*/}) not found in the .debs"
      cp -L "$src" "$2/$need"
      echo "$need"
      q+=("$2/$need")
    done
  done
}
mkdir -p "$R/lib/aarch64-linux-gnu"
copy_libs "$R/sbin/resize2fs" "$R/lib/aarch64-linux-gnu" >/dev/null
copy_libs "$R/sbin/e2fsck" "$R/lib/aarch64-linux-gnu" >/dev/null
copy_libs "$R/sbin/mke2fs" "$R/lib/aarch64-linux-gnu" >/dev/null
copy_libs "$R/sbin/tune2fs" "$R/lib/aarch64-linux-gnu" >/dev/null
# The libraries dropbear itself needs: /init keeps only these when SSH is on.
copy_libs "$R/usr/sbin/dropbear" "$R/lib/aarch64-linux-gnu" | sort -u >"$R/etc/dropbear.libs"
# Wi-Fi firmware for the Pi boards' Broadcom/Cypress chips and the regulatory database, in the
# initramfs (the kernel loads firmware when the driver probes, before /boot is mounted); /init
# deletes them when Wi-Fi is not used.
FWB=$(extract firmware-brcm80211)
REG=$(extract wireless-regdb)
nfw=0
while read -r f; do
  rel=${f#*/firmware/}
  mkdir -p "$R/lib/firmware/$(dirname "$rel")"
  cp -L "$f" "$R/lib/firmware/$rel"; nfw=$((nfw + 1))
done < <(find "$FWB" \( -name 'brcmfmac4343[06]*-sdio*' -o -name 'brcmfmac4345[56]-sdio*' -o -name 'cyfmac4345[56]-sdio*' -o -name 'cyfmac4343[06]*-sdio*' \) \( -type f -o -type l \))
# (Debian ships two signed databases behind an alternative; its kernels trust the -debian one.)
for f in regulatory.db regulatory.db.p7s; do
  src=$(find "$REG" -name "$f-debian" | head -1); [ -n "$src" ] || src=$(find "$REG" -name "$f" | head -1)
  [ -n "$src" ] || die "no $f in wireless-regdb"
  cp -L "$src" "$R/lib/firmware/$f"
done
log "Wi-Fi firmware: $nfw files, $(du -sh "$R/lib/firmware" | cut -f1)"
ld=$(find_lib ld-linux-aarch64.so.1); [ -n "$ld" ] || die "no ld-linux-aarch64.so.1"
cp -L "$ld" "$R/lib/ld-linux-aarch64.so.1"
echo /lib/aarch64-linux-gnu >"$R/etc/ld.so.conf"

# Kernel modules: each listed one with its dependencies, decompressed, in load order, one list
# per board group (image/modules.txt); a module shared by two groups is loaded by the first.
# One initramfs per kernel: the common root R plus that kernel's modules.
make_initrd() { # $1 = output file; uses K, KVER, KMOD
  local RK=$W/initramfs-$KVER nmods=0 group= loaded=" " skipped= m out kind path rel
  rm -rf "$RK"; cp -a "$R" "$RK"
  while read -r m; do
    case $m in \[*\]) group=${m#[}; group=${group%]}; : >"$RK/etc/modules.$group"; continue ;; esac
    [ -n "$group" ] || die "image/modules.txt: module $m before any [group]"
    out=$(modprobe -d "$K/usr" -S "$KVER" --show-depends "$m" 2>/dev/null) || { skipped="$skipped $m"; continue; }
    while read -r kind path _; do
      [ "$kind" = insmod ] || continue
      rel=${path#"$KMOD"/}; rel=${rel%.xz}; rel=${rel%.zst}
      grep -qxF "$rel" "$RK/etc/modules.$group" && continue
      echo "$rel" >>"$RK/etc/modules.$group"
      case $loaded in *" $rel "*) continue ;; esac
      loaded="$loaded$rel "
      mkdir -p "$RK/lib/modules/$(dirname "$rel")"
      case $path in
        *.xz) xz -dc "$path" >"$RK/lib/modules/$rel" ;;
        *.zst) zstd -dqc "$path" >"$RK/lib/modules/$rel" ;;
        *) cp "$path" "$RK/lib/modules/$rel" ;;
      esac
      nmods=$((nmods + 1))
    done <<<"$out"
  done < <(sed -e 's/#.*//' -e '/^\s*$/d' "$ROOT/image/modules.txt")
  [ -n "$skipped" ] && log "kernel $KVER has no$skipped (skipped)"
  log "initramfs for $KVER: $nmods modules, $(du -sh "$RK" | cut -f1) unpacked"
  for g in "$RK"/etc/modules.*; do echo "modules $KVER ${g##*/modules.}: $(sed 's|.*/||; s|\.ko$||' "$g" | tr '\n' ' ')"; done >>"$W/modules.txt"
  (cd "$RK" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet | gzip -9 -n >"$1")
}

# --- 4. boot partition (FAT32) ----------------------------------------------------------------
# Everything a boot needs but the firmware sits in slot A (slot-a/); an update installs into
# slot-b/ (docs/image.md). slot.txt (Pi) and loader/loader.conf (UEFI) select the slot.
B=$W/boot
S=$B/slot-a
mkdir -p "$B/EFI/BOOT" "$B/loader/entries" "$B/overlays" "$S/pi5"
kernel_image() { if [ -e "$K/boot/vmlinuz-$KVER" ]; then echo "$K/boot/vmlinuz-$KVER"; else echo "$KMOD/vmlinuz"; fi; }
copy_dtbs() { # dir dtb-names...
  local dir=$1 d dtbdir=$K/usr/lib/linux-image-$KVER/broadcom   # 6.12; 7.x: modules/<ver>/dtb
  shift
  [ -d "$dtbdir" ] || dtbdir=$KMOD/dtb/broadcom
  for d in "$@"; do
    if [ -e "$dtbdir/$d.dtb" ]; then cp "$dtbdir/$d.dtb" "$dir/"; else log "warning: no $d.dtb in kernel $KVER"; fi
  done
}
# The main kernel: Pi 3/4/400/Zero 2 W/CM3/CM4 and UEFI (qemu).
unpack_kernel "${KPKGS_MAIN[@]}"
KVER_MAIN=$KVER
cp "$(kernel_image)" "$S/vmlinuz"
make_initrd "$S/initrd.img"
copy_dtbs "$S" $DTBS
# The Pi 5 kernel, with its own initramfs and DTBs (slot.txt: [pi5] os_prefix=slot-a/pi5/).
unpack_kernel "${KPKGS_PI5[@]}"
KVER_PI5=$KVER
cp "$(kernel_image)" "$S/pi5/vmlinuz"
make_initrd "$S/pi5/initrd.img"
copy_dtbs "$S/pi5" $DTBS_PI5
cp "$HEARTH_AARCH64_BIN" "$S/hearth"   # run from here by /init (page cache, not initramfs RAM)
# wpa_supplicant with its own loader and libraries, run from the boot partition when wifi.txt
# asks for Wi-Fi (page cache, not initramfs RAM; docs/image.md).
WPA=$(extract wpasupplicant:arm64)
mkdir -p "$S/wifi/lib"
wpa=$(find "$WPA" -name wpa_supplicant -type f | head -1); [ -n "$wpa" ] || die "no wpa_supplicant in wpasupplicant"
install -m 0755 "$wpa" "$S/wifi/wpa_supplicant"
copy_libs "$S/wifi/wpa_supplicant" "$S/wifi/lib" >/dev/null
cp -L "$ld" "$S/wifi/ld-linux-aarch64.so.1"
log "Wi-Fi: wpa_supplicant and $(ls "$S/wifi/lib" | wc -l) libraries, $(du -sh "$S/wifi" | cut -f1) on the boot partition"
# The kernel command lines name their slot (an update rewrites them for the other one).
sed 's/$/ hearth.slot=a/' "$ROOT/board/rpi/cmdline.txt" >"$S/cmdline.txt"
cp "$S/cmdline.txt" "$S/pi5/cmdline.txt"
printf '# The slot the Raspberry Pi firmware boots; written by Hearth (docs/image.md).\n[all]\nos_prefix=slot-a/\n[pi5]\nos_prefix=slot-a/pi5/\n[all]\n' >"$B/slot.txt"
for f in $FIRMWARE; do cp "$FW/usr/lib/raspi-firmware/$f" "$B/"; done
cp "$FW"/usr/lib/raspi-firmware/overlays/* "$B/overlays/" 2>/dev/null || true
cp "$ROOT/board/rpi/config.txt" "$B/"
cp "$SDB/usr/lib/systemd/boot/efi/systemd-bootaa64.efi" "$B/EFI/BOOT/BOOTAA64.EFI"
cp "$ROOT/board/efi/loader.conf" "$B/loader/loader.conf"
sed 's/@SLOT@/a/g' "$ROOT/board/efi/hearth.conf" >"$B/loader/entries/hearth-a.conf"
cat >"$B/README.txt" <<TXT
Hearth $VERSION boot partition. Do not change these files unless docs/install.md says so.
claim-code.txt appears here after the first start: the code the set-up page asks for.
TXT
rm -f "$W/p1.img"
mkfs.vfat -F 32 -n HEARTHBOOT -C "$W/p1.img" $((BOOT_MIB * 1024)) >/dev/null
(cd "$B" && MTOOLS_SKIP_CHECK=1 mcopy -i "$W/p1.img" -s -p -m ./* ::/)
used=$(du -sm "$B" | cut -f1)
log "boot partition: ${used} MiB used of $BOOT_MIB MiB"

# --- 5. data partition (ext4, made from a directory: no mount) --------------------------------
mkdir -p "$W/data"
cat >"$W/data/README.txt" <<TXT
Hearth's data partition: hearth/ holds the database and files, log/ the bounded log ring.
TXT
mkfs.ext4 -q -F -L hearthdata -b 4096 -T default -E root_owner=0:0 -d "$W/data" "$W/p2.img" "${DATA_MIB}M"

# --- 6. the disk (MBR) ------------------------------------------------------------------------
rm -f "$IMG.tmp"
truncate -s $((1 + BOOT_MIB + DATA_MIB))M "$IMG.tmp"
sfdisk -q "$IMG.tmp" <<PT
label: dos
label-id: 0x48454152
start=1MiB, size=${BOOT_MIB}MiB, type=c, bootable
start=$((1 + BOOT_MIB))MiB, size=${DATA_MIB}MiB, type=83
PT
dd if="$W/p1.img" of="$IMG.tmp" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$W/p2.img" of="$IMG.tmp" bs=1M seek=$((1 + BOOT_MIB)) conv=notrunc,sparse status=none
mv -f "$IMG.tmp" "$IMG"
log "compressing (xz)"
xz -T2 -6 -c "$IMG" >"$IMG.xz.tmp" && mv -f "$IMG.xz.tmp" "$IMG.xz"
{
  echo "hearth $VERSION arm64 image, built $(date -u +%FT%TZ)"
  echo "kernel $KVER_MAIN (pi5/: $KVER_PI5)"
  for p in "${PKGS[@]}"; do basename "$(deb_for "$p")"; done
  echo "slot-a: vmlinuz $(stat -c %s "$S/vmlinuz") initrd.img $(stat -c %s "$S/initrd.img") pi5/vmlinuz $(stat -c %s "$S/pi5/vmlinuz") pi5/initrd.img $(stat -c %s "$S/pi5/initrd.img") hearth $(stat -c %s "$HEARTH_AARCH64_BIN")"
  echo "img $(stat -c %s "$IMG") xz $(stat -c %s "$IMG.xz")"
  cat "$W/modules.txt"
  sha256sum "$IMG.xz" | sed "s|$OUT/||"
} >"$OUT/hearth-$VERSION-arm64.manifest.txt"
echo "$inputs_hash" >"$IMG.inputs"
log "wrote $IMG ($(stat -c %s "$IMG") bytes) and .xz ($(stat -c %s "$IMG.xz") bytes) in $((SECONDS - t0)) s"
