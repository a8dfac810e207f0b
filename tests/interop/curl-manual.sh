#!/usr/bin/env bash
# The Nextcloud user manual's cURL examples (files/access_webdav "Accessing files using cURL")
# against a fresh Hearth: MKCOL, PUT (-T), MOVE with Destination, PROPFIND Depth 1, then the
# listing's shape as the desktop client reads it (Content-Type, d:/oc: prefixes, per-child
# getetag/oc:fileid/oc:id/oc:permissions/getcontentlength, percent-encoded hrefs).
. "$(dirname "$0")/lib.sh"

ensure_deps
need curl python3 || fatal "clients installed"
start_server || fatal "server starts"

W=$(mktmp)
U="$ADMIN_USER:$ADMIN_PASS"
C=(curl -sS --max-time 60 -u "$U")

# status CODE OUTFILE CURL-ARGS...: runs curl, saves headers+body, checks the status code
status() {
  local want=$1 out=$2 got
  shift 2
  got=$("${C[@]}" -D "$out.headers" -o "$out.body" -w '%{http_code}' "$@") || return 1
  echo "status $got (want $want): $*"
  cat "$out.headers"
  head -c 2000 "$out.body"
  [ "$got" = "$want" ]
}

printf 'hello from the manual\n' >"$W/file.txt"
printf 'second child\n' >"$W/other.txt"
check "MKCOL dir → 201" status 201 "$W/mkcol" -X MKCOL "$DAV/dir"
check "PUT -T file → 201" status 201 "$W/put" -T "$W/file.txt" "$DAV/dir/file"
check "MOVE with Destination → 201" status 201 "$W/move" -X MOVE -H "Destination: $DAV/dir/new" "$DAV/dir/file"
check "moved file is at dir/new" status 200 "$W/get" "$DAV/dir/new"
check "moved content intact" cmp "$W/get.body" "$W/file.txt"
check "source gone after MOVE → 404" status 404 "$W/getold" "$DAV/dir/file"

# children whose names need percent-encoding in hrefs
ODD_NAMES=("a b.txt" "hash#sign.txt" "per%cent.txt" "été.txt" "emoji 🎉.txt" "sub dir")
for n in "${ODD_NAMES[@]}"; do
  if [ "$n" = "sub dir" ]; then
    check "MKCOL '$n' → 201" status 201 "$W/odd" -X MKCOL "$DAV/dir/$(urlenc "$n")"
  else
    check "PUT '$n' → 201" status 201 "$W/odd" -T "$W/other.txt" "$DAV/dir/$(urlenc "$n")"
  fi
done

# the manual's PROPFIND (no body: allprop) ...
check "PROPFIND Depth 1 (manual, no body) → 207" status 207 "$W/pf0" -X PROPFIND -H "Depth: 1" "$DAV/dir/"
# ... and the desktop client's explicit property list
cat >"$W/propfind.xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
  <d:prop>
    <d:resourcetype/><d:getlastmodified/><d:getcontentlength/><d:getetag/>
    <oc:size/><oc:id/><oc:fileid/><oc:downloadURL/><oc:dDC/><oc:permissions/><oc:checksums/>
    <oc:share-types/><oc:data-fingerprint/><nc:is-mount-root/>
  </d:prop>
</d:propfind>
EOF
check "PROPFIND Depth 1 (desktop props) → 207" status 207 "$W/pf1" -X PROPFIND -H "Depth: 1" \
  -H "Content-Type: application/xml; charset=utf-8" --data-binary @"$W/propfind.xml" "$DAV/dir/"

content_type_exact() {
  local f=$1 ct
  ct=$(grep -i '^content-type:' "$f" | head -n1 | sed 's/^[^:]*: *//; s/\r$//')
  echo "Content-Type: [$ct]"
  [ "$ct" = "application/xml; charset=utf-8" ]
}
check "PROPFIND Content-Type exactly 'application/xml; charset=utf-8' (allprop)" content_type_exact "$W/pf0.headers"
check "PROPFIND Content-Type exactly 'application/xml; charset=utf-8' (props)" content_type_exact "$W/pf1.headers"

