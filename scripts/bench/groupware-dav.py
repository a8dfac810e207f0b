#!/usr/bin/env python3
"""CalDAV/CardDAV workloads of scripts/bench/groupware.sh (a benchmark helper, stdlib only).

Built on ../shared/bench/davlib.py and the request bodies of ../shared/bench/wl-caldav.py
(same MKCALENDAR, event/vCard shape, calendar-query, sync-collection and addressbook-query),
with two differences that the issue's figures need:
  * the events are spread over --spread-days days from 2025-02-13 (default 96), so the one-month
    window (March 2025) of a 5,000-event calendar holds ~1,600 of them (wl-caldav.py spreads
    over a whole year: ~420 in the month);
  * an import phase may run --max-seconds (default 900) instead of 150, so the slow peers
    import everything and all servers answer the queries over the same data.

  groupware-dav.py suite --url CAL_HOME --card-url CARD_HOME --user U --password P [sizes]
      MKCALENDAR, import --events with --clients PUT workers, month calendar-query (etag only and
      with calendar-data), sync-collection initial + after 10 changes, extended-MKCOL address book,
      import --cards, addressbook-query (FN contains "smith"). Rows FIGURE<TAB>VALUE<TAB>UNIT on
      stdout; "CHECK: ..." lines on stderr when an answer is not what the workload expects.
  groupware-dav.py bigimport --url CAL_HOME ... --coll NAME --events 50000 --procs 4 --threads 4
      MKCALENDAR NAME and fill it fast (procs x threads PUT workers, one keep-alive each).
  groupware-dav.py bigquery --url CAL_HOME ... --coll NAME --pid PID --tag TAG [--range all|month]
      One calendar-query with calendar-data over NAME, the answer read in 64 KiB pieces and
      discarded, while PID's VmRSS is sampled every 5 ms from /proc (VmHWM reset first through
      /proc/PID/clear_refs). Rows: peak RSS, VmHWM, RSS before, time to headers / first body
      byte / last byte, bytes, <response>s, Transfer-Encoding.
"""
import argparse
import calendar
import http.client
import multiprocessing
import os
import re
import statistics
import sys
import threading
import time

HARNESS = os.environ.get("BENCH_HARNESS") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/bench")
sys.path.insert(0, HARNESS)
from davlib import Dav, delete, parallel, emit, log  # noqa: E402

XML = {"Content-Type": "application/xml; charset=utf-8"}
ICS = "text/calendar; charset=utf-8"
RESP = re.compile(rb"<(?:[A-Za-z0-9_]+:)?response[\s>]")
SURNAMES = ["Smith", "Jones", "Garcia", "Miller", "Davis", "Martin", "Lopez", "Wilson", "Moore", "Taylor"]
EPOCH0 = 1739404800  # 2025-02-13T00:00:00Z
MONTH = ("20250301T000000Z", "20250401T000000Z")
ALL = ("20250201T000000Z", "20260401T000000Z")  # every event for spreads up to 365 days

MKCAL = b"""<?xml version="1.0" encoding="utf-8"?>
<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
 <d:set><d:prop><d:displayname>bench</d:displayname>
 <c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set>
 </d:prop></d:set></c:mkcalendar>"""
QUERY = """<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
 <d:prop><d:getetag/>{data}</d:prop>
 <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
  <c:time-range start="{start}" end="{end}"/>
 </c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"""
SYNC = """<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:"><d:sync-token>{tok}</d:sync-token>
 <d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"""
MKAB = b"""<?xml version="1.0" encoding="utf-8"?>
<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>
 <d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>
 <d:displayname>bench</d:displayname></d:prop></d:set></d:mkcol>"""
AQ = b"""<?xml version="1.0" encoding="utf-8"?>
<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
 <d:prop><d:getetag/><card:address-data/></d:prop>
 <card:filter><card:prop-filter name="FN">
  <card:text-match collation="i;unicode-casemap" match-type="contains">smith</card:text-match>
 </card:prop-filter></card:filter></card:addressbook-query>"""


def check_note(msg):
    log("CHECK: " + msg)


