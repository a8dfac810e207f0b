#!/usr/bin/env bash
# nextcloudcmd 3.7 (Debian `nextcloud-desktop-cmd`) against a fresh Hearth, two local folders
# (two "devices") syncing one account:
#  (a) sync UP a tree: nested folders, NFC and NFD Unicode names, spaces, '#', '%', emoji, an
#      empty file, an empty folder and a big random file (BIG_MB, default 300 → NG chunking);
#  (b) a second, empty folder syncs it DOWN; sha1 of every file equal on both sides and against
#      WebDAV GETs; the server's own listing (PROPFIND, folder by folder) matches;
#  (c) edits, renames and deletes on both local folders and on the server (curl PUT/MOVE/DELETE/
#      MKCOL) converge after the next syncs, with no conflict files anywhere;
#  (d) a sync with nothing changed makes no GET and no PUT (counted in the server's request log).
# Every nextcloudcmd run must exit 0; its output is kept as $ARTIFACTS/nextcloudcmd-<step>.txt.
. "$(dirname "$0")/lib.sh"

BIG_MB=${BIG_MB:-300}
NC_TIMEOUT=${NC_TIMEOUT:-1200}
# NG chunking for files > 10 MB; fixed 10 MB chunks (no dynamic sizing) so a 300 MB file is
# ~30 chunks whatever the machine's speed.
export OWNCLOUD_CHUNK_SIZE=10000000
export OWNCLOUD_TARGET_CHUNK_UPLOAD_DURATION=0

ensure_deps
need nextcloudcmd curl python3 sha1sum || fatal "clients installed"
start_server || fatal "server starts"
# the desktop switches small-file uploads to POST /remote.php/dav/bulk when this is advertised
echo "# capabilities: dav = $(curl -sS --max-time 10 -u "$ADMIN_USER:$ADMIN_PASS" -H 'OCS-APIRequest: true' \
  "$BASE/ocs/v1.php/cloud/capabilities?format=json" |
  python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["ocs"]["data"]["capabilities"].get("dav")))')"

W=$(mktmp)
A=$W/A        # device 1
B=$W/B        # device 2
MODEL=$W/model # what the tree must look like (updated alongside every change)
mkdir -p "$A" "$B"
U="$ADMIN_USER:$ADMIN_PASS"
C=(curl -sS --max-time 300 -u "$U")

# ncsync STEP DIR: one nextcloudcmd run; output and the requests it made go to $ARTIFACTS
LAST_MARK=0
ncsync() {
  local step=$1 dir=$2 rc out=$ARTIFACTS/nextcloudcmd-$1.txt t0=$SECONDS
  LAST_MARK=$(log_mark)
  timeout "$NC_TIMEOUT" nextcloudcmd --non-interactive -u "$ADMIN_USER" -p "$ADMIN_PASS" \
    --max-sync-retries 2 "$dir" "$BASE" >"$out" 2>&1
  rc=$?
  log_since "$LAST_MARK" >"$ARTIFACTS/nextcloudcmd-$step-requests.log"
  echo "nextcloudcmd $step: exit $rc after $((SECONDS - t0)) s; output $out"
  grep -E 'Server reported no|\[ warning|ERROR|Error|error:' "$out" | grep -vE 'QSslSocket|libproxy|0 errors|System exclude list file could not be read' | tail -n 15
  echo "requests: $(grep -c . "$ARTIFACTS/nextcloudcmd-$step-requests.log")," \
    "non-2xx: $(grep -vcE 'status=(2[0-9][0-9]|404)' "$ARTIFACTS/nextcloudcmd-$step-requests.log")"
  grep -E 'status=[45][0-9][0-9]' "$ARTIFACTS/nextcloudcmd-$step-requests.log" | grep -v 'status=404' | tail -n 10
  return "$rc"
}

# requests of the last ncsync run matching an ERE
last_requests() { grep -E "$1" "$ARTIFACTS/nextcloudcmd-$2-requests.log"; }

