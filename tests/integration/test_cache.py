#!/usr/bin/python3
"""The daemon's cache seen from outside: answers and NXDOMAIN/NODATA served
after the authority is gone, TTLs decaying, min/max TTL clamps, serve-stale
on and off (RFC 8767), identical in-flight queries sharing one upstream
exchange (issue 2)."""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402
from wgtest import dns  # noqa: E402
import dns.edns  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN


def cached_after_stop():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    m1, _ = W.query(wg.addr, "www.%s" % Z)
    h.eq(W.answer_set(m1, "A"), {"192.0.2.1"}, "first query answered from nsd",
         W.describe(m1))
    t1 = W.answer_ttl(m1)
    h.ok(t1 is not None and 290 <= t1 <= 300, "first answer TTL about 300",
         "ttl: %s" % t1)
    m, _ = W.query(wg.addr, "www.%s" % Z, "AAAA")
    h.eq(W.answer_set(m, "AAAA"), {"2001:db8::1"}, "AAAA cached separately")
    ns.stop()
    time.sleep(2.2)
    m2, _ = W.query(wg.addr, "www.%s" % Z)
    h.eq(W.answer_set(m2, "A"), {"192.0.2.1"},
         "second query answered from cache with nsd stopped", W.describe(m2))
    t2 = W.answer_ttl(m2)
    h.ok(t1 is not None and t2 is not None and t1 - 5 <= t2 <= t1 - 2,
         "cached TTL decayed by the 2.2 s waited", "first %s, then %s" % (t1, t2))
    m, _ = W.query(wg.addr, "www.%s" % Z, tcp=True)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "cache hit over TCP too",
         W.describe(m))
    m, _ = W.query(wg.addr, "www.%s" % Z, "AAAA")
    h.eq(W.answer_set(m, "AAAA"), {"2001:db8::1"}, "cached AAAA with nsd stopped")
    m, _ = W.query(wg.addr, "other.%s" % Z, timeout=5)
    h.rcode(m, "SERVFAIL", "an uncached name with nsd stopped: SERVFAIL")


def negative_cached():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    m, _ = W.query(wg.addr, "nx.%s" % Z)
    h.rcode(m, "NXDOMAIN", "NXDOMAIN from nsd")
    m, _ = W.query(wg.addr, "www.%s" % Z, "TXT")
    h.ok(m is not None and W.rcode_text(m) == "NOERROR" and not m.answer,
         "NODATA from nsd", W.describe(m))
    ns.stop()
    time.sleep(1.1)
    m, _ = W.query(wg.addr, "nx.%s" % Z, timeout=5)
    h.rcode(m, "NXDOMAIN", "NXDOMAIN cached: still NXDOMAIN with nsd stopped")
    soa = [r for r in (m.authority if m else []) if r.rdtype == dns.rdatatype.SOA]
    h.ok(soa, "cached NXDOMAIN carries the SOA (RFC 2308)", W.describe(m))
    h.ok(soa and soa[0].ttl < 60,
         "cached NXDOMAIN SOA TTL below the 60 s negative TTL, decayed",
         W.describe(m))
    m, _ = W.query(wg.addr, "NX.%s" % Z.upper(), timeout=5)
    h.rcode(m, "NXDOMAIN", "cached NXDOMAIN found case-insensitively")
    m, _ = W.query(wg.addr, "www.%s" % Z, "TXT", timeout=5)
    h.ok(m is not None and W.rcode_text(m) == "NOERROR" and not m.answer,
         "NODATA cached: still NOERROR/no data with nsd stopped", W.describe(m))


def ttl_clamps():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(cache={"max-ttl": 100,
                                                       "min-ttl": 30}))
    m, _ = W.query(wg.addr, "www.%s" % Z)
    t = W.answer_ttl(m)
    h.ok(t is not None and t <= 100,
         "max-ttl = 100 caps a 300 s TTL on the first (upstream) answer",
         "ttl: %s" % t)
    m, _ = W.query(wg.addr, "www.%s" % Z)
    t = W.answer_ttl(m)
    h.ok(t is not None and t <= 100, "max-ttl = 100 caps it on a cache hit",
         "ttl: %s" % t)
    m, _ = W.query(wg.addr, "short.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.2"}, "1 s TTL record answered")
    ns.stop()
    time.sleep(2.2)
    m, _ = W.query(wg.addr, "short.%s" % Z, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.2"},
         "min-ttl = 30 keeps a 1 s record cached past its own TTL",
         W.describe(m))
    t = W.answer_ttl(m)
    h.ok(t is not None and 1 <= t <= 30,
         "and the TTL served is within the clamp, not 0", "ttl: %s" % t)


