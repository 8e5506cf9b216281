#!/usr/bin/python3
"""A peer differential test (issue 12): the same queries to wuguard and to
unbound, both forwarding to the same nsd, and the replies compared.

The zone has A, AAAA, CNAME chains, MX with many targets (the additional
section overflows 512 bytes while the answer fits), TXT from tiny to larger
than any UDP reply, NS with glue, a delegation nsd also serves, a lame
delegation, a wildcard, an empty non-terminal, NXDOMAIN and NODATA. The
queries vary EDNS (none, version 0, 1), buffer sizes (0, 511, 512, 1232,
4096, 65535), the DO, CD, AD and RD bits, 0x20 mixed case, QDCOUNT 0 and 2,
opcodes other than QUERY, class CH, HS, NONE and ANY, qtype ANY, and go over
UDP (a lost query is sent once more) and TCP: one per connection, pipelined
on one connection, and split across segments.

Compared per query: whether a reply came, ID, opcode, rcode (with the
extended rcode), the QR AA TC RD RA AD CD and Z bits, the question section
as sent (case included), EDNS presence, version, DO echo and the advertised
buffer size, and the answer and authority sections as sets of records, their
TTLs within a few seconds of each other. Every difference the design accepts
is a rule in tests/differential-accepted.txt with its reason; any other
difference fails its group and prints the query and both replies. A rule that no query needs
any more fails too, so the file stays true.

Set WG_DIFF_VERBOSE=1 to print every difference, accepted ones included,
WG_DIFF_SHOW=REGEX to print both replies to the queries whose description
matches, WG_DIFF_LIMIT=N to print N failing queries per group (6)."""

import concurrent.futures
import os
import random
import re
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402
from wgtest import dns  # noqa: E402

import dns.exception  # noqa: E402
import dns.rdataclass  # noqa: E402

h = W.Harness()
RULES_PATH = os.path.join(W.SRCDIR, "tests", "differential-accepted.txt")
VERBOSE = os.environ.get("WG_DIFF_VERBOSE") == "1"
SHOW = os.environ.get("WG_DIFF_SHOW")  # a regex: print these queries' replies
SEED = int(os.environ.get("WG_SEED", random.randrange(1 << 30)))
UDP_TRIES = (1.0, 2.5)   # seconds to wait for a UDP reply, then once more
TCP_TIMEOUT = 4.0
WORKERS = 24
TTL_SLACK = 5            # seconds two TTLs of the same RRset may differ by

Z = "diff.test"
SUB = "sub.diff.test"


# ---------------------------------------------------------------------------
# the zone

def zone_text():
    z = ["@ 300 IN SOA ns1 hostmaster 1 3600 600 86400 60",
         "@ 300 IN NS ns1", "@ 300 IN NS ns2",
         "ns1 300 IN A 127.0.0.1", "ns2 300 IN A 192.0.2.53",
         "ns2 300 IN AAAA 2001:db8::53",
         "@ 300 IN A 192.0.2.100", "@ 300 IN MX 10 mail1",
         '@ 300 IN TXT "v=spf1 -all"',
         "www 300 IN A 192.0.2.1", "www 300 IN AAAA 2001:db8::1",
         "c1 300 IN CNAME c2", "c2 300 IN CNAME c3", "c3 300 IN CNAME www",
         "cnx 300 IN CNAME nothere",
         "csub 300 IN CNAME www.sub",     # into a zone of its own
         "cmx 300 IN CNAME mx",
         "mx 300 IN MX 10 mail1", "mx 300 IN MX 20 mail2",
         "mail1 300 IN A 192.0.2.25", "mail2 300 IN A 192.0.2.26",
         "mail2 300 IN AAAA 2001:db8::26",
         '_sip._udp 300 IN SRV 10 5 5060 www',
         "ptr 300 IN PTR www.diff.test.",
         'caa 300 IN CAA 0 issue "ca.example.net"',
         'txt 300 IN TXT "hello"', 'txt 300 IN TXT "world" "two strings"',
         'txt300 300 IN TXT "%s"' % ("a" * 250), 'txt300 300 IN TXT "%s"' % ("b" * 40),
         "b.ent 300 IN A 192.0.2.30",     # ent. is an empty non-terminal
         "*.wild 300 IN A 192.0.2.50", '*.wild 300 IN TXT "wildcard"',
         "sub 300 IN NS ns.sub", "ns.sub 300 IN A 127.0.0.1",   # served by nsd too
         "lame 300 IN NS ns1.lame", "lame 300 IN NS ns2.lame",   # served by nobody
         "ns1.lame 300 IN A 192.0.2.98", "ns2.lame 300 IN A 192.0.2.99"]
    # about 650 bytes of TXT: fits 1232, not 512
    z += ['txt600 300 IN TXT "%02d%s"' % (i, "t" * 198) for i in range(3)]
    # 12 MX whose targets have A and AAAA: the answer (~250 bytes) fits 512,
    # the additional section nsd adds (24 addresses) does not
    for i in range(12):
        z.append("manymx 300 IN MX %d m%02d" % (i, i))
        z.append("m%02d 300 IN A 192.0.2.%d" % (i, 150 + i))
        z.append("m%02d 300 IN AAAA 2001:db8::%x" % (i, 0x150 + i))
    # 20 addresses: ~330 bytes, 40 AAAA: ~1100 bytes
    z += ["multi 300 IN A 198.51.100.%d" % i for i in range(1, 21)]
    z += ["multi6 300 IN AAAA 2001:db8:6::%x" % i for i in range(1, 41)]
    # DNAME: nsd synthesises the CNAME (RFC 6672)
    z += ["dn 300 IN DNAME sub.diff.test."]
    # about 20 KB of TXT: TCP only, several segments
    z += ['huge 300 IN TXT "%03d%s"' % (i, "h" * 197) for i in range(100)]
    # burst names: asked only by the burst group, all at once
    z += ["burst0 300 IN A 203.0.113.100", "burst0 300 IN A 203.0.113.101",
          "burst3 300 IN AAAA 2001:db8:b::3"]
    z += ['burst1 300 IN TXT "%s"' % ("%d" % i * 150) for i in range(4)]  # ~620 bytes
    z += ['burst2 300 IN TXT "burst two"']
    # cold names: only ever asked with RD=0 first (see the rd0 groups)
    for i in range(8):
        z.append("cold%d 300 IN A 203.0.113.%d" % (i, i + 1))
        z.append('cold%d 300 IN TXT "cold %d"' % (i, i))
    return "\n".join(z) + "\n" + W.big_txt("big")


