#!/usr/bin/env python3
"""Memory of a server process tree during one workload (helper of scripts/bench/files.sh).

  files-mem.py watch PID OUTFILE LABEL
      Resets the kernel's peak-RSS counter (VmHWM) of every process in PID's tree
      (`echo 5 > /proc/P/clear_refs`, Linux >= 4.0, needs the right to write it), then
      samples the tree's summed VmRSS every 50 ms until SIGTERM/SIGINT or PID exits, and
      writes three rows FIGURE<TAB>VALUE<TAB>UNIT to OUTFILE:
        mem_peak_sampled_LABEL  max of the sampled tree VmRSS (MiB)
        mem_vmhwm_LABEL         sum over the tree of VmHWM since the reset (MiB); for a
                                single-process server this is the exact peak RSS of the window
        mem_rss_end_LABEL       tree VmRSS at the end (MiB)
      If the reset is refused, VmHWM is the lifetime peak and the figure is named
      mem_vmhwm_lifetime_LABEL instead.
  files-mem.py now PID      -> "VmRSS_KiB VmHWM_KiB" of PID itself
  files-mem.py reset PID    -> reset VmHWM of PID's tree; exit 1 if refused
"""
import os
import signal
import sys
import time


def status(pid):
    d = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "PPid"):
                    d[k] = int(v.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return d


def tree(root):
    kids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            s = status(e)
            if s and "PPid" in s:
                kids.setdefault(s["PPid"], []).append(int(e))
    out, todo = [], [int(root)]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def reset(root):
    ok = True
    for p in tree(root):
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            ok = False
    return ok


def measure(pids):
    rss = hwm = 0
    for p in pids:
        s = status(p)
        if s and "VmRSS" in s:
            rss += s["VmRSS"]
            hwm += s.get("VmHWM", 0)
    return rss, hwm


def mib(kib):
    return f"{kib / 1024:.1f}"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    mode, pid = sys.argv[1], sys.argv[2]
    if mode == "now":
        s = status(pid) or {}
        print(s.get("VmRSS", 0), s.get("VmHWM", 0))
    elif mode == "reset":
        sys.exit(0 if reset(pid) else 1)
    elif mode == "watch":
        outfile, label = sys.argv[3], sys.argv[4]
        stop = [False]
        signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
        signal.signal(signal.SIGINT, lambda *_: stop.__setitem__(0, True))
        was_reset = reset(pid)
        peak = hwm = rss = 0
        pids, last_tree = tree(pid), time.monotonic()
        while not stop[0] and os.path.exists(f"/proc/{pid}"):
            if time.monotonic() - last_tree > 1.0:  # pick up new workers now and then
                pids, last_tree = tree(pid), time.monotonic()
            rss, h = measure(pids)
            peak, hwm = max(peak, rss), max(hwm, h)
            time.sleep(0.05)
        if os.path.exists(f"/proc/{pid}"):
            rss, h = measure(tree(pid))
            peak, hwm = max(peak, rss), max(hwm, h)
        name = f"mem_vmhwm_{label}" if was_reset else f"mem_vmhwm_lifetime_{label}"
        with open(outfile, "w") as f:
            f.write(f"mem_peak_sampled_{label}\t{mib(peak)}\tMiB\n")
            f.write(f"{name}\t{mib(hwm)}\tMiB\n")
            f.write(f"mem_rss_end_{label}\t{mib(rss)}\tMiB\n")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
