#!/bin/sh
# bench/plugin_bench.sh: issue 6's benchmark. What a large blocklist costs on
# the hot path: the daemon's CPU per cache-hit query with no plugin, and with
# the blocklist plugin holding a 200k-entry list (hosts, plain and adblock
# lines mixed), measured with dnsperf on 127.0.0.1 in one run.
#
#   bench/plugin_bench.sh [--duration S] [--entries N] [--hit-names N] [--no-pin]
#
# CPU us/query is utime+stime of the wuguard process (/proc/PID/stat) over the
# run divided by the queries completed; clock ticks are 10 ms, so runs are
# several seconds. The server is pinned to CPU 0 and dnsperf and nsd to CPU 1
# (taskset) when there are two CPUs. A third row queries names on the list:
# the blocked-reply path (never cached, built per query).
#
# Needs nsd, dnsperf, taskset, /usr/bin/python3 with dnspython, and a built
# tree ($WG_BUILDDIR, default: the source tree): wuguard and
# plugin/.libs/blocklist.so. Not part of make check.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
WG_BUILDDIR=${WG_BUILDDIR:-$(dirname "$here")}
export WG_BUILDDIR
for tool in nsd dnsperf taskset; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$tool" >/dev/null 2>&1 || { echo "plugin_bench: $tool not found" >&2; exit 2; }
done
[ -x "$WG_BUILDDIR/wuguard" ] || { echo "plugin_bench: no $WG_BUILDDIR/wuguard (build first)" >&2; exit 2; }
[ -f "$WG_BUILDDIR/plugin/.libs/blocklist.so" ] ||
	{ echo "plugin_bench: no $WG_BUILDDIR/plugin/.libs/blocklist.so (build first)" >&2; exit 2; }

exec /usr/bin/python3 - "$here" "$@" <<'PYTHON'
import argparse
import os
import subprocess
import sys
import time

here = sys.argv.pop(1)
sys.path.insert(0, os.path.join(os.path.dirname(here), "tests", "integration"))
import wgtest as W  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
ZONE = "bench.test"
SO = os.path.join(W.BUILDDIR, "plugin", ".libs", "blocklist.so")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def dnsperf(addr, datafile, pin, duration, runs=None):
    argv = list(pin) + ["dnsperf", "-s", addr[0], "-p", str(addr[1]), "-d", datafile,
                        "-l", str(duration), "-q", "100", "-t", "2"]
    if runs:
        argv += ["-n", str(runs)]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=duration + 30)
    out = {"completed": 0, "lost": 0, "qps": 0.0, "avg": None, "rcodes": ""}
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("Queries completed:"):
            out["completed"] = int(line.split()[2])
        elif line.startswith("Queries lost:"):
            out["lost"] = int(line.split()[2])
        elif line.startswith("Queries per second:"):
            out["qps"] = float(line.split()[3])
        elif line.startswith("Average Latency (s):"):
            out["avg"] = float(line.split()[3])
        elif line.startswith("Response codes:"):
            out["rcodes"] = line.split(":", 1)[1].strip()
    if r.returncode != 0:
        out["error"] = r.stderr.strip()[-300:]
    return out


def measure(srv, datafile, pin, duration):
    dnsperf(srv.addr, datafile, pin, duration, runs=2)  # warm the cache
    c0 = cpu_ticks(srv.pid)
    res = dnsperf(srv.addr, datafile, pin, duration)
    c1 = cpu_ticks(srv.pid)
    res["cpu_us"] = ((c1 - c0) * 1e6 / CLK_TCK / res["completed"]
                     if res["completed"] else None)
    return res


def write_blocklist(path, n):
    """n entries, a third each in hosts, plain and adblock form, spread
    over many parent domains like real lists; none covers bench.test."""
    with open(path, "w") as f:
        f.write("# generated: %d entries\n! adblock header line\n" % n)
        for i in range(n):
            name = "ad%06d.track%03d.example" % (i, i % 997)
            k = i % 3
            if k == 0:
                f.write("0.0.0.0 %s\n" % name)
            elif k == 1:
                f.write("%s\n" % name)
            else:
                f.write("||%s^\n" % name)
    return path