SUB_ZONE = ("@ 300 IN SOA ns hostmaster 1 3600 600 86400 60\n"
            "@ 300 IN NS ns\n"
            "ns 300 IN A 127.0.0.1\n"
            "www 300 IN A 192.0.2.200\n"
            "www 300 IN AAAA 2001:db8::200\n")

# names (relative to Z) the queries use; "." is the apex
NAMES = ["@", "www", "c1", "c2", "c3", "cnx", "cmx", "mx", "mail1", "mail2",
         "_sip._udp", "ptr", "caa", "txt", "txt300", "txt600", "big", "manymx",
         "multi", "multi6", "ns1", "ns2", "b.ent", "ent", "a.wild", "x.y.wild",
         "wild", "sub", "www.sub", "nope.sub", "csub", "lame", "www.lame",
         "nope", "deep.nope", "nothere"]
# names nsd has no zone for: it refuses them
FOREIGN = ["www.example.com.", "other.test.", "."]
TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "PTR", "CAA", "DS",
         "TYPE666"]


def fqdn(rel):
    return Z + "." if rel == "@" else "%s.%s." % (rel, Z)


def start_nsd():
    """nsd with minimal-responses off (so it fills the additional section the
    way most authorities do) and its identity and version not hidden (so a
    forwarded CHAOS query shows)."""
    d = h.mkdir("nsd")
    port = W.free_port()
    h.write(os.path.join(d, "diff.test.zone"), "$ORIGIN %s.\n%s" % (Z, zone_text()))
    h.write(os.path.join(d, "sub.diff.test.zone"), "$ORIGIN %s.\n%s" % (SUB, SUB_ZONE))
    conf = h.write(os.path.join(d, "nsd.conf"), (
        'server:\n'
        '\tip-address: 127.0.0.1@{port}\n\tport: {port}\n\tdo-ip6: no\n'
        '\tserver-count: 1\n\treuseport: no\n\tzonesdir: "{d}"\n'
        '\tpidfile: "{d}/nsd.pid"\n\tdatabase: ""\n\tusername: ""\n\tchroot: ""\n'
        '\txfrdfile: "{d}/xfrd.state"\n\tzonelistfile: "{d}/zone.list"\n'
        '\tlogfile: "{d}/server.log"\n\tverbosity: 1\n'
        '\thide-version: no\n\thide-identity: no\n\tidentity: "nsd-under-test"\n'
        '\tminimal-responses: no\n'
        '\trrl-ratelimit: 0\n\trrl-whitelist-ratelimit: 0\n'
        'remote-control:\n\tcontrol-enable: no\n'
        'zone:\n\tname: "{z}"\n\tzonefile: "diff.test.zone"\n'
        'zone:\n\tname: "{sub}"\n\tzonefile: "sub.diff.test.zone"\n'
    ).format(port=port, d=d, z=Z, sub=SUB))
    s = W.Server(h, "nsd", ["nsd", "-d", "-c", conf], (W.LOOPBACK, port),
                 os.path.join(d, "server.log"), d)
    s.wait_ready(fqdn("www"))
    return s