# nothing_transferred STEP DIR: a sync of an unchanged folder makes no GET and no PUT
nothing_transferred() {
  ncsync "$1" "$2" || return 1
  local gets puts
  gets=$(last_requests 'method=GET path=/remote.php/dav/files' "$1" | wc -l)
  puts=$(last_requests 'method=PUT |method=POST path=/remote.php/dav/bulk' "$1" | wc -l)
  echo "during $1: GET on /remote.php/dav/files: $gets, PUT (or bulk POST): $puts"
  grep -E 'Discovered .*INSTRUCTION_(NEW|SYNC|CONFLICT|REMOVE|RENAME|TYPE_CHANGE)' "$ARTIFACTS/nextcloudcmd-$1.txt" |
    sed -E 's/^[^]]*\]:\s*//' | head -n 10
  last_requests 'method=(GET|PUT|MOVE|DELETE|MKCOL) ' "$1" | grep -v 'path=/status.php\|path=/ocs/' | head -n 20
  [ "$gets" -eq 0 ] && [ "$puts" -eq 0 ]
}

# server_tree: the account as the server lists it (PROPFIND Depth 1, folder by folder, like the
# desktop does), in tree_manifest's "size" format: "D path" / "F size path", NFC, sorted
server_tree() {
  python3 - "$DAV" "$ADMIN_USER" "$ADMIN_PASS" <<'PY'
import base64, sys, unicodedata, urllib.parse, urllib.request
import xml.etree.ElementTree as ET
dav, user, pw = sys.argv[1:4]
auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
body = b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getcontentlength/></d:prop></d:propfind>'
root_path = urllib.parse.urlsplit(dav).path.rstrip("/") + "/"
origin = dav[: len(dav) - len(urllib.parse.urlsplit(dav).path)]
out, todo = [], [root_path]
while todo:
    folder = todo.pop()
    req = urllib.request.Request(origin + folder, data=body, method="PROPFIND", headers={
        "Depth": "1", "Content-Type": "application/xml", "Authorization": auth})
    raw = urllib.request.urlopen(req, timeout=120).read()
    for r in ET.fromstring(raw).findall("{DAV:}response"):
        href = r.findtext("{DAV:}href")
        if href.rstrip("/") == folder.rstrip("/"):
            continue
        rel = urllib.parse.unquote(href)[len(root_path):].rstrip("/")
        props = {}
        for ps in r.findall("{DAV:}propstat"):
            if " 200 " in (ps.findtext("{DAV:}status") or ""):
                for p in ps.find("{DAV:}prop"):
                    props[p.tag] = p
        rt = props.get("{DAV:}resourcetype")
        rel = unicodedata.normalize("NFC", rel)
        if rt is not None and rt.find("{DAV:}collection") is not None:
            out.append((rel, f"D {rel}"))
            todo.append(href if href.endswith("/") else href + "/")
        else:
            size = props.get("{DAV:}getcontentlength")
            out.append((rel, f"F {size.text if size is not None else '?'} {rel}"))
for _, line in sorted(out):
    print(line)
PY
}

# etag_of PATH: the getetag PROPFIND gives for PATH
etag_of() {
  "${C[@]}" -X PROPFIND -H 'Depth: 0' -H 'Content-Type: application/xml' \
    --data '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>' \
    "$DAV/$(urlenc "$1")" | grep -o '<d:getetag>[^<]*' | sed 's/<d:getetag>//'
}

# not_downloaded STEP NAME...: the sync STEP made no GET of these (moved, not changed) files
not_downloaded() {
  local step=$1 n bad=0
  shift
  for n in "$@"; do
    if last_requests "method=GET path=[^ ]*/$(urlenc "$n" | sed 's/[.[\*^$]/\\&/g') " "$step"; then
      echo "^ $n was downloaded again in $step instead of being renamed locally"
      bad=1
    fi
  done
  grep -E 'file etag different, not a rename|Rename detected|remote rename' "$ARTIFACTS/nextcloudcmd-$step.txt" | sed -E 's/^[^]]*\]:\s*//' | head -n 10
  [ "$bad" -eq 0 ]
}

# same_as_model WHAT CMD...: CMD's manifest must equal the model's
same_as_model() {
  local what=$1
  shift
  case $what in
    sha1) diff <(tree_manifest "$MODEL" sha1,size) <("$@") ;;
    size) diff <(tree_manifest "$MODEL" size) <("$@") ;;
  esac && echo "identical to the model: $(tree_manifest "$MODEL" size | wc -l) entries"
}

no_conflicts() {
  local found
  found=$( (find "$A" "$B" -name '*conflicted copy*' -o -name '*(conflict*'; server_tree | grep -i 'conflict') 2>&1)
  echo "${found:-no conflict files}"
  [ -z "$found" ]
}

