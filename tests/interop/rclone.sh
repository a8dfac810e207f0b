#!/usr/bin/env bash
# rclone 1.60 (Debian `rclone`) with the webdav backend, vendor=nextcloud, against a fresh Hearth:
# copy a tree up (one file > 10 MiB → rclone's chunked upload), check with SHA1, sync it down
# into an empty folder, quota through `rclone about`, modification times kept to the second.
# Configured only through the environment (RCLONE_CONFIG points at an empty temp file).
. "$(dirname "$0")/lib.sh"

ensure_deps
need rclone sha1sum || fatal "clients installed"
start_server || fatal "server starts"

RUSER=bob
RPASS=interop-Bob-0815
add_user "$RUSER" "$RPASS" --quota 1GB >"$ARTIFACTS/rclone-useradd.txt" 2>&1 ||
  fatal "hearth user add $RUSER --quota 1GB"

W=$(mktmp)
SRC=$W/src
DOWN=$W/down
mkdir -p "$SRC" "$DOWN"
: >"$W/rclone.conf"
export RCLONE_CONFIG=$W/rclone.conf
export RCLONE_CONFIG_NC_TYPE=webdav
export RCLONE_CONFIG_NC_URL=$BASE/remote.php/dav/files/$RUSER
export RCLONE_CONFIG_NC_VENDOR=nextcloud
export RCLONE_CONFIG_NC_USER=$RUSER
RCLONE_CONFIG_NC_PASS=$(rclone obscure "$RPASS") || fatal "rclone obscure"
export RCLONE_CONFIG_NC_PASS
RC=(timeout 600 rclone --retries 1 --low-level-retries 3 --contimeout 10s --timeout 120s)

# --- the tree ----------------------------------------------------------------------------
NFD=$(printf 'e\xcc\x81te\xcc\x81.txt')    # "été.txt" in NFD
mkdir -p "$SRC/docs/nested/deep" "$SRC/space dir" "$SRC/ünïcödé" "$SRC/big"
printf 'top level\n' >"$SRC/top.txt"
printf 'deep file\n' >"$SRC/docs/nested/deep/file.txt"
printf 'with spaces\n' >"$SRC/space dir/a b c.txt"
printf 'nfc\n' >"$SRC/ünïcödé/café.txt"
printf 'nfd\n' >"$SRC/ünïcödé/$NFD"
printf 'emoji\n' >"$SRC/emoji 🎉.txt"
printf 'hash\n' >"$SRC/hash#name.txt"
printf 'percent\n' >"$SRC/per%cent 100%.txt"
: >"$SRC/empty.bin"
head -c $((25 * 1024 * 1024 + 12345)) /dev/urandom >"$SRC/big/big.bin"  # > 10 MiB: rclone ≥ 1.62 chunks it
# distinct whole-second mtimes in the past, so "preserved" means something
i=0
while IFS= read -r -d '' f; do
  i=$((i + 1))
  touch -d "@$((1614834367 + i * 86461))" "$f"
done < <(find "$SRC" -type f -print0 | sort -z)

# rclone ≥ 1.62 uploads files above --webdav-nextcloud-chunk-size (10 MiB) in chunks; Debian's
# 1.60 has no chunking at all. With an old rclone, replay the newer rclone's chunked request
# sequence (backend/webdav/chunking.go) with curl for one file, before `rclone copy`: copy must
# then find that file up to date (same size and mtime), and check/hashsum/lsl cover it.
RCLONE_CHUNKS=0
if rclone help flags 2>/dev/null | grep -q -- '--webdav-nextcloud-chunk-size'; then
  RCLONE_CHUNKS=1
  RC+=(--webdav-nextcloud-chunk-size 10M)
fi
head -c $((15 * 1024 * 1024 + 777)) /dev/urandom >"$SRC/big/chunked.bin"
touch -d '@1600000000' "$SRC/big/chunked.bin"