# unbound as the peer: a pure forwarder to nsd with as little of its own
# policy as possible, so that what differs is design, not configuration.
UNBOUND_EXTRA = "\n".join("\t" + l for l in [
    # module-config "iterator" (the harness's): no validator, so no AD and
    # no SERVFAIL for an unsigned zone it was told nothing about. The
    # harness's forward-zone has no forward-first: a pure forwarder.
    # RD=0 queries are answered from the cache (allow, which this line
    # overrides for the same netblock, would REFUSE them)
    "access-control: 127.0.0.0/8 allow_snoop",
    # the CHAOS identity queries are refused, not answered with a version
    "hide-identity: yes", "hide-version: yes", "hide-trustanchor: yes",
    # wuguard never sends a UDP reply bigger than 1232 bytes; unbound's own
    # default cap is 4096, which would make TC differ for 1233..4096
    "max-udp-size: 1232", "edns-buffer-size: 1232",
    # no policy that changes answers: no aggressive NSEC, no hardening that
    # drops or rewrites data from the forwarder, no prefetch/stale serving
    "aggressive-nsec: no", "harden-below-nxdomain: no", "harden-glue: no",
    "harden-algo-downgrade: no", "qname-minimisation: no",
    "prefetch: no", "serve-expired: no",
    "deny-any: no", "use-caps-for-id: no",
    # pipelined and parallel TCP from this test: more than the 10 default
    "incoming-num-tcp: 200",
    # relay the authority and additional sections as the authority sent
    # them (its default, yes, strips the NS set nsd puts in every answer)
    "minimal-responses: no",
    # log nothing per query; errors still go to stderr
    "log-servfail: no",
] if l)


# ---------------------------------------------------------------------------
# queries

class Q:
    """One query, sent byte for byte the same to both servers."""
    n = 0

    def __init__(self, group, name, qtype="A", qclass="IN", rd=True, cd=False,
                 ad=False, do=False, edns=None, payload=1232, opcode=0,
                 qdcount=1, transport="udp", mixcase=False, second=None, opt=None,
                 hbits=0, eflags=0, options=b"", label=""):
        Q.n += 1
        self.seq = Q.n
        self.group = group
        self.name = name.lower()
        self.qtype = qtype
        self.qclass = qclass
        self.rd, self.cd, self.ad, self.do = rd, cd, ad, do
        self.edns = edns            # None: no OPT; else the EDNS version
        self.payload = payload
        self.opcode = opcode
        self.qdcount = qdcount
        self.transport = transport
        self.mixcase = mixcase
        self.second = second or (fqdn("www"), "AAAA")
        self.opt = opt              # raw additional records instead of the OPT
        self.hbits = hbits          # more header bits: AA 0x400, TC 0x200, RA 0x80, Z 0x40
        self.eflags = eflags        # more EDNS flag bits (beside DO)
        self.options = options      # raw EDNS options
        self.label = label          # what is odd about it, for the rules
        self.id = rng.randrange(1, 65536)
        self.spelled = self.name
        if mixcase:
            self.spelled = "".join(c.upper() if c.isalpha() and rng.random() < 0.5
                                   else c for c in self.name)
            if self.spelled == self.name and any(c.isalpha() for c in self.name):
                i = next(i for i, c in enumerate(self.name) if c.isalpha())
                self.spelled = self.name[:i] + self.name[i].upper() + self.name[i + 1:]
        self.wire = self._wire()

    @property
    def type_code(self):
        return dns.rdatatype.from_text(self.qtype)

    def _wire(self):
        flags = ((self.opcode & 15) << 11) | (0x100 if self.rd else 0) | \
                (0x20 if self.ad else 0) | (0x10 if self.cd else 0) | self.hbits
        qs = []
        if self.qdcount >= 1:
            qs.append((self.spelled, self.type_code, dns.rdataclass.from_text(self.qclass)))
        if self.qdcount >= 2:
            qs.append((self.second[0], dns.rdatatype.from_text(self.second[1]), 1))
        ar = self.opt if self.opt is not None else []
        out = struct.pack("!HHHHHH", self.id, flags, len(qs), 0, 0,
                          len(ar) + (1 if self.edns is not None else 0))
        for name, t, c in qs:
            out += dns.name.from_text(name).to_wire() + struct.pack("!HH", t, c)
        out += b"".join(ar)
        if self.edns is not None:
            ttl = (self.edns << 16) | (0x8000 if self.do else 0) | self.eflags
            out += b"\0" + struct.pack("!HHIH", 41, self.payload, ttl,
                                        len(self.options)) + self.options
        return out

    def text(self):
        bits = [b for b, on in (("RD", self.rd), ("CD", self.cd), ("AD", self.ad),
                                ("DO", self.do)) if on]
        e = "no EDNS" if self.edns is None else "EDNS%d bufsize %d" % (self.edns, self.payload)
        extra = ""
        if self.opcode:
            extra += " opcode %d" % self.opcode
        if self.qdcount != 1:
            extra += " QDCOUNT %d" % self.qdcount
        if self.opt is not None:
            extra += " additional %s (%s)" % (b"".join(self.opt).hex(), self.label)
        if self.hbits:
            extra += " header bits 0x%04x" % self.hbits
        if self.eflags or self.options:
            extra += " EDNS flags 0x%04x options %s" % (self.eflags, self.options.hex())
        return "#%d [%s] %s %s %s %s, %s, flags %s, %s" % (
            self.seq, self.group, self.spelled if self.qdcount else "(no question)",
            self.qclass, self.qtype, extra, e, "+".join(bits) or "none",
            self.transport)


# ---------------------------------------------------------------------------
# replies

SECTION_FIELDS = ("answer", "authority")
FLAG_BITS = (("QR", 0x8000), ("AA", 0x0400), ("TC", 0x0200), ("RD", 0x0100),
             ("RA", 0x0080), ("Z", 0x0040), ("AD", 0x0020), ("CD", 0x0010))


