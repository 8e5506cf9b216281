#!/usr/bin/python3
"""No heap allocation per query on the cache-hit path after warm-up
(issue 2): the real daemon runs under an LD_PRELOAD shim
(tests/alloc/alloc_count.c) that counts malloc, calloc, realloc and
memalign calls on the event-loop thread and writes the count on SIGUSR2.
A TCP answer, which does allocate (its write request), shows the counter
works."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN
SHIM = os.path.join(W.BUILDDIR, "tests", "alloc", ".libs", "alloc_count.so")
NAMES = ["n%03d.many.%s" % (i, Z) for i in range(100)]
ROUNDS = 30


def sanitized():
    """An ASan build must have its runtime first; the shim cannot go in."""
    try:
        out = subprocess.run(["ldd", os.path.join(W.BUILDDIR, "wuguard")],
                             stdout=subprocess.PIPE, text=True).stdout
    except OSError:
        return False
    return "libasan" in out


def read_count(wg, path, last):
    """Ask the shim for the count; wait until the file is rewritten."""
    before = os.stat(path).st_mtime_ns if os.path.exists(path) else None
    wg.kill(signal.SIGUSR2)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.stat(path).st_mtime_ns != before:
            try:
                with open(path) as f:
                    text = f.read().strip()
                if text:
                    return int(text)
            except (OSError, ValueError):
                pass
        time.sleep(0.02)
    return None


def hit_path(cfg=None):
    if sanitized():
        h.skip("no allocation per cache hit",
               "ASan build: the shim cannot precede the ASan runtime")
        return
    h.ok(os.path.exists(SHIM), "the counting shim was built", SHIM)
    ns = h.nsd({Z: W.ZONE})
    countfile = os.path.join(h.tmp, "alloc.count")
    wg = h.wuguard([ns.addr], config=W.wg_config(**(cfg or {})), verbose=False,
                   prefix=["env", "LD_PRELOAD=" + SHIM,
                           "WG_ALLOC_COUNT_FILE=" + countfile])
    # warm-up: every name fetched, then served from the cache once
    for _ in range(2):
        for n in NAMES:
            W.query(wg.addr, n)
    ns.stop()  # from here on, only the cache can answer

    c0 = read_count(wg, countfile, None)
    c1 = read_count(wg, countfile, c0)
    h.ok(c0 is not None and c0 > 0, "the shim counts the daemon's allocations",
         "count %s" % c0)
    h.eq(c1, c0, "reading the count allocates nothing itself")

    good = 0
    for _ in range(ROUNDS):
        for n in NAMES:
            m, _ = W.query(wg.addr, n, timeout=2)
            if W.answer_set(m, "A") == {"192.0.2.7"}:
                good += 1
    h.eq(good, ROUNDS * len(NAMES), "%d cache hits over UDP answered" % (
        ROUNDS * len(NAMES)))
    c2 = read_count(wg, countfile, c1)
    h.eq(c2, c1, "no heap allocation during %d UDP cache hits" % (
        ROUNDS * len(NAMES)), "before %s, after %s" % (c1, c2))

    for n in NAMES[:5]:
        W.query(wg.addr, n, tcp=True)
    c3 = read_count(wg, countfile, c2)
    h.ok(c3 is not None and c2 is not None and c3 > c2,
         "positive control: 5 TCP answers allocate (connection, write request)",
         "before %s, after %s" % (c2, c3))
    h.ok(wg.alive(), "daemon still running")


h.case("no heap allocation per query on the cache-hit path", hit_path)
# [upstream] client-subnet: nsd returns no ECS, so every entry is the
# client's own (the per-client key, then the shared one, are looked up)
h.case("no heap allocation per cache hit with client-subnet (per-client entries)",
       lambda: hit_path({"upstream": {"client-subnet": True}}))
h.done()
