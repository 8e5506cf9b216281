#!/usr/bin/python3
"""Forwarding through the real daemon: UDP and TCP answers from nsd, what is
preserved for the client (ID, RD, question case), EDNS towards the upstream,
TC fallback, random upstream IDs and ports, failover, SERVFAIL when every
upstream is down, REFUSED for a denied source (issue 2)."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402
from wgtest import dns  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN


def udp_and_tcp():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    m, _ = W.query(wg.addr, "www.%s" % Z)
    h.rcode(m, "NOERROR", "UDP: NOERROR for www A")
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "UDP: the A record from nsd")
    h.ok(m is not None and m.flags & dns.flags.QR and m.flags & dns.flags.RA,
         "UDP: QR and RA set", W.describe(m))
    m, _ = W.query(wg.addr, "www.%s" % Z, "AAAA", tcp=True)
    h.rcode(m, "NOERROR", "TCP: NOERROR for www AAAA")
    h.eq(W.answer_set(m, "AAAA"), {"2001:db8::1"}, "TCP: the AAAA record from nsd")
    m, _ = W.query(wg.addr, "tcpname.%s" % Z, tcp=True)
    h.eq(W.answer_set(m, "A"), {"192.0.2.5"}, "TCP: a name not yet cached",
         W.describe(m))

    # Pipelined TCP: three queries on one connection, three answers, IDs kept.
    wire = b""
    ids = [0x1111, 0x2222, 0x3333]
    for qid, name in zip(ids, ["www", "other", "mixed"]):
        q = W.make_query("%s.%s" % (name, Z), qid=qid).to_wire()
        wire += W.struct.pack("!H", len(q)) + q
    s = W.socket.create_connection(wg.addr, timeout=3)
    try:
        s.sendall(wire)
        got = []
        deadline = time.monotonic() + 3
        for _ in ids:
            n = W.struct.unpack("!H", W._recv_exact(s, 2, deadline))[0]
            got.append(W.reply_id(W._recv_exact(s, n, deadline)))
    except Exception as e:
        got = ["error: %s" % e]
    finally:
        s.close()
    h.eq(sorted(str(x) for x in got), sorted(str(x) for x in ids),
         "TCP: three pipelined queries on one connection answered with their IDs")

    m, _ = W.query(wg.addr, "nx.%s" % Z)
    h.rcode(m, "NXDOMAIN", "UDP: NXDOMAIN passed through")


def ipv6():
    ns = h.nsd({Z: W.ZONE})
    port6 = W.free_port()
    wg = h.wuguard([ns.addr], config=W.wg_config(),
                   args=["--listen", "[::1]:%d" % port6])
    m, _ = W.query(wg.addr, "www.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "IPv4 listener answers",
         W.describe(m))
    m, _ = W.query(("::1", port6), "www.%s" % Z, "AAAA")
    h.eq(W.answer_set(m, "AAAA"), {"2001:db8::1"}, "UDP over [::1] answers",
         W.describe(m))
    m, _ = W.query(("::1", port6), "other.%s" % Z, tcp=True)
    h.eq(W.answer_set(m, "A"), {"192.0.2.4"}, "TCP over [::1] answers",
         W.describe(m))


def preserved():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    q = W.make_query("MiXeD.ExAmPlE.TeSt.", qid=0xBEEF)
    m, wire = W.ask(wg.addr, q)
    h.eq(W.reply_id(wire), 0xBEEF, "client ID preserved")
    h.eq(m.question[0].name.to_text() if m else None, "MiXeD.ExAmPlE.TeSt.",
         "question case preserved (0x20-style mixed case)")
    h.eq(W.answer_set(m, "A"), {"192.0.2.3"}, "mixed-case query answered")
    # The same name again, from the cache, in another case.
    q = W.make_query("mixed.EXAMPLE.test.", qid=0x0102)
    m, wire = W.ask(wg.addr, q)
    h.eq(W.reply_id(wire), 0x0102, "client ID preserved on a cache hit")
    h.eq(m.question[0].name.to_text() if m else None, "mixed.EXAMPLE.test.",
         "question case preserved on a cache hit")
    # The reply's question section is byte for byte the client's.
    qwire = q.to_wire()
    qlen = len(W.wire_name("mixed.EXAMPLE.test")) + 4
    h.eq(wire[12:12 + qlen] if wire else None, qwire[12:12 + qlen],
         "reply question bytes equal the query's")
    for rd in (True, False):
        q = W.make_query("www.%s" % Z, qid=0x4242, rd=rd)
        m, _ = W.ask(wg.addr, q)
        h.eq(bool(m.flags & dns.flags.RD) if m else None, rd,
             "RD=%d preserved" % rd, W.describe(m))


def edns_to_upstream():
    fu = W.FakeUpstream(h)
    wg = h.wuguard([fu.addr], config=W.wg_config())
    n0 = len(fu.queries())
    m, _ = W.query(wg.addr, "do1.fake.test", do=True)
    h.rcode(m, "NOERROR", "DO query answered")
    h.ok(m is not None and m.edns >= 0, "EDNS client gets an OPT record back",
         W.describe(m))
    up = [x for x in fu.queries()[n0:] if x[3] is not None and
          x[3].question[0].name == dns.name.from_text("do1.fake.test")]
    h.ok(up, "the upstream saw the query")
    if up:
        uq = up[-1][3]
        h.ok(uq.edns >= 0, "upstream query carries EDNS0", uq.to_text())
        h.eq(uq.payload, 1232, "upstream query advertises 1232 bytes")
        h.ok(uq.ednsflags & dns.flags.DO, "DO bit passed to the upstream",
             uq.to_text())
    n0 = len(fu.queries())
    m, _ = W.query(wg.addr, "do0.fake.test")
    up = [x for x in fu.queries()[n0:] if x[3] is not None and
          x[3].question[0].name == dns.name.from_text("do0.fake.test")]
    if up:
        uq = up[-1][3]
        h.ok(not (uq.ednsflags & dns.flags.DO),
             "no DO bit upstream when the client did not set it", uq.to_text())
        h.ok(uq.edns >= 0 and uq.payload == 1232,
             "upstream query advertises EDNS 1232 for a non-EDNS client",
             uq.to_text())
    else:
        h.ok(False, "the upstream saw the non-DO query")
    h.ok(m is not None and m.edns < 0, "non-EDNS client gets no OPT record",
         W.describe(m))


def random_ids_and_ports():
    fu = W.FakeUpstream(h)
    wg = h.wuguard([fu.addr], config=W.wg_config())
    n0 = len(fu.queries())
    names = ["r%d.fake.test" % i for i in range(8)]
    for n in names:
        W.query(wg.addr, n, qid=0x1234)
    up = [x for x in fu.queries()[n0:] if x[0] == "udp" and x[3] is not None and
          x[3].question[0].name.to_text().rstrip(".").lower() in names]  # 0x20
    ports = {x[1][1] for x in up}
    ids = {x[3].id for x in up}
    h.eq(len(up), 8, "eight upstream queries for eight names")
    h.ok(len(ports) >= 7, "upstream source ports differ per query",
         "ports: %s" % sorted(ports))
    h.ok(len(ids) >= 7 and 0x1234 not in ids,
         "upstream IDs random, not the client's", "ids: %s" % sorted(ids))


def tc_fallback():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    full = len(W.answer_set(W.query(ns.addr, "big.%s" % Z, "TXT", tcp=True)[0]))
    h.ok(full >= 10, "the zone's big TXT RRset has %d records" % full)

    # UDP client without EDNS: 512 bytes at most, so TC=1.
    q = W.make_query("big.%s" % Z, "TXT", qid=0x7777)
    m, wire = W.ask(wg.addr, q)
    h.ok(m is not None and m.flags & dns.flags.TC,
         "UDP client without EDNS: TC=1 for the large answer", W.describe(m))
    h.ok(wire is not None and len(wire) <= 512,
         "UDP reply without EDNS fits 512 bytes",
         "length: %s" % (len(wire) if wire else None))
    h.eq(W.reply_id(wire), 0x7777, "TC reply keeps the client ID")
    # UDP client with EDNS 1232: the answer is bigger, so TC=1 too.
    m, wire = W.query(wg.addr, "big.%s" % Z, "TXT", edns=0, payload=1232)
    h.ok(m is not None and m.flags & dns.flags.TC and len(wire) <= 1232,
         "UDP client with EDNS 1232: TC=1 and at most 1232 bytes", W.describe(m))
    # TCP client: the whole RRset, which wuguard can only have fetched upstream
    # over TCP (nsd truncates at 1232 over UDP).
    m, _ = W.query(wg.addr, "big.%s" % Z, "TXT", tcp=True)
    h.eq(len(W.answer_set(m, "TXT")), full, "TCP client gets the whole RRset",
         W.describe(m))
    # A fresh big name: UDP first (TC to the client), then nsd goes away, and
    # TCP must be served the whole RRset from what wuguard fetched over TCP.
    m, _ = W.query(wg.addr, "big2.%s" % Z, "TXT")
    h.ok(m is not None and m.flags & dns.flags.TC, "big2 over UDP: TC=1",
         W.describe(m))
    ns.stop()
    m, _ = W.query(wg.addr, "big2.%s" % Z, "TXT", tcp=True)
    h.eq(len(W.answer_set(m, "TXT")), full,
         "after a UDP TC reply, the whole RRset was cached from a TCP retry upstream",
         W.describe(m))


def tc_retry_seen_upstream():
    def handler(q, transport):
        r = dns.message.make_response(q)
        if transport == "udp":
            r.flags |= dns.flags.TC
            return r
        rrset = r.find_rrset(r.answer, q.question[0].name, dns.rdataclass.IN,
                             dns.rdatatype.TXT, create=True)
        for i in range(12):
            rrset.add(dns.rdata.from_text("IN", "TXT", '"%02d%s"' % (i, "y" * 198)), 60)
        return r

    fu = W.FakeUpstream(h, handler)
    wg = h.wuguard([fu.addr], config=W.wg_config())
    m, _ = W.query(wg.addr, "tc.fake.test", "TXT", tcp=True)
    kinds = [x[0] for x in fu.queries() if x[3] is not None and
             x[3].question[0].name == dns.name.from_text("tc.fake.test")]
    h.ok("udp" in kinds and "tcp" in kinds,
         "TC=1 from upstream over UDP -> the same query retried over TCP",
         "upstream saw: %s" % kinds)
    h.eq(len(W.answer_set(m, "TXT")), 12, "TCP retry's answer reaches the client",
         W.describe(m))


def upstream_down():
    dead = W.dead_addr()
    wg = h.wuguard([dead], config=W.wg_config())
    t0 = time.monotonic()
    m, _ = W.query(wg.addr, "www.%s" % Z, timeout=5)
    dt = time.monotonic() - t0
    h.rcode(m, "SERVFAIL", "only upstream a closed port: SERVFAIL")
    h.ok(dt < 3.0, "SERVFAIL within 3 s (timeout 300 ms, 1 retry)", "took %.2f s" % dt)

    bh = W.Blackhole(h)
    wg2 = h.wuguard([bh.addr], config=W.wg_config(), name="wuguard-bh")
    t0 = time.monotonic()
    m, _ = W.query(wg2.addr, "www.%s" % Z, timeout=5)
    dt = time.monotonic() - t0
    h.rcode(m, "SERVFAIL", "only upstream never answers: SERVFAIL")
    h.ok(dt < 3.0, "SERVFAIL within 3 s after upstream timeouts", "took %.2f s" % dt)
    h.ok(wg.alive() and wg2.alive(), "daemons still running")


def failover():
    ns = h.nsd({Z: W.ZONE})
    dead = W.dead_addr()
    wg = h.wuguard([dead, ns.addr], config=W.wg_config(upstream={"retries": 2}))
    for name, want in (("www", "192.0.2.1"), ("other", "192.0.2.4"),
                       ("mixed", "192.0.2.3")):
        m, _ = W.query(wg.addr, "%s.%s" % (name, Z), timeout=5)
        h.eq(W.answer_set(m, "A"), {want},
             "first upstream a closed port: %s answered by the second" % name,
             W.describe(m))
    bh = W.Blackhole(h)
    wg2 = h.wuguard([bh.addr, ns.addr], name="wuguard-bh",
                    config=W.wg_config(upstream={"retries": 2}))
    for name, want in (("www", "192.0.2.1"), ("other", "192.0.2.4")):
        m, _ = W.query(wg2.addr, "%s.%s" % (name, Z), timeout=5)
        h.eq(W.answer_set(m, "A"), {want},
             "first upstream never answers: %s answered by the second" % name,
             W.describe(m))


def send_refused_failover():
    """An upstream the kernel refuses to send to (a broadcast address without
    SO_BROADCAST: EACCES, nothing leaves the machine) is skipped at once,
    not after the 2 s try timeout: with only such upstreams, SERVFAIL comes
    at once."""
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([("255.255.255.255", 53), ns.addr],
                   config=W.wg_config(upstream={"timeout": 2000, "retries": 2}))
    # (the start-up probe already made the second upstream the preferred
    # one, so only the answer is checked here; the timing below)
    m, _ = W.query(wg.addr, "www.%s" % Z, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "answered by the second upstream",
         W.describe(m))
    only = h.wuguard([("255.255.255.255", 53)], name="wuguard-bcast",
                     config=W.wg_config(upstream={"timeout": 2000, "retries": 2}))
    t0 = time.monotonic()
    m, _ = W.query(only.addr, "www.%s" % Z, timeout=8)
    dt = time.monotonic() - t0
    h.rcode(m, "SERVFAIL", "the only upstream refused locally: SERVFAIL")
    h.ok(dt < 0.5, "at once (three tries, none could be sent)", "took %.2f s" % dt)


def mixed_family_failover():
    """An IPv6 upstream that never answers, then an IPv4 one: the exchange
    opens a socket of each family as its tries need them."""
    ns = h.nsd({Z: W.ZONE})
    bh6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    bh6.bind(("::1", 0))
    bh6.setblocking(False)
    try:
        wg = h.wuguard([bh6.getsockname()[:2], ns.addr],
                       config=W.wg_config(upstream={"retries": 2}))
        m, _ = W.query(wg.addr, "www.%s" % Z, timeout=5)
        seen = []
        while True:
            try:
                seen.append(bh6.recvfrom(512))
            except BlockingIOError:
                break
        h.ok(len(seen) >= 1 and seen[0][1][0] == "::1",
             "the first try went to the IPv6 upstream from an IPv6 socket",
             "IPv6 upstream saw %d queries" % len(seen))
        h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
             "the retry reached the IPv4 upstream and its answer the client",
             W.describe(m))
    finally:
        bh6.close()


def acl_refused():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(acl={"deny": "127.0.0.1/32"}))
    q = W.make_query("www.%s" % Z, qid=0x5151)
    m, wire = W.ask(wg.addr, q)
    h.rcode(m, "REFUSED", "deny = 127.0.0.1/32: REFUSED over UDP")
    h.eq(W.reply_id(wire), 0x5151, "REFUSED keeps the client ID")
    h.eq(W.answer_set(m), set(), "REFUSED carries no answer")
    m, _ = W.query(wg.addr, "www.%s" % Z, tcp=True)
    h.ok(m is None or W.rcode_text(m) == "REFUSED",
         "deny = 127.0.0.1/32: REFUSED (or closed) over TCP", W.describe(m))

    wg2 = h.wuguard([ns.addr], name="wuguard-allow",
                    config=W.wg_config(acl={"allow": "10.0.0.0/8"}))
    m, _ = W.query(wg2.addr, "www.%s" % Z)
    h.rcode(m, "REFUSED", "allow = 10.0.0.0/8 only: 127.0.0.1 REFUSED")

    wg3 = h.wuguard([ns.addr], name="wuguard-allowlo",
                    config=W.wg_config(acl={"allow": "127.0.0.0/8",
                                            "deny": "10.0.0.0/8"}))
    m, _ = W.query(wg3.addr, "www.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
         "allow = 127.0.0.0/8: 127.0.0.1 answered", W.describe(m))


h.case("UDP and TCP answers", udp_and_tcp)
h.case("IPv6 listener", ipv6)
h.case("ID, RD and question case preserved", preserved)
h.case("EDNS and the DO bit towards the upstream", edns_to_upstream)
h.case("random upstream IDs and source ports", random_ids_and_ports)
h.case("TC fallback on a large answer", tc_fallback)
h.case("TC from upstream retried over TCP", tc_retry_seen_upstream)
h.case("upstream down: SERVFAIL", upstream_down)
h.case("failover to a second upstream", failover)
h.case("failover from an IPv6 to an IPv4 upstream", mixed_family_failover)
h.case("an upstream refused by the kernel is skipped at once", send_refused_failover)
h.case("ACL: REFUSED for a denied source", acl_refused)
h.done()
