#!/usr/bin/python3
"""[upstream] client-subnet (issue 16, part 5): the client's address goes to
the local upstream as EDNS Client Subnet (RFC 7871, /32), never to the public
reference; answers are cached per client unless the upstream says scope 0;
two clients' queries are never merged into one exchange; an ECS the client
sent is not passed on. The per-client upstream is a scripted dnspython
server that answers by the ECS address (the honest double for a Pi-hole's
per-group lists, which answer per client without returning ECS); a real
unbound behind shows that ECS queries are answered as any others."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402
from wgtest import dns  # noqa: E402
import dns.edns  # noqa: E402

h = W.Harness()
DOMAINS = os.path.join(W.SRCDIR, "db", "wu-domains.list")
CLIENT_A = "127.0.0.2"
CLIENT_B = "127.0.0.3"


def ask_from(src, wg, name, rdtype="A", options=(), timeout=4.0, to=None):
    """Query wg (or the address to) from the loopback address src (the
    default ACL allows 127/8 and ::1)."""
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232,
                               options=list(options))
    s = socket.socket(socket.AF_INET6 if ":" in src else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        s.sendto(q.to_wire(), to or wg.addr)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            s.settimeout(left)
            try:
                data, peer = s.recvfrom(65535)
            except socket.timeout:
                return None
            if len(data) >= 2 and data[:2] == q.to_wire()[:2]:
                return dns.message.from_wire(data, ignore_trailing=True)
    finally:
        s.close()


def ecs_of(m):
    """The ECS options of a message as (address, source, scope) tuples."""
    if m is None:
        return []
    return [(o.address, o.srclen, o.scopelen) for o in m.options
            if isinstance(o, dns.edns.ECSOption)]


def seen(fake, name):
    """The queries fake received for name, as parsed messages."""
    want = dns.name.from_text(name)
    return [x[3] for x in fake.queries()
            if x[3] is not None and x[3].question and x[3].question[0].name == want]


def last_octet(addr):
    """The last octet of an IPv4 address; 61 for any IPv6 one."""
    return int(addr.split(".")[-1]) if "." in addr else 61


def per_client_handler(q, transport):
    """Answers 198.51.100.<last octet of the ECS address>; how it reports
    the scope depends on the name:
      silent.*  no ECS in the reply (what a Pi-hole does)
      scoped.*  ECS echoed with scope 32
      shared.*  ECS echoed with scope 0 (valid for every client)
      slow.*    as silent, after 0.6 s (two clients in flight at once)
    Without ECS in the query: 203.0.113.1."""
    name = q.question[0].name.to_text().lower()
    ecs = [o for o in q.options if isinstance(o, dns.edns.ECSOption)]
    r = dns.message.make_response(q)
    r.flags |= dns.flags.RA
    addr = "203.0.113.1"
    if ecs:
        addr = "198.51.100.%d" % last_octet(ecs[0].address)
    if name.startswith("slow."):
        time.sleep(0.6)
    rrset = r.find_rrset(r.answer, q.question[0].name, dns.rdataclass.IN,
                         dns.rdatatype.A, create=True)
    rrset.add(dns.rdata.from_text("IN", "A", addr), 300)
    opts = []
    if ecs and name.startswith("scoped."):
        opts = [dns.edns.ECSOption(ecs[0].address, ecs[0].srclen, 32)]
    elif ecs and name.startswith("shared."):
        opts = [dns.edns.ECSOption(ecs[0].address, ecs[0].srclen, 0)]
    r.use_edns(0, payload=1232, options=opts)
    return r


def off_by_default():
    fake = W.FakeUpstream(h, per_client_handler)
    wg = h.wuguard([fake.addr], name="wuguard-ecs-off", config=W.wg_config())
    m = ask_from(CLIENT_A, wg, "silent.off.test")
    h.eq(W.answer_set(m, "A"), {"203.0.113.1"}, "ECS off: answered", W.describe(m))
    qs = seen(fake, "silent.off.test")
    h.eq([ecs_of(x) for x in qs], [[]], "ECS off (the default): no ECS option upstream")
    m = ask_from(CLIENT_B, wg, "silent.off.test")
    h.eq(W.answer_set(m, "A"), {"203.0.113.1"}, "ECS off: another client gets the cache hit")
    h.eq(len(seen(fake, "silent.off.test")), 1, "ECS off: ... without asking again")


def per_client():
    fake = W.FakeUpstream(h, per_client_handler)
    wg = h.wuguard([fake.addr], name="wuguard-ecs",
                   config=W.wg_config(upstream={"client-subnet": True}))
    # what is sent: the client's address, /32, scope 0
    m = ask_from(CLIENT_A, wg, "silent.ecs.test")
    h.eq(W.answer_set(m, "A"), {"198.51.100.2"}, "client A gets its own answer",
         W.describe(m))
    qs = seen(fake, "silent.ecs.test")
    h.eq([ecs_of(x) for x in qs], [[(CLIENT_A, 32, 0)]],
         "the local upstream sees ECS 127.0.0.2/32, scope 0")
    h.eq(ecs_of(m), [], "the client's reply carries no ECS option")

    for name, how in (("silent.ecs.test", "no ECS in the reply"),
                      ("scoped.ecs.test", "scope 32")):
        if name != "silent.ecs.test":
            m = ask_from(CLIENT_A, wg, name)
            h.eq(W.answer_set(m, "A"), {"198.51.100.2"}, "%s: client A's answer" % how)
        m = ask_from(CLIENT_B, wg, name)
        h.eq(W.answer_set(m, "A"), {"198.51.100.3"},
             "%s: client B is not served A's cached answer" % how, W.describe(m))
        h.eq([ecs_of(x) for x in seen(fake, name)], [[(CLIENT_A, 32, 0)], [(CLIENT_B, 32, 0)]],
             "%s: B was asked for with B's address" % how)
        for src, want in ((CLIENT_A, "198.51.100.2"), (CLIENT_B, "198.51.100.3")):
            m = ask_from(src, wg, name)
            h.eq(W.answer_set(m, "A"), {want}, "%s: %s again: its own answer" % (how, src),
                 W.describe(m))
        h.eq(len(seen(fake, name)), 2, "%s: ... from the cache, per client" % how)

    # scope 0: valid for every client, cached once
    m = ask_from(CLIENT_A, wg, "shared.ecs.test")
    h.eq(W.answer_set(m, "A"), {"198.51.100.2"}, "scope 0: client A's answer")
    m = ask_from(CLIENT_B, wg, "shared.ecs.test")
    h.eq(W.answer_set(m, "A"), {"198.51.100.2"},
         "scope 0: client B gets the shared cache entry", W.describe(m))
    h.eq(len(seen(fake, "shared.ecs.test")), 1, "scope 0: the upstream was asked once")

    # an ECS the client sent is not passed on: the upstream learns the
    # client's real address (no client can borrow another's policy), and
    # the client is answered as if it had sent none (RFC 7871 7.1.3 lets a
    # resolver ignore it)
    forged = dns.edns.ECSOption("192.0.2.99", 32, 0)
    m = ask_from(CLIENT_A, wg, "silent.forged.test", options=[forged])
    h.eq(W.answer_set(m, "A"), {"198.51.100.2"},
         "a client's own ECS (192.0.2.99) is not forwarded", W.describe(m))
    h.eq([ecs_of(x) for x in seen(fake, "silent.forged.test")], [[(CLIENT_A, 32, 0)]],
         "... the upstream sees the client's real address only")
    h.eq(ecs_of(m), [], "... and the reply has no ECS option")

    # a client's SOURCE PREFIX-LENGTH bounds what goes out (RFC 7871
    # 7.1.1: the shorter of the two): /24 sends 127.0.0.0/24 of its real
    # address, /0 (the client's opt-out) sends no address bits at all
    for src, name, want in ((24, "silent.p24.test", ("127.0.0.0", 24, 0)),
                            (0, "silent.p0.test", ("0.0.0.0", 0, 0))):
        opt = dns.edns.ECSOption("192.0.2.0", src, 0)
        m = ask_from(CLIENT_A, wg, name, options=[opt])
        h.ok(m is not None and W.rcode_text(m) == "NOERROR",
             "client ECS /%d: answered" % src, W.describe(m))
        h.eq([ecs_of(x) for x in seen(fake, name)], [[want]],
             "client ECS /%d: the upstream gets %s/%d" % (src, want[0], want[1]))


def ipv6_client():
    """An IPv6 client's whole address goes out as /128."""
    fake = W.FakeUpstream(h, per_client_handler)
    port6 = W.free_port()
    wg = h.wuguard([fake.addr], name="wuguard-ecs-v6",
                   config=W.wg_config(upstream={"client-subnet": True}),
                   args=["--listen", "%s:%d" % (W.LOOPBACK, W.free_port()),
                         "--listen", "[::1]:%d" % port6])
    m = ask_from("::1", wg, "silent.v6.test", to=("::1", port6))
    h.eq(W.answer_set(m, "A"), {"198.51.100.61"}, "IPv6 client answered", W.describe(m))
    h.eq([ecs_of(x) for x in seen(fake, "silent.v6.test")], [[("::1", 128, 0)]],
         "IPv6 client: the local upstream sees ECS ::1/128")


