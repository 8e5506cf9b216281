#!/usr/bin/python3
"""Protocol conformance against real servers (issue 12, items 3, 4, 6-9):
the reply carries the query's CD bit (RFC 4035 3.1.6); error replies carry
an OPT when the query had one and NOTIMP echoes no flag (RFC 6891 7,
genreport "opcode"/"opcodeflg"); CHAOS identity queries are answered
locally, class CH is never forwarded; a 512-byte client gets the answer with
the additional section dropped rather than TC=1 (RFC 2181 9); RD=0 queries
are answered from the cache only; records of another class than the
question's are dropped before caching and comparing."""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402
from wgtest import dns  # noqa: E402
import dns.exception  # noqa: E402
import dns.rdataclass  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN

F_QR, F_AA, F_TC, F_RD, F_RA, F_Z, F_AD, F_CD = (
    0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010)
OPT = b"\0\0\x29\x04\xd0\0\0\0\0\0\0"  # root, OPT, 1232, no flags, no options


def skip_name(data, o):
    while True:
        l = data[o]
        if l & 0xC0 == 0xC0:
            return o + 2
        o += 1 + l
        if l == 0:
            return o


def records(data):
    """(header flags, counts, [(section, type, class, rdata bytes)]) of a reply,
    read by hand: dnspython refuses unknown opcodes."""
    flags = struct.unpack("!H", data[2:4])[0]
    qd, an, ns, ar = struct.unpack("!HHHH", data[4:12])
    o = 12
    for _ in range(qd):
        o = skip_name(data, o) + 4
    out = []
    for i in range(an + ns + ar):
        o = skip_name(data, o)
        t, c, _ttl, rdlen = struct.unpack("!HHIH", data[o:o + 10])
        sec = "an" if i < an else "ns" if i < an + ns else "ar"
        out.append((sec, t, c, data[o + 10:o + 10 + rdlen]))
        o += 10 + rdlen
    if o != len(data):
        raise ValueError("%d bytes after the last record" % (len(data) - o))
    return flags, (qd, an, ns, ar), out


def n_opt(recs):
    return sum(1 for sec, t, _c, _r in recs if sec == "ar" and t == 41)


# ---------------------------------------------------------------------------
# item 6: the CD bit

def cd_flip_handler(q, transport):
    """A bad upstream: echoes the opposite of the query's CD bit."""
    r = W.FakeUpstream.default_handler(q, transport)
    if q.flags & dns.flags.CD:
        r.flags &= ~dns.flags.CD
    else:
        r.flags |= dns.flags.CD
    return r


def validating_handler(q, transport):
    """Answers like a validating resolver for a bogus name: SERVFAIL unless
    the query says CD=1, then the data."""
    if q.flags & dns.flags.CD:
        return W.FakeUpstream.default_handler(q, transport)
    r = dns.message.make_response(q)
    r.set_rcode(dns.rcode.SERVFAIL)
    return r


def cd_bit():
    ns = h.nsd({Z: W.ZONE})
    ub = h.unbound(ns.addr)
    wg = h.wuguard([ub.addr], config=W.wg_config())
    for cd in (True, False):
        for attempt in ("miss", "hit"):
            q = W.make_query("www.%s" % Z, edns=0)
            if cd:
                q.flags |= dns.flags.CD
            m, _ = W.ask(wg.addr, q)
            h.ok(m is not None and bool(m.flags & dns.flags.CD) == cd,
                 "unbound upstream, CD=%d query (%s): reply CD=%d" % (cd, attempt, cd),
                 W.describe(m))

    fake = W.FakeUpstream(h, cd_flip_handler)
    wg2 = h.wuguard([fake.addr], config=W.wg_config())
    for cd in (False, True):
        for attempt in ("miss", "hit"):
            q = W.make_query("cd%d.%s" % (cd, Z))
            if cd:
                q.flags |= dns.flags.CD
            m, _ = W.ask(wg2.addr, q)
            h.ok(m is not None and bool(m.flags & dns.flags.CD) == cd and
                 W.answer_set(m, "A") == {"192.0.2.53"},
                 "upstream echoing the wrong CD, CD=%d query (%s): reply CD=%d" % (
                     cd, attempt, cd), W.describe(m))

    # CD=1 and CD=0 are cached apart: the data a CD=1 client got past a
    # failed validation is never served to a CD=0 client, and the reverse
    val = W.FakeUpstream(h, validating_handler)
    wg3 = h.wuguard([val.addr], config=W.wg_config())
    for first in (True, False):
        name = "bogus%d.%s" % (first, Z)
        for cd in (first, not first, first, not first):
            q = W.make_query(name)
            if cd:
                q.flags |= dns.flags.CD
            m, _ = W.ask(wg3.addr, q)
            want = "NOERROR" if cd else "SERVFAIL"
            h.rcode(m, want, "validating upstream, %s, CD=%d: %s" % (
                "CD=1 asked first" if first else "CD=0 asked first", cd, want))


