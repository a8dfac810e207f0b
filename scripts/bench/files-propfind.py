#!/usr/bin/env python3
"""PROPFIND figures with the Nextcloud desktop's property list (helper of scripts/bench/files.sh).

The shared ../shared/bench/wl-propfind.py asks only for DAV properties (resourcetype,
getlastmodified, getcontentlength, getetag, getcontenttype). A Nextcloud desktop client
asks for more (docs/protocols/nextcloud-clients.md §5.3, "desktop 3.7 discovery"), and
those (oc:id, oc:fileid, oc:permissions, oc:size, ...) are what Hearth must compute per
entry. Subcommands (every one prints FIGURE<TAB>VALUE<TAB>UNIT rows on stdout, progress on
stderr):

  fill    --folder F --entries N --method auto|bulk|put|dir:PATH [--size B]
          creates F/ with N files e000000.txt... of B bytes (default 16): `bulk` = Hearth's
          POST /remote.php/dav/bulk (multipart/related, 1,000 parts per request), `put` =
          parallel PUTs on keep-alive connections, `dir:PATH` = written straight into the
          directory a filesystem-backed peer serves (PATH/F), `auto` = bulk if the server
          answers it, else put.
  time    --folder F --entries N [--repeat R] [--label L]
          PROPFIND Depth:1 of F with the desktop body, R times sequentially: median/min ms,
          bytes, <response> count and how many responses carry oc:fileid, oc:id,
          oc:permissions and getetag values.
  memflat --pid PID [--small 1000] [--big 100000] [--rounds 2]
          fills two folders, then for each round PROPFINDs the small and the big one
          (desktop body, response read in 64 KiB chunks and discarded) with the server's
          peak-RSS counter reset right before (/proc/PID/clear_refs), reading VmRSS before
          and VmRSS/VmHWM after, and sampling VmRSS every 10 ms meanwhile.
"""
import argparse
import base64
import http.client
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

OC = "http://owncloud.org/ns"
NC = "http://nextcloud.org/ns"
# nextcloud/desktop 3.7 src/libsync/discoveryphase.cpp: oc props as <oc:x/>, others as <x xmlns=".."/>;
# no nc:is-encrypted (no E2EE capability) and no nc:lock* (no files.locking) on Hearth.
DESKTOP_PROPS = ("<d:resourcetype/><d:getlastmodified/><d:getcontentlength/><d:getetag/>"
                 "<oc:size/><oc:id/><oc:fileid/><oc:downloadURL/><oc:dDC/><oc:permissions/>"
                 "<oc:checksums/><oc:share-types/>"
                 f'<is-mount-root xmlns="{NC}"/>')


def desktop_body(root=False):
    extra = "<oc:data-fingerprint/>" if root else ""
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<d:propfind xmlns:d="DAV:" xmlns:oc="{OC}">'
            f"<d:prop>{DESKTOP_PROPS}{extra}</d:prop></d:propfind>\n").encode()


RESP_END = re.compile(rb"</(?:[A-Za-z0-9_]+:)?response>")
FILEID = re.compile(rb"<(?:[A-Za-z0-9_]+:)?fileid(?:\s[^>]*)?>\d+</")
OCID = re.compile(rb"<(?:[A-Za-z0-9_]+:)?id(?:\s[^>]*)?>[0-9A-Za-z]+</")
PERMS = re.compile(rb"<(?:[A-Za-z0-9_]+:)?permissions(?:\s[^>]*)?>[A-Z]*</")
ETAG = re.compile(rb"<(?:[A-Za-z0-9_]+:)?getetag(?:\s[^>]*)?>[^<]+</")


def log(*a):
    print("[files-propfind]", *a, file=sys.stderr, flush=True)


def emit(fig, val, unit):
    if isinstance(val, float):
        val = f"{val:.4g}" if abs(val) < 1000 else f"{val:.0f}"
    print(f"{fig}\t{val}\t{unit}", flush=True)


