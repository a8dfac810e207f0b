#!/usr/bin/env bash
# Foundation benchmark for Hearth (a benchmark, not a test): measures Hearth and the
# reference peers (nginx, rclone, dufs) from ../shared/bench/peers.sh in the SAME run,
# on loopback only, and prints a markdown table on stdout (progress goes to stderr).
#
#   bash scripts/bench/foundation.sh            # from the repository root (or anywhere)
#
# Figures
#   1. idle RSS: Hearth ~IDLE_WAIT s after `hearth setup` (and before it); peers 2 s after
#      `peers.sh start NAME` (process-tree VmRSS via rss.py, /proc/PID/status)
#   2. credential cache: OCS_N sequential `GET /ocs/v2.php/cloud/user?format=json` with Basic
#      auth over ONE keep-alive connection, cache on (default) vs. off
#      (HEARTH_AUTH_CREDENTIAL_CACHE=false, UNCACHED_N requests); req/s, median latency, ratio
#   3. cold start: spawn `hearth serve` -> first 200 from /status.php (1 ms connect polling),
#      median of COLD_RUNS, on a set-up data dir and on a fresh empty one
#   4. wrk -t2 -c64 -d${WRK_DURATION}: Hearth /status.php, Hearth OCS (cached auth), and the
#      same small JSON body as a static file from each peer (Basic auth, as peers.sh sets it up)
#
# Env: HEARTH_BIN (default target/release if built, else debug), OCS_N (1000), UNCACHED_N
#      (1000; with fewer the ratio compares rates and the output says so), COLD_RUNS (10), IDLE_WAIT (1 s), WRK_DURATION (5s),
#      PEERS ("nginx rclone dufs"), SKIP_WRK=1, KEEP_TMP=1, BENCH_HARNESS (../shared/bench),
#      BENCH_PORT_BASE (peer ports, see peers.sh).
# Stops every process it starts by PID (trap on EXIT); peers via `peers.sh stop NAME`.
set -euo pipefail