# ---------------------------------------------------------------------------
# item 8: error replies

def error_replies():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    qn = W.wire_name("www.%s" % Z) + b"\0\1\0\1"
    allflags = F_AA | F_TC | F_RD | F_RA | F_Z | F_AD | F_CD

    # genreport "opcode" and "opcodeflg": header only, opcode 15
    for qflags, what in ((0, "opcode"), (allflags, "opcodeflg")):
        data = W.udp_raw(wg.addr, W.wire_header(0x0f01, flags=(15 << 11) | qflags, qd=0))
        ok = data is not None and len(data) == 12
        f = struct.unpack("!H", data[2:4])[0] if data else 0
        h.ok(ok and f == F_QR | (15 << 11) | 4 and data[4:12] == b"\0" * 8,
             "%s: NOTIMP, opcode 15 echoed, no other flag, empty sections" % what,
             "reply: %s" % (data.hex() if data else None))

    # an unknown opcode with a question and EDNS: NOTIMP with an OPT
    for op in (15, 2, 5):
        data = W.udp_raw(wg.addr, W.wire_header(0x0f02, flags=(op << 11) | F_RD, ar=1) + qn + OPT)
        try:
            f, counts, recs = records(data)
        except Exception as e:
            f, counts, recs = 0, None, []
            h.diag("unparsable: %s %s" % (e, data.hex() if data else None))
        h.ok(f == F_QR | (op << 11) | 4 and n_opt(recs) == 1 and counts[3] == 1,
             "opcode %d with EDNS: NOTIMP without RD/RA, one OPT" % op,
             "flags %04x counts %s" % (f, counts))

    def formerr(wire, what, want_opt=True):
        data = W.udp_raw(wg.addr, wire)
        try:
            f, counts, recs = records(data)
        except Exception as e:
            f, counts, recs = 0, None, []
            h.diag("unparsable: %s %s" % (e, data.hex() if data else None))
        h.ok(f & 0xF == 1 and f & F_QR and n_opt(recs) == (1 if want_opt else 0) and
             counts[3] == n_opt(recs),
             "%s: FORMERR %s" % (what, "with one OPT" if want_opt else "without OPT"),
             "flags %04x counts %s" % (f, counts))
        return data

    formerr(W.wire_header(0x0f03, qd=0, ar=1) + OPT, "QDCOUNT 0 with EDNS")
    formerr(W.wire_header(0x0f04, qd=2, ar=1) + qn + qn + OPT, "QDCOUNT 2 with EDNS")
    formerr(W.wire_header(0x0f05, qd=0), "QDCOUNT 0 without EDNS", want_opt=False)
    formerr(W.wire_header(0x0f06, ar=2) + qn + OPT + OPT, "two OPT records")
    formerr(W.wire_header(0x0f07, an=1) + qn + OPT, "OPT in the answer section")
    formerr(W.wire_header(0x0f08, ar=1) + qn + b"\1a" + OPT, "OPT with a non-root owner")
    # an option whose length runs past the rdata
    bad = OPT[:-2] + b"\0\5" + b"\0\x0a\0\x09\1"
    formerr(W.wire_header(0x0f09, ar=1) + qn + bad, "OPT option overrunning its rdata")
    formerr(W.wire_header(0x0f0b, ar=1) + qn + OPT[:-2] + b"\0\x28", "OPT rdata past the end")
    # well-formed options are fine (a cookie, then padding)
    good = OPT[:-2] + b"\0\x10" + b"\0\x0a\0\x08" + b"\1" * 8 + b"\0\x0c\0\0"
    data = W.udp_raw(wg.addr, W.wire_header(0x0f0a, ar=1) + qn + good)
    h.eq(W.reply_rcode(data), "NOERROR", "well-formed OPT options: NOERROR")