def no_merge_in_flight():
    fake = W.FakeUpstream(h, per_client_handler)
    results = {}

    def both(wg, name):
        def one(src):
            results[(name, src)] = ask_from(src, wg, name)
        ts = [threading.Thread(target=one, args=(s,)) for s in (CLIENT_A, CLIENT_B)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10)

    wg = h.wuguard([fake.addr], name="wuguard-ecs-inflight",
                   config=W.wg_config(upstream={"client-subnet": True, "timeout": 2000}))
    both(wg, "slow.ecs.test")
    for src, want in ((CLIENT_A, "198.51.100.2"), (CLIENT_B, "198.51.100.3")):
        m = results.get(("slow.ecs.test", src))
        h.eq(W.answer_set(m, "A"), {want},
             "two clients at once: %s gets its own answer" % src, W.describe(m))
    h.eq(sorted(ecs_of(x)[0][0] for x in seen(fake, "slow.ecs.test") if ecs_of(x)),
         [CLIENT_A, CLIENT_B], "two clients at once: two exchanges, one per client")
    # the contrast: without ECS the two are one exchange (the shared case)
    wg2 = h.wuguard([fake.addr], name="wuguard-ecs-inflight-off",
                    config=W.wg_config(upstream={"timeout": 2000}))
    both(wg2, "slow.off.test")
    h.eq(len(seen(fake, "slow.off.test")), 1, "ECS off: the two clients share one exchange")