def event_time(i, spread):
    day = i % spread
    hh = 8 + (i // spread) % 10
    return EPOCH0 + day * 86400 + hh * 3600


def event(i, spread, summary="Benchmark"):
    t0 = event_time(i, spread)
    s, e = time.gmtime(t0), time.gmtime(t0 + 59 * 60)
    f = "%Y%m%dT%H%M%SZ"
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//davlib//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:bench-ev-{i}@bench\r\nDTSTAMP:20250101T000000Z\r\n"
            f"DTSTART:{time.strftime(f, s)}\r\nDTEND:{time.strftime(f, e)}\r\n"
            f"SUMMARY:{summary} event {i}\r\nDESCRIPTION:Event number {i} for the DAV benchmark.\r\n"
            f"LOCATION:Room {i % 50}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def expected_in(n, spread, window):
    lo = calendar.timegm(time.strptime(window[0], "%Y%m%dT%H%M%SZ"))
    hi = calendar.timegm(time.strptime(window[1], "%Y%m%dT%H%M%SZ"))
    return sum(1 for i in range(n) if lo <= event_time(i, spread) < hi)


def vcard(i):
    sn = SURNAMES[i % len(SURNAMES)]
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bench-vc-{i}\r\n"
            f"FN:Person{i} {sn}\r\nN:{sn};Person{i};;;\r\n"
            f"EMAIL;TYPE=INTERNET:person{i}@example.org\r\nTEL;TYPE=CELL:+1555{i:07d}\r\n"
            f"ORG:Bench Org {i % 20}\r\nEND:VCARD\r\n").encode()


class Statuses:
    """Counts unexpected answers instead of stopping at the first one."""

    def __init__(self):
        self.bad, self.lock = {}, threading.Lock()

    def add(self, what, st):
        with self.lock:
            k = f"{what} -> HTTP {st}"
            self.bad[k] = self.bad.get(k, 0) + 1

    def report(self):
        for k, n in sorted(self.bad.items()):
            check_note(f"{k} x{n}")


BAD = Statuses()


def bounded_import(dav, names, make_body, ctype, clients, max_s):
    deadline = time.perf_counter() + max_s
    done, lat, lock = [0], [], threading.Lock()

    def put(i):
        if time.perf_counter() > deadline:
            return
        t = time.perf_counter()
        st, _, _ = dav.request("PUT", names[i], body=make_body(i), headers={"Content-Type": ctype, "If-None-Match": "*"})
        dt = time.perf_counter() - t
        if st not in (200, 201, 204):
            BAD.add("PUT (import)", st)
            return
        with lock:
            done[0] += 1
            lat.append(dt)

    t, _ = parallel(clients, put, range(len(names)))
    return done[0], t, lat


def timed(dav, method, rel, body, headers, what):
    t0 = time.perf_counter()
    st, data, hdrs = dav.request(method, rel, body=body, headers=headers)
    ms = (time.perf_counter() - t0) * 1000
    if st != 207:
        BAD.add(what, st)
    return ms, data


def repeat_ms(fn, n, cap_s):
    out, t_end, data = [], time.perf_counter() + cap_s, b""
    for k in range(n):
        ms, data = fn()
        out.append(ms)
        if k >= 2 and time.perf_counter() > t_end:
            break
    return statistics.median(out), data, out


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else 0


