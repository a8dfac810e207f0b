# Sourced by the files benchmarks (files.sh, files-interleaved.sh, files-small-down.sh). Needs
# from the caller:
# `die`, HEARTH_BIN, ADMIN and ADMIN_PASS.

# The peers' port range (peers.sh uses BASE+1..BASE+9 and refuses a port in use), unless
# BENCH_PORT_BASE is set; exported for peers.sh.
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
if [ -z "${BENCH_PORT_BASE:-}" ]; then
  for base in 39180 39280 39380 39480 39580; do
    ok=1; for i in 1 2 3 4 9; do port_free $((base + i)) || ok=0; done
    [ $ok = 1 ] && { BENCH_PORT_BASE=$base; break; }
  done
  [ -n "${BENCH_PORT_BASE:-}" ] || die "no free peer port range found; set BENCH_PORT_BASE"
fi
export BENCH_PORT_BASE

# Hearth runs with none of this shell's HEARTH_* settings: the embedded defaults, as a user gets.
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
    sleep 0.05
  done
  [ -n "$HADDR" ] || die "hearth did not say 'listening on' within 15 s"
  [ -z "$nosetup" ] || return 0
  local out
  out=$(printf '%s\n' "$ADMIN_PASS" | env "${UNSET_HEARTH[@]}" NO_COLOR=1 "$HEARTH_BIN" setup --data "$dir" \
        --name family --admin "$ADMIN" --password-stdin 2>&1) || die "hearth setup failed: $out"
}

stop_hearth_pid() {  # SIGTERM the Hearth of HPID, wait up to 15 s (shutdown grace is 10 s), then SIGKILL
  [ -n "$HPID" ] || return 0
  kill -TERM "$HPID" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$HPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$HPID" 2>/dev/null || true
  HPID=""
}
