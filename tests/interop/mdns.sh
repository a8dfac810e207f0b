#!/usr/bin/env bash
# mDNS / DNS-SD against real namespaces: two Hearth boxes and a client on a bridge that exists
# only inside network namespaces this script creates (no packet reaches a real network).
# A python-zeroconf browser (PyPI `zeroconf`) in the client namespace must resolve NAME.local,
# find the four services with the right ports and `path=` TXT, and see two boxes with the same
# name end up with distinct names. Needs root (ip netns). Ends with "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/log-wait.sh"
BIN=${HEARTH_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/hearth-target}/debug/hearth}
ART=${ARTIFACTS:-$(mktemp -d)}
mkdir -p "$ART"
tag=hm$$
work=$(mktemp -d)
pids=()
passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for ns in "$tag-cli" "$tag-b1" "$tag-b2" "$tag-b3"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

python3 -c 'import zeroconf' 2>/dev/null ||
  python3 -m pip install -q zeroconf >/dev/null 2>&1 ||
  python3 -m pip install -q --break-system-packages zeroconf >/dev/null 2>&1 ||
  { echo "FAIL cannot install the python zeroconf package"; echo "0 passed, 1 failed"; exit 1; }
if [ "$(id -u)" != 0 ] || ! ip netns add "$tag-cli" 2>/dev/null; then
  echo "FAIL network namespaces need root"; echo "0 passed, 1 failed"; exit 1
fi
ip netns add "$tag-b1"; ip netns add "$tag-b2"
nsc() { ip netns exec "$tag-cli" "$@"; }
nsc ip link set lo up
nsc ip link add br0 type bridge
nsc ip link set br0 up
nsc ip addr add 10.77.0.100/24 dev br0
wire_box() { # i: box i's namespace, with eth0 = 10.77.0.1i on the client's bridge
  local i=$1
  ip link add "$tag-v$i" type veth peer name "$tag-p$i"
  ip link set "$tag-v$i" netns "$tag-b$i"
  ip link set "$tag-p$i" netns "$tag-cli"
  nsc ip link set "$tag-p$i" master br0 up
  ip netns exec "$tag-b$i" ip link set lo up
  ip netns exec "$tag-b$i" ip link set "$tag-v$i" name eth0
  ip netns exec "$tag-b$i" ip addr add "10.77.0.1$i/24" dev eth0
  ip netns exec "$tag-b$i" ip link set eth0 up
}
wire_box 1
wire_box 2

start_box() { # i
  local i=$1
  mkdir -p "$work/d$i"
  ip netns exec "$tag-b$i" env -u HEARTH_BIN NO_COLOR=1 HEARTH_MDNS_ENABLED=true "$BIN" serve --data "$work/d$i" --http "10.77.0.1$i:8080" 2>"$ART/mdns-box$i.log" &
  pids+=($!)
  wait_log "$ART/mdns-box$i.log" "listening on" 10 || echo "# box $i did not start within 10 s" >&2
  printf 'box-password-%s\n' "$i" | timeout 60 "$BIN" setup --data "$work/d$i" --name family --admin admin --password-stdin >/dev/null
}

browse() { # seconds → JSON lines of what the client sees
  nsc timeout 60 python3 - "$1" <<'PY'
import json, sys, time, socket
from zeroconf import Zeroconf, ServiceBrowser, IPVersion
zc = Zeroconf(interfaces=["10.77.0.100"], ip_version=IPVersion.V4Only)
types = ["_http._tcp.local.", "_webdav._tcp.local.", "_caldav._tcp.local.", "_carddav._tcp.local."]
found = {}
class L:
    def add_service(self, zc, t, name): found[(t, name)] = None
    def update_service(self, zc, t, name): found[(t, name)] = None
    def remove_service(self, zc, t, name): pass
bs = [ServiceBrowser(zc, t, L()) for t in types]
time.sleep(float(sys.argv[1]))
for (t, name) in sorted(found):
    info = zc.get_service_info(t, name, timeout=3000)
    if not info: continue
    path = (info.properties or {}).get(b"path", b"").decode()
    print(json.dumps({"type": t, "name": name, "port": info.port, "server": info.server, "path": path,
                      "addrs": [socket.inet_ntoa(a) for a in info.addresses]}))
zc.close()
PY
}