def cmd_suite(a):
    cal = Dav(a.url, a.user, a.password, timeout=600)
    card = Dav(a.card_url or a.url, a.user, a.password, timeout=600)
    cal.request("PROPFIND", "", headers={"Depth": "0"})  # log in once (Hearth: argon2 on first use)
    coll = f"{a.prefix}-cal/"
    st, _, _ = cal.request("MKCALENDAR", coll, body=MKCAL, headers=XML)
    if st != 201:
        sys.exit(f"MKCALENDAR {coll}: HTTP {st}")
    names = [f"{coll}ev{i:05d}.ics" for i in range(a.events)]
    n_ev, t_ev, lat = bounded_import(cal, names, lambda i: event(i, a.spread_days), ICS, a.clients, a.max_seconds)
    if n_ev < a.events:
        check_note(f"event import stopped at {n_ev}/{a.events} (time cap {a.max_seconds:.0f} s or errors)")
    emit(f"caldav_import_events_c{a.clients}", n_ev / t_ev, "events/s")
    emit("caldav_events_imported", n_ev, "count")
    emit("caldav_import_put_p50", statistics.median(lat) * 1000 if lat else 0, "ms")
    emit("caldav_import_put_p99", pct(lat, 0.99) * 1000, "ms")
    log(f"imported {n_ev} events in {t_ev:.1f} s")

    want_month = expected_in(n_ev, a.spread_days, MONTH) if n_ev == a.events else None
    for label, data in (("etag", ""), ("data", "<c:calendar-data/>")):
        body = QUERY.format(data=data, start=MONTH[0], end=MONTH[1]).encode()
        ms, resp, runs = repeat_ms(lambda: timed(cal, "REPORT", coll, body, {**XML, "Depth": "1"},
                                                 f"REPORT calendar-query ({label})"), a.repeat, a.query_cap)
        n = len(RESP.findall(resp))
        emit(f"caldav_query_month_{label}_median", ms, "ms")
        emit(f"caldav_query_month_{label}_min", min(runs), "ms")
        emit(f"caldav_query_month_{label}_matches", n, "count")
        if label == "data":
            emit("caldav_query_month_data_bytes", len(resp), "bytes")
            nv = resp.count(b"BEGIN:VEVENT")
            if nv != n:
                check_note(f"month calendar-query with calendar-data: {n} responses but {nv} BEGIN:VEVENT")
        if want_month is not None and n != want_month:
            check_note(f"month calendar-query ({label}): {n} responses, expected {want_month}")
        log(f"calendar-query {label}: {len(runs)} runs, {len(resp)} bytes, {n} responses, runs ms: "
            + " ".join(f"{x:.1f}" for x in runs))

    ms, resp, runs = repeat_ms(lambda: timed(cal, "REPORT", coll, SYNC.format(tok="").encode(), XML,
                                             "REPORT sync-collection (initial)"), a.repeat, a.query_cap)
    emit("caldav_sync_initial_median", ms, "ms")
    emit("caldav_sync_initial_responses", len(RESP.findall(resp)), "count")
    m = re.search(rb"<(?:[A-Za-z0-9_]+:)?sync-token>([^<]+)<", resp)
    if m:
        tok = m.group(1).decode()
        log(f"sync token after import: {tok}")
        for i in range(10):
            st, _, _ = cal.request("PUT", names[i], body=event(i, a.spread_days, "Changed"), headers={"Content-Type": ICS})
            if st not in (200, 201, 204):
                BAD.add("PUT (change)", st)
        ms, resp, runs = repeat_ms(lambda: timed(cal, "REPORT", coll, SYNC.format(tok=tok).encode(), XML,
                                                 "REPORT sync-collection (after 10 changes)"), max(a.repeat, 20), a.query_cap)
        n = len(RESP.findall(resp))
        emit("caldav_sync_incremental10_median", ms, "ms")
        emit("caldav_sync_incremental10_p90", pct(runs, 0.9), "ms")
        emit("caldav_sync_incremental10_responses", n, "count")
        if n != 10:
            check_note(f"sync-collection after 10 changes answered {n} responses, expected 10")
        log("sync-collection after 10 changes, runs ms: " + " ".join(f"{x:.1f}" for x in runs))
    else:
        check_note("no sync-token in the sync-collection answer")
    if not a.keep:
        st = delete(cal, coll)
        if st not in (200, 204):
            BAD.add("DELETE calendar", st)

    ab = f"{a.prefix}-ab/"
    st, _, _ = card.request("MKCOL", ab, body=MKAB, headers=XML)
    if st != 201:
        sys.exit(f"MKCOL addressbook {ab}: HTTP {st}")
    cnames = [f"{ab}c{i:05d}.vcf" for i in range(a.cards)]
    n_c, t_c, lat = bounded_import(card, cnames, vcard, "text/vcard; charset=utf-8", a.clients, a.max_seconds)
    if n_c < a.cards:
        check_note(f"vCard import stopped at {n_c}/{a.cards}")
    emit(f"carddav_import_cards_c{a.clients}", n_c / t_c, "cards/s")
    emit("carddav_cards_imported", n_c, "count")
    ms, resp, runs = repeat_ms(lambda: timed(card, "REPORT", ab, AQ, {**XML, "Depth": "1"}, "REPORT addressbook-query"),
                               a.repeat, a.query_cap)
    n = len(RESP.findall(resp))
    emit("carddav_query_fn_median", ms, "ms")
    emit("carddav_query_fn_min", min(runs), "ms")
    emit("carddav_query_fn_matches", n, "count")
    want = sum(1 for i in range(n_c) if i % len(SURNAMES) == 0)
    if n != want:
        check_note(f"addressbook-query: {n} responses, expected {want}")
    nv = resp.count(b"BEGIN:VCARD")
    if nv != n:
        check_note(f"addressbook-query: {n} responses but {nv} BEGIN:VCARD (address-data missing?)")
    log("addressbook-query runs ms: " + " ".join(f"{x:.1f}" for x in runs))
    if not a.keep:
        st = delete(card, ab)
        if st not in (200, 204):
            BAD.add("DELETE address book", st)
    BAD.report()