def public_never_sees_ecs():
    """A guarded WU name: the local side gets the ECS, the public side not."""
    def public_handler(q, transport):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        rrset = r.find_rrset(r.answer, q.question[0].name, dns.rdataclass.IN,
                             dns.rdatatype.A, create=True)
        rrset.add(dns.rdata.from_text("IN", "A", "192.0.2.20"), 300)
        r.use_edns(0, payload=1232)
        return r

    def local_handler(q, transport):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        rrset = r.find_rrset(r.answer, q.question[0].name, dns.rdataclass.IN,
                             dns.rdatatype.A, create=True)
        rrset.add(dns.rdata.from_text("IN", "A", "0.0.0.0"), 300)  # a sinkhole
        r.use_edns(0, payload=1232)
        return r

    local = W.FakeUpstream(h, local_handler)
    public = W.FakeUpstream(h, public_handler)
    wg = h.wuguard([local.addr], name="wuguard-ecs-guard", public=public.addr,
                   config=W.wg_config(upstream={"client-subnet": True},
                                      guard={"public-wait": 1500}),
                   args=["--mode", "repair", "--domains", DOMAINS])
    name = "ctldl.windowsupdate.com"
    m = ask_from(CLIENT_A, wg, name)
    h.eq(W.answer_set(m, "A"), {"192.0.2.20"}, "guarded name: the sinkhole is repaired",
         W.describe(m))
    h.eq([ecs_of(x) for x in seen(local, name + ".")], [[(CLIENT_A, 32, 0)]],
         "guarded name: the local side was asked with ECS")
    pq = seen(public, name + ".")
    h.ok(len(pq) >= 1 and all(ecs_of(x) == [] for x in pq),
         "guarded name: the public reference never gets ECS",
         [ecs_of(x) for x in pq])
    m = ask_from(CLIENT_B, wg, name)
    h.eq(W.answer_set(m, "A"), {"192.0.2.20"}, "guarded name: client B repaired too",
         W.describe(m))
    h.eq(sorted(ecs_of(x)[0][0] for x in seen(local, name + ".") if ecs_of(x)),
         [CLIENT_A, CLIENT_B], "guarded name: B's local answer was asked for B")


def real_unbound():
    """A real resolver without the ECS module answers ECS queries as any:
    the option is no obstacle (unbound ignores it)."""
    ns = h.nsd({W.ZONE_ORIGIN: W.ZONE})
    ub = h.unbound(ns.addr, name="unbound-plain")
    wg = h.wuguard([ub.addr], name="wuguard-ecs-unbound",
                   config=W.wg_config(upstream={"client-subnet": True}))
    for src in (CLIENT_A, CLIENT_B):
        m = ask_from(src, wg, "www.%s" % W.ZONE_ORIGIN)
        h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
             "unbound behind, ECS on: %s answered normally" % src, W.describe(m))


h.case("ECS is off by default", off_by_default)
h.case("ECS on: what is sent and what is cached per client", per_client)
h.case("ECS on: an IPv6 client", ipv6_client)
h.case("ECS on: no merging of two clients in flight", no_merge_in_flight)
h.case("ECS on: the public reference never sees it", public_never_sees_ecs)
h.case("ECS on: a real unbound upstream", real_unbound)
h.done()