class R:
    """What a reply says, as the fields the test compares. R(None): none."""

    def __init__(self, data):
        self.data = data
        self.none = data is None
        self.error = None
        self.fields = {}
        self.ttls = {}
        self.msg = None
        if data is None:
            return
        if len(data) < 12:
            self.error = "short reply (%d bytes)" % len(data)
            self.fields["header"] = data.hex()
            return
        qid, flags = struct.unpack("!HH", data[:4])
        self.fields["id"] = qid
        self.fields["opcode"] = (flags >> 11) & 15
        for name, bit in FLAG_BITS:
            self.fields["flag." + name] = bool(flags & bit)
        rcode = flags & 15
        try:
            # parsed as opcode QUERY: dnspython refuses unassigned opcodes
            # and reads UPDATE's sections under other rules; the opcode is
            # compared from the header above
            m = dns.message.from_wire(data[:2] + bytes([data[2] & 0x87]) + data[3:],
                                      ignore_trailing=True)
        except Exception as e:  # noqa: BLE001 (any parse failure is a finding)
            self.error = "%s: %s" % (type(e).__name__, e)
            self.fields["rcode"] = dns.rcode.to_text(rcode)
            self.fields["parse"] = "unparsable"
            return
        self.msg = m
        self.fields["parse"] = "ok"
        self.fields["rcode"] = dns.rcode.to_text(m.rcode())
        self.fields["question"] = tuple("%s %s %s" % (
            q.name.to_text(), dns.rdataclass.to_text(q.rdclass),
            dns.rdatatype.to_text(q.rdtype)) for q in m.question)
        self.fields["edns"] = m.edns >= 0
        if m.edns >= 0:
            self.fields["edns.version"] = m.edns
            self.fields["edns.do"] = bool(m.ednsflags & dns.flags.DO)
            self.fields["edns.payload"] = m.payload
            self.fields["edns.flags"] = m.ednsflags & 0x7fff
        for sec, rrsets in (("answer", m.answer), ("authority", m.authority)):
            # names compare without case (0x20 queries make nsd's
            # compression copy the client's spelling into rdata); TXT
            # strings keep theirs
            self.fields[sec] = frozenset(
                "%s %s %s %s" % (rr.name.to_text().lower(), dns.rdataclass.to_text(rr.rdclass),
                                 dns.rdatatype.to_text(rr.rdtype),
                                 rd.to_text() if rr.rdtype == dns.rdatatype.TXT
                                 else rd.to_text().lower())
                for rr in rrsets for rd in rr)
            for rr in rrsets:
                self.ttls[(sec, rr.name.to_text().lower(), rr.rdtype)] = rr.ttl

    # names the rule conditions use
    def __getattr__(self, key):
        f = self.__dict__.get("fields", {})
        k = key.lower()
        if k in ("qr", "aa", "tc", "rd", "ra", "z", "ad", "cd"):
            return f.get("flag." + k.upper())
        if k in f:
            return f[k]
        if k in ("version", "payload"):
            return f.get("edns." + k)
        raise AttributeError(key)

    def text(self):
        if self.none:
            return "no reply"
        if self.msg is not None:
            # the message was parsed as opcode QUERY: name the real one
            text = self.msg.to_text().replace("\n", " | ").replace(
                "opcode QUERY", "opcode %d" % self.fields["opcode"], 1)
            return "%d bytes: %s" % (len(self.data), text)
        return "%d bytes (%s): %s" % (len(self.data), self.error, self.data.hex())


def differences(u, w):
    """{field: (unbound's, wuguard's)} for every compared field that differs."""
    if u.none or w.none:
        return {} if u.none == w.none else {"reply": ("none" if u.none else "a reply",
                                                     "none" if w.none else "a reply")}
    out = {}
    keys = set(u.fields) | set(w.fields)
    if u.msg is None or w.msg is None:
        # past the header only what both could parse compares
        keys = {k for k in keys if k in ("id", "opcode", "rcode", "parse") or
                k.startswith("flag.")}
    for k in sorted(keys):
        a, b = u.fields.get(k), w.fields.get(k)
        if a != b:
            if k in SECTION_FIELDS:
                a, b = sorted((a or set()) - (b or set())), sorted((b or set()) - (a or set()))
            out[k] = (a, b)
    # TTLs loosely: both caches count down, from moments a few seconds
    # apart; "ttl.lower" when wuguard's is the shorter, "ttl.higher" else
    for key in sorted(set(u.ttls) & set(w.ttls), key=str):
        a, b = u.ttls[key], w.ttls[key]
        if abs(a - b) > TTL_SLACK:
            what = "%s %s %s" % (key[0], key[1], dns.rdatatype.to_text(key[2]))
            f = "ttl.lower" if b < a else "ttl.higher"
            prev = out.get(f, ("", ""))
            out[f] = ((prev[0] + " " if prev[0] else "") + "%s %d" % (what, a),
                      (prev[1] + " " if prev[1] else "") + "%s %d" % (what, b))
    return out


# ---------------------------------------------------------------------------
# the accepted differences

def rr_types(records):
    """The record types in a section as a set: {"NS", "SOA"}."""
    return {r.split()[2] for r in records or ()}