def main():
    ap = argparse.ArgumentParser(prog="plugin_bench.sh")
    ap.add_argument("--duration", type=int, default=10, help="seconds per dnsperf run")
    ap.add_argument("--entries", type=int, default=200000, help="blocklist entries")
    ap.add_argument("--hit-names", type=int, default=1000)
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args()

    ncpu = os.cpu_count() or 1
    pin_server = [] if args.no_pin or ncpu < 2 else ["taskset", "-c", "0"]
    pin_client = [] if args.no_pin or ncpu < 2 else ["taskset", "-c", "1"]

    h = W.Harness()
    rows = []
    try:
        names = ["h%04d" % i for i in range(args.hit_names)]
        zone = [W.soa(ttl=3600, minimum=3600)]
        for i, n in enumerate(names):
            zone.append("%s 3600 IN A 192.0.2.%d\n" % (n, i % 250 + 1))
        ns = h.nsd({ZONE: "".join(zone)}, prefix=pin_client, probe="h0000.%s." % ZONE)
        hitfile = os.path.join(h.tmp, "hit.txt")
        with open(hitfile, "w") as f:
            for n in names:
                f.write("%s.%s A\n" % (n, ZONE))
        blockfile = os.path.join(h.tmp, "blocked.txt")
        with open(blockfile, "w") as f:
            for i in range(0, args.entries, max(1, args.entries // args.hit_names)):
                f.write("ad%06d.track%03d.example A\n" % (i, i % 997))
        lst = write_blocklist(os.path.join(h.tmp, "list.txt"), args.entries)
        print("# blocklist: %d entries, %.1f MB" % (
            args.entries, os.path.getsize(lst) / 1e6), flush=True)

        base = {"upstream": {"timeout": 2000, "retries": 1}, "cache": {"size": 200000}}
        plug = dict(base)
        plug["plugin:ads"] = {"path": SO, "list": lst, "mode": "null"}
        for label, cfg, data in (("no plugin", base, hitfile),
                                 ("blocklist %dk" % (args.entries // 1000), plug, hitfile),
                                 ("blocked names", plug, blockfile)):
            t0 = time.monotonic()
            srv = h.wuguard([ns.addr], config=cfg, verbose=False, prefix=pin_server,
                            probe="h0000.%s." % ZONE, name="wg")
            ready = time.monotonic() - t0
            rss = rss_kb(srv.pid)
            r = measure(srv, data, pin_client, args.duration)
            r.update(label=label, ready=ready, rss=rss, alive=srv.alive())
            print("# %s: %.0f qps, %s us/query" % (
                label, r["qps"], "-" if r["cpu_us"] is None else "%.2f" % r["cpu_us"]),
                flush=True)
            srv.stop()
            rows.append(r)
    finally:
        h.cleanup()

    print()
    print("%-16s %10s %9s %6s %10s %8s %9s %s" % (
        "config", "QPS", "avg ms", "lost", "CPU us/q", "RSS MB", "start s", "rcodes"))
    for r in rows:
        print("%-16s %10.0f %9s %6d %10s %8.1f %9.2f %s%s%s" % (
            r["label"], r["qps"], "-" if r["avg"] is None else "%.3f" % (r["avg"] * 1e3),
            r["lost"], "-" if r["cpu_us"] is None else "%.2f" % r["cpu_us"],
            (r["rss"] or 0) / 1024.0, r["ready"], r["rcodes"],
            ("  ERROR " + r["error"]) if r.get("error") else "",
            "" if r["alive"] else "  (died!)"))
    a, b = rows[0]["cpu_us"], rows[1]["cpu_us"]
    if a and b:
        print()
        print("cache-hit CPU/query  blocklist/none = %.2f  (+%.2f us/query)" % (b / a, b - a))
    return 0


sys.exit(main())
PYTHON
