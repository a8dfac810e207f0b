#!/usr/bin/env bash
# The small-downloads target (2b) alone, measured finely (a benchmark, not a test): Hearth and
# nginx run at once, each gets the same 2,000 x 4 KiB files once, then the download phase of
# ../shared/bench/wl-small.py (8 threads of davlib, one keep-alive connection each) runs PAIRS
# times per server, alternating. Prints each pair and the median of the per-pair ratios with
# its quartiles; a pair takes about a second, so many pairs fit where steal comes and goes.
#
#   bash scripts/bench/files-small-down.sh            # PAIRS=12
#
# Env: PAIRS (12), FILES (2000), HEARTH_BIN (default release build), BENCH_HARNESS, BENCH_PORT_BASE,
#      HEARTH_ENV ("HEARTH_LIMITS_STORE_CACHE_MIB=16 ..." to try a setting; none by default).
# Stops every process it starts by PID (trap on EXIT); nginx via `peers.sh stop nginx`.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESS=${BENCH_HARNESS:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
TARGET=${CARGO_TARGET_DIR:-/root/.cache/hearth-target}
HEARTH_BIN=${HEARTH_BIN:-$TARGET/release/hearth}
PAIRS=${PAIRS:-12}; FILES=${FILES:-2000}
ADMIN=alice; ADMIN_PASS=secret-pass-1
PY=${PYTHON:-python3}

log() { echo "[small-down $(date +%H:%M:%S)] $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
[ -x "$HARNESS/peers.sh" ] && [ -f "$HARNESS/davlib.py" ] || die "peer harness not found at $HARNESS (set BENCH_HARNESS)"
[ -x "$HEARTH_BIN" ] || die "no Hearth binary at $HEARTH_BIN (cargo build --release, or set HEARTH_BIN)"
. "$HERE/files-deps.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hearth-small-down.XXXXXX")
chmod 755 "$TMP"
export BENCH_DATA=$TMP/peers
HPID=""; NGINX=0
cleanup() {
  local rc=$?
  [ -z "$HPID" ] || stop_hearth_pid  # files-lib.sh (sourced before Hearth starts)
  [ "$NGINX" = 0 ] || "$HARNESS/peers.sh" stop nginx >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$HERE/files-lib.sh"

cp "$HEARTH_BIN" "$TMP/hearth"; HEARTH_BIN=$TMP/hearth
# shellcheck disable=SC2086  # HEARTH_ENV is a list of NAME=VALUE words
if [ -n "${HEARTH_ENV:-}" ]; then UNSET_HEARTH+=($HEARTH_ENV); fi
start_hearth "$TMP/hearth-data" "$TMP/hearth.log"
HURL="http://$HADDR/remote.php/dav/files/$ADMIN/"
out=$("$HARNESS/peers.sh" start nginx) || die "nginx did not start"
NGINX=1; read -r _ NURL _ <<<"$out"
log "hearth PID $HPID at $HURL; nginx at $NURL"

# fill URL USER PASS | down URL USER PASS: files/s of one download phase
phase() {
  "$PY" - "$HARNESS" "$FILES" "$@" <<'EOF'
import os, sys
sys.path.insert(0, sys.argv[1])
from davlib import Dav, check, mkcol, parallel
files, mode, url, user, password = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
dav = Dav(url, user, password)
names = [f"small-down/f{i:05d}.bin" for i in range(files)]
if mode == "fill":
    mkcol(dav, "small-down/")
    payload = os.urandom(4096)
    def put(n):
        st, _, _ = dav.request("PUT", n, body=payload, headers={"Content-Type": "application/octet-stream"})
        check(st, (200, 201, 204), "PUT " + n)
    parallel(8, put, names)
else:
    def get(n):
        st, body, _ = dav.request("GET", n)
        check(st, (200,), "GET " + n)
        if len(body) != 4096:
            raise RuntimeError(f"GET {n}: {len(body)} bytes")
    t, _ = parallel(8, get, names)
    print(f"{files / t:.0f}")
EOF
}
phase fill "$HURL" "$ADMIN" "$ADMIN_PASS" || die "filling Hearth failed"
phase fill "$NURL" "${BENCH_USER:-alice}" "${BENCH_PASS:-secret}" || die "filling nginx failed"

for p in $(seq 1 "$PAIRS"); do
  if [ $((p % 2)) = 1 ]; then
    h=$(phase down "$HURL" "$ADMIN" "$ADMIN_PASS"); n=$(phase down "$NURL" "${BENCH_USER:-alice}" "${BENCH_PASS:-secret}")
  else
    n=$(phase down "$NURL" "${BENCH_USER:-alice}" "${BENCH_PASS:-secret}"); h=$(phase down "$HURL" "$ADMIN" "$ADMIN_PASS")
  fi
  log "pair $p: hearth $h, nginx $n files/s"
  echo "$h $n"
done | "$PY" -c '
import statistics, sys
pairs = [tuple(map(float, l.split())) for l in sys.stdin]
q = [h / n for h, n in pairs]
qs = statistics.quantiles(q, n=4) if len(q) > 1 else [q[0]] * 3
print(f"| {len(q)} pairs | Hearth {statistics.median(h for h, _ in pairs):.0f} files/s | nginx "
      f"{statistics.median(n for _, n in pairs):.0f} files/s | Hearth/nginx median {statistics.median(q):.3f} "
      f"(q1 {qs[0]:.3f}, q3 {qs[2]:.3f}) |")'
