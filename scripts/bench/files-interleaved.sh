#!/usr/bin/env bash
# The files issue's ratio targets measured side by side (a benchmark, not a test). Hearth and
# the peers run at once; every round measures each server in turn, the order rotating, so the
# load other tenants put on this shared host lands on all of them alike. (files.sh gives every
# server a few minutes of its own, and steal that comes and goes on that scale decides ratios.)
#
#   bash scripts/bench/files-interleaved.sh > report.md   # ~1 min per round with the defaults
#
# Per round and server:
#   large  PUT then GET of one SIZE_MIB file with curl, the flags of ../shared/bench/wl-large.sh
#          (after a `sync`, so nobody pays for the previous server's dirty pages)
#   small  ../shared/bench/wl-small.py, one round: 2,000 x 4 KiB up, then down, 8 clients
#   wrk    GET of a 4 KiB file, wrk -t2 -c64, WRK_DURATION, Basic auth
# Verdicts: the median over rounds of each round's ratio Hearth/peer, the "best peer" being the
# peer with the highest median figure. Memory is measured by files.sh, not here.
#
# Env: ROUNDS (5), SIZE_MIB (1024 if >= 8 GiB free in TMPDIR, else 256), WRK_DURATION (5s),
#      SERVERS ("hearth nginx apache rclone"), HEARTH_BIN (default release build), KEEP_TMP=1,
#      BENCH_HARNESS (../shared/bench), BENCH_PORT_BASE.
# Stops every process it starts by PID (trap on EXIT); peers via `peers.sh stop NAME`.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESS=${BENCH_HARNESS:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
PEERS_SH=$HARNESS/peers.sh
TARGET=${CARGO_TARGET_DIR:-/root/.cache/hearth-target}
HEARTH_BIN=${HEARTH_BIN:-$TARGET/release/hearth}
ROUNDS=${ROUNDS:-5}; WRK_DURATION=${WRK_DURATION:-5s}
SERVERS=${SERVERS:-hearth nginx apache rclone}
ADMIN=alice; ADMIN_PASS=secret-pass-1; PEER_USER=${BENCH_USER:-alice}; PEER_PASS=${BENCH_PASS:-secret}
PY=${PYTHON:-python3}