# rclone_style_chunked_upload LOCAL REMOTE-PATH (relative to the user's DAV root)
rclone_style_chunked_upload() {
  local file=$1 rpath=$2 cs=$((10 * 1024 * 1024)) size off len code dir up sha mtime
  local C=(curl -sS --max-time 120 -u "$RUSER:$RPASS" -o /dev/null -w '%{http_code}')
  size=$(stat -c %s "$file")
  mtime=$(stat -c %Y "$file")
  sha=$(sha1sum "$file" | cut -c1-40)
  dir=rclone-chunked-upload-$(printf '%s' "$rpath" | md5sum | cut -c1-32)
  up=$BASE/remote.php/dav/uploads/$RUSER/$dir
  for code in up up/big; do
    "${C[@]}" -X MKCOL "$BASE/remote.php/dav/files/$RUSER/$code" >/dev/null
  done
  code=$("${C[@]}" -X DELETE "$up/"); echo "DELETE $up/ → $code"
  [ "$code" = 404 ] || [ "$code" = 204 ] || return 1
  code=$("${C[@]}" -X MKCOL "$up/"); echo "MKCOL $up/ → $code"
  [ "$code" = 201 ] || return 1
  for ((off = 0; off < size; off += cs)); do
    len=$((size - off < cs ? size - off : cs))
    code=$(tail -c "+$((off + 1))" "$file" | head -c "$len" |
      "${C[@]}" -X PUT -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @- \
        "$up/$(printf '%015d-%015d' "$off" "$((off + len - 1))")")
    echo "PUT chunk $off+$len → $code"
    [ "$code" = 201 ] || return 1
  done
  code=$(curl -sS --max-time 300 -u "$RUSER:$RPASS" -D - -o /dev/null -X MOVE \
    -H "Destination: $BASE/remote.php/dav/files/$RUSER/$(urlenc "$rpath")" \
    -H "X-OC-Mtime: $mtime" -H "OC-Checksum: SHA1:$sha" "$up/.file")
  echo "MOVE .file →"; echo "$code"
  echo "$code" | head -n1 | grep -qE ' 20[14]' || return 1
  echo "$code" | grep -qi '^oc-fileid:' && echo "$code" | grep -qi '^etag:'
}
if [ "$RCLONE_CHUNKS" = 0 ]; then
  echo "# rclone $(rclone version 2>/dev/null | head -n1 | awk '{print $2}') has no Nextcloud chunked upload: replaying rclone ≥ 1.62's chunk requests with curl"
  check "rclone-style chunked upload of a 15 MiB file (DELETE, MKCOL, PUT %015d-%015d chunks, MOVE .file)" \
    rclone_style_chunked_upload "$SRC/big/chunked.bin" up/big/chunked.bin
fi

# --- copy up -----------------------------------------------------------------------------
mark=$(log_mark)
copy_up() {
  "${RC[@]}" copy -v "$SRC" NC:up 2>&1 | tee "$ARTIFACTS/rclone-copy.txt"
  return "${PIPESTATUS[0]}"
}
check "rclone copy tree up" copy_up

chunked_used() {
  if [ "$RCLONE_CHUNKS" = 0 ]; then
    # chunked.bin was uploaded in chunks above: copy must find it up to date (size + mtime)
    log_since "$mark" | grep -E 'method=PUT .*chunked\.bin'
    ! log_since "$mark" | grep -qE 'method=PUT path=/remote.php/dav/files/[^ ]*chunked\.bin'
    return
  fi
  log_since "$mark" | grep -E 'method=(MKCOL|PUT|MOVE) path=/remote.php/dav/uploads/' | head -n 20
  log_since "$mark" | grep -qE "method=MKCOL path=/remote.php/dav/uploads/$RUSER/[^ ]+ status=201" &&
    log_since "$mark" | grep -qE "method=PUT path=/remote.php/dav/uploads/$RUSER/[^ ]+ status=201" &&
    log_since "$mark" | grep -qE "method=MOVE path=/remote.php/dav/uploads/$RUSER/[^ ]+/\.file status=20[14]"
}
if [ "$RCLONE_CHUNKS" = 1 ]; then
  check "big file went through rclone's chunked upload (MKCOL/PUT/MOVE .file on /uploads)" chunked_used
else
  check "rclone copy found the chunk-assembled file up to date (size and mtime), no re-upload" chunked_used
fi

no_server_errors() {
  log_since "$1" | grep -E 'status=5[0-9][0-9]'
  ! log_since "$1" | grep -qE 'status=5[0-9][0-9]'
}
check "no 5xx in the server log during the upload" no_server_errors "$mark"

# --- check with SHA1 ---------------------------------------------------------------------
check_sha1() {
  local out
  out=$("${RC[@]}" check -v "$SRC" NC:up 2>&1)
  echo "$out" | tee "$ARTIFACTS/rclone-check.txt"
  echo "$out" | grep -q 'Using sha1 for hash comparisons' || return 1
  echo "$out" | grep -q ' 0 differences found' || return 1
  echo "$out" | grep -qiE 'no common hash|not using a hash|hashes could not be checked|hash.*unsupported' && return 1
  return 0
}
check "rclone check: 0 differences, using SHA1 hashes" check_sha1

