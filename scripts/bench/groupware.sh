#!/usr/bin/env bash
# Groupware (CalDAV/CardDAV) benchmark for Hearth (a benchmark, not a test): Hearth against the
# reference peers Radicale and Xandikos (PyPI, started by ../shared/bench/peers.sh) in the SAME
# run, loopback only. Markdown on stdout and in out/bench/groupware-<date>.md; progress on stderr.
#
#   bash scripts/bench/groupware.sh          # from anywhere; ~40 min with the defaults on 2 shared
#                                            # cores: Hearth ~1.5 min, each peer ~20 min (their PUT rate
#                                            # falls to ~5/s as a calendar grows; MAX_IMPORT_S caps it)
#
# Every server in turn, each started fresh (groupware-dav.py suite, request bodies of the
# harness's wl-caldav.py, built on its davlib.py):
#   MKCALENDAR, import EVENTS events with CLIENTS concurrent PUT workers (events/s), spread over
#   SPREAD_DAYS days so the one-month window (March 2025) holds ~1,600 of 5,000; calendar-query
#   of that month (etag only, and with calendar-data), median of REPEAT; sync-collection initial
#   and after 10 changed events; extended MKCOL address book, import CARDS vCards,
#   addressbook-query (FN contains "smith", with address-data).
#   Memory of each server during that suite: ../shared/bench/rss.py (0.2 s samples, VmHWM).
# Hearth only: MKCALENDAR + BIG_EVENTS events (BIG_PROCS x BIG_THREADS parallel PUT workers)
#   spread over 365 days, then calendar-query with calendar-data over ALL of them and over one
#   month, reading the streamed answer, while VmRSS of the hearth PID is sampled every 5 ms and
#   its VmHWM (reset through /proc/PID/clear_refs first) is read afterwards; done right after the
#   import ("warm") and again after restarting Hearth on the same data dir ("cold").
# Targets (issue #5): import ≥ 50× the faster peer; month REPORT with calendar-data ≤ 1/10 of the
#   faster peer; sync-collection after 10 changes ≤ 5 ms; addressbook-query ≤ 1/10 of the faster
#   peer; Hearth RSS < 40 MiB while streaming a REPORT over the big calendar.
#
# Env: HEARTH_BIN (default release build, else debug with a warning that the figures do not count),
#      EVENTS (5000), CARDS (2000), CLIENTS (8), REPEAT (20), SPREAD_DAYS (96), BIG_EVENTS (50000),
#      BIG_PROCS (4), BIG_THREADS (4), MAX_IMPORT_S (900, cap per import phase), PEERS
#      ("radicale xandikos"), PEER_VENV (~/.cache/hearth-bench-peers: radicale and xandikos are
#      pip-installed there when missing), OUT_DIR (<repo>/out/bench), KEEP_TMP=1,
#      BENCH_HARNESS (../shared/bench), BENCH_PORT_BASE (peer ports; default: first free range).
# Stops every process it starts by PID (trap on EXIT); peers via `peers.sh stop NAME`.
set -euo pipefail

T_START=$(date +%s.%N)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESS=${BENCH_HARNESS:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
export BENCH_HARNESS=$HARNESS
PEERS_SH=$HARNESS/peers.sh
RSS_PY=$HARNESS/rss.py
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/hearth-target}
EVENTS=${EVENTS:-5000}; CARDS=${CARDS:-2000}; CLIENTS=${CLIENTS:-8}; REPEAT=${REPEAT:-20}
SPREAD_DAYS=${SPREAD_DAYS:-96}; BIG_EVENTS=${BIG_EVENTS:-50000}; BIG_PROCS=${BIG_PROCS:-4}; BIG_THREADS=${BIG_THREADS:-4}
MAX_IMPORT_S=${MAX_IMPORT_S:-900}; PEERS=${PEERS:-radicale xandikos}
PEER_VENV=${PEER_VENV:-$HOME/.cache/hearth-bench-peers}
OUT_DIR=${OUT_DIR:-$REPO/out/bench}
ADMIN=alice; ADMIN_PASS=secret-pass-1; PEER_USER=${BENCH_USER:-alice}; PEER_PASS=${BENCH_PASS:-secret}
PY=${PYTHON:-python3}
GW_PY=$HERE/groupware-dav.py; REPORT_PY=$HERE/groupware-report.py