class Rule:
    def __init__(self, fields, cond, reason, xfail, lineno, optional=False):
        self.fields = fields
        self.optional = optional    # may go unused in a run (unbound's cache timing)
        self.cond = cond
        self.code = compile(cond, "%s:%d" % (RULES_PATH, lineno), "eval")
        self.reason = reason
        self.xfail = xfail
        self.lineno = lineno
        self.used = 0

    def applies(self, field, q, u, w):
        if not any(field == f or (f.endswith("*") and field.startswith(f[:-1]))
                   for f in self.fields):
            return False
        try:
            return bool(eval(self.code, {"__builtins__": {}},  # noqa: S307
                             {"q": q, "U": u, "W": w, "any": any, "all": all, "len": len,
                              "types": rr_types, "set": set}))
        except Exception:  # noqa: BLE001 a condition that cannot be evaluated
            return False   # for this query does not accept anything

    def text(self):
        return "line %d: %s | %s" % (self.lineno, " ".join(self.fields), self.cond)


def load_rules():
    """FIELDS | CONDITION | REASON per line; '#' comments; rules after a
    line [expected-failures] mark known wuguard bugs (reported as TODO)."""
    rules = []
    xfail = False
    with open(RULES_PATH) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line == "[expected-failures]":
                xfail = True
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != 3 or not all(parts):
                raise ValueError("%s:%d: want FIELDS | CONDITION | REASON" % (RULES_PATH, n))
            optional = parts[0].startswith("?")
            rules.append(Rule(parts[0].lstrip("?").split(), parts[1], parts[2], xfail, n,
                              optional))
    return rules


# ---------------------------------------------------------------------------
# sending

_tls = threading.local()
_udp_socks = []
_udp_lock = threading.Lock()


def _thread_socket():
    """One UDP socket per worker thread, kept for the whole run: a socket
    per query would churn through thousands of ephemeral ports, and the
    other tests of make check bind ports a free_port() handed out."""
    s = getattr(_tls, "sock", None)
    if s is None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((W.LOOPBACK, 0))
        _tls.sock = s
        with _udp_lock:
            _udp_socks.append(s)
    return s


def close_sockets():
    with _udp_lock:
        for s in _udp_socks:
            s.close()
        del _udp_socks[:]


def udp_exchange(addr, q):
    """q over UDP from this thread's socket; the reply from addr with q's ID
    (a late reply to an earlier query is skipped), a lost one asked once
    more."""
    s = _thread_socket()
    for wait in UDP_TRIES:
        s.sendto(q.wire, addr)
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                break
            except OSError:
                continue
            if tuple(src[:2]) == tuple(addr[:2]) and data[:2] == q.wire[:2]:
                return data
    return None


def _read_frame(s, deadline):
    n = struct.unpack("!H", W._recv_exact(s, 2, deadline))[0]
    return W._recv_exact(s, n, deadline)