def stale(serve_stale):
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(
        cache={"serve-stale": serve_stale, "stale-ttl": 7, "min-ttl": 0}))
    word = "on" if serve_stale else "off"
    m, _ = W.query(wg.addr, "short.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.2"}, "serve-stale %s: fresh answer" % word)
    t = W.answer_ttl(m)
    h.ok(t is not None and t <= 1, "serve-stale %s: TTL 1 with min-ttl 0" % word,
         "ttl: %s" % t)
    ns.stop()
    time.sleep(2.2)
    t0 = time.monotonic()
    m, _ = W.query(wg.addr, "short.%s" % Z, timeout=5)
    dt = time.monotonic() - t0
    if serve_stale:
        h.eq(W.answer_set(m, "A"), {"192.0.2.2"},
             "serve-stale on: the expired answer served when nsd is down",
             W.describe(m))
        t = W.answer_ttl(m)
        h.ok(t is not None and 1 <= t <= 7, "stale answer TTL is stale-ttl (7) or less",
             "ttl: %s" % t)
        h.ok(dt < 3.0, "stale answer within 3 s", "took %.2f s" % dt)
    else:
        h.rcode(m, "SERVFAIL", "serve-stale off: SERVFAIL once the TTL expired")
    h.ok(wg.alive(), "daemon still running")


def stale_client_timer():
    """RFC 8767 client response timer: an expired entry whose refresh is
    slow is served stale (EDE 3) after stale-client-timeout, later askers
    get it at once, and the exchange still refreshes the cache."""
    state = {"mode": "answer", "addr": "192.0.2.60", "ttl": 1}

    def handler(q, transport):
        if state["mode"] == "silent":
            return None
        r = dns.message.make_response(q)
        rrset = r.find_rrset(r.answer, q.question[0].name, dns.rdataclass.IN,
                             dns.rdatatype.A, create=True)
        rrset.add(dns.rdata.from_text("IN", "A", state["addr"]), state["ttl"])
        return r

    fu = W.FakeUpstream(h, handler)
    wg = h.wuguard([fu.addr], config=W.wg_config(
        upstream={"timeout": 1500, "retries": 1},
        cache={"serve-stale": True, "stale-ttl": 7, "min-ttl": 0,
               "stale-client-timeout": 400}))
    name = "slow.stale.test"
    q = W.make_query(name, edns=0)
    m, _ = W.ask(wg.addr, q)
    h.eq(W.answer_set(m, "A"), {"192.0.2.60"}, "fresh answer, TTL 1")
    time.sleep(1.6)
    state["mode"] = "silent"
    t0 = time.monotonic()
    m, _ = W.ask(wg.addr, W.make_query(name, edns=0), timeout=5)
    dt = time.monotonic() - t0
    h.eq(W.answer_set(m, "A"), {"192.0.2.60"},
         "upstream silent: the expired answer is served stale", W.describe(m))
    h.ok(0.3 <= dt < 1.2, "after the 400 ms client timer, not the 1.5 s try timeout",
         "took %.2f s" % dt)
    h.eq(W.ede_codes(m), [3], "with EDE 3 (Stale Answer)")
    h.eq([o.text for o in m.options if isinstance(o, dns.edns.EDEOption)],
         ["wuguard: upstream slow or unreachable, stale answer served"],
         "and an EXTRA-TEXT a help-desk reads")
    t = W.answer_ttl(m)
    h.ok(t is not None and 1 <= t <= 7, "and the stale-ttl", "ttl %s" % t)
    t0 = time.monotonic()
    m, _ = W.ask(wg.addr, W.make_query(name, edns=0), timeout=5)
    dt = time.monotonic() - t0
    h.ok(W.answer_set(m, "A") == {"192.0.2.60"} and dt < 0.3,
         "a second asker while the exchange runs gets the stale answer at once",
         "took %.2f s: %s" % (dt, W.describe(m)))
    # the exchange's second try (at 1.5 s) is answered: the cache refreshes
    state.update(mode="answer", addr="192.0.2.61", ttl=60)
    time.sleep(2.0)
    m, _ = W.ask(wg.addr, W.make_query(name, edns=0))
    h.eq(W.answer_set(m, "A"), {"192.0.2.61"},
         "the exchange went on and refreshed the cache", W.describe(m))
    asked = [x for x in fu.queries() if x[3] is not None and
             x[3].question[0].name == dns.name.from_text(name)]
    h.eq(len(asked), 3, "one first fetch, then one exchange of two tries upstream",
         "%d queries" % len(asked))