log() { echo "[groupware $(date +%H:%M:%S)] $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
[ -x "$PEERS_SH" ] && [ -f "$RSS_PY" ] && [ -f "$HARNESS/davlib.py" ] || die "peer harness not found at $HARNESS (set BENCH_HARNESS)"
for f in "$GW_PY" "$REPORT_PY"; do [ -f "$f" ] || die "missing helper $f"; done
for c in curl ss "$PY"; do command -v "$c" >/dev/null || die "$c not found"; done

# ---------------------------------------------------------------- Hearth binary
PROFILE=release
if [ -z "${HEARTH_BIN:-}" ]; then
  HEARTH_BIN=$TARGET/release/hearth
  if [ ! -x "$HEARTH_BIN" ]; then HEARTH_BIN=$TARGET/debug/hearth; PROFILE=debug; fi
else
  case $HEARTH_BIN in */debug/*) PROFILE=debug;; */release/*) PROFILE=release;; *) PROFILE=custom;; esac
fi
if [ "$PROFILE" = debug ]; then
  log "################################################################################"
  log "WARNING: using the DEBUG binary $HEARTH_BIN"
  log "WARNING: debug figures do NOT count against the issue's targets (build --release)"
  log "################################################################################"
fi
# the build directory may be rebuilt under us: wait for the binary, copy it, check the copy runs
for _ in $(seq 1 90); do [ -x "$HEARTH_BIN" ] && break; log "waiting for $HEARTH_BIN (rebuild?)"; sleep 2; done
[ -x "$HEARTH_BIN" ] || die "no Hearth binary at $HEARTH_BIN (set HEARTH_BIN)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hearth-groupware.XXXXXX")
export BENCH_DATA=$TMP/peers
ROWS=$TMP/rows.txt; NOTES=$TMP/notes.txt; LOGS=$TMP/logs; mkdir -p "$LOGS"; : > "$ROWS"; : > "$NOTES"
HPID=""; STARTED_PEERS=(); BG=()

note() { echo "- $*" >> "$NOTES"; log "$*"; }
row()  { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" >> "$ROWS"; }
rows_from() {  # rows_from SERVER FILE [PREFIX]: FIGURE<TAB>VALUE<TAB>UNIT lines -> rows
  local s=$1 pre=${3:-} fig val unit
  while IFS=$'\t' read -r fig val unit; do [ -z "$fig" ] || row "$s" "$pre$fig" "$val" "$unit"; done < "$2"
  return 0
}
elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b-a}'; }

stop_hearth() {  # SIGTERM our server by PID, wait up to 15 s, then SIGKILL
  [ -n "$HPID" ] || return 0
  local pid=$HPID st=0; HPID=""
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    note "SERVER: hearth (PID $pid) still running 15 s after SIGTERM; sent SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || st=$?
  [ "$st" = 0 ] || note "SERVER: hearth (PID $pid) exit status $st after SIGTERM (expected 0)"
}
cleanup() {
  local rc=$?
  for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  stop_hearth || true
  for p in "${STARTED_PEERS[@]}"; do PATH="$PEER_VENV/bin:$PATH" "$PEERS_SH" stop "$p" >/dev/null 2>&1 || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

HEARTH_SRC=$HEARTH_BIN; HEARTH_BIN=$TMP/hearth
for try in 1 2 3 4 5; do
  if cp "$HEARTH_SRC" "$HEARTH_BIN" 2>/dev/null && "$HEARTH_BIN" --version >/dev/null 2>&1; then break; fi
  [ "$try" = 5 ] && die "cannot copy and run $HEARTH_SRC"
  log "copy of $HEARTH_SRC failed (rebuild in progress?); retrying"; sleep 5
done
HEARTH_INFO="$HEARTH_SRC, $(date -u -r "$HEARTH_SRC" '+built %Y-%m-%d %H:%M UTC'), $("$HEARTH_BIN" --version 2>&1)"
src_ct=$(git -C "$REPO" log -1 --format=%ct -- src 2>/dev/null || echo 0)
if [ "${src_ct:-0}" -gt "$(date -r "$HEARTH_SRC" +%s)" ]; then
  note "the Hearth binary ($(date -u -r "$HEARTH_SRC" '+%H:%M UTC')) is older than the last commit to src/ ($(date -u -d "@$src_ct" '+%H:%M UTC')); it may not be the current code"
fi

# ---------------------------------------------------------------- peers: install, ports
if [ -n "$PEERS" ]; then
  need=()
  for p in $PEERS; do [ -x "$PEER_VENV/bin/$p" ] || need+=("$p"); done
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} into $PEER_VENV (pip)"
    { [ -x "$PEER_VENV/bin/pip" ] || "$PY" -m venv "$PEER_VENV"; } >&2 || die "cannot create the venv $PEER_VENV (apt-get install python3-venv?)"
    "$PEER_VENV/bin/pip" install -q "${need[@]}" >&2 || log "pip install ${need[*]} failed; the affected peers will be skipped"
  fi
fi
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
if [ -z "${BENCH_PORT_BASE:-}" ]; then
  for base in 39180 39280 39380 39480 39580 39680; do
    ok=1; for i in 5 6; do port_free $((base + i)) || ok=0; done
    [ $ok = 1 ] && { BENCH_PORT_BASE=$base; break; }
  done
  [ -n "${BENCH_PORT_BASE:-}" ] || die "no free peer port range found; set BENCH_PORT_BASE"
fi
export BENCH_PORT_BASE

# ---------------------------------------------------------------- hearth
UNSET_HEARTH=(); for v in $(compgen -e | grep '^HEARTH_' || true); do UNSET_HEARTH+=(-u "$v"); done
HADDR=""
start_hearth() {  # start_hearth DATADIR LOG [nosetup]: sets HPID, HADDR; runs `hearth setup` unless nosetup
  local dir=$1 logf=$2 nosetup=${3:-}
  env "${UNSET_HEARTH[@]}" NO_COLOR=1 "$HEARTH_BIN" serve --data "$dir" --http 127.0.0.1:0 >"$logf" 2>&1 &
  HPID=$!
  HADDR=""
  for _ in $(seq 1 300); do
    kill -0 "$HPID" 2>/dev/null || { tail -5 "$logf" >&2; HPID=""; die "hearth serve exited at start (log above)"; }
    HADDR=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$logf" | head -1)
    [ -n "$HADDR" ] && curl -sf -o /dev/null -m 1 "http://$HADDR/status.php" && break
    HADDR=""; sleep 0.05
  done
  [ -n "$HADDR" ] || die "hearth did not answer on its 'listening on' address within 15 s"
  [ -z "$nosetup" ] || return 0
  local out
  out=$(printf '%s\n' "$ADMIN_PASS" | env "${UNSET_HEARTH[@]}" NO_COLOR=1 "$HEARTH_BIN" setup --data "$dir" \
        --name bench --admin "$ADMIN" --password-stdin 2>&1) || die "hearth setup failed: $out"
}
hearth_log_findings() {  # LOG LABEL: non-2xx by method/status, ERROR/WARN/panic lines, slow requests
  local logf=$1 label=$2 sum slow
  sum=$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | awk '/ status=/{m="";s=""; for(i=1;i<=NF;i++){if($i~/^method=/)m=substr($i,8); if($i~/^status=/)s=substr($i,8)} if(s+0>=400) c[m" "s]++; n++}
      END{for(k in c) printf "%s x%d; ", k, c[k]; printf "(of %d requests)", n}')
  case $sum in "(of"*) log "hearth $label: no 4xx/5xx in $sum";; *) note "hearth $label: 4xx/5xx answers by method/status: $sum";; esac
  local bad; bad=$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | grep -aE ' (ERROR|WARN) |panicked' | grep -v 'not set up yet' || true)
  [ -z "$bad" ] || note "SERVER: hearth $label: $(echo "$bad" | wc -l) ERROR/WARN/panic log line(s), first: $(echo "$bad" | head -2 | cut -c1-300 | tr '\n' ' ')"
  # requests whose server-side time (the log's ms=, up to the response head) exceeded 1 s
  slow=$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | awk '/ status=/{m="";t=0; for(i=1;i<=NF;i++){if($i~/^method=/)m=substr($i,8); if($i~/^ms=/)t=substr($i,4)+0}
      if(t>1000){c[m]++; if(t>mx[m])mx[m]=t}} END{for(k in c) printf "%s x%d (max %.0f ms); ", k, c[k], mx[k]}')
  [ -z "$slow" ] || note "hearth $label: requests over 1 s server-side (log ms=): $slow"
}

run_suite() {  # run_suite SERVER PID CAL_URL CARD_URL USER PASS
  local s=$1 pid=$2 url=$3 card=$4 u=$5 pw=$6 wp st=0 t0; t0=$(date +%s)
  "$PY" "$RSS_PY" snapshot "$pid" | awk -F'\t' '$1=="rss_idle"' > "$TMP/idle.out"; rows_from "$s" "$TMP/idle.out"
  "$PY" "$RSS_PY" watch "$pid" "$TMP/peak.out" & wp=$!; BG+=("$wp")
  log "$s: suite ($EVENTS events, $CARDS cards, $CLIENTS clients) at $url"
  "$PY" "$GW_PY" suite --url "$url" --card-url "$card" --user "$u" --password "$pw" --events "$EVENTS" \
    --cards "$CARDS" --clients "$CLIENTS" --repeat "$REPEAT" --spread-days "$SPREAD_DAYS" --max-seconds "$MAX_IMPORT_S" \
    > "$TMP/suite.out" 2> >(sed -u "s/^/[$s] /" | tee -a "$LOGS/$s.err" >&2) || st=$?
  kill -TERM "$wp" 2>/dev/null || true; wait "$wp" 2>/dev/null || true
  rows_from "$s" "$TMP/suite.out"
  [ -s "$TMP/peak.out" ] && rows_from "$s" "$TMP/peak.out" suite_
  row "$s" suite_wall "$(( $(date +%s) - t0 ))" s
  sleep 0.3   # let the process-substitution tee finish
  { grep -a "^\[$s\] CHECK: " "$LOGS/$s.err" 2>/dev/null || true; } | sed "s/^\[$s\] CHECK: //" | while read -r l; do note "$s: $l"; done
  [ "$st" = 0 ] || note "$s: suite failed (exit $st): $(tail -2 "$LOGS/$s.err" | tr '\n' ' ' | cut -c1-400)"
}
big_query() {  # big_query TAG RANGE
  local st=0
  "$PY" "$GW_PY" bigquery --url "http://$HADDR/remote.php/dav/calendars/$ADMIN/" --user "$ADMIN" --password "$ADMIN_PASS" \
    --coll bench-big --events "$BIG_EVENTS" --spread-days 365 --pid "$HPID" --tag "$1" --range "$2" \
    > "$TMP/bq.out" 2> >(sed -u "s/^/[hearth big] /" | tee -a "$LOGS/hearth-big.err" >&2) || st=$?
  rows_from hearth "$TMP/bq.out"
  [ "$st" = 0 ] || note "hearth: big calendar-query $1/$2 failed (exit $st)"
}

# ---------------------------------------------------------------- Hearth
log "Hearth binary: $HEARTH_INFO ($PROFILE); peers: $PEERS; events $EVENTS, cards $CARDS, big calendar $BIG_EVENTS"
HD=$TMP/hearth-data
start_hearth "$HD" "$LOGS/hearth.log"
log "hearth PID $HPID at http://$HADDR"
HCAL="http://$HADDR/remote.php/dav/calendars/$ADMIN/"; HCARD="http://$HADDR/remote.php/dav/addressbooks/users/$ADMIN/"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "$ADMIN:$ADMIN_PASS" -X PROPFIND -H 'Depth: 0' "$HCAL" || true)
[ "$code" = 207 ] || die "PROPFIND $HCAL answered HTTP $code: this Hearth binary does not serve CalDAV (stale build? rebuild it, or set HEARTH_BIN)"
run_suite hearth "$HPID" "$HCAL" "$HCARD" "$ADMIN" "$ADMIN_PASS"

if [ "$BIG_EVENTS" -gt 0 ]; then
  log "hearth: importing $BIG_EVENTS events into bench-big ($BIG_PROCS processes x $BIG_THREADS threads)"
  t0=$(date +%s)
  "$PY" "$GW_PY" bigimport --url "$HCAL" --user "$ADMIN" --password "$ADMIN_PASS" --coll bench-big \
    --events "$BIG_EVENTS" --spread-days 365 --procs "$BIG_PROCS" --threads "$BIG_THREADS" \
    > "$TMP/bi.out" 2> >(sed -u "s/^/[hearth big] /" | tee -a "$LOGS/hearth-big.err" >&2) || note "hearth: big import failed"
  rows_from hearth "$TMP/bi.out"; row hearth big_import_wall "$(( $(date +%s) - t0 ))" s
  row hearth big_rss_after_import "$(awk '/^VmRSS:/{printf "%.1f", $2/1024}' "/proc/$HPID/status")" MiB
  big_query warm all
  big_query warm month
  stop_hearth; hearth_log_findings "$LOGS/hearth.log" "suite + big import"
  mv "$LOGS/hearth.log" "$LOGS/hearth-a.log"
  start_hearth "$HD" "$LOGS/hearth.log" nosetup
  log "hearth restarted on the same data dir: PID $HPID"
  curl -s -o /dev/null -u "$ADMIN:$ADMIN_PASS" -X PROPFIND -H 'Depth: 0' "$HCAL" || true
  HCAL="http://$HADDR/remote.php/dav/calendars/$ADMIN/"
  row hearth big_rss_idle_restarted "$("$PY" "$RSS_PY" snapshot "$HPID" | awk -F'\t' '$1=="rss_idle"{print $2}')" MiB
  big_query cold all
  big_query cold month
  { grep -a "^\[hearth big\] CHECK: " "$LOGS/hearth-big.err" 2>/dev/null || true; } | sed "s/^\[hearth big\] CHECK: //" | while read -r l; do note "hearth: $l"; done
fi
kill -0 "$HPID" 2>/dev/null || note "SERVER: hearth (PID $HPID) died during the run: $(tail -3 "$LOGS/hearth.log" | tr '\n' ' ' | cut -c1-300)"
stop_hearth; hearth_log_findings "$LOGS/hearth.log" "$([ "$BIG_EVENTS" -gt 0 ] && echo 'after the restart' || echo suite)"
row hearth server_wall "$(elapsed)" s

# ---------------------------------------------------------------- peers
for s in $PEERS; do
  t0=$(elapsed)
  if [ ! -x "$PEER_VENV/bin/$s" ]; then note "peer $s skipped: not installed in $PEER_VENV"; continue; fi
  if ! out=$(PATH="$PEER_VENV/bin:$PATH" "$PEERS_SH" start "$s" 2>>"$LOGS/$s.err"); then
    note "peer $s failed to start: $(tail -2 "$LOGS/$s.err" | tr '\n' ' ')"; continue
  fi
  STARTED_PEERS+=("$s")
  read -r pid url card <<<"$out"
  log "$s PID $pid at $url ($card)"
  run_suite "$s" "$pid" "$url" "${card:-$url}" "$PEER_USER" "$PEER_PASS"
  kill -0 "$pid" 2>/dev/null || note "SERVER: peer $s (PID $pid) died during the run"
  errs=$(grep -ahE 'ERROR|Traceback|\[error\]' "$BENCH_DATA/$s/log" 2>/dev/null || true)
  [ -z "$errs" ] || note "peer $s: $(echo "$errs" | wc -l) error-log line(s), first: $(echo "$errs" | head -1 | cut -c1-220)"
  PATH="$PEER_VENV/bin:$PATH" "$PEERS_SH" stop "$s" || true
  keep=(); for p in "${STARTED_PEERS[@]}"; do [ "$p" = "$s" ] || keep+=("$p"); done; STARTED_PEERS=("${keep[@]}")
  row "$s" server_wall "$(( $(elapsed) - t0 ))" s
done

# ---------------------------------------------------------------- report
mkdir -p "$OUT_DIR"
OUT=$OUT_DIR/groupware-$(date -u +%Y-%m-%d).md
cols="hearth"; for s in $PEERS; do cols="$cols,$s"; done
versions=$(PATH="$PEER_VENV/bin:$PATH" "$PEERS_SH" versions 2>/dev/null | grep -E '^(radicale|xandikos|python):' | tr '\n' ';' | sed 's/;$//; s/;/; /g' || true)
export SUMMARY_FILE=$TMP/summary
{
  echo "## Hearth groupware (CalDAV/CardDAV) benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  if [ "$PROFILE" = debug ]; then
    echo "**DEBUG BUILD: these figures do not count against the issue's targets; run with a release binary.**"
    echo
  fi
  echo "Binary \`$HEARTH_INFO\` ($PROFILE profile), $(nproc) cores shared by client and server, load average at end $(cut -d' ' -f1-3 /proc/loadavg); loopback only; one pass, peers measured in the same run."
  echo
  "$PY" "$HARNESS/table.py" "$ROWS" --order "$cols"
  echo
  "$PY" "$REPORT_PY" "$ROWS" "$(echo "$PEERS" | tr ' ' ',')" "$CLIENTS" "$EVENTS" "$CARDS" "$BIG_EVENTS" "$PROFILE"
  echo
  echo "Notes:"
  echo "- Workload: scripts/bench/groupware-dav.py (request bodies of ../shared/bench/wl-caldav.py, on its davlib.py; python3 http.client, one keep-alive connection per worker). Events are spread over $SPREAD_DAYS days from 2025-02-13, so the month query (March 2025) matches ~1,600 of 5,000; a query median is over up to $REPEAT runs (at most 45 s per query type, at least 3 runs); sync-collection after 10 changes is at least 20 runs with the token from before the changes. Times are client-side (request sent to last byte read)."
  echo "- Big calendar (Hearth only): $BIG_EVENTS events over 365 days, imported by $BIG_PROCS processes x $BIG_THREADS threads; \`big_all_*\` = calendar-query with calendar-data matching every event, \`big_month_*\` = March 2025 only; \`warm\` = right after the import, \`cold\` = after restarting Hearth on the same data. Memory: \`*_vmhwm\` = VmHWM of the hearth process after a reset through /proc/PID/clear_refs just before the query (the exact peak RSS of that window), \`*_rss_peak_sampled\` = max VmRSS sampled every 5 ms."
  echo "- \`suite_rss_peak_sampled\`/\`suite_vmhwm_*\`: ../shared/bench/rss.py over the whole suite (0.2 s samples; lifetime high-water marks). Radicale runs with Basic auth (plain htpasswd), Xandikos without auth (peers.sh); Hearth with Basic auth (argon2 once, then its credential cache) and logs every request at INFO to a file."
  echo "- Versions: $versions"
  cat "$NOTES"
  echo "- Wall time of this run: $(elapsed) s."
  echo
  read -r met total < "$SUMMARY_FILE" || { met=0; total=5; }
  echo "**$met of $total targets met**$([ "$PROFILE" = debug ] && echo " (debug build — does not count)")"
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
log "report written to $OUT"
