#!/usr/bin/python3
"""Benchmark (issue 2): wuguard, unbound and dnsmasq, each forwarding to the
same nsd, measured one after the other in one run with dnsperf on loopback.

Run through bench/run.sh. See bench/run.sh --help for the knobs.

A shared virtual machine is noisy (the same server's CPU per query moves by
a third between runs), so every server is measured --rounds times, the
rounds interleaved (wuguard, unbound, dnsmasq, wuguard, ...); the table shows
the median of each field and the ratios per round follow it.

How each number is obtained
  QPS, avg latency, lost   dnsperf's own summary.
  p99 latency              dnsperf -v prints one line per completed query with
                           its latency; the 99th percentile of those. -v costs
                           dnsperf some CPU, the same for every server; dnsperf
                           has its own core.
  CPU us/query             utime+stime of the server process (all threads)
                           from /proc/PID/stat, before and after the run,
                           divided by the queries completed. Clock ticks are
                           10 ms, so runs are a few seconds at least.
  RSS                      VmRSS from /proc/PID/status: idle (started and
                           answered one query), and after the cache-miss run
                           (up to 100k distinct answers cached).
Pinning: the server under test on CPU 0, dnsperf and nsd on CPU 1
(taskset), when the machine has two CPUs or more.

The floor
  bench/floor.c, built here with cc, answers every query with one fixed A
  record through the same epoll/recvmmsg/sendmmsg pattern as wuguard's UDP
  listener and does no DNS work. Its CPU per query is what the kernel
  charges for one datagram in and one out on this machine: the part of every
  server's cache-hit cost no server can cut. It runs the cache-hit workload
  only; the report adds each server's cost above that floor.

Workloads
  cache-hit   1000 names, warmed once, then repeated for --duration seconds.
  cache-miss  --names distinct names (100k), each queried once: every query
              misses in every server's cache and goes to nsd. All three servers
              cache what they fetch (dnsmasq's --cache-size is raised to hold
              them: 2.90 has no upper limit, it only warns above 10000).
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import wgtest as W  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
ZONE = "bench.test"


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime is field 14, stime 15.
    return int(fields[11]) + int(fields[12])


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def write_names(path, names):
    with open(path, "w") as f:
        for n in names:
            f.write("%s.%s A\n" % (n, ZONE))
    return path


def dnsperf(addr, datafile, pin, duration, runs=None, verbose=True, outstanding=100):
    argv = list(pin) + ["dnsperf", "-s", addr[0], "-p", str(addr[1]), "-d", datafile,
                        "-l", str(duration), "-q", str(outstanding), "-t", "2"]
    if runs:
        argv += ["-n", str(runs)]
    if verbose:
        argv.append("-v")
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=duration + 30)
    out = {"sent": 0, "completed": 0, "lost": 0, "qps": 0.0, "avg": None,
           "p99": None, "rcodes": ""}
    lat = []
    for line in r.stdout.splitlines():
        if line.startswith("> "):
            parts = line.split()
            try:
                lat.append(float(parts[-1]))
            except ValueError:
                pass
            continue
        line = line.strip()
        if line.startswith("Queries sent:"):
            out["sent"] = int(line.split()[2])
        elif line.startswith("Queries completed:"):
            out["completed"] = int(line.split()[2])
        elif line.startswith("Queries lost:"):
            out["lost"] = int(line.split()[2])
        elif line.startswith("Queries per second:"):
            out["qps"] = float(line.split()[3])
        elif line.startswith("Average Latency (s):"):
            out["avg"] = float(line.split()[3])
        elif line.startswith("Response codes:"):
            out["rcodes"] = line.split(":", 1)[1].strip()
    if lat:
        lat.sort()
        out["p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    if r.returncode != 0:
        out["error"] = r.stderr.strip()[-300:]
    return out


def measure(server, addr, datafile, pin, duration, runs=None, verbose=True):
    c0 = cpu_ticks(server.pid)
    res = dnsperf(addr, datafile, pin, duration, runs=runs, verbose=verbose)
    c1 = cpu_ticks(server.pid)
    res["cpu_us"] = ((c1 - c0) * 1e6 / CLK_TCK / res["completed"]
                     if res["completed"] else None)
    return res


def build_floor(h):
    """Compile bench/floor.c into the run's directory; its path."""
    exe = os.path.join(h.tmp, "floor")
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-o", exe,
                    os.path.join(HERE, "floor.c")], check=True)
    return exe


def start(h, kind, upstream, pin, args):
    if kind == "floor":
        port = W.free_port()
        s = W.Server(h, "floor", list(pin) + [args.floor_exe, str(port)],
                     (W.LOOPBACK, port), os.path.join(h.tmp, "floor.log"), h.tmp)
        s.wait_ready("h0000.%s." % ZONE)
        return s
    if kind == "wuguard":
        cfg = W.render_config({
            "upstream": {"timeout": 2000, "retries": 1},
            "cache": {"size": args.wg_cache_size},
        }) + (open(args.wg_config).read() if args.wg_config else "")
        return h.wuguard([upstream], config=cfg, verbose=False, prefix=pin,
                         probe="h0000.%s." % ZONE)
    if kind == "unbound":
        return h.unbound(upstream, prefix=pin, probe="h0000.%s." % ZONE, extra=(
            "\tmsg-cache-size: 64m\n\trrset-cache-size: 128m\n"
            "\tnum-queries-per-thread: 4096\n\tverbosity: 0\n"))
    if kind == "dnsmasq":
        return h.dnsmasq(upstream, prefix=pin, probe="h0000.%s." % ZONE,
                         cache_size=args.names + 20000,
                         extra=["--dns-forward-max=4096"])
    raise ValueError(kind)