# ---------------------------------------------------------------------------
# item 9: class CH

IDENTITY_NAMES = ("version.bind", "version.server", "hostname.bind", "id.server")


def ch_query(name, rdtype="TXT", edns=None):
    q = dns.message.make_query(name, rdtype, "CH", use_edns=-1 if edns is None else edns)
    return q


def chaos():
    ns = h.nsd({Z: W.ZONE})
    # a real upstream that does answer the identity questions
    ub = h.unbound(ns.addr)
    m, _ = W.ask(ub.addr, ch_query("version.bind"))
    h.ok(m is not None and m.answer, "unbound itself answers version.bind",
         W.describe(m))
    wg = h.wuguard([ub.addr], config=W.wg_config())
    for name in IDENTITY_NAMES:
        for tcp in (False, True):
            m, _ = W.ask(wg.addr, ch_query(name), tcp=tcp)
            h.ok(m is not None and m.rcode() == dns.rcode.REFUSED and not m.answer,
                 "default: %s CH TXT over %s REFUSED, nothing of the upstream's" % (
                     name, "TCP" if tcp else "UDP"), W.describe(m))

    # configured strings; other CH questions REFUSED; nothing CH forwarded
    fake = W.FakeUpstream(h)
    ident = "wg-conform-%d" % os.getpid()
    wg2 = h.wuguard([fake.addr], config=W.wg_config(
        server={"identity": ident, "version": "wuguard conformance test"}))
    for name in IDENTITY_NAMES:
        want = "wuguard conformance test" if name.startswith("version") else ident
        for edns in (None, 0):
            m, _ = W.ask(wg2.addr, ch_query(name, edns=edns))
            txt = [r.strings for rr in (m.answer if m else []) for r in rr]
            rrs = m.answer if m else []
            h.ok(m is not None and m.rcode() == dns.rcode.NOERROR and
                 txt == [(want.encode(),)] and rrs[0].rdclass == dns.rdataclass.CH and
                 rrs[0].ttl == 0 and m.flags & dns.flags.RA and m.flags & dns.flags.RD and
                 not m.flags & dns.flags.AA and (m.edns >= 0) == (edns is not None),
                 "%s CH TXT (%s): the configured string, class CH, TTL 0" % (
                     name, "EDNS" if edns is not None else "no EDNS"), W.describe(m))
        m, _ = W.ask(wg2.addr, ch_query(name, "ANY"))
        h.ok(m is not None and m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1,
             "%s CH ANY: answered too" % name, W.describe(m))
    for name, rdtype in (("version.bind", "A"), ("authors.bind", "TXT"),
                         ("www.%s" % Z, "A"), ("foo.example", "TXT")):
        m, _ = W.ask(wg2.addr, ch_query(name, rdtype))
        h.rcode(m, "REFUSED", "%s CH %s: REFUSED" % (name, rdtype))
    # the case of the question is the client's
    m, wire = W.ask(wg2.addr, ch_query("VeRsIoN.BiNd"))
    h.ok(m is not None and wire[12:12 + 14] == W.wire_name("VeRsIoN.BiNd") and m.answer,
         "VeRsIoN.BiNd: answered, the question's case kept", W.describe(m))
    m, _ = W.query(wg2.addr, "www.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.53"}, "class IN still forwarded")
    classes = set(q.question[0].rdclass for _t, _s, _w, q in fake.queries()
                  if q is not None and q.question)
    h.eq(classes, {dns.rdataclass.IN}, "the upstream saw only class IN questions")

    # a string longer than 255 bytes is a config error naming the line
    d = h.mkdir("chaos-bad")
    conf = h.write(os.path.join(d, "bad.conf"), "[server]\nversion = %s\n" % ("v" * 256))
    rc = W.subprocess.run([os.path.join(W.BUILDDIR, "wuguard"), "-n", "-c", conf],
                          capture_output=True, text=True, timeout=10)
    h.ok(rc.returncode != 0 and "bad.conf:2" in rc.stderr + rc.stdout,
         "version of 256 bytes: wuguard -n fails naming bad.conf:2",
         rc.stderr + rc.stdout)

