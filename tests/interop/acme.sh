#!/usr/bin/env bash
# ACME against Debian's pebble (the ACME test server) on loopback. pebble-challtestsrv is only
# the DNS server pebble asks (every name → 127.0.0.1); pebble validates against Hearth's own
# listeners (its httpPort/tlsPort are Hearth's HTTP and HTTPS ports). Driven like an
# administrator would, through POST /settings/system/certificate; checked with curl verifying
# against pebble's root, and openssl for serials:
#   HTTP-01 issues a certificate Hearth serves for the public name (HSTS only there; the local
#   CA still serves the .local name); renewal before expiry (pebble issues 90-second
#   certificates); TLS-ALPN-01 issues the next one; a failing challenge (the name now points
#   where nothing listens) keeps the old certificate in service and the system page says why.
# Ends with "N passed, M failed".
set -uo pipefail
. "$(dirname "$0")/log-wait.sh"
BIN=${HEARTH_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/hearth-target}/debug/hearth}
ART=${ARTIFACTS:-$(mktemp -d)}
mkdir -p "$ART"
work=$(mktemp -d)
pids=()
passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit $?; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

for c in pebble pebble-challtestsrv openssl curl; do
  command -v "$c" >/dev/null || { bad "$c is not installed (tests/interop/install-deps.sh)"; finish; }
done
read -r HTTP HTTPS PB PM DNS CM < <(python3 -c 'import socket
s = [socket.socket() for _ in range(6)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
NAME=box.hearth.test

# pebble's directory is HTTPS only: a certificate from a throw-away CA, which Hearth trusts
# through acme.ca_file (as a box would trust a private ACME server).
{ openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=test-ca \
    -keyout "$work/ca.key" -out "$work/ca.crt" &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=pebble \
    -keyout "$work/pebble.key" -out "$work/pebble.csr" &&
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/ext" &&
  openssl x509 -req -in "$work/pebble.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/ext" -out "$work/pebble.crt"; } >/dev/null 2>&1 ||
  { bad "openssl could not make pebble's certificate"; finish; }
cat >"$work/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PB", "managementListenAddress": "127.0.0.1:$PM",
  "certificate": "$work/pebble.crt", "privateKey": "$work/pebble.key",
  "httpPort": $HTTP, "tlsPort": $HTTPS, "ocspResponderURL": "",
  "externalAccountBindingRequired": false, "certificateValidityPeriod": 90}}
EOF
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNS" -http01 "" -https01 "" \
  -tlsalpn01 "" -management "127.0.0.1:$CM" >"$ART/acme-challtestsrv.log" 2>&1 &
pids+=($!)
# No authorization reuse (each order is validated again), no artificial sleeps.
PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 pebble -config "$work/pebble.json" -dnsserver "127.0.0.1:$DNS" \
  >"$ART/acme-pebble.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf --cacert "$work/ca.crt" "https://127.0.0.1:$PB/dir" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf --cacert "$work/ca.crt" "https://127.0.0.1:$PB/dir" >/dev/null || { bad "pebble did not start: $(tail -3 "$ART/acme-pebble.log")"; finish; }

mkdir -p "$work/data"
env -u HEARTH_BIN NO_COLOR=1 HEARTH_ACME_CA_FILE="$work/ca.crt" HEARTH_ACME_RETRY_SECS=2 HEARTH_ACME_DNS_WAIT_SECS=1 \
  "$BIN" serve --data "$work/data" --http "127.0.0.1:$HTTP" --https "127.0.0.1:$HTTPS" >"$ART/acme-hearth.log" 2>&1 &
pids+=($!)
wait_log "$ART/acme-hearth.log" "listening on" 10 || { bad "Hearth did not start: $(tail -3 "$ART/acme-hearth.log")"; finish; }
printf 'admin-password-1\n' | timeout 60 "$BIN" setup --data "$work/data" --name family --admin admin --password-stdin >/dev/null ||
  { bad "hearth setup failed"; finish; }
curl -sf "http://127.0.0.1:$HTTP/hearth-ca.crt" -o "$work/local-ca.crt" || { bad "no local CA"; finish; }

S=https://127.0.0.1:$HTTPS
admin() { curl -s -k -u admin:admin-password-1 -H 'OCS-APIRequest: true' "$@"; }
set_cert() { admin -o "$work/answer.html" -w '%{http_code}' --data "$1" "$S/settings/system/certificate"; }
page() { admin "$S/settings/system" | tr -d '\n'; }
served_serial() { # the serial of what Hearth serves for $NAME
  openssl s_client -connect "127.0.0.1:$HTTPS" -servername "$NAME" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//' | tr 'A-F' 'a-f'
}
wait_serial_change() { # old-serial seconds → the new serial, or nothing
  local s
  for _ in $(seq 1 $(($2 * 2))); do
    s=$(served_serial)
    [ -n "$s" ] && [ "$s" != "$1" ] && page | grep -q 'id="acme-cert"' && { echo "$s"; return 0; }
    sleep 0.5
  done
}
pebble_root() {
  curl -sf --cacert "$work/ca.crt" "https://127.0.0.1:$PM/roots/0" -o "$work/pebble-root.pem"
}
public() { curl -s --max-time 10 --cacert "$work/pebble-root.pem" --resolve "$NAME:$HTTPS:127.0.0.1" "$@"; }
local_serial=$(served_serial)

