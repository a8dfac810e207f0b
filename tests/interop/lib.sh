#!/usr/bin/env bash
# Shared helpers for the real-client interop suites in tests/interop/.
# Source it from a suite script:  . "$(dirname "$0")/lib.sh"
#
# What it gives a suite:
#   start_server          fresh data dir, free port, waits for /status.php, runs `hearth setup`
#                         (admin $ADMIN_USER / $ADMIN_PASS); sets BASE (http://127.0.0.1:PORT),
#                         DAV (BASE/remote.php/dav/files/$ADMIN_USER), SERVER_PID, SERVER_LOG
#   hearth ARGS...        runs the hearth binary on the suite's data dir env (HEARTH_* stripped)
#   check NAME CMD...     runs CMD, prints `ok NAME` or `FAIL NAME` (+ the tail of CMD's output)
#   finish                prints `N passed, M failed` and exits non-zero when M > 0
#   log_mark / log_since  line count of the server log, and the lines appended after a mark
#                         (both wait until the log has caught up with the requests made so far)
#   log_settle            waits until the log has caught up (before a check that a line is absent)
#   wait_log FILE PAT [S] waits (bounded) for a line matching PAT (log-wait.sh)
#   urlenc STRING         percent-encodes every byte except [A-Za-z0-9._~/-]
#   mktmp                 a temp dir removed on exit
#
# Environment: ARTIFACTS (default: a fresh temp dir, kept), HEARTH_BIN (default
# $CARGO_TARGET_DIR/debug/hearth, then ~/.cache/hearth-target/debug/hearth).
set -uo pipefail

SUITE=${SUITE:-$(basename "${0%.sh}")}
INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$INTEROP_DIR/log-wait.sh"

# --- the binary (read before stripping HEARTH_* from the environment) --------------------
if [ -n "${HEARTH_BIN:-}" ]; then
  BIN=$HEARTH_BIN
elif [ -n "${CARGO_TARGET_DIR:-}" ]; then
  BIN=$CARGO_TARGET_DIR/debug/hearth
else
  BIN=$HOME/.cache/hearth-target/debug/hearth
fi
for _v in $(compgen -e); do
  case $_v in HEARTH_*) unset "$_v" ;; esac
done
unset _v
export NO_COLOR=1
export LC_ALL=C.UTF-8

# --- artifacts and temp dirs --------------------------------------------------------------
if [ -z "${ARTIFACTS:-}" ]; then
  ARTIFACTS=$(mktemp -d "${TMPDIR:-/tmp}/hearth-interop-artifacts.XXXXXX")
fi
mkdir -p "$ARTIFACTS"
ARTIFACTS=$(cd "$ARTIFACTS" && pwd)
export ARTIFACTS
rm -f "$ARTIFACTS/$SUITE-check-"*.txt

# one temp root per run, created here in the main shell so that mktmp also works inside $(...)
_TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/hearth-$SUITE.XXXXXX") || exit 1
mktmp() { mktemp -d "$_TMPROOT/tmp.XXXXXX"; }

SERVER_PID=
_cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  [ -n "${_TMPROOT:-}" ] && rm -rf -- "$_TMPROOT"
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- running the binary ------------------------------------------------------------------
# The binary may be replaced by a concurrent build: wait up to 60 s for it to reappear.
_wait_bin() {
  local i
  for i in $(seq 1 120); do
    [ -x "$BIN" ] && return 0
    sleep 0.5
  done
  echo "hearth binary not found at $BIN (set HEARTH_BIN)" >&2
  return 1
}

hearth() {
  _wait_bin || return 1
  "$BIN" "$@"
}

# --- server ------------------------------------------------------------------------------
ADMIN_USER=${ADMIN_USER:-alice}
ADMIN_PASS=${ADMIN_PASS:-interop-Pass-4711}
DATA=
BASE=
DAV=
SERVER_LOG="$ARTIFACTS/$SUITE-server.log"

start_server() {
  local root i line
  root=$(mktmp) || return 1
  DATA=$root/data
  _wait_bin || return 1
  : >"$SERVER_LOG"
  "$BIN" serve --data "$DATA" --http 127.0.0.1:0 >>"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  for i in $(seq 1 300); do
    line=$(grep -m1 -o 'listening on http://[0-9.:]*' "$SERVER_LOG" 2>/dev/null)
    [ -n "$line" ] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server exited during start; log:" >&2
      cat "$SERVER_LOG" >&2
      return 1
    fi
    sleep 0.1
  done
  if [ -z "$line" ]; then
    echo "server did not print its address within 30 s" >&2
    return 1
  fi
  BASE=http://${line#listening on http://}
  for i in $(seq 1 300); do
    curl -fsS --max-time 2 -o /dev/null "$BASE/status.php" 2>/dev/null && break
    sleep 0.1
  done
  if ! curl -fsS --max-time 5 -o /dev/null "$BASE/status.php"; then
    echo "server at $BASE never answered /status.php" >&2
    return 1
  fi
  if ! printf '%s\n' "$ADMIN_PASS" | timeout 60 "$BIN" setup --data "$DATA" --name family \
    --admin "$ADMIN_USER" --password-stdin >"$ARTIFACTS/$SUITE-setup.txt" 2>&1; then
    echo "hearth setup failed:" >&2
    cat "$ARTIFACTS/$SUITE-setup.txt" >&2
    return 1
  fi
  DAV=$BASE/remote.php/dav/files/$ADMIN_USER
  echo "# server $BASE (pid $SERVER_PID), data $DATA, log $SERVER_LOG"
}