# listing analysis in Python (stdlib only): literal prefixes on the raw text, structure via ElementTree
analyse() {
  python3 - "$1" "$2" "$DAV" <<'PY'
import sys, re, urllib.parse
import xml.etree.ElementTree as ET
mode, path, dav = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(path, "rb").read()
text = raw.decode("utf-8")
base_path = urllib.parse.urlsplit(dav).path + "/dir/"
D, OC = "{DAV:}", "{http://owncloud.org/ns}"
ok = True
def bad(msg):
    global ok
    ok = False
    print("BAD:", msg)

if mode == "prefixes":
    m = re.search(r"<d:multistatus\b[^>]*>", text)
    if not m:
        bad("no literal <d:multistatus> root element")
    else:
        root_tag = m.group(0)
        for p, ns in (("d", "DAV:"), ("oc", "http://owncloud.org/ns"), ("nc", "http://nextcloud.org/ns"), ("s", "http://sabredav.org/ns")):
            if f'xmlns:{p}="{ns}"' not in root_tag:
                bad(f"xmlns:{p}=\"{ns}\" not declared on <d:multistatus>: {root_tag}")
    for el in ("d:response", "d:href", "d:propstat", "d:prop", "d:status", "d:getetag", "oc:fileid", "oc:id", "oc:permissions"):
        if f"<{el}>" not in text and f"<{el} " not in text and f"<{el}/>" not in text:
            bad(f"literal <{el}> not found")
    if re.search(r"<D:|xmlns=\"DAV:\"", text):
        bad("upper-case D: prefix or default DAV: namespace used")
    sys.exit(0 if ok else 1)

tree = ET.fromstring(raw)
responses = tree.findall(D + "response")
print(f"{len(responses)} responses")
expected = {"new", "a b.txt", "hash#sign.txt", "per%cent.txt", "été.txt", "emoji 🎉.txt", "sub dir"}
seen = set()
for r in responses:
    href = r.findtext(D + "href")
    propstats = r.findall(D + "propstat")
    if not propstats:
        bad(f"{href}: no propstat"); continue
    first_status = propstats[0].findtext(D + "status") or ""
    if " 200 " not in first_status:
        bad(f"{href}: first propstat is not 200: {first_status}")
    ok_props = {}
    for ps in propstats:
        if " 200 " in (ps.findtext(D + "status") or ""):
            for p in ps.find(D + "prop"):
                ok_props[p.tag] = p
    is_dir = ok_props.get(D + "resourcetype") is not None and ok_props[D + "resourcetype"].find(D + "collection") is not None
    if mode == "hrefs":
        # every segment percent-encoded: only unreserved chars, '/', and %XX escapes
        if not re.fullmatch(r"[A-Za-z0-9\-._~/%!$&'()*+,;=:@]*", href) or re.search(r"%(?![0-9A-Fa-f]{2})", href):
            bad(f"href not percent-encoded: {href!r}")
        for ch in " #?\"":
            if ch in href:
                bad(f"href contains a raw {ch!r}: {href!r}")
        if not href.startswith(base_path):
            bad(f"href {href!r} does not start with the request path {base_path!r}")
        if is_dir != href.endswith("/"):
            bad(f"href {href!r}: collection={is_dir} but trailing slash={href.endswith('/')}")
        name = urllib.parse.unquote(href[len(base_path):].rstrip("/"))
        if name:
            seen.add(name)
        continue
    # mode == "props": each child (not the folder itself) carries what the desktop needs
    if href.rstrip("/") == base_path.rstrip("/"):
        if OC + "data-fingerprint" in ok_props:
            pass
        continue
    need = [D + "getetag", OC + "fileid", OC + "id", OC + "permissions"]
    if not is_dir:
        need.append(D + "getcontentlength")
    else:
        need.append(OC + "size")
    for n in need:
        el = ok_props.get(n)
        if el is None or (el.text or "").strip() == "":
            bad(f"{href}: missing or empty {n} in the 200 propstat")
    etag = (ok_props.get(D + "getetag").text or "") if ok_props.get(D + "getetag") is not None else ""
    if etag and not (etag.startswith('"') and etag.endswith('"')):
        bad(f"{href}: getetag not quoted: {etag!r}")
    fid = ok_props.get(OC + "fileid")
    if fid is not None and not (fid.text or "").strip().isdigit():
        bad(f"{href}: oc:fileid not an integer: {fid.text!r}")
    print(f"{href}: dir={is_dir} etag={etag} fileid={fid.text if fid is not None else None} id={ok_props.get(OC + 'id').text if ok_props.get(OC + 'id') is not None else None} perms={ok_props.get(OC + 'permissions').text if ok_props.get(OC + 'permissions') is not None else None}")
if mode == "hrefs":
    missing = expected - seen
    extra = seen - expected
    if missing:
        bad(f"children missing from the listing: {sorted(missing)}")
    if extra:
        bad(f"unexpected children: {sorted(extra)}")
sys.exit(0 if ok else 1)
PY
}
check "XML uses literal d:/oc:/nc:/s: prefixes declared on d:multistatus" analyse prefixes "$W/pf1.body"
check "each child has getetag, oc:fileid, oc:id, oc:permissions (+getcontentlength/oc:size)" analyse props "$W/pf1.body"
check "hrefs percent-encoded, under the request path, names round-trip" analyse hrefs "$W/pf1.body"
check "allprop listing: hrefs percent-encoded and names round-trip" analyse hrefs "$W/pf0.body"

