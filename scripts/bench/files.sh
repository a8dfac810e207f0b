#!/usr/bin/env bash
# Files (WebDAV) benchmark for Hearth (a benchmark, not a test): Hearth against the reference
# peers (nginx + dav-ext, Apache mod_dav, rclone serve webdav; dufs if on PATH) from
# ../shared/bench in the SAME run, loopback only. Markdown tables on stdout, progress on stderr.
#
#   bash scripts/bench/files.sh > report.md   # from anywhere; ~12-13 min with the defaults
#
# Per pass, every server in turn (pass 2 in reverse order), each started fresh:
#   shared workloads via run-all.sh, one at a time so memory is measured per workload:
#     large (SIZE_MIB file PUT+GET, curl), small (2,000 x 4 KiB, 8 clients), propfind
#     (Depth 1 of 1,000/10,000 entries, DAV props only), wrk (GET 4 KiB, 64 conns, Basic auth)
#   files-propfind.py: Depth 1 of NC_ENTRIES entries with the desktop's property list (oc:id,
#     oc:fileid, oc:permissions, oc:size, ...; the same request to every server)
#   sync poll: wrk -c$SYNC_CONNS for SYNC_DURATION, PROPFIND Depth 0 of the root, desktop props
# Hearth only, pass 1 only:
#   files-propfind.py memflat: RSS during Depth 1 of 1,000 vs MEMFLAT_BIG entries, right after
#     filling them, then again after restarting Hearth on the same data dir (nothing cached)
#   files-family.py: 5 Depth-0 pollers (0.2 s) + FAMILY_MIB upload + NC_ENTRIES listing loop
# Memory: files-mem.py resets each server process's VmHWM (/proc/PID/clear_refs) before every
# workload and reads it after, plus 50 ms VmRSS sampling (process-tree sums for nginx/apache).
#
# Env: HEARTH_BIN (default release, else debug), PASSES (2), REPEAT (2, rounds inside each
#      shared workload), SIZE_MIB (1024 if >= 12 GiB free in TMPDIR, else 256), WRK_DURATION
#      (10s), SYNC_DURATION (10s), SYNC_CONNS (32), NC_ENTRIES (10000), MEMFLAT_BIG (100000),
#      FAMILY_MIB (1024), SERVERS ("hearth nginx apache rclone" [+dufs]), BUDGET_S (900: pass 2
#      is skipped when it would end later), KEEP_TMP=1, BENCH_HARNESS (../shared/bench),
#      BENCH_PORT_BASE (peer ports; default: first free of 39180, 39280, ...).
# Stops every process it starts by PID (trap on EXIT); peers via `peers.sh stop NAME`.
set -euo pipefail

