#!/usr/bin/env bash
# The appliance's figures (issue: "idle RSS with TLS and mDNS running ≤ 20 MB; full TLS
# handshake + status request ≥ 500/s"), on a release build:
#   - idle RSS: Hearth serving HTTP + HTTPS (local CA) with mDNS announcing, inside a network
#     namespace with a veth interface (so mDNS has a real interface), set up with an admin,
#     30 s after start;
#   - handshakes: two `openssl s_time -new` clients in parallel (one alone is CPU-bound near
#     500/s on this machine), each a full TLS 1.3 handshake + GET /status.php, for 8 s.
# Needs root (ip netns). Writes out/bench/appliance-DATE.md. No peer is measured: nginx's TLS
# figures are not a target here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hearth-target}
cd "$ROOT"
cargo build --release --quiet
BIN=$CARGO_TARGET_DIR/release/hearth
command -v openssl >/dev/null || { echo "needs openssl"; exit 1; }
tag=hb$$
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  ip netns del "$tag" 2>/dev/null
  ip link del "$tag-h" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$tag"
ip link add "$tag-h" type veth peer name "$tag-b"
ip link set "$tag-b" netns "$tag"
ip addr add 10.78.0.1/24 dev "$tag-h"; ip link set "$tag-h" up
ip netns exec "$tag" ip link set lo up
ip netns exec "$tag" ip addr add 10.78.0.2/24 dev "$tag-b"
ip netns exec "$tag" ip link set "$tag-b" up
ip netns exec "$tag" env NO_COLOR=1 HEARTH_MDNS_ENABLED=true "$BIN" serve --data "$work/d" \
  --http 10.78.0.2:8080 --https 10.78.0.2:18443 >"$work/hearth.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/hearth.log" 2>/dev/null && break; sleep 0.1; done
printf 'bench-password-1\n' | "$BIN" setup --data "$work/d" --name bench --admin admin --password-stdin >/dev/null
grep -q "announced on the local network" "$work/hearth.log" || sleep 5
sleep 30
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
announced=$(grep -o 'name=[^ ]*' "$work/hearth.log" | grep local | tail -1)
clients=()
for i in 1 2; do
  openssl s_time -connect 10.78.0.2:18443 -new -time 8 -www /status.php >"$work/s_time-$i.txt" 2>&1 &
  clients+=($!)
done
wait "${clients[@]}" 2>/dev/null || true
total=0
for i in 1 2; do
  n=$(sed -n 's/^\([0-9]*\) connections in [0-9.]*s.*/\1/p' "$work/s_time-$i.txt" | head -1)
  total=$((total + ${n:-0}))
done
rate=$(awk -v n="$total" 'BEGIN {printf "%.0f", n / 8}')
after=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
date=$(date -u +%Y-%m-%d)
mkdir -p "$ROOT/out/bench"
report=$ROOT/out/bench/appliance-$date.md
{
  echo "# Appliance figures ($(date -u '+%Y-%m-%d %H:%M UTC'), release build, $(nproc) cores)"
  echo
  echo "| figure | measured | target |"
  echo "|---|---|---|"
  echo "| idle RSS, HTTPS (local CA) + mDNS announcing ($announced), set up, 30 s after start | $((rss / 1024)).$((rss % 1024 * 10 / 1024)) MiB (peak so far $((hwm / 1024)) MiB) | ≤ 20 MiB |"
  echo "| full TLS handshake + GET /status.php, 2 × openssl s_time -new, 8 s | $rate /s ($total) | ≥ 500 /s |"
  echo "| RSS after the handshakes | $((after / 1024)).$((after % 1024 * 10 / 1024)) MiB | |"
  echo
  echo "Command: \`bash scripts/bench/appliance.sh\`"
} | tee "$report"