# add_user NAME PASSWORD [hearth user add options...]
add_user() {
  local name=$1 pw=$2
  shift 2
  printf '%s\n' "$pw" | timeout 60 "$BIN" user add "$name" --data "$DATA" "$@" --password-stdin
}

# --- server log --------------------------------------------------------------------------
# The server writes its log in batches (up to 50 ms after a line), so a line may not be in the
# file yet when a client has had its answer. log_settle makes one request of its own (HEAD of a
# path no one else uses) and waits until its line is in the file: lines are written in order, so
# every earlier request's line is there too. log_since leaves these marker lines out.
# (The tag is made of the clock, not a counter: log_mark runs in a $(...) subshell.)
log_settle() {
  local tag="hearth-log-mark-$(date +%s%N)-$RANDOM"
  curl -s -o /dev/null --max-time 5 -I "$BASE/$tag"
  wait_log "$SERVER_LOG" "path=/$tag " 5 && return 0
  echo "# log_settle: the marker request $tag did not reach the server log within 5 s" >&2
  return 1
}
log_mark() {
  log_settle
  wc -l <"$SERVER_LOG" | tr -d ' '
}
# log_since MARK: the request lines appended after MARK
log_since() {
  log_settle
  tail -n "+$(($1 + 1))" "$SERVER_LOG" | grep -v 'path=/hearth-log-mark-' || true
}

# --- checks ------------------------------------------------------------------------------
PASSED=0
FAILED=0
FAILED_NAMES=()
_CHECK_N=0

# check NAME CMD...: CMD's output goes to a temp file, shown (tail) only on failure.
check() {
  local name=$1 out rc
  shift
  _CHECK_N=$((_CHECK_N + 1))
  out=$(mktemp "$_TMPROOT/check.XXXXXX")
  "$@" >"$out" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    PASSED=$((PASSED + 1))
    echo "ok $name"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
    echo "FAIL $name (exit $rc)"
    tail -n 25 "$out" | sed 's/^/    | /'
    cp "$out" "$ARTIFACTS/$SUITE-check-$_CHECK_N.txt" 2>/dev/null
  fi
  rm -f "$out"
  return "$rc"
}

finish() {
  echo "# artifacts: $ARTIFACTS"
  if [ "$FAILED" -gt 0 ]; then
    printf '# failed: %s\n' "${FAILED_NAMES[@]}"
  fi
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}

# fatal MESSAGE: counts as a failure and ends the suite (for setup steps nothing can follow)
fatal() {
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("$1")
  echo "FAIL $1"
  finish
}

# --- small utilities ---------------------------------------------------------------------
urlenc() {
  local LC_ALL=C s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [a-zA-Z0-9._~/-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

# tree_manifest DIR [FIELDS]: one line per entry under DIR, sorted: "D path" for folders and
# "F <fields> path" for files, FIELDS a comma list of sha1,size,mtime (default sha1,size).
# Paths are NFC-normalised (Nextcloud, and Hearth, store names in NFC), and nextcloudcmd's
# journal and logs (.sync_*.db*, *sync.log) are left out.
tree_manifest() {
  python3 - "$1" "${2:-sha1,size}" <<'PY'
import hashlib, os, re, sys, unicodedata
root, fields = sys.argv[1], sys.argv[2].split(",")
skip = re.compile(r"^(\.sync_.*\.db.*|\._sync_.*\.db.*|\.(owncloud|nextcloud)sync\.log.*|\.csync_journal\.db.*)$")
out = []
for dirpath, dirnames, filenames in os.walk(root):
    rel_dir = os.path.relpath(dirpath, root)
    for d in dirnames:
        rel = os.path.normpath(os.path.join(rel_dir, d))
        out.append(("D", unicodedata.normalize("NFC", rel), ""))
    for f in filenames:
        if rel_dir == "." and skip.match(f):
            continue
        p = os.path.join(dirpath, f)
        rel = unicodedata.normalize("NFC", os.path.normpath(os.path.join(rel_dir, f)))
        vals = []
        st = os.stat(p)
        for fl in fields:
            if fl == "sha1":
                h = hashlib.sha1()
                with open(p, "rb") as fh:
                    for blk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(blk)
                vals.append(h.hexdigest())
            elif fl == "size":
                vals.append(str(st.st_size))
            elif fl == "mtime":
                vals.append(str(int(st.st_mtime)))
        out.append(("F", rel, " ".join(vals)))
for kind, rel, vals in sorted(out, key=lambda t: t[1]):
    print(f"D {rel}" if kind == "D" else f"F {vals} {rel}")
PY
}

# nfc: NFC-normalises stdin to stdout
nfc() { python3 -c 'import sys, unicodedata; sys.stdout.write(unicodedata.normalize("NFC", sys.stdin.read()))'; }

# need CMD...: fail the suite early when a client is missing (install-deps.sh installs them)
need() {
  local c missing=0
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || { echo "missing command: $c" >&2; missing=1; }
  done
  return "$missing"
}

ensure_deps() {
  bash "$INTEROP_DIR/install-deps.sh" || fatal "install test dependencies"
}