# ---------------------------------------------------------------------------
# item 3: RD=0

def usr1_counters(wg, keys):
    """SIGUSR1, then {key: int} for keys from the stats lines it writes."""
    start = wg.log_size()
    wg.kill(W.signal.SIGUSR1)
    wg.wait_log("upstream sent=", start=start)
    text = wg.log_since(start)
    out = {}
    for k in keys:
        i = text.find(" %s=" % k)
        if i < 0:
            i = text.find("stats] %s=" % k)
        if i >= 0:
            v = text[text.index("=", i) + 1:].split()[0]
            out[k] = int(v)
    return out


def rd0():
    ns = h.nsd({Z: W.ZONE})
    for acl in ("allow", "allow_snoop"):
        ub = h.unbound(ns.addr, name="unbound-%s" % acl,
                       extra="\taccess-control: 127.0.0.0/8 %s\n" % acl)
        wg = h.wuguard([ub.addr], config=W.wg_config())
        before = usr1_counters(wg, ["sent"]).get("sent", 0)
        for name, want, addrs in (("other", "NOERROR", {"192.0.2.4"}),
                                  ("nx-rd0", "NXDOMAIN", set())):
            qname = "%s.%s" % (name, Z)
            m, _ = W.query(wg.addr, qname, rd=False)
            h.rcode(m, "REFUSED", "unbound %s: RD=0 for %s, not cached: REFUSED" % (acl, name))
            # another client (a fresh socket) asks with RD=1 and gets the
            # real answer, not what unbound said to the RD=0 query
            m, _ = W.query(wg.addr, qname)
            h.ok(m is not None and W.rcode_text(m) == want and
                 W.answer_set(m, "A") == addrs and m.flags & dns.flags.RD,
                 "unbound %s: then RD=1 for %s: %s %s" % (acl, name, want, sorted(addrs)),
                 W.describe(m))
            m, _ = W.query(wg.addr, qname, rd=False)
            h.ok(m is not None and W.rcode_text(m) == want and
                 W.answer_set(m, "A") == addrs and not m.flags & dns.flags.RD,
                 "unbound %s: RD=0 for %s once cached: the cached answer, RD=0" % (acl, name),
                 W.describe(m))
        c = usr1_counters(wg, ["sent", "norec_refused"])
        h.eq((c.get("sent", 0) - before, c.get("norec_refused")), (2, 2),
             "unbound %s: two exchanges upstream (the RD=1 ones), two RD=0 refused" % acl)
        ub.stop()

    # a prefetch started by an RD=0 client's cache hit still asks with RD=1
    def short(q, transport):
        r = W.FakeUpstream.default_handler(q, transport)
        for rrset in r.answer:
            rrset.ttl = 2
        return r
    fake = W.FakeUpstream(h, short)
    wg = h.wuguard([fake.addr], config=W.wg_config(
        cache={"prefetch": True, "prefetch-min-hits": 1}))
    qname = "prefetch.%s" % Z
    W.query(wg.addr, qname)
    deadline = W.time.monotonic() + 6
    n0 = len(fake.queries())
    while len(fake.queries()) <= n0 and W.time.monotonic() < deadline:
        W.query(wg.addr, qname, rd=False, timeout=1)
        W.time.sleep(0.02)
    rds = [bool(q.flags & dns.flags.RD) for _t, _s, _w, q in fake.queries()
           if q is not None and q.question and
           q.question[0].name.to_text().lower() == qname + "."]
    h.ok(len(rds) >= 2 and all(rds),
         "a prefetch triggered by RD=0 hits asks the upstream with RD=1", "RD flags seen: %r" % rds)

# ---------------------------------------------------------------------------
# item 7: fitting 512 bytes without needless TC

MX_ZONE = W.soa() + "".join(
    "mx 300 IN MX %d mail%d\nmail%d 300 IN A 192.0.2.%d\nmail%d 300 IN A 198.51.100.%d\n"
    "mail%d 300 IN AAAA 2001:db8::%d\n"
    % (i * 10, i, i, 100 + i, i, 100 + i, i, 100 + i) for i in range(1, 9))


