#!/usr/bin/env python3
""""A family at once" (helper of scripts/bench/files.sh): while ONE client uploads a large file
(curl -T, one PUT), POLLERS clients each poll the user root with a Depth:0 PROPFIND (the
desktop's property list) every INTERVAL seconds, and one more client lists a big folder
(PROPFIND Depth:1, desktop property list, body read and discarded) back to back. The
server's peak-RSS counter is reset at the start (/proc/PID/clear_refs) and VmRSS is sampled
every 20 ms; rows FIGURE<TAB>VALUE<TAB>UNIT on stdout, progress on stderr.

  files-family.py --url FILES_URL --user U --password P --pid PID --upload-file F \
                  --list-folder NAME [--pollers 5] [--interval 0.2]
"""
import argparse
import base64
import http.client
import importlib.util
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the repository
spec = importlib.util.spec_from_file_location(
    "files_propfind", os.path.join(os.path.dirname(os.path.abspath(__file__)), "files-propfind.py"))
fp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fp)


def log(*a):
    print("[files-family]", *a, file=sys.stderr, flush=True)


def status(pid):
    d = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                d[k] = int(v.split()[0])
    return d


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--upload-file", required=True)
    p.add_argument("--list-folder", required=True)
    p.add_argument("--pollers", type=int, default=5)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--prefix", default=f"bench-family-{os.getpid()}")
    a = p.parse_args()
    url = a.url if a.url.endswith("/") else a.url + "/"
    cl = fp.Client(url, a.user, a.password)
    st, _ = cl.send("PROPFIND", cl.rel(""), body=fp.desktop_body(True), headers={"Depth": "0"})  # auth warm
    if st != 207:
        raise SystemExit(f"warm-up PROPFIND of the root: HTTP {st}")
    fp.mkcol(cl, a.prefix)
    size = os.path.getsize(a.upload_file)

    try:
        with open(f"/proc/{a.pid}/clear_refs", "w") as f:
            f.write("5")
        was_reset = True
    except OSError:
        was_reset = False
    stop = threading.Event()
    before = status(a.pid)
    peak = [before["VmRSS"]]
    polls, poll_bad, lists, list_bad = [], [], [], []
    lock = threading.Lock()

    def sampler():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], status(a.pid)["VmRSS"])
            except (OSError, KeyError):
                return
            time.sleep(0.02)

    def poller(i):
        c = fp.Client(url, a.user, a.password)
        body = fp.desktop_body(True)
        nxt = time.perf_counter()
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                s, b = c.send("PROPFIND", c.rel(""), body=body,
                              headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"})
                ok = s == 207 and b"data-fingerprint" in b
            except Exception as e:  # noqa: BLE001 - any failure of a poll is a finding
                s, ok = repr(e), False
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                polls.append(ms)
                if not ok:
                    poll_bad.append(s)
            nxt += a.interval
            time.sleep(max(0.0, nxt - time.perf_counter()))

    def lister():
        c = fp.Client(url, a.user, a.password)
        while not stop.is_set():
            cnt = fp.Counter()
            t0 = time.perf_counter()
            try:
                s, _ = fp.propfind_folder(c, a.list_folder, sink=cnt)
                ok = s == 207
            except Exception as e:  # noqa: BLE001
                s, ok = repr(e), False
                c.drop()
            with lock:
                lists.append(((time.perf_counter() - t0) * 1000, cnt.n))
                if not ok:
                    list_bad.append(s)

    threads = [threading.Thread(target=sampler, daemon=True), threading.Thread(target=lister, daemon=True)]
    threads += [threading.Thread(target=poller, args=(i,), daemon=True) for i in range(a.pollers)]
    t_all = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(0.5)  # pollers and lister running before the upload starts
    t0 = time.perf_counter()
    target = f"http://{cl.host}:{cl.port}{cl.rel(a.prefix + '/big.bin')}"
    cp = subprocess.run(["curl", "-sS", "--http1.1", "-H", "Expect:", "-u", f"{a.user}:{a.password}",
                         "-o", "/dev/null", "-w", "%{http_code} %{speed_upload}", "-T", a.upload_file, target],
                        capture_output=True, text=True)
    up_s = time.perf_counter() - t0
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    window = time.perf_counter() - t_all
    after = status(a.pid)
    code, speed = (cp.stdout.split() + ["000", "0"])[:2]
    hwm = after["VmHWM"] if was_reset else peak[0]
    # check the upload landed whole
    s, b = cl.send("PROPFIND", cl.rel(a.prefix + "/big.bin"), body=fp.desktop_body(), headers={"Depth": "0"})
    stored = b.split(b"getcontentlength>")[1].split(b"<")[0].decode() if s == 207 and b"getcontentlength>" in b else "?"
    cl.send("DELETE", cl.rel(a.prefix + "/"))

    def emit(f, v, u):
        fp.emit(f, v, u)

    emit("family_vmhwm" if was_reset else "family_vmhwm_lifetime", hwm / 1024, "MiB")
    emit("family_rss_peak_sampled", peak[0] / 1024, "MiB")
    emit("family_rss_before", before["VmRSS"] / 1024, "MiB")
    emit("family_rss_end", after["VmRSS"] / 1024, "MiB")
    emit("family_rss_anon_end", after.get("RssAnon", 0) / 1024, "MiB")
    emit("family_upload_status", code, "HTTP")
    emit(f"family_upload_{size >> 20}MiB_speed", float(speed) / 1e6, "MB/s")
    emit("family_upload_stored_bytes_ok", 1 if stored == str(size) else 0, "bool")
    emit("family_polls", len(polls), "count")
    emit("family_poll_rate", len(polls) / window, "req/s")
    emit("family_poll_p50", statistics.median(polls) if polls else float("nan"), "ms")
    emit("family_poll_p99", pct(polls, 0.99), "ms")
    emit("family_poll_max", max(polls) if polls else float("nan"), "ms")
    emit("family_poll_errors", len(poll_bad), "count")
    emit("family_lists", len(lists), "count")
    emit("family_list_median", statistics.median(x[0] for x in lists) if lists else float("nan"), "ms")
    emit("family_list_errors", len(list_bad), "count")
    log(f"upload {size} bytes: HTTP {code}, {float(speed) / 1e6:.0f} MB/s, {up_s:.1f} s, stored length {stored}; "
        f"polls {len(polls)} (p50 {statistics.median(polls) if polls else 0:.1f} ms, max {max(polls) if polls else 0:.0f} ms), "
        f"lists {len(lists)} ({', '.join(str(x[1]) for x in lists[:3])} responses...); "
        f"VmHWM {hwm / 1024:.1f} MiB, sampled peak {peak[0] / 1024:.1f} MiB")
    if cp.returncode != 0:
        log(f"curl exit {cp.returncode}: {cp.stderr.strip()[:300]}")
    for what, bad in (("poll", poll_bad), ("list", list_bad)):
        if bad:
            log(f"{what} failures: {len(bad)}, first: {bad[:3]}")


if __name__ == "__main__":
    main()