start_box 1
sleep 3
seen=$(browse 6)
echo "$seen" > "$ART/mdns-seen-1.jsonl"
for t in _http._tcp.local. _webdav._tcp.local. _caldav._tcp.local. _carddav._tcp.local.; do
  line=$(echo "$seen" | grep "\"$t\"" | grep '"family.local."' | head -1)
  if echo "$line" | grep -q '"port": 8080' && echo "$line" | grep -q '"path": "/remote.php/dav/"' && echo "$line" | grep -q '10.77.0.11'; then
    ok "box 1 announces $t on family.local:8080 with path=/remote.php/dav/"
  else
    bad "box 1 announces $t (saw: ${line:-nothing})"
  fi
done
# NAME.local resolves to the box from the client (multicast DNS A query through zeroconf).
addr=$(nsc timeout 20 python3 -c '
from zeroconf import AddressResolver, IPVersion, Zeroconf
zc = Zeroconf(interfaces=["10.77.0.100"], ip_version=IPVersion.V4Only)
r = AddressResolver("family.local.")
r.request(zc, 3000)
print(",".join(sorted(r.parsed_addresses())))
zc.close()' 2>>"$ART/mdns-resolve.err")
[ "$addr" = "10.77.0.11" ] && ok "family.local resolves to 10.77.0.11" || bad "family.local resolves to 10.77.0.11 (got '$addr')"
curl_code=$(nsc curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://10.77.0.11:8080/status.php")
[ "$curl_code" = 200 ] && ok "the client reaches the box it found" || bad "client reaches the box ($curl_code)"

# A second box with the same name takes a stable fallback name.
start_box 2
mac=$(ip netns exec "$tag-b2" cat /sys/class/net/eth0/address | tr -d ':' | tail -c 5)
wait_log "$ART/mdns-box2.log" "answers as family-$mac.local\|switching to family-$mac.local" 20
sleep 3
seen=$(browse 6)
echo "$seen" > "$ART/mdns-seen-2.jsonl"
if echo "$seen" | grep '"_http._tcp.local."' | grep -q "\"family-$mac.local.\"" && echo "$seen" | grep "\"family-$mac.local.\"" | grep -q 10.77.0.12; then
  ok "box 2 answers as family-$mac.local (stable, from its MAC)"
else
  bad "box 2 takes family-$mac.local (saw: $(echo "$seen" | grep -o '"server": "[^"]*"' | sort -u | tr '\n' ' '))"
fi
if echo "$seen" | grep '"family.local."' | grep -q 10.77.0.11 && ! echo "$seen" | grep '"family.local."' | grep -q 10.77.0.12; then
  ok "family.local still belongs to box 1 only"
else
  bad "family.local belongs to box 1 only"
fi
wait_log "$ART/mdns-box2.log" "taken" && ok "box 2 says why it renamed" || bad "box 2 logs the rename"

# --- through Avahi (the `zeroconf` feature) -----------------------------------------------
# A third box runs a general-purpose Linux's Avahi daemon (with its own system D-Bus, in a
# mount namespace of its own), which owns port 5353; Hearth built with `--features zeroconf`
# must announce through it. It is also named "family": Avahi reports the collision with box 1
# and Hearth takes its stable fallback name.
ZBIN=${HEARTH_ZEROCONF_BIN:-}
if [ -z "$ZBIN" ] || [ ! -x "$ZBIN" ]; then
  bad "no Hearth built with --features zeroconf (HEARTH_ZEROCONF_BIN)"
elif ! command -v avahi-daemon >/dev/null || ! command -v dbus-daemon >/dev/null; then
  bad "avahi-daemon and dbus-daemon are not installed (tests/interop/install-deps.sh)"
else
  ip netns add "$tag-b3"
  wire_box 3
  mkdir -p "$work/d3" "$work/avahi"
  printf '%s\n' '[server]' 'host-name=generalpurpose' 'use-ipv4=yes' 'use-ipv6=no' 'allow-interfaces=eth0' \
    'enable-dbus=yes' '[publish]' 'publish-workstation=no' >"$work/avahi/avahi-daemon.conf"
  ip netns exec "$tag-b3" unshare -m sh -c '
    set -e
    mkdir -p /run/dbus /run/avahi-daemon
    mount -t tmpfs tmpfs /run/dbus; mount -t tmpfs tmpfs /run/avahi-daemon
    dbus-daemon --system --fork --print-pid >"$1/dbus.pid"
    avahi-daemon --no-drop-root --no-chroot -f "$1/avahi-daemon.conf" -D
    cp /run/avahi-daemon/pid "$1/avahi.pid"
    ss -Huanp "sport = :5353" >"$1/port5353-before.txt"
    exec env -u HEARTH_BIN NO_COLOR=1 HEARTH_MDNS_ENABLED=true "$2" serve --data "$3" --http 10.77.0.13:8080
  ' sh "$work/avahi" "$ZBIN" "$work/d3" 2>"$ART/mdns-box3.log" &
  pids+=($!)
  wait_log "$ART/mdns-box3.log" "listening on" 10 || echo "# box 3 did not start within 10 s" >&2
  for f in dbus avahi; do [ -s "$work/avahi/$f.pid" ] && pids+=("$(cat "$work/avahi/$f.pid")"); done
  printf 'box-password-3\n' | timeout 60 "$ZBIN" setup --data "$work/d3" --name family --admin admin --password-stdin >/dev/null
  mac3=$(ip netns exec "$tag-b3" cat /sys/class/net/eth0/address | tr -d ':' | tail -c 5)
  wait_log "$ART/mdns-box3.log" "through Avahi" 30
  owners=$(ip netns exec "$tag-b3" ss -Huanp "sport = :5353" | grep -o 'users:(("[^"]*' | sed 's/.*"//' | sort -u | tr '\n' ' ')
  [ "$owners" = "avahi-daemon " ] && grep -q "announced on the local network through Avahi" "$ART/mdns-box3.log" &&
    ok "box 3 announces through its Avahi daemon (port 5353 owned by: $owners)" ||
    bad "box 3 through Avahi (5353 owned by '$owners'; log: $(grep -i 'mdns\|avahi\|announced' "$ART/mdns-box3.log" | tail -2))"
  sleep 2
  seen=$(browse 6)
  echo "$seen" > "$ART/mdns-seen-3.jsonl"
  n=0
  for t in _http._tcp.local. _webdav._tcp.local. _caldav._tcp.local. _carddav._tcp.local.; do
    echo "$seen" | grep "\"$t\"" | grep "\"family-$mac3.local.\"" | grep '"port": 8080' | grep '"path": "/remote.php/dav/"' | grep -q 10.77.0.13 && n=$((n + 1))
  done
  [ "$n" = 4 ] && ok "through Avahi: the four services on family-$mac3.local:8080 with path=/remote.php/dav/ (family.local was taken: stable fallback)" ||
    bad "through Avahi: $n of 4 services on family-$mac3.local (saw: $(echo "$seen" | grep 10.77.0.13 | head -2))"
  addr=$(nsc timeout 20 python3 -c '
import sys
from zeroconf import AddressResolver, IPVersion, Zeroconf
zc = Zeroconf(interfaces=["10.77.0.100"], ip_version=IPVersion.V4Only)
r = AddressResolver(sys.argv[1])
r.request(zc, 3000)
print(",".join(sorted(r.parsed_addresses())))
zc.close()' "family-$mac3.local." 2>>"$ART/mdns-resolve.err")
  [ "$addr" = "10.77.0.13" ] && ok "family-$mac3.local (published by Avahi) resolves to 10.77.0.13" || bad "family-$mac3.local resolves to '$addr'"
fi

# --- the wizard only for the home network ----------------------------------------------------
# A box not yet set up, reached from a public address (TEST-NET-3 on the same bridge), must
# refuse the wizard; from the home address it offers it (the claim code page).
ip netns exec "$tag-b2" ip addr add 203.0.113.12/24 dev eth0
nsc ip addr add 203.0.113.100/24 dev br0
mkdir -p "$work/d4"
ip netns exec "$tag-b2" env -u HEARTH_BIN NO_COLOR=1 "$BIN" serve --data "$work/d4" --http 0.0.0.0:8081 2>"$ART/mdns-box4.log" &
pids+=($!)
wait_log "$ART/mdns-box4.log" "listening on" 10 || echo "# box 4 did not start within 10 s" >&2
far=$(nsc curl -s -o "$work/far.html" -w '%{http_code}' --max-time 5 --interface 203.0.113.100 "http://203.0.113.12:8081/setup")
near=$(nsc curl -s -o "$work/near.html" -w '%{http_code}' --max-time 5 --interface 10.77.0.100 "http://10.77.0.12:8081/setup")
farpost=$(nsc curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface 203.0.113.100 --data 'code=AAAA-AAAA' "http://203.0.113.12:8081/setup/claim")
if [ "$far" = 403 ] && grep -q 'home network' "$work/far.html" && [ "$farpost" = 403 ] &&
   [ "$near" = 200 ] && grep -q 'claim code' "$work/near.html"; then
  ok "the wizard refuses a public address (GET and claim POST: 403, \"only from your home network\") and offers itself at home (200)"
else
  bad "wizard from a public address: GET $far, POST $farpost; from home: $near"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