T_START=$(date +%s.%N)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESS=${BENCH_HARNESS:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
PEERS_SH=$HARNESS/peers.sh
RUN_ALL=$HARNESS/run-all.sh
TARGET=${CARGO_TARGET_DIR:-/root/.cache/hearth-target}
if [ -z "${HEARTH_BIN:-}" ]; then
  if [ -x "$TARGET/release/hearth" ]; then HEARTH_BIN=$TARGET/release/hearth; else HEARTH_BIN=$TARGET/debug/hearth; fi
fi
PASSES=${PASSES:-2}; REPEAT=${REPEAT:-2}; WRK_DURATION=${WRK_DURATION:-10s}
SYNC_DURATION=${SYNC_DURATION:-10s}; SYNC_CONNS=${SYNC_CONNS:-32}; NC_ENTRIES=${NC_ENTRIES:-10000}
MEMFLAT_BIG=${MEMFLAT_BIG:-100000}; FAMILY_MIB=${FAMILY_MIB:-1024}; BUDGET_S=${BUDGET_S:-900}
ADMIN=alice; ADMIN_PASS=secret-pass-1; PEER_USER=${BENCH_USER:-alice}; PEER_PASS=${BENCH_PASS:-secret}
PY=${PYTHON:-python3}
MEM_PY=$HERE/files-mem.py; PF_PY=$HERE/files-propfind.py; FAM_PY=$HERE/files-family.py; REPORT_PY=$HERE/files-report.py

log() { echo "[files $(date +%H:%M:%S)] $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
[ -x "$PEERS_SH" ] && [ -x "$RUN_ALL" ] || die "peer harness not found at $HARNESS (set BENCH_HARNESS)"
for f in "$MEM_PY" "$PF_PY" "$FAM_PY" "$REPORT_PY"; do [ -f "$f" ] || die "missing helper $f"; done

# ---------------------------------------------------------------- dependencies
. "$HERE/files-deps.sh"
for c in curl ss wrk "$PY"; do command -v "$c" >/dev/null || die "$c not found"; done

if [ -z "${SERVERS:-}" ]; then
  SERVERS="hearth nginx apache rclone"
  command -v dufs >/dev/null && SERVERS="$SERVERS dufs"
fi
# wait for the binary if it is being rebuilt right now
for _ in $(seq 1 60); do [ -x "$HEARTH_BIN" ] && break; log "waiting for $HEARTH_BIN (rebuild?)"; sleep 2; done
[ -x "$HEARTH_BIN" ] || die "no Hearth binary at $HEARTH_BIN (set HEARTH_BIN)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hearth-files.XXXXXX")
chmod 755 "$TMP"   # Apache's workers (www-data) must traverse it to reach their document root
export BENCH_DATA=$TMP/peers
ROWS=$TMP/rows.txt; NOTES=$TMP/notes.txt; LOGS=$TMP/logs; mkdir -p "$LOGS"; : > "$ROWS"; : > "$NOTES"
HPID=""; STARTED_PEERS=(); BG=()

stop_hearth() {  # SIGTERM our server by PID, wait up to 15 s (shutdown grace is 10 s), then SIGKILL
  [ -n "$HPID" ] || return 0
  local pid=$HPID st=0 t0; HPID=""; t0=$(date +%s%N)
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    note "SERVER: hearth (PID $pid) still running 15 s after SIGTERM; sent SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || st=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$st" = 0 ] || note "SERVER: hearth (PID $pid) exit status $st after SIGTERM (expected 0)"
  [ "$ms" -lt 3000 ] || note "SERVER: hearth (PID $pid) took $ms ms to exit after SIGTERM"
}
cleanup() {
  local rc=$?
  for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  stop_hearth || true
  for p in "${STARTED_PEERS[@]}"; do "$PEERS_SH" stop "$p" >/dev/null 2>&1 || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# a private copy: the build directory may be rebuilt under us, and both passes must run the same binary
HEARTH_SRC=$HEARTH_BIN; HEARTH_BIN=$TMP/hearth
cp "$HEARTH_SRC" "$HEARTH_BIN" || die "cannot copy $HEARTH_SRC"
HEARTH_INFO="$HEARTH_SRC, $(date -u -r "$HEARTH_SRC" '+built %Y-%m-%d %H:%M UTC'), $("$HEARTH_BIN" --version 2>&1)"

note() { echo "- $*" >> "$NOTES"; log "$*"; }
row()  { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" >> "$ROWS"; }
rows_from() {  # rows_from SERVER FILE: FIGURE<TAB>VALUE<TAB>UNIT lines -> rows
  local s=$1 fig val unit
  while IFS=$'\t' read -r fig val unit; do [ -z "$fig" ] || row "$s" "$fig" "$val" "$unit"; done < "$2"
  return 0
}
elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b-a}'; }

# ---------------------------------------------------------------- sizes, ports
avail_kib=$(df -Pk "$TMP" | awk 'NR==2{print $4}')
if [ -z "${SIZE_MIB:-}" ]; then
  if [ "$avail_kib" -ge $((12 * 1024 * 1024)) ]; then SIZE_MIB=1024; else
    SIZE_MIB=256; note "only $((avail_kib / 1024)) MiB free in $TMP: large file is 256 MiB instead of the issue's 1 GiB"; fi
fi
if [ "$avail_kib" -lt $(( (FAMILY_MIB * 3 + SIZE_MIB * 4) * 1024 )) ]; then
  FAMILY_MIB=256; note "little disk space: family upload reduced to 256 MiB"
fi
. "$HERE/files-lib.sh"

# ---------------------------------------------------------------- hearth
hearth_log_findings() {  # LOG LABEL: non-2xx statuses by method, ERROR/WARN/panic lines
  local logf=$1 label=$2 sum
  sum=$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | awk '/ status=/{m="";s=""; for(i=1;i<=NF;i++){if($i~/^method=/)m=substr($i,8); if($i~/^status=/)s=substr($i,8)} if(s+0>=400) c[m" "s]++; n++}
      END{for(k in c) printf "%s x%d; ", k, c[k]; printf "(of %d requests)", n}')
  case $sum in "(of"*) log "hearth $label: no 4xx/5xx in $sum";; *) note "hearth $label: 4xx/5xx answers by method/status: $sum";; esac
  local bad; bad=$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | grep -aE ' (ERROR|WARN) |panicked' | grep -v 'not set up yet' || true)
  if [ -n "$bad" ]; then
    note "SERVER: hearth $label: $(echo "$bad" | wc -l) ERROR/WARN/panic log line(s), first: $(echo "$bad" | head -2 | cut -c1-300 | tr '\n' ' ')"
  fi
}