def reload_expires_cache(serve_stale):
    """SIGHUP: what the cache held was judged under the old lists, so a
    successful reload expires every entry: the next query asks again. The
    entries stay usable as stale answers."""
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(
        cache={"serve-stale": serve_stale, "stale-ttl": 7, "stale-client-timeout": 300}))
    m, _ = W.query(wg.addr, "www.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "answered and cached")
    ns.stop()
    m, _ = W.query(wg.addr, "www.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "from the cache with nsd stopped")
    size = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("configuration reloaded", size), "SIGHUP reloaded",
         wg.log_since(size)[-300:])
    q = W.make_query("www.%s" % Z, edns=0)
    m, _ = W.ask(wg.addr, q, timeout=5)
    if serve_stale:
        h.ok(W.answer_set(m, "A") == {"192.0.2.1"} and W.ede_codes(m) == [3] and
             W.answer_ttl(m) <= 7,
             "after the reload the entry is expired: nsd down, so it comes stale "
             "(EDE 3, stale-ttl)", W.describe(m))
    else:
        h.rcode(m, "SERVFAIL", "after the reload the entry is expired: nsd down, "
                "serve-stale off: SERVFAIL")


def lru_bound():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(cache={"size": 3}))
    names = ["n%d.many.%s" % (i, Z) for i in range(6)]
    for n in names:
        m, _ = W.query(wg.addr, n)
        h.eq(W.answer_set(m, "A"), {"192.0.2.7"}, "%s answered" % n.split(".")[0])
    ns.stop()
    m, _ = W.query(wg.addr, names[-1], timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.7"},
         "size = 3: the newest name is still cached", W.describe(m))
    m, _ = W.query(wg.addr, names[0], timeout=5)
    h.rcode(m, "SERVFAIL", "size = 3: the oldest of six names was evicted")


def servfail_cached():
    def handler(q, transport):
        r = dns.message.make_response(q)
        r.set_rcode(dns.rcode.SERVFAIL)
        return r

    for ttl, want in ((5, 1), (0, 2)):
        fu = W.FakeUpstream(h, handler)
        wg = h.wuguard([fu.addr], name="wuguard-sf%d" % ttl,
                       config=W.wg_config(cache={"servfail-ttl": ttl}))
        for _ in range(2):
            m, _ = W.query(wg.addr, "sf.fake.test", timeout=5)
            h.rcode(m, "SERVFAIL", "servfail-ttl = %d: SERVFAIL relayed" % ttl)
        up = [x for x in fu.queries() if x[3] is not None and
              x[3].question[0].name == dns.name.from_text("sf.fake.test")]
        h.eq(len(up), want, "servfail-ttl = %d: %d upstream exchange(s) for two "
             "queries" % (ttl, want))
        wg.stop()


def inflight_shared():
    fu = W.FakeUpstream(h, delay=0.5)
    wg = h.wuguard([fu.addr], config=W.wg_config(upstream={"timeout": 2000}))
    n = 5
    results = [None] * n

    def one(i):
        q = W.make_query("shared.fake.test", qid=0x6000 + i)
        m, wire = W.ask(wg.addr, q, timeout=5)
        results[i] = (W.reply_id(wire), W.answer_set(m, "A"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    h.eq(results, [(0x6000 + i, {"192.0.2.53"}) for i in range(n)],
         "five identical concurrent queries each answered with their own ID")
    up = [x for x in fu.queries() if x[3] is not None and
          x[3].question[0].name == dns.name.from_text("shared.fake.test")]
    h.eq(len(up), 1, "identical in-flight queries shared one upstream exchange",
         "upstream saw %d queries" % len(up))


h.case("answer cached after the authority stops, TTL decays", cached_after_stop)
h.case("NXDOMAIN and NODATA cached", negative_cached)
h.case("min-ttl and max-ttl clamps", ttl_clamps)
h.case("serve-stale on", stale, True)
h.case("serve-stale off", stale, False)
h.case("serve-stale client response timer", stale_client_timer)
h.case("SIGHUP expires the cache (serve-stale on)", reload_expires_cache, True)
h.case("SIGHUP expires the cache (serve-stale off)", reload_expires_cache, False)
h.case("cache size bound (LRU eviction)", lru_bound)
h.case("SERVFAIL cached only for servfail-ttl", servfail_cached)
h.case("identical in-flight queries share one upstream exchange", inflight_shared)
h.done()