# --- HTTP-01 -------------------------------------------------------------------------------
st=$(set_cert "do=save&domains=not+a+name&directory=https://127.0.0.1:$PB/dir&challenge=http-01")
[ "$st" = 400 ] && grep -q 'is not a public name' "$work/answer.html" &&
  ok "a bad public name is refused (400: $(grep -o '[^>]*is not a public name[^<]*' "$work/answer.html" | head -1))" ||
  bad "a bad public name: $st"
st=$(curl -s -k -u admin:admin-password-1 -o /dev/null -w '%{http_code}' --data "do=renew" "$S/settings/system/certificate")
[ "$st" = 403 ] && ok "a form post without the CSRF header or token is refused (403)" || bad "CSRF: $st"
t0=$(date +%s.%N)
st=$(set_cert "do=save&domains=$NAME&directory=https://127.0.0.1:$PB/dir&email=admin@hearth.test&challenge=http-01")
[ "$st" = 303 ] || bad "saving the ACME settings: $st $(head -c 300 "$work/answer.html")"
s1=$(wait_serial_change "$local_serial" 60)
if [ -n "$s1" ] && pebble_root && public -o "$work/status.json" "https://$NAME:$HTTPS/status.php" && grep -q '"installed":true' "$work/status.json"; then
  ok "HTTP-01: certificate for $NAME issued by pebble in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s and served (curl verifies it against pebble's root; serial $s1)"
else
  bad "HTTP-01: no certificate served for $NAME (page: $(page | grep -o '<h2>Public certificate.*' | head -c 600))"
fi
wait_log "$ART/acme-hearth.log" "/.well-known/acme-challenge/" && ok "the challenge was fetched over plain HTTP after set-up (no redirect for that path)" ||
  bad "no HTTP-01 fetch in Hearth's request log"
hsts=$(public -o /dev/null -D - "https://$NAME:$HTTPS/status.php" | tr -d '\r' | grep -i '^strict-transport-security:' || true)
nohsts=$(curl -s --cacert "$work/local-ca.crt" --resolve "family.local:$HTTPS:127.0.0.1" -o /dev/null -D - "https://family.local:$HTTPS/status.php" | tr -d '\r' | grep -ci '^strict-transport-security:' || true)
[ -n "$hsts" ] && [ "$nohsts" = 0 ] && ok "HSTS only for the publicly trusted name ($hsts); family.local still verifies with the local CA and gets none" ||
  bad "HSTS: public '$hsts', local count '$nohsts'"

# --- renewal before expiry ------------------------------------------------------------------
# pebble's certificates live 90 s: Hearth renews when a third is left (after ~60 s).
s2=$(wait_serial_change "$s1" 75)
if [ -n "$s2" ] && public -o /dev/null "https://$NAME:$HTTPS/status.php"; then
  ok "renewed before expiry without a restart: serial $s1 → $s2, still verified"
else
  bad "no renewal within 75 s (serial still $(served_serial))"
fi

# --- TLS-ALPN-01 ----------------------------------------------------------------------------
alpn_before=$(grep -c 'answered a TLS-ALPN-01 validation' "$ART/acme-hearth.log" || true)
st=$(set_cert "do=save&domains=$NAME&directory=https://127.0.0.1:$PB/dir&challenge=tls-alpn-01")
s3=$(wait_serial_change "${s2:-$s1}" 60)
if [ -n "$s3" ] && public -o /dev/null "https://$NAME:$HTTPS/status.php" &&
   wait_log_count "$ART/acme-hearth.log" 'answered a TLS-ALPN-01 validation' $((alpn_before + 1)); then
  ok "TLS-ALPN-01: pebble validated over TLS with acme-tls/1 on Hearth's HTTPS port ($(($(grep -c 'answered a TLS-ALPN-01 validation' "$ART/acme-hearth.log") - alpn_before)) handshakes); new certificate served (serial $s3)"
else
  bad "TLS-ALPN-01: no new certificate (status $st, serial $(served_serial), page: $(page | grep -o 'id="acme-error"[^<]*' | head -1))"
fi

# --- a failing challenge keeps the old certificate -----------------------------------------
curl -sf -X POST -d "{\"host\":\"$NAME\",\"addresses\":[\"127.0.0.2\"]}" "http://127.0.0.1:$CM/add-a" >/dev/null ||
  bad "challtestsrv did not take the new address"
before=$(served_serial)
st=$(set_cert "do=renew")
why=
for _ in $(seq 1 60); do
  why=$(page | grep -o '<p class="warn" id="acme-error">[^<]*' | sed 's/.*>//')
  [ -n "$why" ] && break
  sleep 0.5
