# Sourced by the files benchmarks: picks the peers' port range (peers.sh uses BASE+1..BASE+9
# and refuses a port in use), unless BENCH_PORT_BASE is set, and exports it.
# Needs `die` from the sourcing script.
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
if [ -z "${BENCH_PORT_BASE:-}" ]; then
  for base in 39180 39280 39380 39480 39580; do
    ok=1; for i in 1 2 3 4 9; do port_free $((base + i)) || ok=0; done
    [ $ok = 1 ] && { BENCH_PORT_BASE=$base; break; }
  done
  [ -n "${BENCH_PORT_BASE:-}" ] || die "no free peer port range found; set BENCH_PORT_BASE"
fi
export BENCH_PORT_BASE