# ---------------------------------------------------------------- workloads
run_wl() {  # run_wl SERVER PID URL USER PASS WORKLOAD: one shared workload via run-all.sh + memory
  local s=$1 pid=$2 url=$3 u=$4 pw=$5 w=$6 wp st=0
  "$PY" "$MEM_PY" watch "$pid" "$TMP/mem.out" "$w" & wp=$!; BG+=("$wp")
  env SIZE_MIB="$SIZE_MIB" REPEAT="$REPEAT" DURATION="$WRK_DURATION" WORKLOADS="$w" \
    "$RUN_ALL" "$s" webdav "$url" "$u" "$pw" > "$TMP/ra.out" 2> >(tee -a "$LOGS/$s.err" >&2) || st=$?
  kill -TERM "$wp" 2>/dev/null || true; wait "$wp" 2>/dev/null || true
  cat "$TMP/ra.out" >> "$ROWS"
  [ -s "$TMP/mem.out" ] && rows_from "$s" "$TMP/mem.out"
  [ "$st" = 0 ] || note "$s: workload $w failed (run-all exit $st; see the [$s $w] lines above): $(grep -a "\[$s $w\]" "$LOGS/$s.err" | grep -aiE 'fail|error|unexpected|HTTP' | tail -2 | tr '\n' ' ')"
}
run_py() {  # run_py SERVER PID LABEL SCRIPT ARGS...: a helper script + memory
  local s=$1 pid=$2 label=$3 wp st=0 t0; shift 3; t0=$(date +%s)
  "$PY" "$MEM_PY" watch "$pid" "$TMP/mem.out" "$label" & wp=$!; BG+=("$wp")
  "$PY" "$@" > "$TMP/py.out" 2> >(sed -u "s/^/[$s $label] /" | tee -a "$LOGS/$s.err" >&2) || st=$?
  kill -TERM "$wp" 2>/dev/null || true; wait "$wp" 2>/dev/null || true
  rows_from "$s" "$TMP/py.out"
  [ -s "$TMP/mem.out" ] && rows_from "$s" "$TMP/mem.out"
  row "$s" "${label}_wall" "$(( $(date +%s) - t0 ))" s
  [ "$st" = 0 ] || { note "$s: $label failed (exit $st): $(tail -2 "$LOGS/$s.err" | tr '\n' ' ' | cut -c1-400)"; return 1; }
}
DESKTOP_ROOT_BODY=$("$PY" -c 'import importlib.util,sys; s=importlib.util.spec_from_file_location("fp",sys.argv[1]); m=importlib.util.module_from_spec(s); s.loader.exec_module(m); sys.stdout.write(m.desktop_body(True).decode())' "$PF_PY")
sync_poll() {  # sync_poll SERVER PID URL USER PASS: wrk PROPFIND Depth 0 of the root, desktop props
  local s=$1 pid=$2 url=$3 u=$4 pw=$5 lua=$TMP/sync.lua b64 code fig="sync_poll_depth0_c$SYNC_CONNS" wp
  b64=$(printf '%s:%s' "$u" "$pw" | base64 -w0)
  code=$(curl -s -o "$TMP/poll.xml" -w '%{http_code}' -u "$u:$pw" -X PROPFIND -H 'Depth: 0' \
         -H 'Content-Type: application/xml; charset=utf-8' --data-binary "$DESKTOP_ROOT_BODY" "$url" || true)
  if [ "$code" != 207 ]; then note "$s: sync poll PROPFIND answered HTTP $code, wrk skipped"; row "$s" "${fig}_rps" "HTTP $code" req/s; return 0; fi
  [ "$s" = hearth ] && ! grep -q '<oc:fileid>[0-9]' "$TMP/poll.xml" && note "hearth: Depth-0 PROPFIND of the root has no oc:fileid value"
  { echo 'wrk.method = "PROPFIND"'
    echo 'wrk.headers["Depth"] = "0"'
    echo "wrk.headers[\"Authorization\"] = \"Basic $b64\""
    echo 'wrk.headers["Content-Type"] = "application/xml; charset=utf-8"'
    printf 'wrk.body = [==[%s]==]\n' "$DESKTOP_ROOT_BODY"; } > "$lua"
  "$PY" "$MEM_PY" watch "$pid" "$TMP/mem.out" sync_poll & wp=$!; BG+=("$wp")
  log "$s: sync poll: wrk -t2 -c$SYNC_CONNS -d$SYNC_DURATION PROPFIND Depth 0 $url"
  wrk -t2 -c"$SYNC_CONNS" -d"$SYNC_DURATION" --latency -s "$lua" "$url" > "$TMP/wrk.out" 2>&1 || true
  kill -TERM "$wp" 2>/dev/null || true; wait "$wp" 2>/dev/null || true
  local rps p99 errs
  rps=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$TMP/wrk.out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) sub(/ms$/,"",v); else {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' "$TMP/wrk.out")
  errs=$(awk '/Non-2xx or 3xx responses:/{s+=$NF} /Socket errors:/{gsub(/,/,""); s+=$4+$6+$8+$10} END{print s+0}' "$TMP/wrk.out")
  [ -n "$rps" ] || { note "$s: sync poll wrk failed: $(tr '\n' ' ' < "$TMP/wrk.out" | cut -c1-300)"; return 0; }
  row "$s" "${fig}_rps" "$rps" req/s; row "$s" "${fig}_p99" "$p99" ms; row "$s" "${fig}_errors" "$errs" count
  [ -s "$TMP/mem.out" ] && rows_from "$s" "$TMP/mem.out"
  log "$s: sync poll $rps req/s, p99 $p99 ms, errors $errs"
  [ "$errs" = 0 ] || note "$s: sync poll wrk: $errs errors ($(grep -E 'Non-2xx|Socket errors' "$TMP/wrk.out" | tr -s ' ' | tr '\n' ';'))"
}