class Client:
    """One keep-alive connection per thread, Basic auth, paths relative to the files URL."""

    def __init__(self, url, user, pw, timeout=300):
        if not url.endswith("/"):
            url += "/"
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.base = u.hostname, u.port or 80, u.path
        self.auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
        self.timeout = timeout
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return c

    def drop(self):
        c = getattr(self.local, "c", None)
        if c is not None:
            c.close()
        self.local.c = None

    def send(self, method, path, body=None, headers=None, sink=None):
        """-> (status, body bytes or None when sink given). path is absolute."""
        h = {"Authorization": self.auth, "User-Agent": "hearth-bench-files/1"}
        h.update(headers or {})
        for attempt in (0, 1):
            c = self.conn()
            try:
                c.request(method, path, body=body, headers=h)
                r = c.getresponse()
                if sink is None:
                    data = r.read()
                else:
                    while True:
                        b = r.read(65536)
                        if not b:
                            break
                        sink(b)
                    data = None
                if (r.getheader("Connection") or "").lower() == "close":
                    self.drop()
                return r.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self.drop()
                if attempt or sink is not None:
                    raise

    def rel(self, p):
        return self.base + urllib.parse.quote(p)


def bulk_put(cl, items):
    """items: [(relpath, bytes)]; one multipart/related request. -> number of errors."""
    bnd = "hearth-bench-" + os.urandom(8).hex()
    parts = []
    for rel, data in items:
        parts.append(f"--{bnd}\r\nContent-Length: {len(data)}\r\nX-File-Path: /{rel}\r\n\r\n".encode()
                     + data + b"\r\n")
    body = b"".join(parts) + f"--{bnd}--\r\n".encode()
    st, resp = cl.send("POST", "/remote.php/dav/bulk", body=body,
                       headers={"Content-Type": f"multipart/related; boundary={bnd}"})
    if st != 200:
        raise RuntimeError(f"bulk upload answered HTTP {st}: {resp[:200]!r}")
    return resp.count(b'"error":true') + resp.count(b'"error": true')


def bulk_supported(cl):
    """files URL must be Hearth's /remote.php/dav/files/USER/; probe with one file at the root."""
    if "/remote.php/dav/files/" not in cl.base:
        return False
    name = f"bench-bulk-probe-{os.getpid()}.txt"
    try:
        errs = bulk_put(cl, [(name, b"probe")])
    except RuntimeError as e:
        log(f"bulk upload not available ({e}); falling back to PUT")
        return False
    cl.send("DELETE", cl.rel(name))
    return errs == 0


def mkcol(cl, folder):
    st, _ = cl.send("MKCOL", cl.rel(folder.rstrip("/") + "/"))
    if st not in (200, 201, 204, 405):
        raise RuntimeError(f"MKCOL {folder}: HTTP {st}")


def fill(cl, folder, n, method, size, clients):
    """-> (files/s, method used)"""
    data = b"x" * size
    names = [f"e{i:06d}.txt" for i in range(n)]
    if method.startswith("dir:"):
        d = os.path.join(method[4:], folder)
        t0 = time.perf_counter()
        os.makedirs(d, exist_ok=True)
        for nm in names:
            with open(os.path.join(d, nm), "wb") as f:
                f.write(data)
        return n / (time.perf_counter() - t0), "dir"
    mkcol(cl, folder)
    if method == "auto":
        method = "bulk" if bulk_supported(cl) else "put"
    t0 = time.perf_counter()
    if method == "bulk":
        batches = [names[i:i + 1000] for i in range(0, n, 1000)]

        def one(b):
            errs = bulk_put(cl, [(f"{folder}/{nm}", data) for nm in b])
            if errs:
                raise RuntimeError(f"bulk upload: {errs} part(s) answered error:true")

        with ThreadPoolExecutor(max_workers=2) as ex:
            list(ex.map(one, batches))
    elif method == "put":
        def one(nm):
            st, _ = cl.send("PUT", cl.rel(f"{folder}/{nm}"), body=data)
            if st not in (200, 201, 204):
                raise RuntimeError(f"PUT {folder}/{nm}: HTTP {st}")

        with ThreadPoolExecutor(max_workers=clients) as ex:
            list(ex.map(one, names))
    else:
        raise SystemExit(f"unknown fill method {method}")
    return n / (time.perf_counter() - t0), method