# dav_sha1 PATH LOCALFILE: GET through WebDAV and compare sha1 with the local file; the GET must
# carry an ETag (desktop: "No E-Tag received from server")
dav_sha1() {
  local rel=$1 file=$2 got want hdr
  hdr=$(mktemp)
  got=$("${C[@]}" -D "$hdr" "$DAV/$(urlenc "$rel")" | sha1sum | cut -c1-40)
  want=$(sha1sum <"$file" | cut -c1-40)
  echo "GET $rel: sha1 $got, local $want"
  grep -iE '^(etag|oc-etag|content-length):' "$hdr"
  grep -qi '^etag:' "$hdr" || { echo "no ETag on GET"; rm -f "$hdr"; return 1; }
  rm -f "$hdr"
  [ "$got" = "$want" ]
}

# status_is CODE CURL-ARGS...
status_is() {
  local want=$1 got
  shift
  got=$("${C[@]}" -o /dev/null -w '%{http_code}' "$@")
  echo "$* → $got (want $want)"
  [ "$got" = "$want" ]
}

# ===================================================================================== (a)
NFD=$(printf 'e\xcc\x81te\xcc\x81.txt')   # "été.txt", decomposed (NFD)
mkdir -p "$A/docs/nested/deep" "$A/docs/nested/empty folder" "$A/space dir" \
  "$A/Ünïcödé café" "$A/📁 folder" "$A/big"
printf 'top level\n' >"$A/top.txt"
printf '# readme\n' >"$A/README.md"
printf 'deep file\n' >"$A/docs/nested/deep/file.txt"
printf 'sibling\n' >"$A/docs/nested/sibling.txt"
printf 'with spaces\n' >"$A/space dir/a b c.txt"
printf 'nfc\n' >"$A/Ünïcödé café/naïve résumé.txt"
printf 'nfd\n' >"$A/$NFD"
printf 'hash\n' >"$A/hash#name.txt"
printf 'percent\n' >"$A/per%cent 100%.txt"
printf 'literal escape\n' >"$A/%20literal%2F.txt"
printf 'emoji\n' >"$A/emoji 🎉 party.txt"
printf 'cat\n' >"$A/📁 folder/inner 🐱.txt"
: >"$A/empty.bin"
head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$A/big/big.bin"
mkdir -p "$MODEL" && cp -a "$A/." "$MODEL/"
echo "# tree: $(tree_manifest "$A" size | wc -l) entries, big file ${BIG_MB} MiB"

check "(a) sync up: first nextcloudcmd run on A exits 0" ncsync a-up "$A"

chunked_upload() {
  local f=$ARTIFACTS/nextcloudcmd-a-up-requests.log
  grep -E 'path=/remote.php/dav/uploads/' "$f" | sed -E 's/.* (method=[A-Z]+ path=[^ ]+ status=[0-9]+).*/\1/' |
    awk '{k=$1" "$3; n[k]++} END {for (k in n) print n[k], k}'
  grep -qE "method=MKCOL path=/remote.php/dav/uploads/$ADMIN_USER/[^ ]+ status=201" "$f" &&
    [ "$(grep -cE "method=PUT path=/remote.php/dav/uploads/$ADMIN_USER/[^ ]+ status=201" "$f")" -ge $((BIG_MB * 1048576 / 10000000)) ] &&
    grep -qE "method=MOVE path=/remote.php/dav/uploads/$ADMIN_USER/[^ ]+/\.file status=201" "$f"
}
check "(a) big file uploaded with NG chunking (MKCOL, ≥$((BIG_MB * 1048576 / 10000000)) chunk PUTs, MOVE .file → 201)" chunked_upload
check "(a) server listing (PROPFIND Depth 1, recursive) matches the tree (names NFC, sizes)" same_as_model size server_tree
check "(a) WebDAV GET sha1: top.txt" dav_sha1 top.txt "$A/top.txt"
check "(a) WebDAV GET sha1: NFD name" dav_sha1 "$NFD" "$A/$NFD"
check "(a) WebDAV GET sha1: hash#name.txt" dav_sha1 'hash#name.txt' "$A/hash#name.txt"
check "(a) WebDAV GET sha1: %20literal%2F.txt" dav_sha1 '%20literal%2F.txt' "$A/%20literal%2F.txt"
check "(a) WebDAV GET sha1: 📁 folder/inner 🐱.txt" dav_sha1 '📁 folder/inner 🐱.txt' "$A/📁 folder/inner 🐱.txt"
check "(a) WebDAV GET sha1: big/big.bin (${BIG_MB} MiB, chunk-assembled)" dav_sha1 big/big.bin "$A/big/big.bin"
check "(a) A unchanged by its own sync (sha1 of every file)" same_as_model sha1 tree_manifest "$A" sha1,size
check "(d) second sync of A with nothing changed: no GET, no PUT" nothing_transferred a-noop "$A"