def tcp_exchange(addr, qs, split=False):
    """Send qs over one TCP connection (all at once when pipelined, in
    pieces of a few bytes when split); {id: reply} for what came back."""
    deadline = time.monotonic() + TCP_TIMEOUT
    out = {}
    try:
        s = socket.create_connection(addr, timeout=TCP_TIMEOUT)
    except OSError:
        return out
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        frames = [struct.pack("!H", len(q.wire)) + q.wire for q in qs]
        if split:
            for fr in frames:
                # the length bytes apart, then the message in three pieces,
                # each its own segment (the pause lets it leave on its own)
                cuts = [1, 2, 2 + len(fr) // 3, 2 + 2 * len(fr) // 3, len(fr)]
                prev = 0
                for c in cuts:
                    s.sendall(fr[prev:c])
                    prev = c
                    time.sleep(0.005)
        else:
            s.sendall(b"".join(frames))
        while len(out) < len(qs):
            try:
                data = _read_frame(s, deadline)
            except (socket.timeout, EOFError, OSError):
                break
            if len(data) >= 2:
                out.setdefault(struct.unpack("!H", data[:2])[0], data)
    except OSError:
        pass
    finally:
        s.close()
    return out


def udp_burst(addr, qs):
    """Send every query at once, each from its own socket, so that they are
    in flight together (wuguard shares one upstream exchange among them);
    [reply or None] in the order of qs, a lost one asked once more."""
    socks = []
    got = {}
    try:
        for q in qs:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((W.LOOPBACK, 0))
            socks.append((s, q))
        for s, q in socks:
            s.sendto(q.wire, addr)
        deadline = time.monotonic() + UDP_TRIES[0]
        pending = dict((s.fileno(), (s, q)) for s, q in socks)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(list(pending), [], [], left)
            for fd in ready:
                s, q = pending[fd]
                try:
                    data, src = s.recvfrom(65535)
                except OSError:
                    continue
                if tuple(src[:2]) == tuple(addr[:2]) and data[:2] == q.wire[:2]:
                    got[q.seq] = data
                    del pending[fd]
    finally:
        for s, _ in socks:
            s.close()
    return [got.get(q.seq) or udp_exchange(addr, q) for q in qs]


def tcp_batch(addr, qs, split=False):
    got = tcp_exchange(addr, qs, split)
    missing = [q for q in qs if q.id not in got]
    if missing and len(missing) < len(qs) + 1:
        # once more, one query per connection, as a client would retry
        for q in missing:
            got.update(tcp_exchange(addr, [q], split))
    return [got.get(q.id) for q in qs]


def run_batches(batches, servers):
    """batches: [(kind, [Q...])]; returns {seq: {server: bytes or None}}."""
    results = {}
    jobs = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as ex:
        for kind, qs in batches:
            for sname, addr in servers:
                if kind == "udp":
                    for q in qs:
                        jobs.append((ex.submit(udp_exchange, addr, q), sname, [q], True))
                elif kind == "udp-burst":
                    jobs.append((ex.submit(udp_burst, addr, qs), sname, qs, False))
                else:
                    jobs.append((ex.submit(tcp_batch, addr, qs, kind == "tcp-split"),
                                 sname, qs, False))
        for fut, sname, qs, single in jobs:
            res = fut.result()
            if single:
                res = [res]
            for q, data in zip(qs, res):
                results.setdefault(q.seq, {})[sname] = data
    return results


# ---------------------------------------------------------------------------
# the query set

rng = random.Random(SEED)


def build_phases():
    """The phases, in order; queries within a phase run in parallel. Each
    phase is a list of (kind, [Q]) batches."""
    cold = ["cold%d" % i for i in range(8)]
    ph = {}

    # 1. RD=0 for names nobody has asked yet: cache-only for unbound
    ph["rd0-cold"] = [("udp", [Q("rd0-cold", fqdn(n), t, rd=False, edns=0)
                               for n in cold[:4] for t in ("A", "TXT")])]

    main = []
    g = "names-edns"
    main.append(("udp", [Q(g, fqdn(n), t, edns=0) for n in NAMES for t in TYPES]))
    g = "burst"
    # many clients asking one uncached question at once, each its own way
    for n, t in (("burst0", "A"), ("burst1", "TXT"), ("burst2", "TXT"), ("burst3", "AAAA")):
        main.append(("udp-burst", [Q(g, fqdn(n), t, edns=e, payload=p, do=do and e == 0,
                                     cd=cd, mixcase=mc)
                                   for e in (None, 0) for p in (512, 1232, 4096)
                                   for do in (False, True) for cd in (False, True)
                                   for mc in (False, True)
                                   if not (e is None and (do or p != 512))]))
    g = "names-no-edns"
    main.append(("udp", [Q(g, fqdn(n), t) for n in NAMES for t in ("A", "AAAA", "MX", "TXT")]))
    g = "buffer-sizes"
    sized = ["txt", "txt300", "txt600", "big", "manymx", "multi", "multi6", "mx",
             "nope", "lame", "www.sub", "b.ent"]
    main.append(("udp", [Q(g, fqdn(n), t, edns=0, payload=p)
                         for n in sized for p in (0, 511, 512, 1232, 4096, 65535)
                         for t in ("TXT", "MX", "AAAA", "A")]))
    g = "flag-bits"
    flagged = ["www", "c1", "cnx", "txt600", "nope", "b.ent", "a.wild", "www.sub", "lame"]
    main.append(("udp", [Q(g, fqdn(n), t, edns=e, do=do and e is not None, cd=cd, ad=ad)
                         for n in flagged for t in ("A", "TXT")
                         for e in (None, 0) for do in (False, True)
                         for cd in (False, True) for ad in (False, True)
                         if not (do and e is None)]))
    g = "mixed-case"
    main.append(("udp", [Q(g, fqdn(n), t, edns=e, mixcase=True)
                         for n in NAMES for t in ("A", "TXT") for e in (None, 0)]))
    g = "class"
    chaos = ["version.bind.", "hostname.bind.", "id.server.", "version.server.",
             "authors.bind.", "trustanchor.unbound.", "foo.bind.", fqdn("www")]
    main.append(("udp", [Q(g, n, t, qclass="CH", edns=e)
                         for n in chaos for t in ("TXT", "A", "ANY") for e in (None, 0)] +
                 [Q(g, fqdn(n), t, qclass=c, edns=e)
                  for n in ("www", "nope") for t in ("A", "TXT")
                  for c in ("HS", "NONE", "ANY") for e in (None, 0)]))
    g = "opcode"
    main.append(("udp", [Q(g, fqdn(n), t, opcode=op, edns=e, rd=rd)
                         for op in (1, 2, 3, 4, 5, 6, 15) for e in (None, 0)
                         for rd in (True, False) for n, t in (("www", "A"), ("@", "SOA"))]))
    g = "qdcount"
    main.append(("udp", [Q(g, fqdn("www"), "A", qdcount=n, edns=e, rd=rd, opcode=op)
                         for n in (0, 2) for e in (None, 0) for rd in (True, False)
                         for op in (0, 4)]))
    g = "foreign"
    main.append(("udp", [Q(g, n, t, edns=e) for n in FOREIGN for t in ("A", "NS")
                         for e in (None, 0)]))
    g = "bad-opt"
    # RFC 6891 6.1.1: more than one OPT, or an OPT not owned by the root,
    # is FORMERR; so is an option running past the OPT's RDATA
    opt0 = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    bad = {
        "two OPT": [opt0, opt0],
        "OPT owned by www": [b"\3www\0" + opt0[1:]],
        "option past RDATA": [b"\0" + struct.pack("!HHIHHH", 41, 1232, 0, 4, 10, 8)],
        "RDATA past the end": [b"\0" + struct.pack("!HHIH", 41, 1232, 0, 40)],
    }
    main.append(("udp", [Q(g, fqdn(n), "A", opt=v, rd=rd, label=k) for k, v in bad.items()
                         for n in ("www", "nope") for rd in (True, False)]))
    g = "odd-names"
    # binary and escaped labels, the longest name there can be, types that
    # are no data types (AXFR/IXFR, OPT, TYPE0, MAILB), DNAME and DNSSEC
    # types from an unsigned zone
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 52]) + "." + Z + "."
    odd = ["\\000x." + Z + ".", "a\\.b." + Z + ".", "\\255\\200." + Z + ".",
           "x\\032y." + Z + ".", longest[-254:].lstrip("."), "www.dn." + Z + ".",
           "nope.dn." + Z + ".", "dn." + Z + "."]
    main.append(("udp", [Q(g, n, t, edns=0) for n in odd
                         for t in ("A", "TXT", "DNAME", "CNAME")] +
                 [Q(g, fqdn(n), t, edns=e) for n in ("www", "nope", "@")
                  for t in ("AXFR", "IXFR", "OPT", "TYPE0", "MAILB", "MAILA", "RRSIG",
                            "NSEC", "DNSKEY", "NSEC3PARAM", "TYPE128", "TYPE200", "TKEY",
                            "TSIG")
                  for e in (None, 0)]))
    main.append(("tcp", [Q(g, fqdn(n), t, edns=0, transport="tcp")
                         for n in ("@", "huge") for t in ("AXFR", "IXFR", "TXT", "ANY")]))
    g = "header-bits"
    # RFC 1035: Z is zero in a reply; AA, TC and RA in a query mean nothing
    main.append(("udp", [Q(g, fqdn(n), t, hbits=b, edns=e)
                         for b in (0x400, 0x200, 0x80, 0x40, 0x6c0)
                         for n, t in (("www", "A"), ("nope", "A"), ("txt", "TXT"))
                         for e in (None, 0)]))
    g = "edns-options"
    # ISC genreport's ednsopt, ednsflags, optlist and ednsnsid probes
    opts = {"unknown option 100": b"\x00\x64\x00\x00",
            "NSID": b"\x00\x03\x00\x00",
            "ECS 0/0": b"\x00\x08\x00\x04\x00\x01\x00\x00",
            "EXPIRE": b"\x00\x09\x00\x00",
            "client COOKIE": b"\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08",
            "padding 32": b"\x00\x0c\x00\x20" + b"\0" * 32}
    opts["all of them"] = b"".join(opts.values())
    main.append(("udp", [Q(g, fqdn(n), t, edns=0, options=o, do=do)
                         for o in opts.values() for do in (False, True)
                         for n, t in (("www", "A"), ("nope", "A"))] +
                 [Q(g, fqdn(n), "A", edns=0, eflags=f)
                  for f in (0x0080, 0x4000, 0x0001) for n in ("www", "nope")]))
    g = "edns-version"
    main.append(("udp", [Q(g, fqdn(n), t, edns=v, do=do)
                         for n, t in (("www", "A"), ("nope", "A"), ("big", "TXT"))
                         for v in (1, 255) for do in (False, True)]))
    g = "tcp"
    main.append(("tcp", [Q(g, fqdn(n), t, edns=e, transport="tcp")
                         for n in ("big", "manymx", "multi6", "txt600", "www", "nope",
                                   "lame", "c1", "cnx", "b.ent")
                         for t in ("TXT", "MX", "AAAA", "ANY") for e in (None, 0)][:40]))
    # one connection per query for the rest of the tcp group
    for n in ("big", "manymx", "multi6", "txt600", "www", "nope", "c1", "b.ent"):
        for t in ("TXT", "MX", "AAAA", "ANY", "A"):
            main.append(("tcp", [Q(g, fqdn(n), t, edns=0, transport="tcp",
                                   payload=512)]))
    g = "tcp-pipelined"
    for i in range(8):
        qs = [Q(g, fqdn(rng.choice(NAMES)), rng.choice(TYPES + ["ANY"]),
                edns=rng.choice((None, 0)), mixcase=rng.random() < 0.3,
                transport="tcp-pipelined") for _ in range(20)]
        main.append(("tcp-pipelined", qs))
    g = "tcp-split"
    for n in ("www", "big", "manymx", "nope", "c1", "txt600", "sub", "a.wild",
              "multi6", "mx"):
        for t, e in (("A", None), ("TXT", 0), ("ANY", 0)):
            main.append(("tcp-split", [Q(g, fqdn(n), t, edns=e, transport="tcp-split")]))
    ph["main"] = main

    # 3. after the main phase: RD=0 for names now cached on both sides, and
    # RD=1 for the names the first phase asked with RD=0 (must be unharmed)
    warm = ["www", "c1", "txt", "manymx", "nope", "b.ent"]
    # ANY after the other types: what unbound's cache adds is then the same
    # on every run
    ph["after"] = [("udp",
                    [Q("any", fqdn(n), "ANY", edns=e) for n in NAMES for e in (None, 0)] +
                    [Q("rd0-warm", fqdn(n), t, rd=False, edns=e)
                     for n in warm for t in ("A", "TXT") for e in (None, 0)] +
                    [Q("rd1-after-rd0", fqdn(n), t, edns=e)
                     for n in cold[:4] for t in ("A", "TXT") for e in (None, 0)] +
                    # class ANY once the zone's SOA is in unbound's cache
                    [Q("class-any-cached", fqdn(n), t, qclass="ANY", edns=e)
                     for n in ("nope", "www") for t in ("A", "TXT") for e in (None, 0)] +
                    # the DNAME is in unbound's cache now: it synthesises
                    [Q("dname-cached", fqdn(n), t, edns=e)
                     for n in ("www.dn", "nope.dn", "x.y.dn") for t in ("A", "CNAME")
                     for e in (None, 0)])]
    return ph