alive() { kill -0 "$1" 2>/dev/null; }
bench_server() {  # bench_server NAME PASS
  local s=$1 pass=$2 pid url u pw fillm
  log "=== pass $pass: $s (t=$(elapsed) s)"
  if [ "$s" = hearth ]; then
    local hd=$TMP/hearth-$pass
    start_hearth "$hd/data" "$LOGS/hearth-$pass.log"
    pid=$HPID; url="http://$HADDR/remote.php/dav/files/$ADMIN/"; u=$ADMIN; pw=$ADMIN_PASS; fillm=auto
    log "hearth PID $pid at $url ($("$HEARTH_BIN" --version 2>&1))"
  else
    if [ "$s" = dufs ] && ! command -v dufs >/dev/null; then note "dufs skipped: not on PATH"; return 0; fi
    local out
    if ! out=$("$PEERS_SH" start "$s" 2>>"$LOGS/$s.err"); then note "peer $s failed to start: $(tail -2 "$LOGS/$s.err" | tr '\n' ' ')"; return 0; fi
    STARTED_PEERS+=("$s")
    read -r pid url _ <<<"$out"; u=$PEER_USER; pw=$PEER_PASS; fillm="dir:$BENCH_DATA/$s/root"
    # rclone caches directory listings (--dir-cache-time 5m) and would not see a folder written
    # behind its back (and v1.60 stops serving on SIGHUP), so it gets its folder by PUT
    [ "$s" = rclone ] && fillm=put
  fi
  # log in once (Hearth hashes the password on the first request, ~19 MiB of argon2 for a moment;
  # that is a login cost, not part of the transfer figures)
  curl -s -o /dev/null -u "$u:$pw" -X PROPFIND -H 'Depth: 0' "$url" || true
  row "$s" rss_idle "$("$PY" "$HARNESS/rss.py" snapshot "$pid" | awk -F'\t' '$1=="rss_idle"{print $2}')" MiB
  for w in large small propfind wrk; do
    alive "$pid" || break
    run_wl "$s" "$pid" "$url" "$u" "$pw" "$w"
  done
  if alive "$pid"; then
    local folder=bench-nc$NC_ENTRIES
    "$PY" "$PF_PY" fill --url "$url" --user "$u" --password "$pw" --folder "$folder" --entries "$NC_ENTRIES" \
      --method "$fillm" > "$TMP/py.out" 2> >(tee -a "$LOGS/$s.err" >&2) && rows_from "$s" "$TMP/py.out" \
      || note "$s: filling $folder failed"
    if [ "$s" = hearth ] && grep -q '_rate_put' "$TMP/py.out" && [ ! -f "$TMP/nobulk.noted" ]; then
      touch "$TMP/nobulk.noted"
      note "this Hearth binary does not answer POST /remote.php/dav/bulk (404; the bulk-probe POSTs below are that), so Hearth's folders were filled with parallel PUTs"
    fi
    run_py "$s" "$pid" ncpropfind "$PF_PY" time --url "$url" --user "$u" --password "$pw" --folder "$folder" \
      --entries "$NC_ENTRIES" --repeat 20 --label nc || true
  fi
  alive "$pid" && sync_poll "$s" "$pid" "$url" "$u" "$pw"
  if [ "$s" = hearth ] && [ "$pass" = 1 ]; then
    alive "$pid" && { run_py hearth "$pid" memflat "$PF_PY" memflat --url "$url" --user "$u" --password "$pw" \
      --pid "$pid" --small 1000 --big "$MEMFLAT_BIG" --rounds 2 --prefix bench-mf --keep || true; }
    # the same folders again from a freshly started server: nothing of the tree is cached in
    # memory yet, so what a big listing pulls into memory shows (the run above follows the fill)
    if alive "$pid"; then
      stop_hearth; hearth_log_findings "$LOGS/hearth-$pass.log" "pass $pass, before the restart"
      mv "$LOGS/hearth-$pass.log" "$LOGS/hearth-$pass-a.log"
      start_hearth "$hd/data" "$LOGS/hearth-$pass.log" nosetup
      pid=$HPID; url="http://$HADDR/remote.php/dav/files/$ADMIN/"
      log "hearth restarted on the same data dir: PID $pid"
      curl -s -o /dev/null -u "$u:$pw" -X PROPFIND -H 'Depth: 0' "$url" || true
      row hearth rss_idle_restarted_101k_files "$("$PY" "$HARNESS/rss.py" snapshot "$pid" | awk -F'\t' '$1=="rss_idle"{print $2}')" MiB
      run_py hearth "$pid" memflat_cold "$PF_PY" memflat --url "$url" --user "$u" --password "$pw" \
        --pid "$pid" --small 1000 --big "$MEMFLAT_BIG" --rounds 2 --prefix bench-mf --skip-fill --keep --tag _cold || true
    fi
    if alive "$pid"; then
      if [ ! -f "$TMP/family.bin" ]; then log "writing the $FAMILY_MIB MiB upload file"; head -c $((FAMILY_MIB * 1048576)) /dev/urandom > "$TMP/family.bin"; fi
      run_py hearth "$pid" family "$FAM_PY" --url "$url" --user "$u" --password "$pw" --pid "$pid" \
        --upload-file "$TMP/family.bin" --list-folder "bench-nc$NC_ENTRIES" --pollers 5 --interval 0.2 || true
      rm -f "$TMP/family.bin"
    fi
  fi
  if ! alive "$pid"; then
    local lf=$LOGS/hearth-$pass.log; [ "$s" = hearth ] || lf=$BENCH_DATA/$s/log
    note "SERVER: $s (PID $pid) died during pass $pass; last log lines: $(tail -3 "$lf" 2>/dev/null | tr '\n' ' ' | cut -c1-400)"
  fi
  row "$s" rss_end "$("$PY" "$HARNESS/rss.py" snapshot "$pid" | awk -F'\t' '$1=="rss_idle"{print $2}')" MiB
  if [ "$s" = hearth ]; then
    stop_hearth; hearth_log_findings "$LOGS/hearth-$pass.log" "pass $pass"; rm -rf "$TMP/hearth-$pass"
  else
    local errs; errs=$(grep -ahE '\[(error|crit|alert|emerg)\]|ERROR|:error\]' "$BENCH_DATA/$s/error.log" "$BENCH_DATA/$s/log" 2>/dev/null || true)
    [ -z "$errs" ] || note "peer $s pass $pass: $(echo "$errs" | wc -l) error-log line(s), first: $(echo "$errs" | head -1 | cut -c1-220)"
    "$PEERS_SH" stop "$s" || true
    local keep=(); for p in "${STARTED_PEERS[@]}"; do [ "$p" = "$s" ] || keep+=("$p"); done; STARTED_PEERS=("${keep[@]}")
  fi
}