T_START=$(date +%s.%N)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESS=${BENCH_HARNESS:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
PEERS_SH=$HARNESS/peers.sh
RSS_PY=$HARNESS/rss.py
TARGET=${CARGO_TARGET_DIR:-/root/.cache/hearth-target}
if [ -z "${HEARTH_BIN:-}" ]; then
  if [ -x "$TARGET/release/hearth" ]; then HEARTH_BIN=$TARGET/release/hearth; else HEARTH_BIN=$TARGET/debug/hearth; fi
fi
OCS_N=${OCS_N:-1000}; UNCACHED_N=${UNCACHED_N:-1000}; COLD_RUNS=${COLD_RUNS:-10}
IDLE_WAIT=${IDLE_WAIT:-1}; WRK_DURATION=${WRK_DURATION:-5s}; PEERS=${PEERS:-nginx rclone dufs}
ADMIN=alice; ADMIN_PASS=secret-pass-1; PEER_USER=${BENCH_USER:-alice}; PEER_PASS=${BENCH_PASS:-secret}
PY=${PYTHON:-python3}

log() { echo "[foundation $(date +%H:%M:%S)] $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
[ -x "$HEARTH_BIN" ] || die "no Hearth binary at $HEARTH_BIN (set HEARTH_BIN)"
[ -x "$PEERS_SH" ] || die "peer harness not found at $PEERS_SH (set BENCH_HARNESS)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hearth-foundation.XXXXXX")
export BENCH_DATA=$TMP/peers
ROWS=$TMP/rows.txt; NOTES=$TMP/notes.txt; : > "$ROWS"; : > "$NOTES"
HPID=""; STARTED_PEERS=()

stop_hearth() {  # SIGTERM our server by PID, wait up to 5 s, then SIGKILL; notes anomalies
  [ -n "$HPID" ] || return 0
  local pid=$HPID st=0; HPID=""
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    note "SERVER: hearth (PID $pid) still running 5 s after SIGTERM; sent SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || st=$?
  [ "$st" = 0 ] || note "SERVER: hearth (PID $pid) exit status $st after SIGTERM (expected 0)"
}
cleanup() {
  local rc=$?
  stop_hearth || true
  for p in "${STARTED_PEERS[@]}"; do "$PEERS_SH" stop "$p" >/dev/null 2>&1 || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

row()  { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" >> "$ROWS"; }
note() { echo "- $*" >> "$NOTES"; log "$*"; }

# ---------------------------------------------------------------- dependencies
. "$HERE/apt-missing.sh"
missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
dpkg -s libnginx-mod-http-dav-ext >/dev/null 2>&1 || missing+=(libnginx-mod-http-dav-ext)
command -v rclone >/dev/null || missing+=(rclone)
command -v wrk >/dev/null || missing+=(wrk)
command -v hyperfine >/dev/null || missing+=(hyperfine)
apt_install_missing "the affected figures" "${missing[@]}"
for c in curl ss "$PY"; do command -v "$c" >/dev/null || die "$c not found"; done

# ---------------------------------------------------------------- python helpers
# free_port: an unused loopback port (kernel-chosen)
PY_FREE_PORT='import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'

# ocs_loop PORT N USER PASS -> "rps<TAB>p50_ms<TAB>p99_ms<TAB>reconnects"; one keep-alive connection,
# one untimed warm-up request first (fills the cache when it is on)
read -r -d '' PY_OCS <<'EOF' || true
import base64, http.client, json, statistics, sys, time
port, n, user, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
hdr = {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode(),
       "OCS-APIRequest": "true", "Host": f"127.0.0.1:{port}"}
path = "/ocs/v2.php/cloud/user?format=json"
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
reconnects = 0
def get():
    global reconnects
    if c.sock is None and get.started:
        reconnects += 1
    get.started = True
    c.request("GET", path, headers=hdr)
    r = c.getresponse(); body = r.read()
    if r.status != 200:
        sys.exit(f"OCS request answered HTTP {r.status}: {body[:300]!r}")
    return body
get.started = False
doc = json.loads(get())
meta, data = doc["ocs"]["meta"], doc["ocs"]["data"]
if meta.get("statuscode") != 200 or data.get("id") != user:
    sys.exit(f"unexpected OCS answer: meta={meta} id={data.get('id')!r}")
lat = []
t0 = time.perf_counter()
for _ in range(n):
    a = time.perf_counter(); get(); lat.append(time.perf_counter() - a)
dt = time.perf_counter() - t0
lat.sort()
print(f"{n/dt:.1f}\t{statistics.median(lat)*1000:.3f}\t{lat[min(len(lat)-1, int(len(lat)*0.99))]*1000:.3f}\t{reconnects}")
EOF

# cold BIN MODE(existing|fresh) DATADIR_OR_BASE RUNS LOGDIR -> rows "figure<TAB>value<TAB>unit", notes on stderr
read -r -d '' PY_COLD <<'EOF' || true
import http.client, json, os, socket, statistics, subprocess, sys, time
binary, mode, base, runs, logdir = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def one(i):
    port = free_port()
    if mode == "fresh":
        d = os.path.join(base, f"fresh-{i}"); os.makedirs(d)
    else:
        d = base
    logf = open(os.path.join(logdir, f"cold-{mode}-{i}.log"), "wb")
    late_errors = 0
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "serve", "--data", d, "--http", f"127.0.0.1:{port}"],
                         stdout=logf, stderr=subprocess.STDOUT, env=env)
    try:
        while True:
            if p.poll() is not None:
                raise SystemExit(f"hearth serve exited with {p.returncode} before answering (log {logf.name})")
            if time.perf_counter() - t0 > 30:
                raise SystemExit("no answer from /status.php within 30 s")
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                time.sleep(0.001); continue
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5); c.sock = s
                c.request("GET", "/status.php"); r = c.getresponse(); body = r.read()
            except (OSError, http.client.HTTPException):
                late_errors += 1; s.close(); time.sleep(0.001); continue
            t1 = time.perf_counter()
            s.close()
            if r.status != 200:
                raise SystemExit(f"/status.php answered HTTP {r.status}: {body[:200]!r}")
            st = json.loads(body)
            if st.get("productname") != "Hearth":
                raise SystemExit(f"port {port} answered, but not as Hearth: {body[:200]!r}")
            break
    finally:
        a = time.perf_counter()
        p.terminate()
        try: p.wait(5)
        except subprocess.TimeoutExpired:
            print(f"SERVER: hearth did not exit within 5 s of SIGTERM (cold start {mode} run {i}); killed", file=sys.stderr)
            p.kill(); p.wait()
        stop_ms = (time.perf_counter() - a) * 1000
        logf.close()
    if p.returncode != 0:
        print(f"SERVER: hearth exit status {p.returncode} after SIGTERM (cold start {mode} run {i})", file=sys.stderr)
    if late_errors:
        print(f"SERVER: cold start {mode} run {i}: {late_errors} connection(s) accepted but failed before the first answer", file=sys.stderr)
    return (t1 - t0) * 1000, st.get("installed"), stop_ms
