#!/usr/bin/env bash
# Two Hearth binaries side by side on the files workloads (a benchmark, not a test): for a
# change that must not cost speed (a refactor), B (after) against A (before), measured in the
# same run. Both servers run at once; every round measures each in turn, the order swapping
# each round, so load from other tenants of the host lands on both alike.
#
#   bash scripts/bench/files-ab.sh OLD_BIN NEW_BIN > report.md   # ~15 s per round
#
# Per round and binary:
#   large     PUT then GET of one SIZE_MIB file with curl (after a `sync`)
#   small     ../shared/bench/wl-small.py, one round: 2,000 x 4 KiB up, then down, 8 clients
#   propfind  PROPFIND Depth:1 of a 1,000-entry folder with the desktop client's properties
#             (files-propfind.py, median of REPEAT requests)
#   wrk       GET of a 4 KiB file, wrk -t2 -c64, WRK_DURATION, Basic auth
# Verdict per figure: the median over rounds of each round's ratio B/A (for PROPFIND, A/B:
# time, lower is better), so above 1 means B is faster.
#
# Env: ROUNDS (15), SIZE_MIB (256), WRK_DURATION (5s), REPEAT (15), BENCH_HARNESS, KEEP_TMP=1.
# Stops every process it starts by PID (trap on EXIT).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESS=${BENCH_HARNESS:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
ROUNDS=${ROUNDS:-15}; SIZE_MIB=${SIZE_MIB:-256}; WRK_DURATION=${WRK_DURATION:-5s}; REPEAT=${REPEAT:-15}
ADMIN=alice; ADMIN_PASS=secret-pass-1
PY=${PYTHON:-python3}

