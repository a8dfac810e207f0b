#!/usr/bin/env python3
"""Acceptance checks of scripts/bench/files.sh, computed from the rows of THIS run.

  files-report.py ROWS_FILE SIZE_MIB SYNC_CONNS FAMILY_MIB MEMFLAT_BIG NC_ENTRIES
Rows are `| server | figure | value | unit |`; several rows for the same server and figure
(one per pass) are reduced to their median, as table.py does. Prints a markdown table.
"""
import statistics
import sys

rows_file, size, sync_c, fam_mib, mf_big, nc_n = sys.argv[1:7]
vals = {}
for line in open(rows_file):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) != 4 or not line.startswith("|"):
        continue
    try:
        vals.setdefault((cells[0], cells[1]), []).append(float(cells[2]))
    except ValueError:
        pass


def v(server, fig):
    xs = vals.get((server, fig))
    return statistics.median(xs) if xs else None


def n(server, fig):
    return len(vals.get((server, fig), []))


def f(x, unit=""):
    if x is None:
        return "n/a"
    s = f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"
    return s + (f" {unit}" if unit else "")


out = []


def check(name, target, parts, measured):
    """parts: list of booleans or None (None = a figure is missing -> FAIL)"""
    ok = all(p is True for p in parts) and parts
    res = "PASS" if ok else ("FAIL (not measured)" if any(p is None for p in parts) else "FAIL")
    out.append(f"| {name} | {target} | {measured} | {res} |")


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def ge(a, b):
    return None if a is None or b is None else a >= b


def le(a, b):
    return None if a is None or b is None else a <= b


H = "hearth"


def durable_context(nginx_put):
    """The machine's own bounds on a durable, checksummed PUT (no peer fsyncs or hashes)."""
    disk = v("machine", f"limit_disk_write_fdatasync_{size}MiB")
    sha = v("machine", f"limit_openssl_sha1_{size}MiB") or v("machine", f"limit_sha1sum_{size}MiB")
    if disk is None or nginx_put is None:
        return ""
    return (f"; this disk's durable write (dd conv=fdatasync) {f(disk, 'MB/s')} = {f(disk / nginx_put)}× nginx's PUT, "
            f"SHA-1 of a cached file (one core) {f(sha, 'MB/s')}")
peers = sorted({s for (s, _) in vals if s not in (H, "machine")})

# 1. large file
g = f"large_get_{size}MiB"
p = f"large_put_{size}MiB"
hg, ng = v(H, g), v("nginx", g)
r = ratio(hg, ng)
check(f"1a GET {size} MiB file ≥ 90% of nginx MB/s", "≥ 0.90×",
      [ge(r, 0.9)], f"{f(hg, 'MB/s')} vs nginx {f(ng)} = **{f(r)}×**")
hp, npt, ap, rp = v(H, p), v("nginx", p), v("apache", p), v("rclone", p)
r = ratio(hp, npt)
check(f"1b PUT {size} MiB file ≥ 80% of nginx and ahead of apache and rclone", "≥ 0.80×, > apache, > rclone",
      [ge(r, 0.8), None if hp is None or ap is None else hp > ap, None if hp is None or rp is None else hp > rp],
      f"{f(hp, 'MB/s')} vs nginx {f(npt)} = **{f(r)}×**; apache {f(ap)} ({f(ratio(hp, ap))}×), rclone {f(rp)} ({f(ratio(hp, rp))}×)"
      + durable_context(npt))
m = v(H, "mem_vmhwm_large")
check("1c Hearth peak RSS during the large PUTs/GETs (VmHWM, reset before)", "≤ 30 MiB",
      [le(m, 30)], f"**{f(m, 'MiB')}** (sampled peak {f(v(H, 'mem_peak_sampled_large'), 'MiB')})")

# 2. small files
for d, fig in (("up", "small_upload_2000x4KiB_c8"), ("down", "small_download_2000x4KiB_c8")):
    h = v(H, fig)
    best = max(((v(s, fig), s) for s in peers if v(s, fig) is not None), default=(None, "none"))
    check(f"2{'a' if d == 'up' else 'b'} 2,000 × 4 KiB {d}, 8 clients: files/s ≥ best peer", "≥ 1.00× best",
          [ge(h, best[0])], f"{f(h, 'files/s')} vs best {best[1]} {f(best[0])} = **{f(ratio(h, best[0]))}×**")

