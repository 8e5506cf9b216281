#!/usr/bin/python3
"""Benchmark of the discrepancy database (issue 4). Run through
bench/dlog_bench.sh; not part of make check.

1. Writer throughput: tests/dlog_fill submits N events through wg_dlog (the
   daemon's own writer thread: WAL, synchronous=NORMAL, up to 512 rows per
   transaction) and waits for wg_dlog_close; rows/s = N / wall time. Once
   with aggregation off (every event a new row, each hashed into the chain)
   and once with a 1 h window (each event first looks for an identical row:
   mostly index lookups and UPDATEs).

2. Event loop latency while the writer writes: wuguard behind a tampering
   dnsmasq (every name under windowsupdate.com sinkholed to 0.0.0.0) with nsd
   as the public resolver, so every query is a verdict and a database row.
   dnsperf sends distinct names at a fixed rate (-Q) and reports latency;
   the same load with no database (its path under a regular file) is the
   baseline. The difference is what the writer costs the event loop. The
   exit log's "database submitted= written= dropped=" line says whether the
   writer kept up.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import wgtest as W  # noqa: E402

WU = "windowsupdate.com"
ZONE = W.soa() + "* 300 IN A 192.0.2.9\n"


def fill_rate(fill, n, aggregate):
    d = tempfile.mkdtemp(prefix="wg_dlog_bench_")
    db = os.path.join(d, "b.db")
    t0 = time.monotonic()
    subprocess.run([fill, db, str(n), "0", str(aggregate)], check=True, timeout=600,
                   stderr=subprocess.DEVNULL)
    dt = time.monotonic() - t0
    size = os.path.getsize(db)
    subprocess.run(["rm", "-rf", d])
    return n / dt, dt, size


def dnsperf(addr, datafile, duration, qps):
    argv = ["dnsperf", "-s", addr[0], "-p", str(addr[1]), "-d", datafile,
            "-l", str(duration), "-Q", str(qps), "-q", "500", "-t", "2", "-v"]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=duration + 30)
    out = {"completed": 0, "lost": 0, "qps": 0.0, "avg": None, "p99": None, "max": None}
    lat = []
    for line in r.stdout.splitlines():
        if line.startswith("> "):
            try:
                lat.append(float(line.split()[-1]))
            except ValueError:
                pass
            continue
        line = line.strip()
        if line.startswith("Queries completed:"):
            out["completed"] = int(line.split()[2])
        elif line.startswith("Queries lost:"):
            out["lost"] = int(line.split()[2])
        elif line.startswith("Queries per second:"):
            out["qps"] = float(line.split()[3])
        elif line.startswith("Average Latency (s):"):
            out["avg"] = float(line.split()[3])
    if lat:
        lat.sort()
        out["p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        out["max"] = lat[-1]
    if r.returncode != 0:
        out["error"] = r.stderr.strip()[-300:]
    return out


def loop_latency(h, args, qps, with_db):
    ns = h.nsd({WU: ZONE}, probe="probe.%s" % WU)
    dm = h.dnsmasq(ns.addr, addresses=["/%s/0.0.0.0" % WU])
    cfg = W.wg_config(guard={"domains": os.path.join(W.SRCDIR, "db", "wu-domains.list")},
                      cache={"size": 1000000, "max-bytes": "1G"},
                      database={"queue-size": 65536})
    if with_db:
        db = os.path.join(h.mkdir("db-%d" % len(h._servers)), "wuguard.db")
    else:
        db = os.path.join(h.write(os.path.join(h.tmp, "plainfile"), "x"), "wuguard.db")
    wg = h.wuguard([dm.addr], public=ns.addr, config=cfg, verbose=False,
                   args=["--db", db], probe="probe.%s" % WU)
    n = qps * args.duration + 1000
    data = os.path.join(h.tmp, "names-%d.txt" % len(h._servers))
    tag = "db%d" % len(h._servers)
    with open(data, "w") as f:
        for i in range(n):
            f.write("%s%07d.%s A\n" % (tag, i, WU))
    res = dnsperf(wg.addr, data, args.duration, qps)
    res["cpu"] = thread_cpu(wg.pid)
    wg.stop()
    with open(wg.logpath) as f:
        log = f.read()
    m = re.search(r"database submitted=(\d+) written=(\d+) aggregated=(\d+) dropped=(\d+) "
                  r"errors=(\d+)", log)
    res["db"] = m.group(0) if m else "no database"
    rows = None
    if with_db:
        import sqlite3
        c = sqlite3.connect(db)
        rows = c.execute("SELECT count(*) FROM events").fetchone()[0]
        c.close()
    res["rows"] = rows
    for s in (dm, ns):
        s.stop()
    return res


def thread_cpu(pid):
    """CPU seconds (user+sys) of the event loop thread (tid == pid) and of
    all the other threads together (the database writer; libuv's pool)."""
    loop = other = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        t = (int(fields[11]) + int(fields[12])) / float(tick)
        if int(tid) == pid:
            loop += t
        else:
            other += t
    return loop, other


def ms(v):
    return "-" if v is None else "%.3f" % (v * 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100000, help="events for the writer test")
    ap.add_argument("--qps", default="1000,2500",
                    help="dnsperf rates, queries/s, comma separated")
    ap.add_argument("--duration", type=int, default=10, help="dnsperf seconds per run")
    args = ap.parse_args()
    fill = os.path.join(W.BUILDDIR, "tests", "dlog_fill")
    if not os.access(fill, os.X_OK):
        sys.exit("dlog_bench: %s not built (make check builds it, or make tests/dlog_fill)"
                 % fill)

    print("writer throughput (tests/dlog_fill, %d events)" % args.rows)
    for agg, label in ((0, "aggregation off"), (3600, "aggregation 1 h")):
        rate, dt, size = fill_rate(fill, args.rows, agg)
        print("  %-16s %9.0f rows/s  (%.2f s, db %.1f MiB)" % (label, rate, dt,
                                                             size / 1048576.0))
    sys.stdout.flush()

    h = W.Harness()
    print("event loop latency, every query a tampered WU name (a verdict and a row),"
          " dnsperf for %d s per run" % args.duration)
    print("  %-6s %-8s %8s %6s %8s %8s %8s %7s %7s %7s" % (
        "rate", "database", "qps", "lost", "avg ms", "p99 ms", "max ms", "rows",
        "loop s", "other s"))
    for qps in [int(x) for x in args.qps.split(",")]:
        for with_db in (False, True):
            r = loop_latency(h, args, qps, with_db)
            print("  %-6d %-8s %8.0f %6d %8s %8s %8s %7s %7.2f %7.2f" % (
                qps, "on" if with_db else "off", r["qps"], r["lost"], ms(r["avg"]),
                ms(r["p99"]), ms(r["max"]), r["rows"] if r["rows"] is not None else "-",
                r["cpu"][0], r["cpu"][1]))
            if with_db:
                print("         %s" % r["db"])
            if "error" in r:
                print("         dnsperf: %s" % r["error"])
            sys.stdout.flush()
    print("loop s / other s: CPU seconds of the event loop thread and of the other"
          " threads (the writer)")
    h.cleanup()


if __name__ == "__main__":
    main()