# ---------------------------------------------------------------------------

def compare_all(phases, results, rules):
    groups = {}
    for batches in phases.values():
        for _, qs in batches:
            for q in qs:
                groups.setdefault(q.group, []).append(q)
    for g, qs in groups.items():
        bad, todo, accepted, known = [], [], 0, set()
        for q in qs:
            u = R(results[q.seq]["unbound"])
            w = R(results[q.seq]["wuguard"])
            diff = differences(u, w)
            if SHOW and re.search(SHOW, q.text()):
                h.diag("query %s" % q.text(), "   unbound: %s" % u.text(),
                       "   wuguard: %s" % w.text())
            unexplained, xfailed = {}, {}
            accepted_here = False
            for field, vals in diff.items():
                rule = next((r for r in rules if r.applies(field, q, u, w)), None)
                if rule is None:
                    unexplained[field] = vals
                    continue
                rule.used += 1
                if rule.xfail:
                    xfailed[field] = vals
                    known.add(rule.reason.split(":")[0])
                else:
                    accepted_here = True
                if VERBOSE:
                    h.diag("%s: %s accepted by %s" % (q.text(), field, rule.text()))
            accepted += accepted_here
            if unexplained:
                bad.append((q, u, w, unexplained))
            elif xfailed:
                todo.append((q, u, w, xfailed))
        desc = "%s: %d queries, replies agree (%d with differences the rules accept)" % (
            g, len(qs), accepted)
        h.ok(not bad, desc, *report(bad, "unexplained"))
        if todo:
            h.ok(False, "%s: %d queries differ only in known bugs" % (g, len(todo)),
                 *report(todo, "expected failure"),
                 todo="known wuguard bug, %s" % ", ".join(sorted(known)))