def fit512():
    ns = h.nsd({Z: MX_ZONE}, minimal=False)
    qname = "mx.%s" % Z
    full, fwire = W.query(ns.addr, qname, "MX", edns=0, payload=4096)
    h.ok(full is not None and len(full.answer[0]) == 8 and full.additional and
         len(fwire) > 512 and not full.flags & dns.flags.TC,
         "nsd's own answer: 8 MX, an additional section, more than 512 bytes (%d)" % (
             len(fwire) if fwire else 0), W.describe(full))
    wg = h.wuguard([ns.addr], config=W.wg_config())
    want = W.answer_set(full, "MX")
    for edns, payload, what in ((None, 512, "no EDNS"), (0, 512, "EDNS 512"),
                                (0, 511, "EDNS 511"), (0, 0, "EDNS 0")):
        for attempt in ("miss", "hit") if edns is None else ("hit",):
            m, wire = W.query(wg.addr, qname, "MX", edns=edns, payload=payload)
            h.ok(m is not None and not m.flags & dns.flags.TC and
                 W.answer_set(m, "MX") == want and len(wire) <= 512 and
                 len(m.additional) < len(full.additional),
                 "%s (%s): the 8 MX without TC in %d bytes, additional cut" % (
                     what, attempt, len(wire) if wire else 0), W.describe(m))
            if m is not None and edns is not None:
                h.ok(m.edns == 0, "%s: the reply keeps its OPT" % what)
    # whole RRsets only: every target's A RRset left in the additional
    # section has both its records
    m, _ = W.query(wg.addr, qname, "MX")
    a_sets = [rr for rr in (m.additional if m else []) 
              if rr.rdtype == dns.rdatatype.A and rr.name.to_text().startswith("mail")]
    h.ok(a_sets and all(len(rr) == 2 for rr in a_sets),
         "no A RRset of the additional section is cut in two", W.describe(m))
    m, wire = W.query(wg.addr, qname, "MX", tcp=True)
    h.ok(m is not None and len(m.additional) == len(full.additional),
         "TCP: the whole additional section", W.describe(m))
    c = usr1_counters(wg, ["trimmed", "truncated"])
    h.ok(c.get("trimmed", 0) >= 5 and c.get("truncated") == 0,
         "SIGUSR1: trimmed=%s truncated=%s" % (c.get("trimmed"), c.get("truncated")))
    # an answer section that does not fit still gets TC
    ns2 = h.nsd({Z: W.ZONE}, name="nsd-big")
    wg2 = h.wuguard([ns2.addr], config=W.wg_config())
    m, wire = W.query(wg2.addr, "big.%s" % Z, "TXT")
    h.ok(m is not None and m.flags & dns.flags.TC and not m.answer and len(wire) <= 512,
         "an answer section over 512 bytes: TC=1, empty", W.describe(m))

# ---------------------------------------------------------------------------
# item 4: records of another class

def raw_reply(q, records, rcode=0):
    """A reply to q, built by hand so records can carry any class and point
    into each other. records: [(section, build(offset) -> bytes)] where
    build gets the offset its record starts at and returns it whole."""
    qwire = q.to_wire()
    qd_end = 12 + len(W.wire_name(q.question[0].name.to_text())) + 4
    body = qwire[12:qd_end]
    counts = {"an": 0, "ns": 0, "ar": 0}
    out = b""
    for sec in ("an", "ns", "ar"):
        for s_, build in records:
            if s_ == sec:
                out += build(12 + len(body) + len(out))
                counts[sec] += 1
    hdr = struct.pack("!HHHHHH", q.id, 0x8180 | (q.flags & F_CD) | rcode, 1,
                      counts["an"], counts["ns"], counts["ar"])
    return hdr + body + out


def rr(owner, rtype, rclass, rdata, ttl=300):
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


PTR_Q = b"\xc0\x0c"  # a pointer to the question's name


def mixed_handler(q, transport):
    """A bad upstream: an IN answer with CH records mixed in, one of which
    the IN records' names point into (so they must be rewritten whole)."""
    alias_at = []

    def ch_txt(off):
        alias_at.append(off)  # the owner "alias.<qname>" starts here
        return rr(b"\x05alias" + PTR_Q, 16, 3, b"\x05chaos")

    def cname(off):
        return rr(PTR_Q, 5, 1, struct.pack("!H", 0xC000 | alias_at[0]))

    def a_in(off):
        return rr(struct.pack("!H", 0xC000 | alias_at[0]), 1, 1, bytes([192, 0, 2, 60]))

    def a_hs(off):  # class HS: dnspython cannot read a 4-byte CH A
        return rr(PTR_Q, 1, 4, bytes([203, 0, 113, 66]))

    return raw_reply(q, [("an", ch_txt), ("an", cname), ("an", a_in), ("ar", a_hs)])