# ------------------------------------------------------------------ 50,000-event calendar
def _import_slice(args):
    url, user, pw, coll, idx, threads, spread = args
    dav = Dav(url, user, pw, timeout=600)
    bad = {}
    lock = threading.Lock()

    def put(i):
        st, _, _ = dav.request("PUT", f"{coll}ev{i:06d}.ics", body=event(i, spread), headers={"Content-Type": ICS})
        if st not in (200, 201, 204):
            with lock:
                bad[st] = bad.get(st, 0) + 1

    parallel(threads, put, idx)
    return bad


def cmd_bigimport(a):
    cal = Dav(a.url, a.user, a.password, timeout=600)
    cal.request("PROPFIND", "", headers={"Depth": "0"})
    coll = a.coll.rstrip("/") + "/"
    st, _, _ = cal.request("MKCALENDAR", coll, body=MKCAL, headers=XML)
    if st != 201:
        sys.exit(f"MKCALENDAR {coll}: HTTP {st}")
    t0 = time.perf_counter()
    slices = [(a.url, a.user, a.password, coll, list(range(k, a.events, a.procs)), a.threads, a.spread_days)
              for k in range(a.procs)]
    with multiprocessing.get_context("fork").Pool(a.procs) as pool:
        res = pool.map(_import_slice, slices)
    t = time.perf_counter() - t0
    bad = {}
    for r in res:
        for k, v in r.items():
            bad[k] = bad.get(k, 0) + v
    for k, v in bad.items():
        check_note(f"PUT (50k import) -> HTTP {k} x{v}")
    emit("big_import_events", a.events - sum(bad.values()), "count")
    emit(f"big_import_events_p{a.procs}x{a.threads}", a.events / t, "events/s")
    log(f"bigimport: {a.events} events in {t:.1f} s ({a.procs} processes x {a.threads} threads)")


def status_kib(pid):
    d = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                d[k] = int(v.split()[0])
    return d