# ---------------------------------------------------------------- machine yardsticks
# What no server can beat here, measured in this run: the disk's durable write rate (dd
# conv=fdatasync) bounds a durable PUT; SHA-1 of a page-cached file bounds a checksummed one.
limits() {
  local out t0 t1 f=$TMP/limit-sha1.bin
  if out=$(env SIZE_MIB="$SIZE_MIB" REPEAT=2 BENCH_DATA="$BENCH_DATA" "$HARNESS/machine-limit.sh" 2>>"$LOGS/limits.err"); then
    printf '%s\n' "$out" | while IFS=$'\t' read -r fig val unit; do [ -z "$fig" ] || row machine "$fig" "$val" "$unit"; done
  else note "machine-limit.sh failed: $(tail -2 "$LOGS/limits.err" | tr '\n' ' ')"; fi
  head -c $((SIZE_MIB * 1048576)) /dev/urandom > "$f"; cat "$f" > /dev/null
  # OpenSSL's SHA-1 uses the CPU's SHA extensions as Hearth's does; coreutils' sha1sum does not
  local sha=(sha1sum "$f") tag=sha1sum
  command -v openssl >/dev/null && { sha=(openssl dgst -sha1 "$f"); tag=openssl_sha1; }
  t0=$(date +%s.%N); "${sha[@]}" > /dev/null; t1=$(date +%s.%N)
  row machine "limit_${tag}_${SIZE_MIB}MiB" "$(awk -v a="$t0" -v b="$t1" -v n=$((SIZE_MIB * 1048576)) 'BEGIN{printf "%.0f", n/(b-a)/1e6}')" MB/s
  rm -f "$f"
}
log "machine yardsticks (machine-limit.sh, SHA-1 of a page-cached file)"
limits