hashes_sha1() {
  local remote local_
  remote=$("${RC[@]}" hashsum sha1 NC:up 2>&1 | nfc | sort -k2) || { echo "$remote"; return 1; }
  local_=$(cd "$SRC" && find . -type f -printf '%P\0' | sort -z | xargs -0 sha1sum | nfc | sort -k2)
  echo "remote:"; echo "$remote"; echo "local:"; echo "$local_"
  [ "$remote" = "$local_" ]
}
check "rclone hashsum sha1 on the server equals local sha1sum (all files, chunked one too)" hashes_sha1

# --- modification times ------------------------------------------------------------------
lsl_secs() { # "size YYYY-MM-DD HH:MM:SS path" from rclone lsl, sorted by path
  "${RC[@]}" lsl "$1" 2>&1 | sed -E 's/^ *([0-9]+) ([0-9-]+ [0-9:]+)(\.[0-9]+)? (.*)$/\1 \2 \4/' | nfc | sort -k4
}
mtimes_up() {
  local remote local_
  remote=$(lsl_secs NC:up)
  local_=$(lsl_secs "$SRC")
  echo "remote:"; echo "$remote"; echo "local:"; echo "$local_"
  [ "$remote" = "$local_" ]
}
check "rclone lsl: server modification times equal the originals (to the second)" mtimes_up

# --- sync down ---------------------------------------------------------------------------
sync_down() {
  "${RC[@]}" sync -v NC:up "$DOWN" 2>&1 | tee "$ARTIFACTS/rclone-sync-down.txt"
  return "${PIPESTATUS[0]}"
}
check "rclone sync down into an empty folder" sync_down

same_tree() {
  diff <(tree_manifest "$SRC" sha1,size) <(tree_manifest "$DOWN" sha1,size) &&
    echo "identical: $(tree_manifest "$SRC" | wc -l) entries"
}
check "downloaded tree equals the original (sha1 of every file; names compared in NFC)" same_tree

same_mtimes() {
  diff <(tree_manifest "$SRC" mtime) <(tree_manifest "$DOWN" mtime) &&
    echo "identical mtimes: $(tree_manifest "$SRC" mtime | wc -l) entries"
}
check "downloaded files keep the original mtimes (stat, to the second)" same_mtimes

nothing_to_do() {
  local m out
  m=$(log_mark)
  out=$("${RC[@]}" sync -v NC:up "$DOWN" 2>&1)
  echo "$out"
  sleep 0.5
  echo "server requests during the second sync:"
  log_since "$m" | grep -E 'method=(GET|PUT)'
  ! log_since "$m" | grep -qE 'method=(GET|PUT) '
}
check "second rclone sync down transfers nothing (no GET/PUT)" nothing_to_do

# --- quota -------------------------------------------------------------------------------
about() {
  local out js
  out=$("${RC[@]}" about NC: 2>&1)
  echo "$out" | tee "$ARTIFACTS/rclone-about.txt"
  js=$("${RC[@]}" about --json NC: 2>&1)
  echo "$js" | tee -a "$ARTIFACTS/rclone-about.txt"
  echo "$out" | grep -qE '^Total: +[0-9.]+ ?[KMGT]i?B?' || return 1
  echo "$out" | grep -qE '^Free: +[0-9.]+' || return 1
  python3 - "$js" <<'PY'
import json, sys
j = json.loads(sys.argv[1])
total, used, free = j.get("total"), j.get("used"), j.get("free")
print(f"total={total} used={used} free={free}")
ok = total in (10**9, 2**30) and used is not None and free is not None and used + free == total and used >= 25 * 2**20
sys.exit(0 if ok else 1)
PY
}
check "rclone about NC: shows the 1 GB quota (total = used + free, used counts the upload)" about

# --- server-side copy/move/delete through rclone -----------------------------------------
server_ops() {
  "${RC[@]}" moveto NC:up/top.txt "NC:up/space dir/moved top.txt" &&
    "${RC[@]}" copyto NC:up/emoji\ 🎉.txt "NC:up/docs/emoji copy 🎉.txt" &&
    "${RC[@]}" delete NC:up/hash#name.txt &&
    "${RC[@]}" lsf -R NC:up | sort | tee "$W/after-ops.txt" &&
    grep -qx 'space dir/moved top.txt' "$W/after-ops.txt" &&
    grep -qx 'docs/emoji copy 🎉.txt' "$W/after-ops.txt" &&
    ! grep -qx 'top.txt' "$W/after-ops.txt" &&
    ! grep -qx 'hash#name.txt' "$W/after-ops.txt"
}
check "rclone moveto/copyto/delete on the server" server_ops

finish