def report(items, what, limit=int(os.environ.get("WG_DIFF_LIMIT", "6"))):
    lines = []
    counts = {}
    for _, _, _, d in items:
        for f in d:
            counts[f] = counts.get(f, 0) + 1
    if items:
        lines.append("%d queries with %s differences, by field: %s" % (
            len(items), what, ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    for q, u, w, d in items[:limit]:
        lines.append("query %s" % q.text())
        lines.append("   wire %s" % q.wire.hex())
        for f, (a, b) in d.items():
            lines.append("   %s: unbound %r, wuguard %r" % (f, a, b))
        lines.append("   unbound: %s" % u.text())
        lines.append("   wuguard: %s" % w.text())
    if len(items) > limit:
        lines.append("... and %d more" % (len(items) - limit))
    return lines


def differential():
    rules = load_rules()
    h.ok(True, "%s: %d rules read (%d expected failures)" % (
        os.path.basename(RULES_PATH), len(rules), sum(r.xfail for r in rules)))
    ns = start_nsd()
    ub = h.unbound(ns.addr, extra=UNBOUND_EXTRA, probe=fqdn("www"))
    wg = h.wuguard([ns.addr], config=W.wg_config(), public="none", verbose=False,
                   probe=fqdn("www"))
    h.diag("random seed %d (set WG_SEED to repeat)" % SEED)
    servers = [("unbound", ub.addr), ("wuguard", wg.addr)]

    phases = build_phases()
    total = sum(len(qs) for b in phases.values() for _, qs in b)
    t0 = time.monotonic()
    results = {}
    try:
        for name, batches in phases.items():
            results.update(run_batches(batches, servers))
    finally:
        close_sockets()
    took = time.monotonic() - t0
    h.ok(total >= 1000, "%d queries sent to each server in %.1f s" % (total, took))
    compare_all(phases, results, rules)
    unused = [r for r in rules if not r.used and not r.optional]
    h.ok(not unused, "every rule in %s is still needed" % os.path.basename(RULES_PATH),
         *["no query needs %s (%s)%s" % (r.text(), r.reason,
                                         ": the bug is fixed, remove the rule" if r.xfail
                                         else "") for r in unused])
    for r in rules:
        h.diag("rule %s accepted %d differences" % (r.text(), r.used))
    h.ok(ub.alive() and wg.alive() and ns.alive(), "all three servers still running")
    # an --enable-debug build reports what ASan/UBSan saw on stderr, leaks
    # at exit: stop it here to read that
    rc = wg.stop()
    bad = [l for l in wg.log_tail(100000)
           if "runtime error" in l or "Sanitizer" in l]
    h.ok(rc == 0 and not bad, "wuguard exits cleanly (status %s) with nothing from the sanitizers"
         % rc, *bad[:20])


h.case("wuguard and unbound agree", differential)
h.done()