one(0)  # warm-up (page cache, first-run effects), not counted
res = [one(i) for i in range(1, runs + 1)]
ms = [r[0] for r in res]; inst = {r[1] for r in res}; stops = [r[2] for r in res]
want = (mode == "existing")
if inst != {want}:
    print(f"SERVER: status.php 'installed' was {sorted(map(str, inst))} on a {mode} data dir, expected {want}", file=sys.stderr)
print(f"cold_start_{mode}_median\t{statistics.median(ms):.1f}\tms")
print(f"cold_start_{mode}_min\t{min(ms):.1f}\tms")
print(f"cold_start_{mode}_max\t{max(ms):.1f}\tms")
print(f"shutdown_after_sigterm_{mode}_median\t{statistics.median(stops):.1f}\tms")
print("runs: " + " ".join(f"{x:.1f}" for x in ms), file=sys.stderr)
EOF

# exec baseline: spawn `hearth --version` and wait, median of N (what any start-up costs here)
read -r -d '' PY_EXEC <<'EOF' || true
import statistics, subprocess, sys, time
b, n = sys.argv[1], int(sys.argv[2]); ms = []
for i in range(n + 1):
    t = time.perf_counter(); subprocess.run([b, "--version"], stdout=subprocess.DEVNULL, check=True)
    if i: ms.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(ms):.1f}")
EOF

# ---------------------------------------------------------------- hearth helpers
HPORT=""
# `env "${UNSET_HEARTH[@]}" ...` runs a command without inherited HEARTH_* variables (defaults + explicit ones);
# a plain backgrounded command (no function/subshell) so that $! is the server's own PID (env execs it)
UNSET_HEARTH=(); for v in $(compgen -e | grep '^HEARTH_' || true); do UNSET_HEARTH+=(-u "$v"); done
start_hearth() {  # start_hearth DATADIR LOG [ENV=VAL ...]; sets HPID, HPORT; waits for /status.php
  local dir=$1 logf=$2; shift 2
  HPORT=$("$PY" -c "$PY_FREE_PORT")
  env "${UNSET_HEARTH[@]}" "$@" "$HEARTH_BIN" serve --data "$dir" --http "127.0.0.1:$HPORT" >"$logf" 2>&1 &
  HPID=$!
  for _ in $(seq 1 300); do
    kill -0 "$HPID" 2>/dev/null || { tail -5 "$logf" >&2; HPID=""; die "hearth serve exited at start (log above)"; }
    curl -sf -o /dev/null -m 1 "http://127.0.0.1:$HPORT/status.php" && return 0
    sleep 0.05
  done
  die "hearth did not answer /status.php within 15 s"
}
rss_of() {  # rss_of PID -> "MiB<TAB>processes" (tree VmRSS, rss.py from the harness)
  "$PY" "$RSS_PY" snapshot "$1" | awk -F'\t' '$1=="rss_idle"{r=$2} $1=="processes"{n=$2} END{print r"\t"n}'
}
status_json() { curl -sS -m 5 "http://127.0.0.1:$1/status.php"; }
log_anomalies() {  # log_anomalies LOGFILE LABEL: note ERROR/panic lines in a hearth log
  local n; n=$(grep -aciE ' ERROR |panicked|thread .* panicked' "$1" || true)
  if [ "${n:-0}" -gt 0 ]; then
    note "SERVER: $n ERROR/panic line(s) in the hearth log ($2), first: $(grep -aiE ' ERROR |panicked' "$1" | head -1 | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-300)"
  fi
}
WRK_OUT=$TMP/wrk.out
run_wrk() {  # run_wrk SERVER FIGURE URL [wrk args...]: rows FIGURE_rps, FIGURE_p99, FIGURE_errors
  local server=$1 fig=$2 url=$3; shift 3
  if [ "${SKIP_WRK:-0}" = 1 ] || ! command -v wrk >/dev/null; then row "$server" "${fig}_rps" "skipped" "req/s"; return 0; fi
  log "wrk -t2 -c64 -d$WRK_DURATION $server $url"
  wrk -t2 -c64 -d"$WRK_DURATION" --latency "$@" "$url" > "$WRK_OUT" 2>&1 || { row "$server" "${fig}_rps" "wrk failed" "req/s"; cat "$WRK_OUT" >&2; return 0; }
  local rps p99 errs
  rps=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$WRK_OUT")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) sub(/ms$/,"",v); else {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' "$WRK_OUT")
  errs=$(awk '/Non-2xx or 3xx responses:/{s+=$NF} /Socket errors:/{gsub(/,/,""); s+=$4+$6+$8+$10} END{print s+0}' "$WRK_OUT")
  row "$server" "${fig}_rps" "$rps" "req/s"; row "$server" "${fig}_p99" "$p99" "ms"; row "$server" "${fig}_errors" "$errs" "count"
  [ "$errs" = 0 ] || note "wrk $server $fig: $errs errors/non-2xx ($(grep -E 'Non-2xx|Socket errors' "$WRK_OUT" | tr -s ' ' | tr '\n' ';'))"
}