done
after=$(served_serial)
if [ -n "$why" ] && [ "$after" = "$before" ] && public -o /dev/null "https://$NAME:$HTTPS/status.php"; then
  ok "a failing challenge leaves the old certificate in place (serial $after) and the system page says why: $why"
else
  bad "failing challenge: renew $st, reason '$why', serial $before → $after"
fi
wait_log "$ART/acme-hearth.log" 'ACME certificate not obtained' && ok "the failure is logged: $(grep -o 'ACME certificate not obtained.*' "$ART/acme-hearth.log" | head -1 | cut -c1-200)" ||
  bad "the failure is not in Hearth's log"

# --- DNS-01 through RFC 2136 updates to a real BIND -----------------------------------------
# BIND (named) holds the zone hearth.test on loopback and takes updates signed with a TSIG
# key; a second pebble asks it (and only it) for the TXT records. The name now points where
# nothing listens (127.0.0.2): no port of Hearth's can be involved.
read -r DNS2 PB2 PM2 < <(python3 -c 'import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
mkdir -p "$work/named"
SECRET=$(openssl rand -base64 32)
printf '%s\n' "options { directory \"$work/named\"; listen-on port $DNS2 { 127.0.0.1; }; listen-on-v6 { none; };" \
  "  pid-file \"$work/named/named.pid\"; recursion no; dnssec-validation no; };" \
  "key \"hearth-acme\" { algorithm hmac-sha256; secret \"$SECRET\"; };" \
  "zone \"hearth.test\" { type primary; file \"$work/named/hearth.test.zone\"; allow-update { key \"hearth-acme\"; }; };" \
  >"$work/named/named.conf"
printf '%s\n' '$TTL 60' '@ IN SOA ns.hearth.test. admin.hearth.test. 1 60 60 600 60' '@ IN NS ns.hearth.test.' \
  'ns IN A 127.0.0.1' 'box IN A 127.0.0.2' >"$work/named/hearth.test.zone"
named -g -c "$work/named/named.conf" >"$ART/acme-named.log" 2>&1 &
pids+=($!)
sed -e "s/127.0.0.1:$PB\"/127.0.0.1:$PB2\"/" -e "s/127.0.0.1:$PM\"/127.0.0.1:$PM2\"/" "$work/pebble.json" >"$work/pebble2.json"
PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 pebble -config "$work/pebble2.json" -dnsserver "127.0.0.1:$DNS2" \
  >"$ART/acme-pebble-dns.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf --cacert "$work/ca.crt" "https://127.0.0.1:$PB2/dir" >/dev/null 2>&1 &&
    dig +short @127.0.0.1 -p "$DNS2" ns.hearth.test A | grep -q 127 && break
  sleep 0.1
done
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
D2="directory=https://127.0.0.1:$PB2/dir&challenge=dns-01&dns_server=127.0.0.1:$DNS2"
WILD=photos.$NAME
before=$(served_serial)
st=$(set_cert "do=save&domains=$NAME+*.$NAME&$D2&dns_key=$(urlenc "hmac-sha256:hearth-acme:$(openssl rand -base64 32)")")
why=
for _ in $(seq 1 40); do
  why=$(page | grep -o '<p class="warn" id="acme-error">[^<]*' | sed 's/.*>//')
  case $why in *"did not accept the TSIG key"*) break ;; esac
  sleep 0.5
done
case $why in
  *"did not accept the TSIG key"*) ok "DNS-01 with a wrong TSIG key: refused by the DNS server, and the page says so: $why" ;;
  *) bad "DNS-01 with a wrong key: status $st, page says '$why'" ;;
esac
st=$(set_cert "do=save&domains=$NAME+*.$NAME&$D2&dns_key=$(urlenc "hmac-sha256:hearth-acme:$SECRET")")
s4=$(wait_serial_change "$before" 60)
curl -sf --cacert "$work/ca.crt" "https://127.0.0.1:$PM2/roots/0" -o "$work/pebble-root.pem"
if [ -n "$s4" ] && public -o /dev/null "https://$NAME:$HTTPS/status.php" &&
   curl -s --max-time 10 --cacert "$work/pebble-root.pem" --resolve "$WILD:$HTTPS:127.0.0.1" -o /dev/null "https://$WILD:$HTTPS/status.php"; then
  ok "DNS-01: TXT records put into BIND by TSIG-signed updates; certificate for $NAME and *.$NAME served (serial $s4; $WILD verifies too)"
else
  bad "DNS-01: no certificate (status $st, serial $(served_serial), page: $(page | grep -o 'id="acme-error"[^<]*' | head -1))"
fi
n=$(grep -c "adding an RR at '_acme-challenge.$NAME' TXT" "$ART/acme-named.log" || true)
[ "$n" -ge 2 ] && ok "BIND logged $n signed updates adding _acme-challenge.$NAME TXT records (name and wildcard)" ||
  bad "BIND logged $n TXT additions"
left=$(dig +short @127.0.0.1 -p "$DNS2" TXT "_acme-challenge.$NAME")
[ -z "$left" ] && ok "the _acme-challenge records were removed after the order" || bad "TXT records left behind: $left"
finish