# the file's etag/fileid headers on the upload replies (trap 6)
has_header() {
  echo "looking for $2 in $1"
  cat "$1"
  grep -qi "^$2:" "$1"
}
check "PUT reply carries OC-FileId" has_header "$W/put.headers" OC-FileId
check "PUT reply carries ETag" has_header "$W/put.headers" ETag
check "MKCOL reply carries OC-FileId" has_header "$W/mkcol.headers" OC-FileId
check "MOVE reply carries OC-FileId" has_header "$W/move.headers" OC-FileId

# fileid stable across the MOVE: the PUT's OC-FileId must equal dir/new's oc:fileid
fileid_kept() {
  local put_id listed
  put_id=$(grep -i '^oc-fileid:' "$W/put.headers" | sed 's/^[^:]*: *//; s/\r$//')
  listed=$(python3 - "$W/pf1.body" <<'PY'
import sys, xml.etree.ElementTree as ET
t = ET.parse(sys.argv[1])
for r in t.getroot().findall("{DAV:}response"):
    if r.findtext("{DAV:}href").endswith("/dir/new"):
        for ps in r.findall("{DAV:}propstat"):
            v = ps.find("{DAV:}prop/{http://owncloud.org/ns}id")
            if v is not None and v.text:
                print(v.text)
PY
)
  echo "PUT OC-FileId=$put_id, listed oc:id of dir/new=$listed"
  [ -n "$put_id" ] && [ "$put_id" = "$listed" ]
}
check "MOVE keeps the file id (PUT OC-FileId == oc:id after MOVE)" fileid_kept

# Nextcloud keeps a file's etag through a rename (only the parents' etags change); the desktop
# client's remote-rename detection compares it (discovery.cpp "file etag different, not a rename")
etag_kept() {
  local put_etag listed
  put_etag=$(grep -i '^etag:' "$W/put.headers" | sed 's/^[^:]*: *//; s/\r$//')
  listed=$(python3 - "$W/pf1.body" <<'PY'
import sys, xml.etree.ElementTree as ET
for r in ET.parse(sys.argv[1]).getroot().findall("{DAV:}response"):
    if r.findtext("{DAV:}href").endswith("/dir/new"):
        for ps in r.findall("{DAV:}propstat"):
            v = ps.find("{DAV:}prop/{DAV:}getetag")
            if v is not None and v.text:
                print(v.text)
PY
)
  echo "PUT ETag=$put_etag, getetag of dir/new after MOVE=$listed"
  grep -i '^etag:' "$W/move.headers"
  [ -n "$put_etag" ] && [ "$put_etag" = "$listed" ]
}
check "MOVE keeps the file's etag (PUT ETag == getetag after MOVE)" etag_kept

check "DELETE dir → 204" status 204 "$W/del" -X DELETE "$DAV/dir/"
check "PROPFIND on deleted dir → 404" status 404 "$W/pf404" -X PROPFIND -H "Depth: 1" "$DAV/dir/"

finish