def other_class():
    fake = W.FakeUpstream(h, mixed_handler)
    qname = "mixed-class.%s" % Z
    m, _ = W.query(fake.addr, qname)
    h.ok(m is not None and any(r.rdclass != dns.rdataclass.IN for r in m.answer),
         "the bad upstream really mixes CH and HS records into its IN answer", W.describe(m))
    wg = h.wuguard([fake.addr], config=W.wg_config())
    # (the start-up probe got a mixed answer too)
    c0 = usr1_counters(wg, ["other_class"]).get("other_class", 0)
    for attempt in ("miss", "hit", "hit, TCP"):
        m, wire = W.query(wg.addr, qname, tcp=attempt.endswith("TCP"), edns=0)
        classes = set(r.rdclass for sec in (m.answer, m.authority, m.additional)
                      for r in sec) if m else None
        h.ok(m is not None and classes == {dns.rdataclass.IN} and
             W.answer_set(m, "A") == {"192.0.2.60"} and
             set(x.lower() for x in W.answer_set(m, "CNAME")) == {"alias.%s." % qname} and
             not m.additional,
             "%s: only the IN records reach the client, names intact" % attempt,
             W.describe(m))
    c = usr1_counters(wg, ["other_class"])
    h.eq(c.get("other_class", 0) - c0, 2, "SIGUSR1: other_class counts 2 (one exchange, two records)")

    # the guard: a CH-class A record carrying the public's address must not
    # make a local NODATA look like a match
    wu = "windowsupdate.microsoft.com"

    def local(q, transport):
        if q.question[0].name.to_text().rstrip(".").lower() != wu:
            return W.FakeUpstream.default_handler(q, transport)
        # NODATA for IN, dressed up with a CH-class A of the public address
        return raw_reply(q, [("an", lambda off: rr(PTR_Q, 1, 3, bytes([192, 0, 2, 20])))])

    def public(q, transport):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        rrset = r.find_rrset(r.answer, q.question[0].name, dns.rdataclass.IN,
                             dns.rdatatype.A, create=True)
        rrset.add(dns.rdata.from_text("IN", "A", "192.0.2.20"), 300)
        return r
    lo = W.FakeUpstream(h, local)
    pub = W.FakeUpstream(h, public)
    wg2 = h.wuguard([lo.addr], name="wuguard-guard", public=pub.addr,
                    config=W.wg_config(guard={"public-wait": 2000}),
                    args=["--mode", "repair", "--domains",
                          os.path.join(W.SRCDIR, "db", "wu-domains.list")])
    got = None
    deadline = W.time.monotonic() + 5
    while W.time.monotonic() < deadline:
        try:
            m, _ = W.query(wg2.addr, wu, edns=0)
            got = W.answer_set(m, "A")
        except dns.exception.DNSException as e:  # a 4-byte CH A does not parse
            got = "unparsable reply: %s" % e
        if got == {"192.0.2.20"}:
            break
        W.time.sleep(0.05)
    h.eq(got, {"192.0.2.20"},
         "guard: a NODATA carrying a CH record of the public address is repaired, not a match")
    c = usr1_counters(wg2, ["matched", "repaired"])
    h.ok(c.get("matched") == 0 and c.get("repaired", 0) >= 1,
         "guard: judged a repair, never a match (matched=%s repaired=%s)" % (
             c.get("matched"), c.get("repaired")))

# ---------------------------------------------------------------------------
# item 5: 0x20 case randomisation

def sent_names(fake, suffix):
    return [q.question[0].name.to_text() for _t, _s, _w, q in fake.queries()
            if q is not None and q.question and
            q.question[0].name.to_text().lower().endswith(suffix)]