# ---------------------------------------------------------------- 1+2+4: Hearth, cache on
HDATA=$TMP/hearth-data; HLOG=$TMP/hearth-cached.log
log "Hearth binary: $HEARTH_BIN ($("$HEARTH_BIN" --version 2>&1))"
start_hearth "$HDATA" "$HLOG"
log "hearth PID $HPID on 127.0.0.1:$HPORT (fresh data dir)"
status_json "$HPORT" | grep -q '"installed":false' || note "SERVER: status.php before setup did not say \"installed\":false"
sleep "$IDLE_WAIT"
IFS=$'\t' read -r r n < <(rss_of "$HPID"); row hearth rss_idle_before_setup "$r" MiB
t0=$(date +%s%N)
out=$(printf '%s\n' "$ADMIN_PASS" | env "${UNSET_HEARTH[@]}" "$HEARTH_BIN" setup --data "$HDATA" --name family --admin "$ADMIN" --password-stdin 2>&1) \
  || die "hearth setup failed: $out"
row hearth setup_via_control_socket "$(( ($(date +%s%N) - t0) / 1000000 ))" ms
log "setup: $out"
status_json "$HPORT" | grep -q '"installed":true' || note "SERVER: status.php after setup did not say \"installed\":true: $(status_json "$HPORT")"
sleep "$IDLE_WAIT"
IFS=$'\t' read -r r n < <(rss_of "$HPID"); row hearth rss_idle "$r" MiB; row hearth rss_idle_processes "$n" count
RSS_IDLE=$r
row hearth vmhwm_after_setup "$(awk '/^VmHWM:/{printf "%.1f", $2/1024}' "/proc/$HPID/status")" MiB

log "OCS cached: $OCS_N sequential requests on one keep-alive connection"
IFS=$'\t' read -r c_rps c_p50 c_p99 c_rc < <("$PY" -c "$PY_OCS" "$HPORT" "$OCS_N" "$ADMIN" "$ADMIN_PASS") || die "cached OCS loop failed"
row hearth ocs_user_cached_rps "$c_rps" req/s; row hearth ocs_user_cached_p50 "$c_p50" ms; row hearth ocs_user_cached_p99 "$c_p99" ms
[ "$c_rc" = 0 ] || note "SERVER: the keep-alive connection was closed $c_rc time(s) during the cached OCS run (client reconnected)"
IFS=$'\t' read -r r n < <(rss_of "$HPID"); row hearth rss_after_cached_ocs "$r" MiB

STATUS_URL="http://127.0.0.1:$HPORT/status.php"
run_wrk hearth wrk_status_c64 "$STATUS_URL"
B64=$(printf '%s:%s' "$ADMIN" "$ADMIN_PASS" | base64 -w0)
run_wrk hearth wrk_ocs_user_cached_c64 "http://127.0.0.1:$HPORT/ocs/v2.php/cloud/user?format=json" \
  -H "Authorization: Basic $B64" -H "OCS-APIRequest: true"
