#!/usr/bin/env bash
# Calendars and contacts with real clients (PyPI, pinned in requirements.txt):
#  - the `caldav` library: discovery, calendars, recurring events with exceptions, month
#    queries filtered by the server, edits, deletes, tasks (caldav_client.py);
#  - vdirsyncer: two-way sync of a calendar and an address book with local folders, changes
#    on both sides, and a last sync with nothing to do that makes no write (server log);
#  - hostile input: malformed iCalendar/vCard, an oversized object, an endless RRULE, a
#    10,000-year time range, an XML bomb.
# Ends with "N passed, M failed".
. "$(dirname "$0")/lib.sh"

PYBIN=$(bash "$INTEROP_DIR/pyenv.sh") || { echo "FAIL python clients"; echo "0 passed, 1 failed"; exit 1; }
# A real SMTP server on loopback for reminders and invitations (aiosmtpd).
MAILDIR=$(mktmp)/mail
SMTP_PORT=$("$PYBIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PYBIN/python" "$INTEROP_DIR/smtp_sink.py" "$SMTP_PORT" "$MAILDIR" >"$ARTIFACTS/groupware-smtp.log" 2>&1 &
SMTP_PID=$!
trap 'rc=$?; kill $SMTP_PID 2>/dev/null; (exit $rc); _cleanup' EXIT
wait_log "$ARTIFACTS/groupware-smtp.log" 'smtp sink' 10 || echo "# the SMTP sink did not say it started within 10 s" >&2
export HEARTH_MAIL_HOST=127.0.0.1 HEARTH_MAIL_PORT=$SMTP_PORT HEARTH_MAIL_SECURITY=none
export HEARTH_MAIL_FROM='Hearth <hearth@family.test>'
start_server || exit 1
AUTH=(-u "$ADMIN_USER:$ADMIN_PASS")
CALS=$BASE/remote.php/dav/calendars/$ADMIN_USER
BOOKS=$BASE/remote.php/dav/addressbooks/users/$ADMIN_USER

# --- caldav library -------------------------------------------------------------------------
out=$ARTIFACTS/groupware-caldav.txt
timeout 300 "$PYBIN/python" "$INTEROP_DIR/caldav_client.py" "$BASE" "$ADMIN_USER" "$ADMIN_PASS" >"$out" 2>&1
check "caldav library: every step (see groupware-caldav.txt)" grep -q '^[0-9]* passed, 0 failed$' "$out"
grep -E '^(ok|FAIL)' "$out" | sed 's/^/  caldav: /'

# --- caldav-server-tester against the Nextcloud profile -----------------------------------------
# Better than the profile is fine; worse is a failure. A second user (bob) lets it check
# scheduling between two accounts. `url.encode-at.*` stays "unknown": no login here has an "@".
KNOWN_GAPS='^$'
curl -sf "${AUTH[@]}" -H 'OCS-APIRequest: true' -X PUT -d key=email -d value=alice@family.test \
  "$BASE/ocs/v2.php/cloud/users/$ADMIN_USER" -o /dev/null
add_user bob bob-Pass-4711 --email bob@family.test >/dev/null
cst=$ARTIFACTS/groupware-caldav-server-tester.txt
cstconf=$(mktmp)/caldav.json
printf '{"bob": {"caldav_url": "%s/remote.php/dav/", "caldav_username": "bob", "caldav_password": "bob-Pass-4711"}}\n' "$BASE" >"$cstconf"
CALDAV_CONFIG_FILE=$cstconf timeout 600 "$PYBIN/caldav-server-tester" --caldav-url "$BASE/remote.php/dav/" \
  --caldav-user "$ADMIN_USER" --caldav-pass "$ADMIN_PASS" --caldav-features nextcloud \
  --config-section bob --diff >"$cst" 2>&1
check "caldav-server-tester ran (report: groupware-caldav-server-tester.txt)" grep -q '^Diff (expected vs observed)' "$cst"
worse=$(sed -n '/^Diff (expected vs observed)/,$p' "$cst" | awk -v gaps="$KNOWN_GAPS" '
  BEGIN { r["full"]=4; r["quirk"]=3; r["fragile"]=3; r["unsupported"]=2; r["ungraceful"]=1; r["broken"]=0 }
  /expected=/ { f=$1; sub(":", "", f); split($2, e, "="); split($3, o, "=");
    if ((e[2] in r) && (o[2] in r) && r[o[2]] < r[e[2]] && f !~ gaps) print f " (" e[2] " → " o[2] ")" }')
check "caldav-server-tester: nothing worse than Nextcloud ${worse:+— $worse}" test -z "$worse"
sed -n '/^Diff (expected vs observed)/,$p' "$cst" | sed 's/^/  /'

# --- vdirsyncer ------------------------------------------------------------------------------
vd=$(mktmp)
mkdir -p "$vd/status" "$vd/cal" "$vd/book"
cat >"$vd/config" <<EOF
[general]
status_path = "$vd/status/"

[pair cal]
a = "cal_local"
b = "cal_remote"
collections = [["personal", "personal", "personal"]]
conflict_resolution = "b wins"

[storage cal_local]
type = "filesystem"
path = "$vd/cal/"
fileext = ".ics"

[storage cal_remote]
type = "caldav"
url = "$BASE/remote.php/dav/"
username = "$ADMIN_USER"
password = "$ADMIN_PASS"

[pair book]
a = "book_local"
b = "book_remote"
collections = [["contacts", "contacts", "contacts"]]
conflict_resolution = "b wins"

[storage book_local]
type = "filesystem"
path = "$vd/book/"
fileext = ".vcf"

[storage book_remote]
type = "carddav"
url = "$BASE/remote.php/dav/"
username = "$ADMIN_USER"
password = "$ADMIN_PASS"
EOF
vds() { # step-name → runs vdirsyncer sync, output kept as an artifact
  timeout 120 "$PYBIN/vdirsyncer" -c "$vd/config" sync >"$ARTIFACTS/groupware-vdirsyncer-$1.txt" 2>&1
}
ics() { # uid summary start
  printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hearth-tests//vdirsyncer//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDURATION:PT1H\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' "$1" "$3" "$2"
}
vcf() { # uid name email
  printf 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nFN:%s\r\nN:%s;;;;\r\nEMAIL;TYPE=INTERNET:%s\r\nEND:VCARD\r\n' "$1" "$2" "$2" "$3"
}

# Something on the server before the first sync, so the first sync pulls.
ics srv-1 "Piano lesson" 20260301T160000Z | curl -sf "${AUTH[@]}" -T - "$CALS/personal/srv-1.ics" -o /dev/null
vcf card-srv-1 "Grandma" grandma@example.org | curl -sf "${AUTH[@]}" -T - "$BOOKS/contacts/card-srv-1.vcf" -o /dev/null

yes | timeout 120 "$PYBIN/vdirsyncer" -c "$vd/config" discover >"$ARTIFACTS/groupware-vdirsyncer-discover.txt" 2>&1
check "vdirsyncer discover" grep -q 'personal' "$ARTIFACTS/groupware-vdirsyncer-discover.txt"
check "vdirsyncer first sync" vds first
check "vdirsyncer pulled the server's event" grep -rqs 'Piano lesson' "$vd/cal/personal"
check "vdirsyncer pulled the server's card" grep -rqs 'Grandma' "$vd/book/contacts"

# Changes on both sides: a new local event and card, a server-side edit and a new server event.
ics local-1 "Football" 20260302T170000Z >"$vd/cal/personal/local-1.ics"
vcf card-local-1 "Uncle Bob" bob@example.org >"$vd/book/contacts/card-local-1.vcf"
ics srv-1 "Piano lesson (moved)" 20260301T170000Z | curl -sf "${AUTH[@]}" -T - "$CALS/personal/srv-1.ics" -o /dev/null
ics srv-2 "Parents evening" 20260303T180000Z | curl -sf "${AUTH[@]}" -T - "$CALS/personal/srv-2.ics" -o /dev/null
check "vdirsyncer sync after changes on both sides" vds second
check "local event reached the server" bash -c "curl -sf -u '$ADMIN_USER:$ADMIN_PASS' '$CALS/personal/local-1.ics' | grep -q Football"
check "local card reached the server" bash -c "curl -sf -u '$ADMIN_USER:$ADMIN_PASS' '$BOOKS/contacts/card-local-1.vcf' | grep -q 'Uncle Bob'"
check "server edit reached the folder" grep -rqs 'Piano lesson (moved)' "$vd/cal/personal"
check "new server event reached the folder" grep -rqs 'Parents evening' "$vd/cal/personal"

# Deletes on both sides.
rm -f "$vd/cal/personal/local-1.ics"
curl -sf "${AUTH[@]}" -X DELETE "$BOOKS/contacts/card-srv-1.vcf" -o /dev/null
check "vdirsyncer sync after deletes" vds third
check "local delete reached the server" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -u '$ADMIN_USER:$ADMIN_PASS' '$CALS/personal/local-1.ics')\" = 404 ]"
check "server delete reached the folder" bash -c "! grep -rqs Grandma '$vd/book/contacts'"

# Nothing changed: the next sync writes nothing, on either side.
mark=$(log_mark)
before=$(find "$vd/cal" "$vd/book" -type f -newer "$vd/config" -printf '%p %T@\n' | sort | md5sum)
check "vdirsyncer sync with nothing to do" vds idle
log_since "$mark" >"$ARTIFACTS/groupware-vdirsyncer-idle-requests.log"
check "idle sync: no PUT or DELETE reached the server" bash -c "! grep -Eq 'method=(PUT|DELETE|MKCOL|PROPPATCH) ' '$ARTIFACTS/groupware-vdirsyncer-idle-requests.log'"
check "idle sync: requests were made (it did look)" grep -q 'PROPFIND\|REPORT' "$ARTIFACTS/groupware-vdirsyncer-idle-requests.log"
after=$(find "$vd/cal" "$vd/book" -type f -newer "$vd/config" -printf '%p %T@\n' | sort | md5sum)
check "idle sync: no local file touched" test "$before" = "$after"
check "idle sync: vdirsyncer reports no copy/update/delete" bash -c "! grep -Eiq 'copying|updating|deleting' '$ARTIFACTS/groupware-vdirsyncer-idle.txt'"

# --- reminders: a notification and an e-mail, exactly once --------------------------------------
start=$(date -u -d '+10 minutes 4 seconds' +%Y%m%dT%H%M%SZ)
printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:remind-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDURATION:PT30M\r\nSUMMARY:Dentist\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Dentist\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' "$start" |
  curl -sf "${AUTH[@]}" -T - "$CALS/personal/remind-1.ics" -o /dev/null
notes() { curl -sf "${AUTH[@]}" -H 'OCS-APIRequest: true' "$BASE/ocs/v2.php/apps/notifications/api/v2/notifications?format=json"; }
for _ in $(seq 1 40); do notes | grep -q 'Reminder: Dentist' && break; sleep 0.5; done
sleep 5 # time for a second (wrong) firing to show up
notes >"$ARTIFACTS/groupware-notifications.json"
check "reminder: one notification (OCS notifications API)" test "$(grep -o 'Reminder: Dentist' "$ARTIFACTS/groupware-notifications.json" | wc -l)" = 1
check "reminder: one e-mail to alice@family.test" test "$(grep -l 'Reminder: Dentist' "$MAILDIR"/*.eml 2>/dev/null | wc -l)" = 1
check "reminder: mail addressed to the owner" grep -rqs 'X-Envelope-To: alice@family.test' "$MAILDIR"
nid=$(grep -o '"notification_id":[0-9]*' "$ARTIFACTS/groupware-notifications.json" | head -1 | cut -d: -f2)
check "notification dismissed" test "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -H 'OCS-APIRequest: true' -X DELETE "$BASE/ocs/v2.php/apps/notifications/api/v2/notifications/$nid")" = 200
check "notification list empty after dismissal" bash -c "! curl -sf -u '$ADMIN_USER:$ADMIN_PASS' -H 'OCS-APIRequest: true' '$BASE/ocs/v2.php/apps/notifications/api/v2/notifications?format=json' | grep -q Dentist"

# --- scheduling: alice invites bob (on the box) and carol (outside it) -------------------------
out=$ARTIFACTS/groupware-scheduling.txt
timeout 300 "$PYBIN/python" "$INTEROP_DIR/caldav_scheduling.py" "$BASE" "$ADMIN_USER" "$ADMIN_PASS" bob bob-Pass-4711 >"$out" 2>&1
check "scheduling with two users (see groupware-scheduling.txt)" grep -q '^[0-9]* passed, 0 failed$' "$out"
grep -E '^(ok|FAIL)' "$out" | sed 's/^/  scheduling: /'
for _ in $(seq 1 20); do [ "$(grep -l 'carol@elsewhere.test' "$MAILDIR"/*.eml 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.5; done
check "iMIP: carol got the invitation (METHOD:REQUEST) by mail" bash -c "grep -l 'X-Envelope-To: carol@elsewhere.test' '$MAILDIR'/*.eml | xargs grep -l 'METHOD:REQUEST' | grep -q ."
check "iMIP: carol got the cancellation (METHOD:CANCEL)" bash -c "grep -l 'X-Envelope-To: carol@elsewhere.test' '$MAILDIR'/*.eml | xargs grep -l 'METHOD:CANCEL' | grep -q ."
check "iMIP: bob (on the box) got no invitation mail" bash -c "! grep -l 'X-Envelope-To: bob@family.test' '$MAILDIR'/*.eml 2>/dev/null | xargs -r grep -l 'Family dinner' | grep -q ."

# --- hostile input ---------------------------------------------------------------------------
code() { curl -s -o "$ARTIFACTS/groupware-last-body.txt" -w '%{http_code}' "${AUTH[@]}" "$@"; }
check "malformed iCalendar → 403 valid-calendar-data" bash -c "[ \"\$(printf 'BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nthis is not\r\n' | curl -s -o /dev/null -w '%{http_code}' -u '$ADMIN_USER:$ADMIN_PASS' -T - '$CALS/personal/bad.ics')\" = 403 ]"
check "malformed vCard → 403" bash -c "[ \"\$(printf 'BEGIN:VCARD\r\nFN:x\r\n' | curl -s -o /dev/null -w '%{http_code}' -u '$ADMIN_USER:$ADMIN_PASS' -T - '$BOOKS/contacts/bad.vcf')\" = 403 ]"
big=$(mktmp)/big.ics
{ printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:big\r\nDTSTART:20260101T000000Z\r\nDESCRIPTION:'; head -c 50000000 /dev/zero | tr '\0' 'a'; printf '\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n'; } >"$big"
rss_before=$(awk '/VmRSS/{print $2}' "/proc/$SERVER_PID/status")
check "50 MB object → 413 max-resource-size" test "$(code -T "$big" "$CALS/personal/big.ics")" = 413
check "50 MB object: precondition element" grep -q 'max-resource-size' "$ARTIFACTS/groupware-last-body.txt"
rss_after=$(awk '/VmRSS/{print $2}' "/proc/$SERVER_PID/status")
check "50 MB object: RSS grew < 16 MB ($rss_before → $rss_after KiB)" test $((rss_after - rss_before)) -lt 16384
printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:endless\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T000000Z\r\nDURATION:PT1S\r\nRRULE:FREQ=SECONDLY\r\nSUMMARY:forever\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' >"$vd/endless.ics"
t0=$(date +%s%N)
check "endless RRULE stored" test "$(code -T "$vd/endless.ics" "$CALS/personal/endless.ics")" = 201
q='<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="00010101T000000Z" end="99991231T235959Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>'
check "10,000-year time range answers 207" test "$(code -X REPORT -H 'Depth: 1' --max-time 30 -d "$q" "$CALS/personal/")" = 207
check "10,000-year range includes the endless event" grep -q 'endless.ics' "$ARTIFACTS/groupware-last-body.txt"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "endless RRULE + 10,000-year query bounded (${ms} ms < 10 s)" test "$ms" -lt 10000
bomb='<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>&b;</c:calendar-query>'
check "XML bomb → 400" test "$(code -X REPORT -H 'Depth: 1' -d "$bomb" "$CALS/personal/")" = 400
check "bad time-range → 400" test "$(code -X REPORT -H 'Depth: 1' -d "${q/00010101T000000Z/yesterday}" "$CALS/personal/")" = 400
check "someone else's calendar → 404" test "$(code -X PROPFIND "$BASE/remote.php/dav/calendars/nobody/personal/")" = 404
check "bob cannot read alice's calendar → 404" test "$(curl -s -o /dev/null -w '%{http_code}' -u bob:bob-Pass-4711 -X PROPFIND "$CALS/personal/")" = 404
check "no credentials → 401" test "$(curl -s -o /dev/null -w '%{http_code}' -X PROPFIND "$CALS/")" = 401
check "server still alive" curl -sf -o /dev/null "$BASE/status.php"

finish