# ===================================================================================== (b)
check "(b) sync down: first nextcloudcmd run on empty B exits 0" ncsync b-down "$B"
check "(b) B equals A (sha1 of every file and folder; names NFC)" same_as_model sha1 tree_manifest "$B" sha1,size
check "(b) B's files carry the server's mtimes of A's files (to the second)" \
  diff <(tree_manifest "$A" mtime) <(tree_manifest "$B" mtime)
check "(d) second sync of B with nothing changed: no GET, no PUT" nothing_transferred b-noop "$B"

# ===================================================================================== (c)
# round 1 — local changes on A and server changes through WebDAV, at the same time
sleep 1 # different mtime second from the last sync
printf 'top level, edited on A\n' >>"$A/top.txt"
mv "$A/space dir/a b c.txt" "$A/space dir/renamed on A #1.txt"
rm "$A/hash#name.txt"
mkdir -p "$A/new on A % dir"
printf 'new on A\n' >"$A/new on A % dir/new ✓.txt"
mv "$A/docs/nested" "$A/docs/renamed nested"

printf 'top level, edited on A\n' >>"$MODEL/top.txt"
touch -r "$A/top.txt" "$MODEL/top.txt"
mv "$MODEL/space dir/a b c.txt" "$MODEL/space dir/renamed on A #1.txt"
rm "$MODEL/hash#name.txt"
mkdir -p "$MODEL/new on A % dir"
cp -p "$A/new on A % dir/new ✓.txt" "$MODEL/new on A % dir/new ✓.txt"
mv "$MODEL/docs/nested" "$MODEL/docs/renamed nested"

printf '# readme, edited on the server\n' >"$W/readme2"
printf 'created on the server\n' >"$W/srvnew"
printf 'inner, on the server\n' >"$W/inner"
server_changes_1() {
  status_is 204 -T "$W/readme2" "$DAV/README.md" &&
    status_is 201 -T "$W/srvnew" "$DAV/$(urlenc 'server new 🌍.txt')" &&
    status_is 201 -X MOVE -H "Destination: $DAV/$(urlenc 'Ünïcödé café/emoji moved 🎉.txt')" \
      "$DAV/$(urlenc 'emoji 🎉 party.txt')" &&
    status_is 204 -X DELETE "$DAV/$(urlenc 'per%cent 100%.txt')" &&
    status_is 201 -X MKCOL "$DAV/$(urlenc 'server dir')" &&
    status_is 201 -T "$W/inner" "$DAV/$(urlenc 'server dir/inner #2.txt')" &&
    status_is 204 -X DELETE "$DAV/$(urlenc '📁 folder')/"
}
ETAG_BEFORE_MOVE=$(etag_of 'emoji 🎉 party.txt')
check "(c) server-side changes through WebDAV (PUT overwrite/new, MOVE, DELETE file+folder, MKCOL)" server_changes_1
etag_kept() {
  local after
  after=$(etag_of 'Ünïcödé café/emoji moved 🎉.txt')
  echo "getetag before MOVE: $ETAG_BEFORE_MOVE, after: $after"
  [ -n "$ETAG_BEFORE_MOVE" ] && [ "$ETAG_BEFORE_MOVE" = "$after" ]
}
check "(c) a file's etag survives a WebDAV MOVE (desktop remote-rename detection needs it)" etag_kept
cp "$W/readme2" "$MODEL/README.md"
cp "$W/srvnew" "$MODEL/server new 🌍.txt"
mv "$MODEL/emoji 🎉 party.txt" "$MODEL/Ünïcödé café/emoji moved 🎉.txt"
rm "$MODEL/per%cent 100%.txt"
mkdir -p "$MODEL/server dir"
cp "$W/inner" "$MODEL/server dir/inner #2.txt"
rm -r "$MODEL/📁 folder"