def cmd_bigquery(a):
    pid, tag = a.pid, a.tag
    win = ALL if a.range == "all" else MONTH
    coll = a.coll.rstrip("/") + "/"
    dav = Dav(a.url, a.user, a.password)
    dav.request("PROPFIND", coll, headers={"Depth": "0"})  # warm the connection and the login
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        hwm_name = "vmhwm"
    except OSError:
        hwm_name = "vmhwm_lifetime"
    before = status_kib(pid)
    samples, stop = [], threading.Event()

    def sampler():
        while not stop.is_set():
            try:
                samples.append(status_kib(pid)["VmRSS"])
            except (OSError, KeyError):
                break
            time.sleep(0.005)

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    body = QUERY.format(data="<c:calendar-data/>", start=win[0], end=win[1]).encode()
    h = dict(dav.headers, **XML, Depth="1")
    c = http.client.HTTPConnection(dav.host, dav.port, timeout=900)
    t0 = time.perf_counter()
    c.request("REPORT", dav.path(coll), body=body, headers=h)
    r = c.getresponse()
    t_head = time.perf_counter() - t0
    te, cl = r.getheader("Transfer-Encoding", "-"), r.getheader("Content-Length", "-")
    nbytes = nresp = nev = 0
    t_first = None
    tail = b""
    while True:
        chunk = r.read(65536)
        if not chunk:
            break
        if t_first is None:
            t_first = time.perf_counter() - t0
        nbytes += len(chunk)
        buf = tail + chunk
        nresp += len(RESP.findall(buf)) - len(RESP.findall(tail))
        nev += buf.count(b"BEGIN:VEVENT") - tail.count(b"BEGIN:VEVENT")
        tail = buf[-64:]
    t_all = time.perf_counter() - t0
    time.sleep(0.05)
    stop.set()
    th.join()
    after = status_kib(pid)
    c.close()
    if r.status != 207:
        check_note(f"big calendar-query ({tag}, {a.range}) answered HTTP {r.status}")
    want = expected_in(a.events, a.spread_days, win) if a.events else None
    if want is not None and nresp != want:
        check_note(f"big calendar-query ({tag}, {a.range}): {nresp} responses, expected {want}")
    if nev != nresp:
        check_note(f"big calendar-query ({tag}, {a.range}): {nresp} responses but {nev} BEGIN:VEVENT")
    p = f"big_{a.range}_{tag}"
    mib = lambda k: k / 1024  # noqa: E731
    emit(f"{p}_rss_peak_sampled", mib(max(samples + [after["VmRSS"]])), "MiB")
    emit(f"{p}_{hwm_name}", mib(after["VmHWM"]), "MiB")
    emit(f"{p}_rss_before", mib(before["VmRSS"]), "MiB")
    emit(f"{p}_rss_after", mib(after["VmRSS"]), "MiB")
    emit(f"{p}_responses", nresp, "count")
    emit(f"{p}_bytes_MiB", nbytes / 1048576, "MiB")
    emit(f"{p}_headers_s", t_head, "s")
    emit(f"{p}_first_byte_s", t_first or 0, "s")
    emit(f"{p}_total_s", t_all, "s")
    log(f"bigquery {tag} {a.range}: HTTP {r.status}, Transfer-Encoding {te}, Content-Length {cl}, "
        f"{nbytes} bytes, {nresp} responses, {len(samples)} RSS samples, headers {t_head:.3f} s, "
        f"first byte {t_first or 0:.3f} s, last byte {t_all:.3f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("suite", "bigimport", "bigquery"):
        s = sub.add_parser(name)
        s.add_argument("--url", required=True, help="calendar home, e.g. http://127.0.0.1:8080/remote.php/dav/calendars/alice/")
        s.add_argument("--user", default=os.environ.get("BENCH_USER", ""))
        s.add_argument("--password", default=os.environ.get("BENCH_PASS", ""))
        s.add_argument("--spread-days", type=int, default=96)
        if name == "suite":
            s.add_argument("--card-url", default=None)
            s.add_argument("--prefix", default="bench-" + str(os.getpid()))
            s.add_argument("--events", type=int, default=5000)
            s.add_argument("--cards", type=int, default=2000)
            s.add_argument("--clients", type=int, default=8)
            s.add_argument("--repeat", type=int, default=20)
            s.add_argument("--query-cap", type=float, default=45, help="seconds per query type (at least 3 runs)")
            s.add_argument("--max-seconds", type=float, default=900, help="cap on each import phase")
            s.add_argument("--keep", action="store_true")
        else:
            s.add_argument("--coll", required=True)
            s.add_argument("--events", type=int, default=50000)
        if name == "bigimport":
            s.add_argument("--procs", type=int, default=4)
            s.add_argument("--threads", type=int, default=4)
        if name == "bigquery":
            s.add_argument("--pid", type=int, required=True)
            s.add_argument("--tag", default="warm")
            s.add_argument("--range", choices=("all", "month"), default="all")
    a = p.parse_args()
    {"suite": cmd_suite, "bigimport": cmd_bigimport, "bigquery": cmd_bigquery}[a.cmd](a)


if __name__ == "__main__":
    main()