# 3. PROPFIND 10,000
for tag, fig, what in (("3a", f"propfind_nc_depth1_{nc_n}_median", "desktop property list (oc:*), same request to every server"),
                       ("3b", "propfind_depth1_10000_median", "DAV-only properties (shared wl-propfind.py)")):
    h, ng, rc = v(H, fig), v("nginx", fig), v("rclone", fig)
    check(f"{tag} PROPFIND Depth 1, {nc_n if tag == '3a' else 10000} entries, {what}: median ≤ 1.5× nginx, ≤ ½ rclone",
          "≤ 1.5× nginx, ≤ 0.5× rclone", [le(ratio(h, ng), 1.5), le(ratio(h, rc), 0.5)],
          f"{f(h, 'ms')}: **{f(ratio(h, ng))}×** nginx ({f(ng)}), **{f(ratio(h, rc))}×** rclone ({f(rc)})")
full = v(H, f"propfind_nc_depth1_{nc_n}_with_nc_props")
resp = v(H, f"propfind_nc_depth1_{nc_n}_responses")
check("3c Hearth's answer carries oc:fileid, oc:id, oc:permissions and getetag on every entry", "= responses",
      [None if full is None or resp is None else full >= resp], f"{f(full)} of {f(resp)} responses")

# 4. memory flat
for tag, t, what in (("4a", "", "right after filling the folders"),
                     ("4b", "_cold", "server restarted on the filled data dir (nothing cached)")):
    T = f"memflat{t}"
    gr = v(H, f"{T}_growth_vmhwm")
    check(f"{tag} RSS growth, PROPFIND Depth 1 of {int(mf_big):,} vs 1,000 entries, {what}", "< 5 MiB",
          [None if gr is None else gr < 5],
          f"**{f(gr, 'MiB')}** (VmHWM while listing 1,000: {f(v(H, f'{T}_1000_vmhwm_during'))} MiB, "
          f"{int(mf_big):,}: {f(v(H, f'{T}_{mf_big}_vmhwm_during'))} MiB; VmRSS {f(v(H, f'{T}_1000_rss_before'))} MiB before "
          f"→ {f(v(H, f'{T}_{mf_big}_rss_after'))} MiB after)")

# 5. wrk GET 4 KiB
fig = "wrk_get4k_c64_rps"
h, ng, rc = v(H, fig), v("nginx", fig), v("rclone", fig)
check("5 authenticated GET 4 KiB, wrk 64 connections: req/s ≥ ½ nginx and ≥ 5× rclone", "≥ 0.5× nginx, ≥ 5× rclone",
      [ge(ratio(h, ng), 0.5), ge(ratio(h, rc), 5)],
      f"{f(h, 'req/s')}: **{f(ratio(h, ng))}×** nginx ({f(ng)}), **{f(ratio(h, rc))}×** rclone ({f(rc)})")

# 6. sync poll
fig = f"sync_poll_depth0_c{sync_c}_rps"
h, e = v(H, fig), v(H, f"sync_poll_depth0_c{sync_c}_errors")
check(f"6 sync poll: PROPFIND Depth 0 of the root, desktop props, Basic auth, wrk -c{sync_c} 10 s", "≥ 5,000 req/s, 0 errors",
      [ge(h, 5000), None if e is None else e == 0], f"**{f(h, 'req/s')}**, {f(e)} non-2xx/socket errors")

# 7. family
m = v(H, "family_vmhwm")
pe, le_, us = v(H, "family_poll_errors"), v(H, "family_list_errors"), v(H, "family_upload_status")
ok_st = None if us is None else us in (201, 204)
check(f"7 family at once: 5 pollers (0.2 s) + {fam_mib} MiB upload + {nc_n}-entry listing loop: VmHWM", "≤ 64 MiB, no errors",
      [le(m, 64), ok_st, None if pe is None else pe == 0, None if le_ is None else le_ == 0],
      f"**{f(m, 'MiB')}** (VmRSS {f(v(H, 'family_rss_before'))} MiB before); upload HTTP {f(us)} at {f(v(H, f'family_upload_{fam_mib}MiB_speed'), 'MB/s')}; "
      f"{f(v(H, 'family_polls'))} polls (p50 {f(v(H, 'family_poll_p50'), 'ms')}, p99 {f(v(H, 'family_poll_p99'), 'ms')}, "
      f"{f(pe)} failed); {f(v(H, 'family_lists'))} listings (median {f(v(H, 'family_list_median'), 'ms')}, {f(le_)} failed)")

print("| acceptance check | target | measured (median over passes) | result |")
print("|---|---|---|---|")
print("\n".join(out))
print(f"\n{sum('| PASS |' in o for o in out)} of {len(out)} checks pass.")