class Counter:
    def __init__(self):
        self.tail, self.n, self.bytes = b"", 0, 0

    def __call__(self, chunk):
        self.bytes += len(chunk)
        buf = self.tail + chunk
        k = len(self.tail)
        self.n += sum(1 for m in RESP_END.finditer(buf) if m.end() > k)
        self.tail = buf[-32:]


def propfind_folder(cl, folder, depth="1", sink=None):
    return cl.send("PROPFIND", cl.rel(folder.rstrip("/") + "/"), body=desktop_body(),
                   headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}, sink=sink)


def cmd_time(a, cl):
    lat, body = [], b""
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        st, body = propfind_folder(cl, a.folder)
        lat.append((time.perf_counter() - t0) * 1000)
        if st != 207:
            raise RuntimeError(f"PROPFIND {a.folder}: HTTP {st}: {body[:300]!r}")
    nresp = len(RESP_END.findall(body))
    if nresp < a.entries:
        log(f"WARNING: PROPFIND on the {a.entries}-entry folder returned {nresp} responses")
    full = min(len(FILEID.findall(body)), len(OCID.findall(body)), len(PERMS.findall(body)),
               len(ETAG.findall(body)))
    L = a.label
    emit(f"propfind_{L}_depth1_{a.entries}_median", statistics.median(lat), "ms")
    emit(f"propfind_{L}_depth1_{a.entries}_min", min(lat), "ms")
    emit(f"propfind_{L}_depth1_{a.entries}_bytes", len(body), "bytes")
    emit(f"propfind_{L}_depth1_{a.entries}_responses", nresp, "count")
    emit(f"propfind_{L}_depth1_{a.entries}_with_nc_props", full, "count")
    log(f"PROPFIND {a.folder} x{a.repeat}: median {statistics.median(lat):.1f} ms, "
        f"{len(body)} bytes, {nresp} responses, {full} with fileid+id+permissions+etag")


def proc_status(pid):
    d = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                d[k] = int(v.split()[0])
    return d