log() { echo "[files-ab $(date +%H:%M:%S)] $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
[ $# = 2 ] || die "usage: files-ab.sh OLD_BIN NEW_BIN"
[ -x "$1" ] && [ -x "$2" ] || die "both binaries must exist"
[ -f "$HARNESS/wl-small.py" ] || die "peer harness not found at $HARNESS (set BENCH_HARNESS)"
. "$HERE/files-deps.sh"
for c in curl wrk ss "$PY"; do command -v "$c" >/dev/null || die "$c not found"; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hearth-files-ab.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for HPID in "${PIDS[@]}"; do stop_hearth_pid; done  # files-lib.sh
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
HEARTH_BIN=/nonexistent
. "$HERE/files-lib.sh"

names=(A B); urls=(); versions=()
for i in 0 1; do
  bin=$TMP/hearth-${names[$i]}
  cp "$([ $i = 0 ] && echo "$1" || echo "$2")" "$bin"   # private copies: builds may replace them
  HEARTH_BIN=$bin
  start_hearth "$TMP/data-${names[$i]}" "$TMP/${names[$i]}.log"
  PIDS+=("$HPID")
  urls+=("http://$HADDR/remote.php/dav/files/$ADMIN/")
  versions+=("$("$bin" --version 2>&1), sha256 $(sha256sum "$bin" | cut -c1-12)")
  log "${names[$i]}: PID $HPID at http://$HADDR (${versions[$i]})"
done
HPID=""

head -c $((SIZE_MIB * 1048576)) /dev/urandom > "$TMP/big.bin"
cat "$TMP/big.bin" > /dev/null
head -c 4096 /dev/urandom > "$TMP/f4k"
for i in 0 1; do
  c=(curl -sS --http1.1 -H 'Expect:' -u "$ADMIN:$ADMIN_PASS" -o /dev/null)
  "${c[@]}" -X MKCOL "${urls[$i]}bench-ab/" || true
  [ "$("${c[@]}" -w '%{http_code}' -T "$TMP/f4k" "${urls[$i]}bench-ab/f4k.bin")" -lt 300 ] || die "${names[$i]}: PUT failed"
  "${c[@]}" "${urls[$i]}bench-ab/f4k.bin"   # the first request runs argon2: not a transfer cost
  "$PY" "$HERE/files-propfind.py" fill --url "${urls[$i]}" --user "$ADMIN" --password "$ADMIN_PASS" \
    --folder pf1000 --entries 1000 --method auto >/dev/null 2>"$TMP/fill.err" || die "${names[$i]}: fill failed: $(tail -2 "$TMP/fill.err")"
done

RES=$TMP/res; : > "$RES"
put_get() {
  local i=$1 r=$2 c out
  c=(curl -sS --http1.1 -H 'Expect:' -u "$ADMIN:$ADMIN_PASS")
  sync
  out=$("${c[@]}" -o /dev/null -w '%{http_code} %{speed_upload}' -T "$TMP/big.bin" "${urls[$i]}bench-ab/big.bin")
  set -- $out; [[ $1 =~ ^20[014]$ ]] || die "${names[$i]}: large PUT answered HTTP $1"
  echo "$r ${names[$i]} large_put $(awk -v v="$2" 'BEGIN{printf "%.1f", v/1e6}')" >> "$RES"
  out=$("${c[@]}" -o /dev/null -w '%{http_code} %{speed_download} %{size_download}' "${urls[$i]}bench-ab/big.bin")
  set -- $out; [ "$1" = 200 ] && [ "$3" = $((SIZE_MIB * 1048576)) ] || die "${names[$i]}: large GET gave HTTP $1, $3 bytes"
  echo "$r ${names[$i]} large_get $(awk -v v="$2" 'BEGIN{printf "%.1f", v/1e6}')" >> "$RES"
  "${c[@]}" -o /dev/null -X DELETE "${urls[$i]}bench-ab/big.bin" || true
}
small() {
  local i=$1 r=$2
  "$PY" "$HARNESS/wl-small.py" --url "${urls[$i]}" --user "$ADMIN" --password "$ADMIN_PASS" \
    --repeat 1 --prefix "bench-ab-small-$r" > "$TMP/small.out" 2>/dev/null || die "${names[$i]}: wl-small.py failed"
  awk -v r="$r" -v n="${names[$i]}" '/^small_upload/{print r, n, "small_up", $2} /^small_download/{print r, n, "small_down", $2}' \
    "$TMP/small.out" >> "$RES"
}
propfind() {
  local i=$1 r=$2 ms
  ms=$("$PY" "$HERE/files-propfind.py" time --url "${urls[$i]}" --user "$ADMIN" --password "$ADMIN_PASS" \
        --folder pf1000 --entries 1000 --repeat "$REPEAT" --label ab 2>/dev/null \
        | awk -F'\t' '$1 ~ /_median$/ {m=$2} $1 ~ /_responses$/ {n=$2} END {if (n == 1001) print m}')
  [ -n "$ms" ] || die "${names[$i]}: PROPFIND timing failed (or the folder does not hold 1,000 entries)"
  echo "$r ${names[$i]} propfind_ms $ms" >> "$RES"
}
get4k() {
  local i=$1 r=$2 b64 rps
  b64=$(printf '%s:%s' "$ADMIN" "$ADMIN_PASS" | base64 -w0)
  rps=$(wrk -t2 -c64 -d"$WRK_DURATION" -H "Authorization: Basic $b64" "${urls[$i]}bench-ab/f4k.bin" 2>&1 \
        | awk '/^Requests\/sec:/{printf "%.0f", $2}')
  [ -n "$rps" ] || die "${names[$i]}: wrk failed"
  echo "$r ${names[$i]} wrk_get4k $rps" >> "$RES"
}
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order=(0 1); else order=(1 0); fi
  log "round $r of $ROUNDS: ${names[${order[0]}]} first"
  for w in put_get small propfind get4k; do
    for i in "${order[@]}"; do "$w" "$i" "$r"; done
  done
  log "round $r: $(awk -v r="$r" '$1==r{printf "%s %s %s; ", $2, $3, $4}' "$RES")"
done

"$PY" - "$RES" "$SIZE_MIB" "$ROUNDS" "${versions[0]}" "${versions[1]}" <<'EOF'
import statistics, sys
res, size, rounds, va, vb = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
by = {}
for line in open(res):
    r, s, fig, v = line.split()
    by.setdefault(fig, {}).setdefault(s, {})[int(r)] = float(v)
label = {"large_put": (f"PUT {size} MiB, MB/s", False), "large_get": (f"GET {size} MiB, MB/s", False),
         "small_up": ("2,000 x 4 KiB up, 8 clients, files/s", False),
         "small_down": ("2,000 x 4 KiB down, 8 clients, files/s", False),
         "propfind_ms": ("PROPFIND depth 1 of 1,000 (desktop props), ms", True),
         "wrk_get4k": ("GET 4 KiB, wrk 64 connections, req/s", False)}
print(f"## Files, A (before) and B (after) side by side — {rounds} rounds, order swapping each round\n")
print(f"A: {va}  \nB: {vb}\n")
print("| figure | A (median) | B (median) | B vs A, round by round | B vs A, median |")
print("|---|---|---|---|---|")
for fig, (lab, lower_better) in label.items():
    a, b = by[fig]["A"], by[fig]["B"]
    rs = [(a[r] / b[r] if lower_better else b[r] / a[r]) for r in sorted(a) if r in b and a[r] > 0 and b[r] > 0]
    print(f"| {lab} | {statistics.median(a.values()):.1f} | {statistics.median(b.values()):.1f} | "
          f"{' '.join(f'{x:.3f}' for x in rs)} | **{statistics.median(rs):.3f}** |")
print("\nAbove 1: B is faster (for PROPFIND the ratio is A's time over B's).")
EOF
