#!/usr/bin/env python3
"""What one GET answer costs the shared benchmark's Python client (http.client), per server.

The small-files download figure of files.sh is bound by its client: eight threads of one
Python process, one core under the GIL. This puts a 4 KiB file on each server, takes one raw
GET answer from it over a socket, then times http.client parsing that answer (status line,
headers, body) from memory, alternating servers, so the part of the client's cost that the
answer's shape decides is measured apart from the network and the server.

  files-client-cost.py URL USER PASS [URL USER PASS ...]   # URL = a writable DAV folder
"""
import base64
import http.client
import io
import socket
import sys
import time
import urllib.parse


def raw_get(url, user, password, name):
    u = urllib.parse.urlsplit(url)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path = u.path.rstrip("/") + "/" + name
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("PUT", path, body=b"\x5a" * 4096, headers={"Authorization": "Basic " + auth})
    r = c.getresponse()
    r.read()
    if r.status not in (200, 201, 204):
        raise SystemExit(f"PUT {url}{name}: HTTP {r.status}")
    c.close()
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: Basic {auth}\r\n\r\n".encode())
    data = b""
    while True:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0 and len(data) - head_end - 4 >= 4096:
            break
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("DELETE", path, headers={"Authorization": "Basic " + auth})
    c.getresponse().read()
    c.close()
    return data


class _Answer:
    """Stands in for a socket: http.client reads the answer from memory."""

    def __init__(self, data):
        self.data = data

    def makefile(self, _mode):
        return io.BufferedReader(io.BytesIO(self.data))


def parse_cost_us(data, n=5000):
    t = time.perf_counter()
    for _ in range(n):
        r = http.client.HTTPResponse(_Answer(data))
        r.begin()
        r.read()
        r.getheader("Connection", "")  # what davlib.py does with every answer
        r.getheaders()
    return (time.perf_counter() - t) / n * 1e6


def main():
    args = sys.argv[1:]
    if not args or len(args) % 3:
        raise SystemExit(__doc__)
    servers = [args[i:i + 3] for i in range(0, len(args), 3)]
    answers = [raw_get(url, user, pw, "client-cost-probe.bin") for url, user, pw in servers]
    times = [[] for _ in servers]
    for _ in range(10):
        for i, a in enumerate(answers):
            times[i].append(parse_cost_us(a))
    print("| server | header lines | answer bytes before the body | parse µs (min of 10) | median |")
    print("|---|---|---|---|---|")
    for (url, _, _), a, ts in zip(servers, answers, times):
        head = a[: a.find(b"\r\n\r\n")]
        ts.sort()
        lines = head.count(b"\r\n")
        print(f"| {url} | {lines} | {len(head) + 4} | {ts[0]:.1f} | {ts[len(ts) // 2]:.1f} |")


if __name__ == "__main__":
    main()