def cmd_memflat(a, cl):
    pid = a.pid
    sizes = [a.small, a.big]
    T = f"memflat{a.tag}"
    for n in sizes if not a.skip_fill else []:
        rate, how = fill(cl, f"{a.prefix}-mf{n}", n, a.method, 0, a.clients)
        log(f"memflat: filled {n} empty files at {rate:.0f} files/s ({how})")
        emit(f"{T}_fill_{n}_rate_{how}", rate, "files/s")
    st, _ = cl.send("PROPFIND", cl.rel(""), body=desktop_body(True), headers={"Depth": "0"})  # auth warm
    res = {n: [] for n in sizes}
    for r in range(a.rounds):
        for n in sizes:
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
                was_reset = True
            except OSError:
                was_reset = False
            before = proc_status(pid)
            peak = [before["VmRSS"]]
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    try:
                        peak[0] = max(peak[0], proc_status(pid)["VmRSS"])
                    except (OSError, KeyError):
                        return
                    time.sleep(0.01)

            th = threading.Thread(target=sample, daemon=True)
            th.start()
            cnt = Counter()
            t0 = time.perf_counter()
            st, _ = propfind_folder(cl, f"{a.prefix}-mf{n}", sink=cnt)
            ms = (time.perf_counter() - t0) * 1000
            stop.set()
            th.join()
            after = proc_status(pid)
            if st != 207:
                raise RuntimeError(f"PROPFIND of the {n}-entry folder: HTTP {st}")
            hwm = after["VmHWM"] if was_reset else max(peak[0], after["VmRSS"])
            res[n].append((before["VmRSS"], hwm, after["VmRSS"], peak[0], ms, cnt.n, cnt.bytes, after.get("RssAnon", 0)))
            log(f"{T} round {r + 1}: {n} entries: VmRSS {before['VmRSS'] / 1024:.1f} -> "
                f"{after['VmRSS'] / 1024:.1f} MiB (anon {after.get('RssAnon', 0) / 1024:.1f}, file "
                f"{after.get('RssFile', 0) / 1024:.1f}, shmem {after.get('RssShmem', 0) / 1024:.1f}), VmHWM during {hwm / 1024:.1f} MiB "
                f"(sampled peak {peak[0] / 1024:.1f}), {ms:.0f} ms, {cnt.n} responses, {cnt.bytes} bytes")
            if cnt.n < n + 1:
                log(f"WARNING: {n}-entry folder: only {cnt.n} responses (expected {n + 1})")
    mib = lambda k: k / 1024  # noqa: E731
    for n in sizes:
        rows = res[n]
        emit(f"{T}_{n}_rss_before", mib(rows[0][0]), "MiB")
        emit(f"{T}_{n}_vmhwm_during", mib(rows[0][1]), "MiB")  # first round (the growth's worst case)
        emit(f"{T}_{n}_rss_after", mib(rows[-1][2]), "MiB")
        emit(f"{T}_{n}_rss_anon_after", mib(rows[-1][7]), "MiB")
        emit(f"{T}_{n}_ms", statistics.median(x[4] for x in rows), "ms")
        emit(f"{T}_{n}_bytes", rows[0][6], "bytes")
        emit(f"{T}_{n}_responses", rows[0][5], "count")
    # growth: peak while listing the big folder minus the peak while listing the small one,
    # and (first round) RSS after the big listing minus RSS before the small one
    growth = max(res[a.big][i][1] - res[a.small][i][1] for i in range(a.rounds))
    if growth != res[a.big][0][1] - res[a.small][0][1]:
        log(f"{T}: the largest growth was not in the first round; the _vmhwm_during rows show round 1")
    emit(f"{T}_growth_vmhwm", mib(growth), "MiB")
    emit(f"{T}_growth_rss_first_round", mib(res[a.big][0][2] - res[a.small][0][0]), "MiB")
    if not a.keep:
        for n in sizes:
            cl.send("DELETE", cl.rel(f"{a.prefix}-mf{n}/"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["fill", "time", "memflat"])
    p.add_argument("--url", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--folder", default="bench-nc")
    p.add_argument("--entries", type=int, default=10000)
    p.add_argument("--method", default="auto")
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--label", default="nc")
    p.add_argument("--pid", type=int)
    p.add_argument("--small", type=int, default=1000)
    p.add_argument("--big", type=int, default=100000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--prefix", default=f"bench-{os.getpid()}")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--skip-fill", action="store_true", help="memflat: the folders exist already (same --prefix)")
    p.add_argument("--tag", default="", help="memflat: figure names start with memflat<TAG>_")
    a = p.parse_args()
    cl = Client(a.url, a.user, a.password)
    if a.cmd == "fill":
        rate, how = fill(cl, a.folder, a.entries, a.method, a.size, a.clients)
        log(f"filled {a.folder} with {a.entries} files at {rate:.0f} files/s ({how})")
        if how != "dir":  # a direct filesystem write says nothing about the server
            emit(f"propfind_{a.label}_fill_{a.entries}_rate_{how}", rate, "files/s")
    elif a.cmd == "time":
        cmd_time(a, cl)
    else:
        if not a.pid:
            raise SystemExit("memflat needs --pid")
        cmd_memflat(a, cl)


if __name__ == "__main__":
    main()