check "(c) round 1: sync A (local changes up, server changes down) exits 0" ncsync c1-a "$A"
local_moves_as_moves() {
  local f=$ARTIFACTS/nextcloudcmd-c1-a-requests.log
  grep -E 'method=(MOVE|PUT|DELETE|MKCOL|GET) path=/remote.php/dav/files' "$f" | sed -E 's/.* (method=[A-Z]+ path=[^ ]+ status=[0-9]+).*/\1/'
  grep -qE 'method=MOVE path=[^ ]*/space%20dir/a%20b%20c\.txt status=201' "$f" &&
    grep -qE 'method=MOVE path=[^ ]*/docs/nested status=201' "$f" &&
    ! grep -qE 'method=GET path=[^ ]*(docs|big)' "$f"
}
check "(c) A's renames went up as MOVEs (file and folder), nothing re-downloaded" local_moves_as_moves
check "(c) round 1: A applied the server's file MOVE as a local rename (no GET)" \
  not_downloaded c1-a 'Ünïcödé café/emoji moved 🎉.txt'
check "(c) round 1: sync B exits 0" ncsync c1-b "$B"
check "(c) round 1: B applied A's file rename as a local rename (no GET)" \
  not_downloaded c1-b 'space dir/renamed on A #1.txt' 'Ünïcödé café/emoji moved 🎉.txt' 
check "(c) round 1: A matches the expected tree (sha1)" same_as_model sha1 tree_manifest "$A" sha1,size
check "(c) round 1: B matches the expected tree (sha1)" same_as_model sha1 tree_manifest "$B" sha1,size
check "(c) round 1: server listing matches the expected tree" same_as_model size server_tree

# round 2 — changes on B (the other device) and on the server again
sleep 1
printf 'edited on B\n' >>"$B/docs/renamed nested/deep/file.txt"
mv "$B/server new 🌍.txt" "$B/server dir/moved by B 🌍.txt"
rm -r "$B/new on A % dir"
printf 'new on B\n' >"$B/docs/renamed nested/empty folder/filled by B.txt"
printf 'edited on B\n' >>"$MODEL/docs/renamed nested/deep/file.txt"
mv "$MODEL/server new 🌍.txt" "$MODEL/server dir/moved by B 🌍.txt"
rm -r "$MODEL/new on A % dir"
cp "$B/docs/renamed nested/empty folder/filled by B.txt" "$MODEL/docs/renamed nested/empty folder/filled by B.txt"

printf 'top, replaced on the server\n' >"$W/top3"
server_changes_2() {
  status_is 204 -T "$W/top3" "$DAV/top.txt" &&
    status_is 201 -X MOVE -H "Destination: $DAV/$(urlenc 'space dir/renamed on server.txt')" \
      "$DAV/$(urlenc 'space dir/renamed on A #1.txt')" &&
    status_is 201 -X MOVE -H "Destination: $DAV/$(urlenc 'moved Ünïcödé café')" \
      "$DAV/$(urlenc 'Ünïcödé café')"
}
check "(c) round 2: server-side overwrite and MOVEs (file and folder)" server_changes_2
cp "$W/top3" "$MODEL/top.txt"
mv "$MODEL/space dir/renamed on A #1.txt" "$MODEL/space dir/renamed on server.txt"
mv "$MODEL/Ünïcödé café" "$MODEL/moved Ünïcödé café"

check "(c) round 2: sync B exits 0" ncsync c2-b "$B"
check "(c) round 2: sync A exits 0" ncsync c2-a "$A"
check "(c) round 2: A applied the file MOVEs (server's and B's) as local renames (no GET)" \
  not_downloaded c2-a 'space dir/renamed on server.txt' 'server dir/moved by B 🌍.txt' 
check "(c) round 2: B matches the expected tree (sha1)" same_as_model sha1 tree_manifest "$B" sha1,size
check "(c) round 2: A matches the expected tree (sha1)" same_as_model sha1 tree_manifest "$A" sha1,size
check "(c) round 2: server listing matches the expected tree" same_as_model size server_tree
check "(c) WebDAV GET sha1 after the changes: top.txt" dav_sha1 top.txt "$MODEL/top.txt"
check "(c) WebDAV GET sha1 after the changes: moved by B" dav_sha1 'server dir/moved by B 🌍.txt' "$MODEL/server dir/moved by B 🌍.txt"
check "(c) no conflict files in A, B or on the server" no_conflicts

# ===================================================================================== (d)
check "(d) final sync of A with nothing changed: no GET, no PUT" nothing_transferred d-a "$A"
check "(d) final sync of B with nothing changed: no GET, no PUT" nothing_transferred d-b "$B"
log_settle
check "(d) no 5xx answers during the whole run" bash -c "! grep -E 'status=5[0-9][0-9]' '$SERVER_LOG'"

finish