# ---------------------------------------------------------------- passes
log "Hearth binary: $HEARTH_INFO; servers: $SERVERS; passes: $PASSES; large file $SIZE_MIB MiB; peer ports from $((BENCH_PORT_BASE + 1))"
order=($SERVERS); PASS_DONE=0; T_PASS1=0; T_EXTRA=0
for pass in $(seq 1 "$PASSES"); do
  if [ "$pass" -gt 1 ]; then
    est=$(( T_PASS1 - T_EXTRA ))
    if [ $(( $(elapsed) + est )) -gt "$BUDGET_S" ]; then
      note "pass $pass skipped: it would take ~$est s and end after the ${BUDGET_S} s budget (BUDGET_S); figures are from $PASS_DONE pass(es)"
      break
    fi
    rev=(); for ((i=${#order[@]}-1; i>=0; i--)); do rev+=("${order[i]}"); done; order=("${rev[@]}")
  fi
  tp=$(elapsed)
  for s in "${order[@]}"; do
    t0=$(elapsed)
    bench_server "$s" "$pass"
    row "$s" "server_wall_pass$pass" "$(( $(elapsed) - t0 ))" s
  done
  PASS_DONE=$pass
  if [ "$pass" = 1 ]; then
    T_PASS1=$(( $(elapsed) - tp ))
    T_EXTRA=$(awk -F'|' '$2~/hearth/ && $3~/^ *(memflat|memflat_cold|family)_wall/{gsub(/ /,"",$4); s+=$4} END{print s+0}' "$ROWS")
  fi
done

# ---------------------------------------------------------------- report
cols="hearth"; for s in $SERVERS; do [ "$s" = hearth ] || cols="$cols,$s"; done
{
  echo "## Hearth files (WebDAV) benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Binary \`$HEARTH_INFO\` ($(basename "$(dirname "$HEARTH_SRC")") profile), $(nproc) cores shared by client and server, load average at end $(cut -d' ' -f1-3 /proc/loadavg); loopback only; $PASS_DONE pass(es), REPEAT=$REPEAT rounds inside each shared workload; a cell with (n=2) is the median of the passes."
  echo
  grep -v '^| machine |' "$ROWS" > "$TMP/rows-servers.txt" || true
  "$PY" "$HARNESS/table.py" "$TMP/rows-servers.txt" --order "$cols"
  echo
  echo "Machine yardsticks (same run, before the servers): $(awk -F'|' '$2~/machine/{gsub(/^ +| +$/,"",$3); gsub(/ /,"",$4); gsub(/^ +| +$/,"",$5); printf "%s%s %s %s", sep, $3, $4, $5; sep="; "}' "$ROWS")."
  echo
  "$PY" "$REPORT_PY" "$ROWS" "$SIZE_MIB" "$SYNC_CONNS" "$FAMILY_MIB" "$MEMFLAT_BIG" "$NC_ENTRIES"
  echo
  echo "Notes:"
  echo "- Figures: \`large_*\`, \`small_*\`, \`propfind_depth1_*\`, \`wrk_get4k_*\` come from ../shared/bench (run-all.sh, one workload at a time); \`propfind_nc_*\` = files-propfind.py, Depth 1 with the desktop 3.7 discovery property list sent to every server (peers answer the oc:/nc: ones with a 404 propstat; their folders are filled on disk, Hearth's through the bulk endpoint or PUT); \`sync_poll_*\` = wrk -t2 -c$SYNC_CONNS -d$SYNC_DURATION, PROPFIND Depth 0 of the files root with that list (+ oc:data-fingerprint), Basic auth."
  echo "- Memory: \`mem_vmhwm_W\` = kernel peak RSS (VmHWM) during workload W, counter reset before it via /proc/PID/clear_refs (summed over nginx/apache worker trees, so an upper bound there); \`mem_peak_sampled_W\` = max of the summed VmRSS sampled every 50 ms. Each server logs in once before the workloads (Hearth's first login runs argon2, ~19 MiB for a moment, not counted in the workload peaks)."
  echo "- Hearth logs every request at INFO into a file (default config); peers log errors only."
  echo "- Versions: $("$PEERS_SH" versions 2>/dev/null | grep -E '^(nginx|apache|rclone|wrk):' | sed -E 's/ \(libnginx.*//; s/Server version: //; s/nginx version: //; s/ Copyright.*//' | tr '\n' ';' | sed 's/;$//; s/;/; /g')$(command -v dufs >/dev/null && echo "; dufs: $(dufs --version 2>&1)")"
  cat "$NOTES"
  echo "- Wall time of this run: $(elapsed) s."
}