IFS=$'\t' read -r r n < <(rss_of "$HPID"); row hearth rss_after_wrk "$r" MiB
status_json "$HPORT" > "$TMP/status.json"   # the same body is served statically by the peers below
stop_hearth; log_anomalies "$HLOG" "cache on"

# ---------------------------------------------------------------- 2: Hearth, cache off
HLOG2=$TMP/hearth-uncached.log
start_hearth "$HDATA" "$HLOG2" HEARTH_AUTH_CREDENTIAL_CACHE=false
log "OCS uncached (HEARTH_AUTH_CREDENTIAL_CACHE=false): $UNCACHED_N sequential requests on one keep-alive connection (argon2 each; may take a minute)"
IFS=$'\t' read -r u_rps u_p50 u_p99 u_rc < <("$PY" -c "$PY_OCS" "$HPORT" "$UNCACHED_N" "$ADMIN" "$ADMIN_PASS") || die "uncached OCS loop failed"
row hearth ocs_user_uncached_rps "$u_rps" req/s; row hearth ocs_user_uncached_p50 "$u_p50" ms; row hearth ocs_user_uncached_p99 "$u_p99" ms
[ "$u_rc" = 0 ] || note "SERVER: the keep-alive connection was closed $u_rc time(s) during the uncached OCS run (client reconnected)"
IFS=$'\t' read -r r n < <(rss_of "$HPID"); row hearth rss_after_uncached_ocs "$r" MiB
awk -v a="$r" -v b="$RSS_IDLE" 'BEGIN{exit !(a > 3*b)}' && \
  note "memory: Hearth RSS after the uncached run is $r MiB vs $RSS_IDLE MiB idle (argon2 working memory not returned to the OS)"
ratio=$(awk -v a="$c_rps" -v b="$u_rps" 'BEGIN{printf "%.1f", a/b}')
row hearth credential_cache_speedup "$ratio" "x"
[ "$UNCACHED_N" = "$OCS_N" ] || note "uncached run used $UNCACHED_N requests (cached: $OCS_N); req/s is a rate, so the ratio compares rates; 1,000 uncached would take ~$(awk -v r="$u_rps" 'BEGIN{printf "%.0f", 1000/r}') s"
stop_hearth; log_anomalies "$HLOG2" "cache off"

# ---------------------------------------------------------------- 3: cold start
mkdir -p "$TMP/cold" "$TMP/fresh"
log "cold start on the set-up data dir: $COLD_RUNS runs (+1 warm-up)"
"$PY" -c "$PY_COLD" "$HEARTH_BIN" existing "$HDATA" "$COLD_RUNS" "$TMP/cold" 2> >(tee -a "$TMP/cold.err" >&2) \
  | while IFS=$'\t' read -r f v u; do row hearth "$f" "$v" "$u"; done
log "cold start on fresh empty data dirs: $COLD_RUNS runs (+1 warm-up)"
"$PY" -c "$PY_COLD" "$HEARTH_BIN" fresh "$TMP/fresh" "$COLD_RUNS" "$TMP/cold" 2> >(tee -a "$TMP/cold.err" >&2) \
  | while IFS=$'\t' read -r f v u; do row hearth "$f" "$v" "$u"; done