def caps():
    # an upstream that echoes the case (as nsd and unbound do)
    fake = W.FakeUpstream(h)
    wg = h.wuguard([fake.addr], config=W.wg_config())
    names = ["caps%d.example.test" % i for i in range(8)]
    for n in names:
        m, wire = W.query(wg.addr, n)
        h.ok(m is not None and W.answer_set(m, "A") == {"192.0.2.53"} and
             wire[12:12 + len(W.wire_name(n))] == W.wire_name(n),
             "%s: answered, the question in the client's spelling" % n, W.describe(m))
    sent = sent_names(fake, ".example.test.")
    h.ok(sorted(x.lower().rstrip(".") for x in sent) == sorted(names) and
         sum(1 for x in sent if x != x.lower()) >= 6,
         "the upstream was asked in random case (0x20)", "sent: %r" % sent)

    # a forged reply in the wrong case (right ID and port: the fake sends
    # it first) is not taken; the real one is
    def forging(q, transport):
        src = fake2.queries()[-1][1]
        if transport == "udp" and q.question[0].name.to_text().lower().startswith("forged"):
            fq = dns.message.make_query(q.question[0].name.to_text().lower(), "A")
            fq.id = q.id  # (a copy: the real reply below keeps q's case)
            f = dns.message.make_response(fq)
            f.find_rrset(f.answer, f.question[0].name, dns.rdataclass.IN, dns.rdatatype.A,
                         create=True).add(dns.rdata.from_text("IN", "A", "203.0.113.99"), 60)
            fake2.udp.sendto(f.to_wire(), src)
        return W.FakeUpstream.default_handler(q, transport)
    fake2 = W.FakeUpstream(h, forging)
    wg2 = h.wuguard([fake2.addr], name="wuguard-forged", config=W.wg_config())
    W.query(wg2.addr, "confirm.example.test")  # the server echoes: confirmed
    m, _ = W.query(wg2.addr, "forged.example.test")
    h.eq(W.answer_set(m, "A"), {"192.0.2.53"},
         "a forged reply in the wrong case is not taken, the real one is")
    c = usr1_counters(wg2, ["caps_mismatches"])
    h.ok(c.get("caps_mismatches", 0) >= 1, "SIGUSR1: caps_mismatches=%s" % c.get("caps_mismatches"))
    W.query(wg2.addr, "after.example.test")
    sent = sent_names(fake2, "after.example.test.")
    h.ok(wg2.log_since(0).count("0x20 off") == 0,
         "the forgery did not turn 0x20 off", "sent: %r" % sent)

    # an upstream that answers in lower case: 0x20 off for it, answers go on
    def lowering(q, transport):
        r = W.FakeUpstream.default_handler(q, transport)
        r.question[0].name = dns.name.from_text(q.question[0].name.to_text().lower())
        r.answer[0].name = r.question[0].name
        return r
    fake3 = W.FakeUpstream(h, lowering)
    wg3 = h.wuguard([fake3.addr], name="wuguard-lower", config=W.wg_config())
    for n in ("low1.example.test", "LoW2.Example.Test", "low3.example.test"):
        m, wire = W.query(wg3.addr, n)
        h.ok(m is not None and W.answer_set(m, "A") == {"192.0.2.53"} and
             wire[12:12 + len(W.wire_name(n))] == W.wire_name(n),
             "case-lowering upstream: %s answered in the client's spelling" % n, W.describe(m))
    h.ok(wg3.wait_log("does not echo the question's case: 0x20 off"),
         "the fallback is logged")
    sent = sent_names(fake3, "low3.example.test.")
    h.eq(sent, ["low3.example.test."], "after the fallback the client's spelling goes upstream")

    # case-randomization = no: the client's spelling
    fake4 = W.FakeUpstream(h)
    wg4 = h.wuguard([fake4.addr], name="wuguard-nocaps",
                    config=W.wg_config(upstream={"case-randomization": False}))
    W.query(wg4.addr, "plain.example.test")
    h.eq(sent_names(fake4, "plain.example.test."), ["plain.example.test."],
         "case-randomization = no: asked in the client's spelling")


h.case("CD bit: the query's, cached apart (item 6)", cd_bit)
h.case("error replies: OPT and flags (item 8)", error_replies)
h.case("class CH answered locally, never forwarded (item 9)", chaos)
h.case("RD=0: from the cache only (item 3)", rd0)
h.case("512-byte clients: additional, then authority, before TC (item 7)", fit512)
h.case("records of another class dropped (item 4)", other_class)
h.case("0x20 case randomisation (item 5)", caps)
h.done()