log() { echo "[files-il $(date +%H:%M:%S)] $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
[ -x "$PEERS_SH" ] && [ -f "$HARNESS/wl-small.py" ] || die "peer harness not found at $HARNESS (set BENCH_HARNESS)"
[ -x "$HEARTH_BIN" ] || die "no Hearth binary at $HEARTH_BIN (cargo build --release, or set HEARTH_BIN)"
. "$HERE/files-deps.sh"
for c in curl wrk ss "$PY"; do command -v "$c" >/dev/null || die "$c not found"; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hearth-files-il.XXXXXX")
chmod 755 "$TMP"   # Apache's workers (www-data) must reach their document root below it
export BENCH_DATA=$TMP/peers
HPID=""; STARTED=()
cleanup() {
  local rc=$?
  [ -z "$HPID" ] || stop_hearth_pid  # files-lib.sh (sourced before Hearth starts)
  for p in "${STARTED[@]}"; do "$PEERS_SH" stop "$p" >/dev/null 2>&1 || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

avail_kib=$(df -Pk "$TMP" | awk 'NR==2{print $4}')
if [ -z "${SIZE_MIB:-}" ]; then
  if [ "$avail_kib" -ge $((8 * 1024 * 1024)) ]; then SIZE_MIB=1024; else SIZE_MIB=256; fi
fi
. "$HERE/files-lib.sh"

# ---------------------------------------------------------------- servers, all at once
names=(); urls=(); users=(); passes=()
cp "$HEARTH_BIN" "$TMP/hearth"   # a private copy: the build directory may be rebuilt under us
HEARTH_BIN=$TMP/hearth
for s in $SERVERS; do
  if [ "$s" = hearth ]; then
    start_hearth "$TMP/hearth-data" "$TMP/hearth.log"; addr=$HADDR
    names+=(hearth); urls+=("http://$addr/remote.php/dav/files/$ADMIN/"); users+=("$ADMIN"); passes+=("$ADMIN_PASS")
    log "hearth PID $HPID at http://$addr ($("$HEARTH_BIN" --version 2>&1))"
  else
    if ! out=$("$PEERS_SH" start "$s" 2>"$TMP/$s.err"); then log "peer $s did not start, skipped: $(tail -1 "$TMP/$s.err")"; continue; fi
    STARTED+=("$s"); read -r pid url _ <<<"$out"
    names+=("$s"); urls+=("$url"); users+=("$PEER_USER"); passes+=("$PEER_PASS")
    log "$s PID $pid at $url"
  fi
done
[ "${names[0]:-}" = hearth ] && [ ${#names[@]} -ge 2 ] || die "need Hearth and at least one peer"

head -c $((SIZE_MIB * 1048576)) /dev/urandom > "$TMP/big.bin"
cat "$TMP/big.bin" > /dev/null   # in the page cache, so curl reads it from memory
head -c 4096 /dev/urandom > "$TMP/f4k"
for i in "${!names[@]}"; do
  c=(curl -sS --http1.1 -H 'Expect:' -u "${users[$i]}:${passes[$i]}" -o /dev/null)
  "${c[@]}" -X MKCOL "${urls[$i]}bench-il/" || true
  [ "$("${c[@]}" -w '%{http_code}' -T "$TMP/f4k" "${urls[$i]}bench-il/f4k.bin")" -lt 300 ] || die "${names[$i]}: PUT of the wrk file failed"
  # log in once (Hearth runs argon2 on the first request; a login cost, not a transfer cost)
  "${c[@]}" "${urls[$i]}bench-il/f4k.bin"
done

# ---------------------------------------------------------------- rounds
RES=$TMP/res; : > "$RES"
put_get() {  # put_get I ROUND
  local i=$1 r=$2 c out
  c=(curl -sS --http1.1 -H 'Expect:' -u "${users[$i]}:${passes[$i]}")
  sync
  out=$("${c[@]}" -o /dev/null -w '%{http_code} %{speed_upload}' -T "$TMP/big.bin" "${urls[$i]}bench-il/big.bin")
  set -- $out; [[ $1 =~ ^20[014]$ ]] || die "${names[$i]}: large PUT answered HTTP $1"
  echo "$r ${names[$i]} large_put $(awk -v v="$2" 'BEGIN{printf "%.0f", v/1e6}')" >> "$RES"
  out=$("${c[@]}" -o /dev/null -w '%{http_code} %{speed_download} %{size_download}' "${urls[$i]}bench-il/big.bin")
  set -- $out; [ "$1" = 200 ] && [ "$3" = $((SIZE_MIB * 1048576)) ] || die "${names[$i]}: large GET gave HTTP $1, $3 bytes"
  echo "$r ${names[$i]} large_get $(awk -v v="$2" 'BEGIN{printf "%.0f", v/1e6}')" >> "$RES"
  "${c[@]}" -o /dev/null -X DELETE "${urls[$i]}bench-il/big.bin" || true
}
small() {  # small I ROUND
  local i=$1 r=$2
  "$PY" "$HARNESS/wl-small.py" --url "${urls[$i]}" --user "${users[$i]}" --password "${passes[$i]}" \
    --repeat 1 --prefix "bench-il-small-$r" > "$TMP/small.out" 2>/dev/null || die "${names[$i]}: wl-small.py failed"
  awk -v r="$r" -v n="${names[$i]}" '/^small_upload/{print r, n, "small_up", $2} /^small_download/{print r, n, "small_down", $2}' \
    "$TMP/small.out" >> "$RES"
}
get4k() {  # get4k I ROUND
  local i=$1 r=$2 b64 rps
  b64=$(printf '%s:%s' "${users[$i]}" "${passes[$i]}" | base64 -w0)
  rps=$(wrk -t2 -c64 -d"$WRK_DURATION" -H "Authorization: Basic $b64" "${urls[$i]}bench-il/f4k.bin" 2>&1 \
        | awk '/^Requests\/sec:/{printf "%.0f", $2}')
  [ -n "$rps" ] || die "${names[$i]}: wrk failed"
  echo "$r ${names[$i]} wrk_get4k $rps" >> "$RES"
}
cpu_ticks() { awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print t, $9}' /proc/stat; }
read -r T0 S0 < <(cpu_ticks)
n=${#names[@]}
for r in $(seq 1 "$ROUNDS"); do
  order=(); for k in $(seq 0 $((n - 1))); do order+=($(( (k + r - 1) % n ))); done
  log "round $r of $ROUNDS: $(for i in "${order[@]}"; do printf '%s ' "${names[$i]}"; done)"
  for w in put_get small get4k; do
    for i in "${order[@]}"; do "$w" "$i" "$r"; done
  done
  log "round $r: $(awk -v r="$r" '$1==r{printf "%s %s %s; ", $2, $3, $4}' "$RES")"
done

read -r T1 S1 < <(cpu_ticks)

# ---------------------------------------------------------------- report
"$PY" - "$RES" "$SIZE_MIB" "$ROUNDS" "$("$HEARTH_BIN" --version 2>&1)" <<'EOF'
import statistics, sys
res, size, rounds, version = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
by = {}
for line in open(res):
    r, s, fig, v = line.split()
    by.setdefault(fig, {}).setdefault(s, {})[int(r)] = float(v)
servers = list(by["large_put"].keys())
servers = ["hearth"] + [s for s in servers if s != "hearth"]
label = {"large_put": f"PUT {size} MiB, MB/s", "large_get": f"GET {size} MiB, MB/s",
         "small_up": "2,000 x 4 KiB up, 8 clients, files/s", "small_down": "2,000 x 4 KiB down, 8 clients, files/s",
         "wrk_get4k": "GET 4 KiB, wrk 64 connections, req/s"}
print(f"## Files, side by side — {rounds} rounds, order rotating each round ({version})\n")
print("| figure | " + " | ".join(servers) + " |")
print("|---|" + "---|" * len(servers))
for fig, lab in label.items():
    cells = [f"{statistics.median(by[fig][s].values()):.0f}" if s in by[fig] else "–" for s in servers]
    print(f"| {lab} (median) | " + " | ".join(cells) + " |")
def ratios(fig, peer):
    h, p = by[fig]["hearth"], by[fig].get(peer, {})
    return [h[r] / p[r] for r in sorted(h) if r in p and p[r] > 0]
def best_peer(fig):  # the peer with the highest median (a max taken per round would favour noise)
    return max(servers[1:], key=lambda s: statistics.median(by[fig][s].values()) if by[fig].get(s) else 0)
def best_ratios(fig):
    return ratios(fig, best_peer(fig))
def fmt(xs):
    return " ".join(f"{x:.2f}" for x in xs)
print("\n| round by round, Hearth ÷ peer | " + " | ".join(servers[1:]) + " | best peer (by median) |")
print("|---|" + "---|" * len(servers))
for fig, lab in label.items():
    cells = [fmt(ratios(fig, s)) for s in servers[1:]]
    print(f"| {lab} | " + " | ".join(cells) + f" | {best_peer(fig)}: {fmt(best_ratios(fig))} |")
checks = []
def med(xs):
    return statistics.median(xs) if xs else float("nan")
if "nginx" in servers:
    g = med(ratios("large_get", "nginx")); checks.append(("1a GET ≥ 0.90× nginx", g, g >= 0.90))
    p = med(ratios("large_put", "nginx"))
    others = [med(ratios("large_put", s)) for s in servers[1:] if s != "nginx"]
    ok = p >= 0.80 and all(o > 1.0 for o in others)
    rest = [s for s in servers[1:] if s != "nginx"]
    ahead = f" and ahead of {', '.join(rest)} ({', '.join(f'{o:.2f}×' for o in others)})" if rest else ""
    checks.append((f"1b PUT ≥ 0.80× nginx{ahead}", p, ok))
    w = med(ratios("wrk_get4k", "nginx")); checks.append(("5 GET 4 KiB ≥ 0.5× nginx", w, w >= 0.5))
    if "rclone" in servers:
        w5 = med(ratios("wrk_get4k", "rclone")); checks.append(("5 GET 4 KiB ≥ 5× rclone", w5, w5 >= 5))
u = med(best_ratios("small_up")); checks.append((f"2a small uploads ≥ the best peer ({best_peer('small_up')})", u, u >= 1.0))
d = med(best_ratios("small_down")); checks.append((f"2b small downloads ≥ the best peer ({best_peer('small_down')})", d, d >= 1.0))
print("\n| check | median ratio over rounds | result |\n|---|---|---|")
for name, v, ok in checks:
    print(f"| {name} | **{v:.3g}×** | {'PASS' if ok else 'FAIL'} |")
EOF
echo
echo "- Host: $(nproc) cores; CPU time stolen by other tenants during the rounds: $(awk -v t=$((T1 - T0)) -v s=$((S1 - S0)) 'BEGIN{printf "%.0f", t ? 100 * s / t : 0}') % (/proc/stat). Each round's figures are in the log on stderr."