sleep 0.2
{ grep -h '^SERVER:' "$TMP/cold.err" 2>/dev/null || true; } | sort | uniq -c | while read -r cnt msg; do note "$msg (x$cnt)"; done
for f in "$TMP"/cold/*.log; do log_anomalies "$f" "cold start $(basename "$f")"; done
row hearth exec_baseline_version "$("$PY" -c "$PY_EXEC" "$HEARTH_BIN" "$COLD_RUNS")" ms

# ---------------------------------------------------------------- 1+4: peers
for peer in $PEERS; do
  if [ "$peer" = dufs ] && ! command -v dufs >/dev/null; then
    row dufs rss_idle "skipped: dufs not on PATH" MiB; note "dufs skipped: not on PATH (not installed by this script)"; continue
  fi
  log "peer $peer: start"
  if ! out=$("$PEERS_SH" start "$peer"); then row "$peer" rss_idle "failed to start" MiB; note "peer $peer failed to start"; continue; fi
  STARTED_PEERS+=("$peer")
  read -r ppid purl _ <<<"$out"
  IFS=$'\t' read -r r n < <(rss_of "$ppid"); row "$peer" rss_idle "$r" MiB; row "$peer" rss_idle_processes "$n" count
  cp "$TMP/status.json" "$BENCH_DATA/$peer/root/status.json"
  PB64=$(printf '%s:%s' "$PEER_USER" "$PEER_PASS" | base64 -w0)
  code=$(curl -s -o /dev/null -w '%{http_code}' -u "$PEER_USER:$PEER_PASS" "${purl}status.json")
  if [ "$code" = 200 ]; then
    run_wrk "$peer" wrk_status_c64 "${purl}status.json" -H "Authorization: Basic $PB64"
  else
    note "peer $peer: GET ${purl}status.json answered $code; wrk skipped"
  fi
  "$PEERS_SH" stop "$peer" || true
  keep=(); for p in "${STARTED_PEERS[@]}"; do [ "$p" = "$peer" ] || keep+=("$p"); done; STARTED_PEERS=("${keep[@]}")
done

# ---------------------------------------------------------------- report
T_END=$(date +%s.%N)
med_cold=$(awk -F'|' '$3 ~ /cold_start_existing_median/{gsub(/ /,"",$4); print $4}' "$ROWS")
nproc_=$(nproc); load=$(cut -d' ' -f1-3 /proc/loadavg)
profile=$(basename "$(dirname "$HEARTH_BIN")")
pass() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN{ok = (op==">=") ? (a+0>=b+0) : (a+0<=b+0); print ok ? "PASS" : "FAIL"}'; }
{
  echo "## Hearth foundation benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Binary \`$HEARTH_BIN\` ($profile profile), $nproc_ cores shared with the client, load average at end $load; loopback only."
  echo
  "$PY" "$HARNESS/table.py" "$ROWS" --order "hearth,$(echo "$PEERS" | tr ' ' ',')"
  echo
  echo "| acceptance check | target | measured | result |"
  echo "|---|---|---|---|"
  echo "| credential cache speed-up (cached ÷ uncached req/s, one keep-alive connection, $OCS_N vs $UNCACHED_N requests) | ≥ 20× | ${ratio}× ($c_rps vs $u_rps req/s) | $(pass "$ratio" '>=' 20) |"
  echo "| cold start to first /status.php 200, set-up data dir, median of $COLD_RUNS | ≤ 100 ms | $med_cold ms | $(pass "$med_cold" '<=' 100) |"
  echo
  echo "Notes:"
  echo "- RSS = VmRSS summed over the process tree (harness \`rss.py\`; Hearth is one process). Hearth read ${IDLE_WAIT} s after start / after \`hearth setup\`; peers 2 s after \`peers.sh start\` answered."
  echo "- OCS figures: \`GET /ocs/v2.php/cloud/user?format=json\`, Basic auth, \`OCS-APIRequest: true\`, sequential on one keep-alive connection (python3 http.client), one untimed warm-up request first. Uncached = server started with \`HEARTH_AUTH_CREDENTIAL_CACHE=false\` (argon2 on every request)."
  echo "- Cold start: from spawning \`hearth serve --data DIR --http 127.0.0.1:PORT\` to the first complete 200 answer of \`GET /status.php\` (TCP connect retried every 1 ms), one untimed warm-up run; 'existing' = the data dir set up above, 'fresh' = a new empty directory per run. \`exec_baseline_version\` = spawn-to-exit of \`hearth --version\`, the floor any start-up pays here."
  echo "- wrk: -t2 -c64 -d$WRK_DURATION, client on the same 2 cores. Peers serve the same $(wc -c < "$TMP/status.json")-byte status.php body as a static file behind Basic auth (as peers.sh configures them); Hearth's /status.php is dynamic and unauthenticated, and Hearth logs every request at INFO to a file."
  cat "$NOTES"
  awk -v a="$T_START" -v b="$T_END" 'BEGIN{printf "- Wall time of this run: %.0f s.\n", b-a}'
}
