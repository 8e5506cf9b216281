#!/usr/bin/python3
"""Benchmark (issue 3): the latency of a guarded cache miss against the
slower of the two upstreams asked alone.

Run through bench/guard.sh. One nsd serves --names names under
windowsupdate.com (all in the WU set). Two unbound instances forward to it:
"local" (the corporate resolver) and "public". wuguard runs in repair mode
with both. Every measured query is a cache miss everywhere: each run asks
its own set of names, once each, with dnsperf.

Workloads
  (servers: local and public alone; "unguarded", a wuguard with
  windowsupdate.com removed from its WU set, which forwards these names to
  local unchecked: the hop alone; and wuguard guarding)
  clean      n<i>.clean.windowsupdate.com: both upstreams give the same
             answer. The latency rule lets wuguard serve the local answer at
             once, so a guarded miss should cost about the local latency.
  sinkholed  n<i>.sink.windowsupdate.com: "local" answers 0.0.0.0 from a
             local-zone (instantly), "public" resolves through nsd. wuguard
             has to wait for the public answer and repair, so a guarded miss
             costs about the public latency: the slower upstream alone, plus
             the cross-check. Every reply is checked to be the genuine one.

For each workload and each of local alone, public alone and wuguard:
  latency   one query at a time from a Python client (--latency-names names):
            median, average and p99 in ms. Unloaded, so it shows what the
            cross-check itself adds. (dnsperf -q 1 is paced and unusable here.)
  load      dnsperf with --outstanding queries in flight over --names names:
            QPS, average and p99 latency (dnsperf -v). On a two-CPU machine
            both unbounds, nsd and dnsperf share one CPU, and a guarded miss
            makes two upstream exchanges, so this shows the cost under load.
Then the guarded/slower ratios.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
sys.path.insert(0, HERE)
import wgtest as W  # noqa: E402
import bench as B  # noqa: E402  (dnsperf runner and parser)

ORIGIN = "windowsupdate.com"


def names(prefix, label, n):
    return ["%s%06d.%s.%s" % (prefix, i, label, ORIGIN) for i in range(n)]


def datafile(h, tag, ns):
    path = os.path.join(h.tmp, tag + ".txt")
    with open(path, "w") as f:
        for n in ns:
            f.write("%s A\n" % n)
    return path


def serial_latency(addr, ns):
    """Ask each name once, one at a time; latencies in seconds (None: no
    reply within 3 s)."""
    out = []
    for n in ns:
        t0 = time.perf_counter()
        m, _ = W.query(addr, n, timeout=3)
        out.append(time.perf_counter() - t0 if m is not None else None)
    return out


def summarize(lat):
    ok = sorted(x for x in lat if x is not None)
    if not ok:
        return {"n": 0, "lost": len(lat), "p50": None, "avg": None, "p99": None}
    return {"n": len(ok), "lost": len(lat) - len(ok), "p50": ok[len(ok) // 2],
            "avg": sum(ok) / len(ok), "p99": ok[min(len(ok) - 1, int(len(ok) * 0.99))]}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=int, default=20000,
                    help="distinct names per run (default 20000)")
    ap.add_argument("--latency-names", type=int, default=2000,
                    help="names per serial latency run (default 2000)")
    ap.add_argument("--outstanding", type=int, default=20,
                    help="dnsperf -q: queries in flight (default 20)")
    ap.add_argument("--no-pin", action="store_true", help="do not use taskset")
    args = ap.parse_args()

    ncpu = os.cpu_count() or 1
    pin_server = [] if args.no_pin or ncpu < 2 else ["taskset", "-c", "0"]
    pin_client = [] if args.no_pin or ncpu < 2 else ["taskset", "-c", "1"]
    runs = ("local", "public", "unguarded", "wuguard")

    h = W.Harness()
    table = []
    try:
        zone = [W.soa(ttl=3600, minimum=3600)]
        sets = {}
        for wl in ("clean", "sink"):
            for who in runs:
                for kind, count in (("load", args.names), ("lat", args.latency_names)):
                    ns = names(who[0] + kind[0], wl, count)
                    sets[(wl, who, kind)] = ns
                    for i, n in enumerate(ns):
                        zone.append("%s 3600 IN A 192.0.2.%d\n" % (
                            n[:-len(ORIGIN) - 1], 1 + i % 250))
        print("# nsd: %d names" % (len(zone) - 1), flush=True)
        ns = h.nsd({ORIGIN: "".join(zone)}, prefix=pin_client, probe=ORIGIN)
        ub_extra = ("\tmsg-cache-size: 64m\n\trrset-cache-size: 128m\n"
                    "\tnum-queries-per-thread: 4096\n\tverbosity: 0\n")
        local = h.unbound(ns.addr, name="unbound-local", prefix=pin_client, extra=ub_extra,
                          local=['local-zone: "sink.%s." redirect' % ORIGIN,
                                 'local-data: "sink.%s. 3600 A 0.0.0.0"' % ORIGIN])
        public = h.unbound(ns.addr, name="unbound-public", prefix=pin_client,
                           extra=ub_extra)
        cfg = W.render_config({
            "upstream": {"timeout": 2000, "retries": 1},
            "cache": {"size": 200000},
            "guard": {"public-wait": 1500},
        })
        wg = h.wuguard([local.addr], public=public.addr, config=cfg, verbose=False,
                       prefix=pin_server, args=["--mode", "repair"])
        # the same daemon with windowsupdate.com taken out of the WU set:
        # the forwarding hop alone
        plain_cfg = cfg + "[guard]\nremove = windowsupdate.com *.windowsupdate.com\n"
        plain = h.wuguard([local.addr], name="wuguard-unguarded", config=plain_cfg,
                          verbose=False, prefix=pin_server)
        servers = {"local": local, "public": public, "unguarded": plain, "wuguard": wg}

        for wl in ("clean", "sink"):
            row = {}
            for who in runs:
                lat = summarize(serial_latency(servers[who].addr, sets[(wl, who, "lat")]))
                f = datafile(h, "%s-%s" % (wl, who), sets[(wl, who, "load")])
                r = B.dnsperf(servers[who].addr, f, pin_client, 120, runs=1,
                              outstanding=args.outstanding)
                r["lat"] = lat
                row[who] = r
                print("# %s %s: serial avg %s ms; loaded %.0f qps, avg %s ms" % (
                    wl, who, B.fmt(lat["avg"], 1e3, 3), r["qps"], B.fmt(r["avg"], 1e3, 3)),
                      flush=True)
            # the repaired answers really are genuine
            bad = 0
            for n in sets[(wl, "wuguard", "load")][:50]:
                m, _ = W.query(wg.addr, n)
                if not W.answer_set(m, "A") or W.answer_set(m, "A") == {"0.0.0.0"}:
                    bad += 1
            row["bad"] = bad
            table.append((wl, row))
            time.sleep(0.5)
        alive = wg.alive()
    finally:
        h.cleanup()

    print()
    print("serial latency, one query at a time, every query a cache miss")
    print("%-10s %-8s %9s %9s %9s %7s" % ("workload", "server", "p50 ms", "avg ms",
                                          "p99 ms", "lost"))
    for wl, row in table:
        for who in runs:
            x = row[who]["lat"]
            print("%-10s %-8s %9s %9s %9s %7d" % (
                wl, who, B.fmt(x["p50"], 1e3, 3), B.fmt(x["avg"], 1e3, 3),
                B.fmt(x["p99"], 1e3, 3), x["lost"]))
    print()
    print("under load: dnsperf, %d queries in flight, every query a cache miss" %
          args.outstanding)
    print("%-10s %-8s %10s %9s %9s %7s %s" % (
        "workload", "server", "QPS", "avg ms", "p99 ms", "lost", "rcodes"))
    for wl, row in table:
        for who in runs:
            x = row[who]
            print("%-10s %-8s %10.0f %9s %9s %7d %s%s" % (
                wl, who, x["qps"], B.fmt(x["avg"], 1e3, 3), B.fmt(x["p99"], 1e3, 3),
                x["lost"], x["rcodes"], ("  ERROR " + x["error"]) if x.get("error") else ""))
    print()
    for wl, row in table:
        for label, get in (("serial", lambda r: r["lat"]), ("loaded", lambda r: r)):
            slower = max(("local", "public"), key=lambda k: get(row[k])["avg"] or 0)
            for stat in ("avg", "p99"):
                a, b = get(row["wuguard"])[stat], get(row[slower])[stat]
                if a and b:
                    print("%-6s %-6s guarded miss %s / slower upstream (%s) alone = %.2f"
                          " (%.3f vs %.3f ms)" % (wl, label, stat, slower, a / b,
                                                  a * 1e3, b * 1e3))
                c = get(row["unguarded"])[stat]
                if a and c:
                    print("%-6s %-6s guarded miss %s / wuguard unguarded = %.2f"
                          " (%.3f vs %.3f ms)" % (wl, label, stat, a / c, a * 1e3, c * 1e3))
        print("%-9s wrong answers in a sample of 50 re-asked names: %d" % (wl, row["bad"]))
    if not alive:
        print("wuguard died during the run!")
    return 0


if __name__ == "__main__":
    sys.exit(main())