def median(vals):
    vals = sorted(v for v in vals if v is not None)
    return vals[len(vals) // 2] if vals else None


def median_run(rs):
    """One run made of the per-field medians of several rounds."""
    out = {"rss_idle": median(r["rss_idle"] for r in rs),
           "rss_full": median(r["rss_full"] for r in rs),
           "alive": all(r["alive"] for r in rs)}
    for wl in ("hit", "miss"):
        if rs[0][wl] is None:
            out[wl] = None
            continue
        x = dict(rs[0][wl])
        for k in ("qps", "avg", "p99", "lost", "cpu_us", "completed"):
            x[k] = median(r[wl].get(k) for r in rs)
        errs = [r[wl]["error"] for r in rs if r[wl].get("error")]
        if errs:
            x["error"] = errs[0]
        out[wl] = x
    return out


def ratio(a, b):
    return "%.2f" % (a / b) if a and b else "-"


def fmt(v, scale=1.0, digits=1):
    return "-" if v is None else ("%.*f" % (digits, v * scale))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10,
                    help="seconds per cache-hit run, and the cap on a cache-miss run")
    ap.add_argument("--names", type=int, default=100000,
                    help="distinct names in the cache-miss workload")
    ap.add_argument("--hit-names", type=int, default=1000)
    ap.add_argument("--servers", default="wuguard,unbound,dnsmasq,floor",
                    help="comma-separated; floor is bench/floor.c (see above)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="run every server this many times, interleaved; the table "
                    "shows per-field medians (a shared VM is noisy)")
    ap.add_argument("--no-pin", action="store_true", help="do not use taskset")
    ap.add_argument("--no-p99", action="store_true",
                    help="run dnsperf without -v (no p99; dnsperf spends less CPU)")
    ap.add_argument("--wg-cache-size", default="200000",
                    help="[cache] size for wuguard (default 200000)")
    ap.add_argument("--wg-config", help="extra config text file appended for wuguard")
    args = ap.parse_args()

    ncpu = os.cpu_count() or 1
    pin_server = [] if args.no_pin or ncpu < 2 else ["taskset", "-c", "0"]
    pin_client = [] if args.no_pin or ncpu < 2 else ["taskset", "-c", "1"]

    h = W.Harness()
    runs = {}
    try:
        hit = ["h%04d" % i for i in range(args.hit_names)]
        miss = ["n%06d" % i for i in range(args.names)]
        print("# building a zone of %d names" % (len(hit) + len(miss)), flush=True)
        lines = [W.soa(ttl=3600, minimum=3600)]
        for i, n in enumerate(hit + miss):
            lines.append("%s 3600 IN A 10.%d.%d.%d\n" % (n, (i >> 16) & 255,
                                                        (i >> 8) & 255, i & 255))
        t0 = time.monotonic()
        ns = h.nsd({ZONE: "".join(lines)}, prefix=pin_client,
                   probe="h0000.%s." % ZONE)
        print("# nsd serving %s on port %d (loaded in %.1f s)" % (
            ZONE, ns.port, time.monotonic() - t0), flush=True)
        hitfile = write_names(os.path.join(h.tmp, "hit.txt"), hit)
        missfile = write_names(os.path.join(h.tmp, "miss.txt"), miss)

        if "dnsmasq" in args.servers.split(","):
            # dnsmasq preallocates its cache, so its idle RSS depends on
            # --cache-size: measure it at the default (150) too.
            d = h.dnsmasq(ns.addr, name="dnsmasq-default", probe="h0000.%s." % ZONE)
            dnsmasq_default_rss = rss_kb(d.pid)
            d.stop()
        else:
            dnsmasq_default_rss = None

        if "floor" in args.servers.split(","):
            args.floor_exe = build_floor(h)

        runs = {}
        for rnd in range(args.rounds):
            for kind in args.servers.split(","):
                print("# round %d/%d, %s: starting" % (rnd + 1, args.rounds, kind), flush=True)
                try:
                    srv = start(h, kind, ns.addr, pin_server, args)
                except Exception as e:
                    print("# %s: could not start: %s" % (kind, str(e).splitlines()[0]))
                    continue
                r = {"rss_idle": rss_kb(srv.pid)}
                dnsperf(srv.addr, hitfile, pin_client, args.duration, runs=2, verbose=False)
                r["hit"] = measure(srv, srv.addr, hitfile, pin_client, args.duration,
                                   verbose=not args.no_p99)
                print("# %s: cache-hit %.0f qps" % (kind, r["hit"]["qps"]), flush=True)
                if kind == "floor":
                    r["miss"] = None  # it answers everything itself
                else:
                    r["miss"] = measure(srv, srv.addr, missfile, pin_client,
                                        max(args.duration, 60), runs=1,
                                        verbose=not args.no_p99)
                    print("# %s: cache-miss %.0f qps, %d completed" % (
                        kind, r["miss"]["qps"], r["miss"]["completed"]), flush=True)
                time.sleep(0.5)
                r["rss_full"] = rss_kb(srv.pid)
                r["alive"] = srv.alive()
                srv.stop()
                runs.setdefault(kind, []).append(r)
    finally:
        h.cleanup()

    results = {k: median_run(v) for k, v in runs.items()}
    if args.rounds > 1 and "wuguard" in runs and "unbound" in runs:
        print()
        fl = runs.get("floor")
        print("per round: cache-hit CPU/query and cache-miss QPS, wuguard/unbound%s" % (
            "; floor/unbound cache-hit CPU/query" if fl else ""))
        for i, (w, u) in enumerate(zip(runs["wuguard"], runs["unbound"])):
            print("  round %d: %s  %s%s" % (
                i + 1, ratio(w["hit"]["cpu_us"], u["hit"]["cpu_us"]),
                ratio(w["miss"]["qps"], u["miss"]["qps"]),
                "  " + ratio(fl[i]["hit"]["cpu_us"], u["hit"]["cpu_us"])
                if fl and i < len(fl) else ""))

    print()
    print("%-10s %-8s %10s %9s %9s %7s %9s %s" % (
        "workload", "server", "QPS", "avg ms", "p99 ms", "lost", "CPU us/q", "rcodes"))
    for wl in ("hit", "miss"):
        for kind, r in results.items():
            x = r[wl]
            if x is None:
                continue
            print("%-10s %-8s %10.0f %9s %9s %7d %9s %s%s" % (
                "cache-" + wl, kind, x["qps"], fmt(x["avg"], 1e3, 3),
                fmt(x["p99"], 1e3, 3), x["lost"], fmt(x["cpu_us"], 1, 1), x["rcodes"],
                ("  ERROR " + x["error"]) if x.get("error") else ""))
    print()
    print("%-8s %14s %22s" % ("server", "idle RSS MB", "RSS MB after miss run"))
    for kind, r in results.items():
        if kind == "floor":
            continue
        print("%-8s %14s %22s%s" % (kind, fmt(r["rss_idle"], 1 / 1024.0, 1),
                                    fmt(r["rss_full"], 1 / 1024.0, 1),
                                    "" if r["alive"] else "  (died during the run!)"))

    if dnsmasq_default_rss:
        print("%-8s %14s  (default --cache-size 150)" % (
            "dnsmasq", fmt(dnsmasq_default_rss, 1 / 1024.0, 1)))

    wg, ub, dm = results.get("wuguard"), results.get("unbound"), results.get("dnsmasq")
    print()
    if wg and ub:
        a, b = wg["hit"]["cpu_us"], ub["hit"]["cpu_us"]
        if a and b:
            print("cache-hit CPU/query  wuguard/unbound = %.3f  (target <= 0.60) %s" % (
                a / b, "PASS" if a / b <= 0.6 else "FAIL"))
        f = results.get("floor")
        f = f and f["hit"]["cpu_us"]
        if a and b and f:
            # A responder that does no DNS work: what the kernel charges every
            # server for one datagram in and one out on this machine.
            print("cache-hit CPU/query  floor/unbound   = %.3f  (bench/floor.c: no DNS work, "
                  "the kernel's share)" % (f / b))
            print("cache-hit CPU/query  wuguard/floor   = %.3f" % (a / f))
        a, b = wg["miss"]["qps"], ub["miss"]["qps"]
        if a and b:
            print("cache-miss QPS       wuguard/unbound = %.3f  (target >= 2.00) %s" % (
                a / b, "PASS" if a / b >= 2 else "FAIL"))
    if wg and dm:
        a, b = wg["rss_idle"], dm["rss_idle"]
        if a and b:
            print("idle RSS             wuguard/dnsmasq = %.2f  (target <= 1.00) %s"
                  "  [dnsmasq --cache-size %d]" % (
                      a / b, "PASS" if a <= b else "FAIL", args.names + 20000))
        b = dnsmasq_default_rss
        if a and b:
            print("idle RSS             wuguard/dnsmasq = %.2f  (target <= 1.00) %s"
                  "  [dnsmasq default cache]" % (a / b, "PASS" if a <= b else "FAIL"))
        for k in ("hit", "miss"):
            a, b = wg[k]["qps"], dm[k]["qps"]
            if a and b:
                print("cache-%-4s QPS       wuguard/dnsmasq = %.2f" % (k, a / b))
    if wg:
        mb = (wg["rss_full"] or 0) / 1024.0
        print("RSS after %d cached  wuguard = %.1f MB (target <= 32 MB) %s" % (
            args.names, mb, "PASS" if mb <= 32 else "FAIL"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
