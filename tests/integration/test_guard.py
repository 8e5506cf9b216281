#!/usr/bin/python3
"""The WU guard end to end (issue 3): a "public" authority (nsd, asked
directly with plain DNS through --public) and "corporate" resolvers that
tamper with Windows Update names in every style a filter uses:

  unbound   local-zone/local-data rules: 0.0.0.0 and ::, an Umbrella block
            page, NXDOMAIN, REFUSED, NODATA, no reply (deny), a bare rewrite
            of a CNAME chain, a CNAME into a walled garden, a private-address
            rewrite; not to be repaired: a CDN edge that differs (the
            corporate view of the CDN zone comes from a second nsd), a
            sanctioned cache appliance at 10.10.10.10, a clean WU name, and a
            blocked name outside the WU set.
  dnsmasq   --address=/name/0.0.0.0, /name/::, /name/ (NXDOMAIN), a block page.
  fake      a filtering resolver that says so with an Extended DNS Error
            (RFC 8914: 15 Blocked, 17 Filtered). unbound 1.17 adds no EDE to
            local-zone or RPZ answers, so a FakeUpstream plays this part.

Every corporate resolver is put behind two daemons, one in repair mode and
one in monitor mode. For each name the test checks what the client gets
(repair: the genuine answer, capped TTL, EDE 0 on it and on every cache
hit of it; monitor: the tampered one) and then the rows the daemon wrote to its
discrepancy database (category and action, read back with wuguardctl).
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402
from wgtest import dns  # noqa: E402
import dns.edns  # noqa: E402

h = W.Harness()
CTL = os.path.join(W.BUILDDIR, "wuguardctl")
DOMAINS = os.path.join(W.SRCDIR, "db", "wu-domains.list")
REPAIR_TTL = 120

# ---------------------------------------------------------------------------
# the authorities

WU_ZONE = (W.soa() +
           "download 300 IN CNAME wu.dl.akamaized.net.\n"
           "ctldl 300 IN A 192.0.2.20\n"
           "ctldl 300 IN AAAA 2001:db8::20\n"
           "au.download 300 IN CNAME au.dl.akamaized.net.\n")
MS_ZONE = (W.soa() +
           "sls.update 300 IN A 192.0.2.31\n"
           "slscr.update 300 IN A 192.0.2.32\n"
           "fe2.update 300 IN A 192.0.2.33\n"
           "catalog.update 300 IN A 192.0.2.34\n"
           "www.update 300 IN A 192.0.2.40\n"
           "v6.update 300 IN A 192.0.2.42\n"
           "v6.update 300 IN AAAA 2001:db8::42\n"
           "v6first.update 300 IN A 192.0.2.43\n"
           "v6first.update 300 IN AAAA 2001:db8::43\n"
           "v6alone.update 300 IN A 192.0.2.44\n"
           "v6alone.update 300 IN AAAA 2001:db8::44\n"
           "v6both.update 300 IN A 192.0.2.45\n"
           "v6both.update 300 IN AAAA 2001:db8::45\n"
           "v6bad.update 300 IN A 192.0.2.46\n"
           "v6bad.update 300 IN AAAA 2001:db8::46\n"
           "v6slow.update 300 IN A 192.0.2.47\n"
           "v6slow.update 300 IN AAAA 2001:db8::47\n"
           "fe2cr.update 300 IN A 192.0.2.41\n"
           "fe3.delivery.mp 300 IN A 192.0.2.35\n"
           "fe3cr.delivery.mp 300 IN A 192.0.2.39\n"
           "dl.delivery.mp 300 IN A 192.0.2.37\n"
           "emdl.ws 300 IN CNAME emdl.ws.microsoft.com.edgekey.net.\n"
           "amupdatedl 300 IN A 192.0.2.38\n")
AKAMAI_PUBLIC = (W.soa() +
                 "wu.dl 300 IN A 192.0.2.10\n"
                 "wu.dl 300 IN AAAA 2001:db8::10\n"
                 "au.dl 300 IN A 192.0.2.30\n")
# The corporate network sees another edge of the same CDN.
AKAMAI_CORP = (W.soa() +
               "wu.dl 300 IN A 198.51.100.10\n"
               "wu.dl 300 IN AAAA 2001:db8::a10\n"
               "au.dl 300 IN A 192.0.2.30\n")
EDGEKEY = W.soa() + "emdl.ws.microsoft.com 300 IN A 192.0.2.36\n"
CORP = W.soa() + "garden 300 IN A 198.51.100.99\n"
OTHER = W.soa() + "ads 300 IN A 192.0.2.200\n"


def zones(akamai):
    return {"windowsupdate.com": WU_ZONE, "microsoft.com": MS_ZONE,
            "akamaized.net": akamai, "edgekey.net": EDGEKEY, "corp.test": CORP,
            "example.org": OTHER}


# ---------------------------------------------------------------------------
# what each name should look like
#
# (name, type, tampered, genuine, category, early)
#   tampered  what the corporate resolver answers: "a b" addresses, an rcode
#             name, "NODATA", or "SERVFAIL" for no reply (what the daemon
#             gives when its local upstream stays silent in monitor mode)
#   genuine   what repair mode serves; None: the tampered answer is served in
#             both modes (not a repairable verdict)
#   category  expected database category; None: no row at all
#   early     the local answer looks clean, so repair mode may serve it at
#             once and repairs the cache when the public answer is in

UNBOUND_RULES = [
    'local-zone: "ctldl.windowsupdate.com." redirect',
    'local-data: "ctldl.windowsupdate.com. 300 A 0.0.0.0"',
    'local-data: "ctldl.windowsupdate.com. 300 AAAA ::"',
    'local-zone: "sls.update.microsoft.com." redirect',
    'local-data: "sls.update.microsoft.com. 300 A 146.112.61.106"',
    'local-zone: "fe3.delivery.mp.microsoft.com." always_nxdomain',
    'local-zone: "slscr.update.microsoft.com." always_refuse',
    'local-zone: "fe2.update.microsoft.com." static',
    'local-data: "fe2.update.microsoft.com. 300 TXT blocked"',
    'local-zone: "catalog.update.microsoft.com." deny',
    'local-zone: "au.download.windowsupdate.com." redirect',
    'local-data: "au.download.windowsupdate.com. 300 A 198.51.100.50"',
    'local-zone: "emdl.ws.microsoft.com." redirect',
    'local-data: "emdl.ws.microsoft.com. 300 CNAME garden.corp.test."',
    'local-zone: "dl.delivery.mp.microsoft.com." redirect',
    'local-data: "dl.delivery.mp.microsoft.com. 300 A 10.10.10.10"',
    'local-zone: "amupdatedl.microsoft.com." redirect',
    'local-data: "amupdatedl.microsoft.com. 300 A 10.10.10.11"',
    'local-zone: "ads.example.org." redirect',
    'local-data: "ads.example.org. 300 A 0.0.0.0"',
    # the genuine A, no AAAA: an IPv6 filter
    'local-zone: "v6.update.microsoft.com." static',
    'local-data: "v6.update.microsoft.com. 300 A 192.0.2.42"',
]

UNBOUND_CASES = [
    ("ctldl.windowsupdate.com", "A", "0.0.0.0", "192.0.2.20", "sinkhole", False),
    # the A agrees (no row); its AAAA, asked at the end, is then judged
    # aaaa-suppressed against the verified A in the cache
    ("v6.update.microsoft.com", "A", "192.0.2.42", None, None, True),
    ("ctldl.windowsupdate.com", "AAAA", "::", "2001:db8::20", "sinkhole", False),
    ("sls.update.microsoft.com", "A", "146.112.61.106", "192.0.2.31", "sinkhole", False),
    ("fe3.delivery.mp.microsoft.com", "A", "NXDOMAIN", "192.0.2.35", "blocked-rcode",
     False),
    ("slscr.update.microsoft.com", "A", "REFUSED", "192.0.2.32", "blocked-rcode", False),
    ("fe2.update.microsoft.com", "A", "NODATA", "192.0.2.33", "nodata", False),
    ("catalog.update.microsoft.com", "A", "SERVFAIL", "192.0.2.34", "local-timeout",
     False),
    ("au.download.windowsupdate.com", "A", "198.51.100.50", "192.0.2.30", "rewrite", True),
    ("emdl.ws.microsoft.com", "A", "198.51.100.99", "192.0.2.36", "rewrite", True),
    ("amupdatedl.microsoft.com", "A", "10.10.10.11", "192.0.2.38", "sinkhole", False),
    # not repaired
    ("download.windowsupdate.com", "A", "198.51.100.10", None, "cdn-variance", True),
    ("download.windowsupdate.com", "AAAA", "2001:db8::a10", None, "cdn-variance", True),
    ("dl.delivery.mp.microsoft.com", "A", "10.10.10.10", None, "sanctioned", True),
    ("www.update.microsoft.com", "A", "192.0.2.40", None, None, True),
    ("ads.example.org", "A", "0.0.0.0", None, None, True),
    ("v6.update.microsoft.com", "AAAA", "NODATA", None, "aaaa-suppressed", False),
]

DNSMASQ_ADDRESSES = [
    "/ctldl.windowsupdate.com/0.0.0.0",
    "/ctldl.windowsupdate.com/::",
    "/fe3.delivery.mp.microsoft.com/",
    "/sls.update.microsoft.com/146.112.61.106",
    "/ads.example.org/0.0.0.0",
]

DNSMASQ_CASES = [
    ("ctldl.windowsupdate.com", "A", "0.0.0.0", "192.0.2.20", "sinkhole", False),
    ("ctldl.windowsupdate.com", "AAAA", "::", "2001:db8::20", "sinkhole", False),
    ("fe3.delivery.mp.microsoft.com", "A", "NXDOMAIN", "192.0.2.35", "blocked-rcode",
     False),
    ("sls.update.microsoft.com", "A", "146.112.61.106", "192.0.2.31", "sinkhole", False),
    ("www.update.microsoft.com", "A", "192.0.2.40", None, None, True),
    ("ads.example.org", "A", "0.0.0.0", None, None, True),
]

EDE_CASES = [
    ("fe3cr.delivery.mp.microsoft.com", "A", "NXDOMAIN", "192.0.2.39", "blocked-ede",
     False),
    ("fe2cr.update.microsoft.com", "A", "0.0.0.0", "192.0.2.41", "blocked-ede", False),
    ("www.update.microsoft.com", "A", "192.0.2.40", None, None, True),
]


# ---------------------------------------------------------------------------
# helpers

def view(m, rdtype):
    """What a client sees, as the strings used in the case tables."""
    if m is None:
        return "no reply"
    rc = W.rcode_text(m)
    if rc != "NOERROR":
        return rc
    addrs = W.answer_set(m, rdtype)
    return " ".join(sorted(addrs)) if addrs else "NODATA"


ede_codes = W.ede_codes

# The EXTRA-TEXT a help-desk reads in dig's EDE line (guard.c's table).
EDE_TEXTS = {
    "sinkhole": "wuguard: repaired sinkhole, public answer served",
    "blocked-rcode": "wuguard: repaired blocked-rcode (local NXDOMAIN/REFUSED), "
                     "public answer served",
    "blocked-ede": "wuguard: repaired blocked-ede (local filter), public answer served",
    "nodata": "wuguard: repaired nodata (local empty answer), public answer served",
    "rewrite": "wuguard: repaired rewrite (local address differs), public answer served",
    "local-timeout": "wuguard: repaired local-timeout, public answer served",
    "local-servfail": "wuguard: repaired local-servfail, public answer served",
    "aaaa-suppressed": "wuguard: repaired aaaa-suppressed, public answer served",
}


def ede_texts(m):
    """The EXTRA-TEXTs of the EDE options in a reply, [] for none."""
    if m is None:
        return []
    return [o.text for o in m.options if isinstance(o, dns.edns.EDEOption)]


def min_ttl(m):
    ttls = [rr.ttl for rr in (m.answer if m is not None else [])]
    return min(ttls) if ttls else None


def ask(wg, name, rdtype, timeout=4.0):
    return W.query(wg.addr, name, rdtype, edns=0, timeout=timeout)[0]


def guard_config(extra=None):
    cfg = W.wg_config(guard={"sanctioned-address": "10.10.10.10",
                             "public-wait": 400,
                             "repair-ttl": REPAIR_TTL,
                             "repair-ede": True},
                      database={"aggregate-window": 0})
    for k, v in (extra or {}).items():
        cfg.setdefault(k, {}).update(v)
    return cfg


def start_pair(local, public):
    """The same corporate resolver behind a repair and a monitor daemon."""
    out = {}
    for mode in ("repair", "monitor"):
        out[mode] = h.wuguard([local], name="wuguard-" + mode, public=public,
                              config=guard_config(),
                              args=["--mode", mode, "--domains", DOMAINS])
    return out


def db_rows(wg):
    """Stop the daemon (its database queue is flushed on SIGTERM) and read
    every row back with wuguardctl."""
    rc = wg.stop()
    h.eq(rc, 0, "%s exits 0 on SIGTERM" % wg.name)
    db = os.path.join(wg.dir, "wuguard.db")
    p = subprocess.run([CTL, "--db", db, "list", "--format", "json", "--limit", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=20)
    h.eq(p.returncode, 0, "wuguardctl list on %s's database" % wg.name, p.stderr)
    return h.json_lines(p.stdout, "wuguardctl")


def rows_for(rows, name, rdtype):
    return [r for r in rows if r.get("name", "").rstrip(".").lower() == name and
            r.get("type") == rdtype]


def guard_log_mentions(wg, name):
    """Lines of the daemon's debug log where the guard judged name."""
    try:
        with open(wg.logpath, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [l for l in text.splitlines() if "guard" in l and name in l]


# ---------------------------------------------------------------------------
# the checks

def check_repair(wg, cases):
    for name, t, tampered, genuine, cat, early in cases:
        what = "repair %s %s" % (name, t)
        m = ask(wg, name, t)
        got = view(m, t)
        if genuine is None:
            h.eq(got, tampered, "%s: served as the corporate resolver answered" % what,
                 W.describe(m))
            h.eq(ede_codes(m), [], "%s: no EDE" % what, W.describe(m))
            continue
        if early:
            # the latency rule may serve the clean-looking local answer
            # first; the cache then holds the repaired one
            h.ok(got in (tampered, genuine),
                 "%s: first answer local (served early) or repaired" % what,
                 "got %r" % got, W.describe(m))
            h.diag("%s: first answer %s" % (what, "served early" if got == tampered
                                             else "repaired"))
            time.sleep(0.3)
            m = ask(wg, name, t)
            got = view(m, t)
            h.eq(got, genuine, "%s: the cache holds the repaired answer" % what,
                 W.describe(m))
            h.eq(ede_codes(m), [0], "%s: and its cache hits carry EDE 0" % what,
                 W.describe(m))
            h.eq(ede_texts(m), [EDE_TEXTS[cat]],
                 "%s: the cache hit's EDE says what was repaired (late repair)" % what,
                 W.describe(m))
        else:
            h.eq(got, genuine, "%s: the genuine answer is served" % what, W.describe(m))
            h.eq(ede_codes(m), [0], "%s: EDE 0 (Other Error) marks the repair" % what,
                 W.describe(m))
            h.eq(ede_texts(m), [EDE_TEXTS[cat]],
                 "%s: its EXTRA-TEXT names the repair" % what, W.describe(m))
            m = ask(wg, name, t)
            h.eq(view(m, t), genuine, "%s: cache hit still genuine" % what, W.describe(m))
            h.eq(ede_codes(m), [0], "%s: the cache hit keeps EDE 0" % what, W.describe(m))
            h.eq(ede_texts(m), [EDE_TEXTS[cat]],
                 "%s: the cache hit keeps the EXTRA-TEXT" % what, W.describe(m))
        ttl = min_ttl(m)
        h.ok(ttl is not None and ttl <= REPAIR_TTL,
             "%s: TTL capped at repair-ttl %d" % (what, REPAIR_TTL), "ttl: %s" % ttl)


def check_monitor(wg, cases):
    for name, t, tampered, genuine, cat, early in cases:
        what = "monitor %s %s" % (name, t)
        m = ask(wg, name, t)
        h.eq(view(m, t), tampered, "%s: the corporate answer is served" % what,
             W.describe(m))
        h.eq(ede_codes(m), [], "%s: no EDE" % what, W.describe(m))


def check_rows(rows, cases, mode, wgname):
    for name, t, tampered, genuine, cat, early in cases:
        what = "%s %s %s" % (mode, name, t)
        mine = rows_for(rows, name, t)
        if cat is None:
            h.eq(mine, [], "%s: no database row" % what)
            continue
        h.eq(sorted({r.get("category") for r in mine}), [cat],
             "%s: database category %s" % (what, cat), json.dumps(mine)[:1500])
        if genuine is not None:
            want = "public" if mode == "repair" else "local-monitor"
        else:
            want = "local"
        h.eq(sorted({r.get("action") for r in mine}), [want],
             "%s: database action %s" % (what, want), json.dumps(mine)[:1500])
        # the evidence: both sides as they were seen
        loc = [r.get("local", {}) for r in mine]
        pub = [r.get("public", {}) for r in mine]
        if tampered[0].isdigit() or ":" in tampered:
            h.eq([sorted(s.get("addresses") or []) for s in loc],
                 [sorted(tampered.split())] * len(mine),
                 "%s: local addresses recorded" % what)
        elif tampered in ("NXDOMAIN", "REFUSED"):
            h.eq([s.get("rcode") for s in loc], [tampered] * len(mine),
                 "%s: local rcode %s recorded" % (what, tampered))
        elif tampered == "SERVFAIL":
            h.eq([s.get("status") for s in loc], ["timeout"] * len(mine),
                 "%s: local side recorded as timeout" % what)
        if genuine is not None:
            h.eq([sorted(s.get("addresses") or []) for s in pub],
                 [sorted(genuine.split())] * len(mine),
                 "%s: public addresses recorded" % what)
    known = {(c[0], c[1]) for c in cases}
    extra = [r for r in rows if (r.get("name", "").rstrip(".").lower(), r.get("type"))
             not in known]
    h.eq(extra, [], "%s: no rows for names not asked or probes" % wgname)


def run_pair(pair, cases, non_wu=()):
    check_repair(pair["repair"], cases)
    check_monitor(pair["monitor"], cases)
    for mode, wg in pair.items():
        # the log check below means something only if judged names show up
        wu = cases[0][0]
        h.ok(guard_log_mentions(wg, wu),
             "%s: the debug log shows the guard judging %s" % (mode, wu))
        for name in non_wu:
            h.eq(guard_log_mentions(wg, name), [],
                 "%s: %s (outside the WU set) never cross-checked" % (mode, name))
        check_rows(db_rows(wg), cases, mode, wg.name)


# ---------------------------------------------------------------------------
# the scenarios

def unbound_corporate():
    corp_ns = h.nsd(zones(AKAMAI_CORP), name="nsd-corporate-view", probe="microsoft.com")
    ub = h.unbound(corp_ns.addr, name="unbound-corporate", local=UNBOUND_RULES)
    # the corporate resolver really tampers (else the test proves nothing)
    m, _ = W.query(ub.addr, "ctldl.windowsupdate.com")
    h.eq(view(m, "A"), "0.0.0.0", "unbound: ctldl sinkholed to 0.0.0.0", W.describe(m))
    m, _ = W.query(ub.addr, "catalog.update.microsoft.com", timeout=0.5)
    h.ok(m is None, "unbound: catalog dropped (deny)", W.describe(m))
    m, _ = W.query(ub.addr, "download.windowsupdate.com")
    h.eq(view(m, "A"), "198.51.100.10", "unbound: its own edge of the CDN", W.describe(m))
    run_pair(start_pair(ub.addr, PUBLIC.addr), UNBOUND_CASES, non_wu=["ads.example.org"])


def dnsmasq_corporate():
    dm = h.dnsmasq(PUBLIC.addr, name="dnsmasq-corporate", addresses=DNSMASQ_ADDRESSES,
                   cache_size=0)
    for name, t, tampered, _, _, _ in DNSMASQ_CASES:
        m, _ = W.query(dm.addr, name, t)
        h.eq(view(m, t), tampered, "dnsmasq answers %s %s as %s" % (name, t, tampered),
             W.describe(m))
    run_pair(start_pair(dm.addr, PUBLIC.addr), DNSMASQ_CASES, non_wu=["ads.example.org"])


def ede_corporate():
    def handler(q, transport):
        name = q.question[0].name.to_text().rstrip(".").lower()
        if name in ("fe3cr.delivery.mp.microsoft.com", "fe2cr.update.microsoft.com"):
            r = dns.message.make_response(q)
            r.flags |= dns.flags.RA
            if name.startswith("fe3cr"):
                r.set_rcode(dns.rcode.NXDOMAIN)
                code = dns.edns.EDECode.BLOCKED
            else:
                if q.question[0].rdtype == dns.rdatatype.A:
                    rrset = r.find_rrset(r.answer, q.question[0].name, dns.rdataclass.IN,
                                         dns.rdatatype.A, create=True)
                    rrset.add(dns.rdata.from_text("IN", "A", "0.0.0.0"), 300)
                code = dns.edns.EDECode.FILTERED
            r.use_edns(0, payload=1232, options=[dns.edns.EDEOption(code, "policy")])
            return r
        m, wire = W.ask(PUBLIC.addr, q, timeout=2)
        return wire
    fake = W.FakeUpstream(h, handler)
    m, _ = W.query(fake.addr, "fe3cr.delivery.mp.microsoft.com", edns=0)
    h.eq(ede_codes(m), [15], "the fake filter answers with EDE 15", W.describe(m))
    run_pair(start_pair(fake.addr, PUBLIC.addr), EDE_CASES)


def slow_or_dead_public():
    """The latency rule against a public resolver 0.6 s slower than the
    local one, and a public resolver that is down."""
    dm = h.dnsmasq(PUBLIC.addr, name="dnsmasq-corporate",
                   addresses=["/au.download.windowsupdate.com/198.51.100.50",
                              "/ctldl.windowsupdate.com/0.0.0.0"], cache_size=0)
    slow = W.FakeUpstream(h, lambda q, t: W.ask(PUBLIC.addr, q, timeout=2)[1], delay=0.6)
    wg = h.wuguard([dm.addr], name="wuguard-slow-public", public=slow.addr,
                   config=guard_config({"guard": {"public-wait": 1500}}),
                   args=["--mode", "repair", "--domains", DOMAINS])

    def timed(name, t="A"):
        t0 = time.monotonic()
        m = ask(wg, name, t)
        return m, time.monotonic() - t0

    # one at a time: the fake public resolver answers its queries in turn
    m, dt = timed("ctldl.windowsupdate.com")
    h.eq(view(m, "A"), "192.0.2.20", "slow public: a sinkhole waits and is repaired",
         W.describe(m))
    h.ok(0.5 <= dt < 1.4, "slow public: ... after about the public latency (0.6 s)",
         "took %.2f s" % dt)
    h.eq(ede_codes(m), [0], "slow public: the repaired answer carries EDE 0",
         W.describe(m))
    m, dt = timed("www.update.microsoft.com")
    h.eq(view(m, "A"), "192.0.2.40", "slow public: a clean WU answer", W.describe(m))
    h.ok(dt < 0.4, "slow public: a clean local answer is served without waiting",
         "took %.2f s" % dt)
    m, dt = timed("au.download.windowsupdate.com")
    h.eq(view(m, "A"), "198.51.100.50",
         "slow public: a clean-looking rewrite is served early as it came", W.describe(m))
    h.ok(dt < 0.4, "slow public: ... without waiting for the public side",
         "took %.2f s" % dt)
    time.sleep(1.5)  # both public exchanges (0.6 s each) are done
    m, dt = timed("au.download.windowsupdate.com")
    h.eq(view(m, "A"), "192.0.2.30",
         "slow public: the early-served rewrite was repaired in the cache", W.describe(m))
    h.ok(dt < 0.4, "slow public: ... and is a cache hit", "took %.2f s" % dt)
    ttl = min_ttl(m)
    h.ok(ttl is not None and ttl <= REPAIR_TTL, "slow public: late repair TTL capped",
         "ttl: %s" % ttl)
    rows = db_rows(wg)
    mine = rows_for(rows, "au.download.windowsupdate.com", "A")
    h.eq([(r.get("category"), r.get("action"), "early" in (r.get("markers") or []))
          for r in mine], [("rewrite", "public", True)],
         "slow public: the late repair is recorded as rewrite/public, marked early",
         json.dumps(mine)[:1500])

    # the public resolver is down: never worse than no guard
    wg = h.wuguard([dm.addr], name="wuguard-dead-public", public=W.dead_addr(),
                   config=guard_config({"upstream": {"public-timeout": 300}}),
                   args=["--mode", "repair", "--domains", DOMAINS])
    m = ask(wg, "au.download.windowsupdate.com", "A")
    h.eq(view(m, "A"), "198.51.100.50", "public down: the local answer is served",
         W.describe(m))
    m = ask(wg, "www.update.microsoft.com", "A")
    h.eq(view(m, "A"), "192.0.2.40", "public down: a clean WU name resolves",
         W.describe(m))
    m = ask(wg, "ctldl.windowsupdate.com", "A")
    h.eq(view(m, "A"), "SERVFAIL",
         "public down: an unmistakable sinkhole with nothing stale is SERVFAIL",
         W.describe(m))
    time.sleep(0.8)  # the early-served ones are judged when the public side times out
    rows = db_rows(wg)
    h.eq(sorted({(r.get("name").rstrip("."), r.get("category")) for r in rows}),
         [("au.download.windowsupdate.com", "public-unavailable"),
          ("ctldl.windowsupdate.com", "public-unavailable"),
          ("www.update.microsoft.com", "public-unavailable")],
         "public down: every WU verdict recorded as public-unavailable", json.dumps(rows)[:1500])

    # a public resolver that never answers: the clean local answer is
    # served early, then judged public-unavailable when public-timeout
    # runs out; its cache entry gets the TTL cap but no "repaired" EDE
    silent = W.FakeUpstream(h, lambda q, t: None)
    wg = h.wuguard([dm.addr], name="wuguard-silent-public", public=silent.addr,
                   config=guard_config({"upstream": {"public-timeout": 300}}),
                   args=["--mode", "repair", "--domains", DOMAINS])
    name = "www.update.microsoft.com"
    m = ask(wg, name, "A")
    h.eq(view(m, "A"), "192.0.2.40", "public silent: the clean local answer is served early",
         W.describe(m))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
            "public-unavailable" in l for l in guard_log_mentions(wg, name)):
        time.sleep(0.05)
    h.ok(any("public-unavailable" in l for l in guard_log_mentions(wg, name)),
         "public silent: the verdict came (public-unavailable)")
    m = ask(wg, name, "A")
    h.ok(view(m, "A") == "192.0.2.40" and ede_codes(m) == [],
         "public silent: the unverified local answer's cache hit carries no 'repaired' EDE",
         W.describe(m))
    ttl = min_ttl(m)
    h.ok(ttl is not None and ttl <= REPAIR_TTL, "public silent: ... but the TTL cap",
         "ttl: %s" % ttl)


# IPv6 suppression in any query order (issue 17 part 1): an unbound that
# gives the genuine A and no AAAA (an IPv6 filter), and one name whose A is
# sinkholed as well (not a filter of IPv6: a block).
V6_RULES = [
    'local-zone: "v6first.update.microsoft.com." static',
    'local-data: "v6first.update.microsoft.com. 300 A 192.0.2.43"',
    'local-zone: "v6alone.update.microsoft.com." static',
    'local-data: "v6alone.update.microsoft.com. 300 A 192.0.2.44"',
    'local-zone: "v6both.update.microsoft.com." static',
    'local-data: "v6both.update.microsoft.com. 300 A 192.0.2.45"',
    'local-zone: "v6bad.update.microsoft.com." redirect',
    'local-data: "v6bad.update.microsoft.com. 300 A 146.112.61.106"',
    'local-zone: "v6slow.update.microsoft.com." static',
    'local-data: "v6slow.update.microsoft.com. 300 A 192.0.2.47"',
]
V6_PUBLIC_A_DELAY = 0.3  # s: the public A verdict comes after the AAAA one


class DelayA:
    """Forwards to the real public authority, answering A queries
    V6_PUBLIC_A_DELAY late and the rest at once, each in its own thread: the
    public AAAA answer is in before the A exchange of the name has a verdict,
    whatever order the client asked in."""

    def __init__(self, upstream, delay=V6_PUBLIC_A_DELAY):
        import socket
        import threading
        self.upstream = upstream
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((W.LOOPBACK, 0))
        self.addr = self.sock.getsockname()
        self.stopping = False
        self.threading = threading
        h._closers.append(self.close)
        threading.Thread(target=self._loop, daemon=True).start()

    def _one(self, wire, src):
        try:
            q = dns.message.from_wire(wire)
            if q.question[0].rdtype == dns.rdatatype.A:
                time.sleep(self.delay)
            _, reply = W.ask(self.upstream, q, timeout=2)
            if reply is not None:
                self.sock.sendto(reply, src)
        except Exception:  # noqa: BLE001
            pass

    def _loop(self):
        while not self.stopping:
            try:
                wire, src = self.sock.recvfrom(65535)
            except OSError:
                return
            self.threading.Thread(target=self._one, args=(wire, src), daemon=True).start()

    def close(self):
        self.stopping = True
        self.sock.close()


def ask_together(wg, name):
    """A and AAAA sent at the same moment (two sockets), both replies read."""
    import socket
    socks, ids = [], []
    for t in ("A", "AAAA"):
        q = W.make_query(name, t, edns=0)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(4.0)
        socks.append(s)
        ids.append(q)
    for s, q in zip(socks, ids):
        s.sendto(q.to_wire(), wg.addr)
    out = []
    for s in socks:
        try:
            out.append(dns.message.from_wire(s.recv(65535)))
        except OSError:
            out.append(None)
        s.close()
    return out


def ipv6_suppression_any_order():
    ub = h.unbound(PUBLIC.addr, name="unbound-ipv6-filter", local=V6_RULES)
    m, _ = W.query(ub.addr, "v6alone.update.microsoft.com", "AAAA")
    h.eq(view(m, "AAAA"), "NODATA", "unbound filters IPv6: v6alone AAAA is NODATA",
         W.describe(m))
    m, _ = W.query(ub.addr, "v6bad.update.microsoft.com", "AAAA")
    h.eq(view(m, "AAAA"), "NODATA", "unbound: v6bad AAAA is NODATA (its A is sinkholed)",
         W.describe(m))
    pub = DelayA(PUBLIC.addr)
    for mode in ("repair", "monitor"):
        wg = h.wuguard([ub.addr], name="wuguard-v6-" + mode, public=pub.addr,
                       config=guard_config({"guard": {"public-wait": 1500}}),
                       args=["--mode", mode, "--domains", DOMAINS])
        # AAAA first, then A
        m = ask(wg, "v6first.update.microsoft.com", "AAAA")
        h.eq(view(m, "AAAA"), "NODATA",
             "%s: AAAA asked first: the network's NODATA is kept" % mode, W.describe(m))
        h.eq(ede_codes(m), [], "%s: AAAA first: no EDE" % mode, W.describe(m))
        m = ask(wg, "v6first.update.microsoft.com", "A")
        h.eq(view(m, "A"), "192.0.2.43", "%s: v6first A is the genuine one" % mode,
             W.describe(m))
        # AAAA alone: no client ever asks the A
        m = ask(wg, "v6alone.update.microsoft.com", "AAAA")
        h.eq(view(m, "AAAA"), "NODATA",
             "%s: AAAA alone: the network's NODATA is kept" % mode, W.describe(m))
        m = ask(wg, "v6alone.update.microsoft.com", "AAAA")
        h.eq(view(m, "AAAA"), "NODATA", "%s: AAAA alone: and so is its cache hit" % mode,
             W.describe(m))
        # A and AAAA at the same moment
        ma, m6 = ask_together(wg, "v6both.update.microsoft.com")
        h.eq(view(ma, "A"), "192.0.2.45", "%s: together: the A is genuine" % mode,
             W.describe(ma))
        h.eq(view(m6, "AAAA"), "NODATA", "%s: together: the AAAA NODATA is kept" % mode,
             W.describe(m6))
        # the A is tampered too: not an IPv6 filter, a block
        m = ask(wg, "v6bad.update.microsoft.com", "AAAA")
        want = "2001:db8::46" if mode == "repair" else "NODATA"
        h.eq(view(m, "AAAA"), want, "%s: A sinkholed too: the AAAA is %s" %
             (mode, "repaired" if mode == "repair" else "observed, served as it came"),
             W.describe(m))
        m = ask(wg, "v6bad.update.microsoft.com", "A")
        want = "192.0.2.46" if mode == "repair" else "146.112.61.106"
        h.eq(view(m, "A"), want, "%s: v6bad A %s" % (mode, want), W.describe(m))
        rows = db_rows(wg)
        repl = "public" if mode == "repair" else "local-monitor"
        for name, t, cat, act in (("v6first", "AAAA", "aaaa-suppressed", "local"),
                                  ("v6first", "A", None, None),
                                  ("v6alone", "AAAA", "aaaa-suppressed", "local"),
                                  ("v6both", "AAAA", "aaaa-suppressed", "local"),
                                  ("v6both", "A", None, None),
                                  ("v6bad", "AAAA", "nodata", repl),
                                  ("v6bad", "A", "sinkhole", repl)):
            mine = rows_for(rows, name + ".update.microsoft.com", t)
            got = sorted({(r.get("category"), r.get("action")) for r in mine})
            h.eq(got, [(cat, act)] if cat else [],
                 "%s: %s %s row: %s" % (mode, name, t, cat or "none"),
                 json.dumps(mine)[:1500])
        h.eq(sorted({r.get("name").rstrip(".") for r in rows} -
                    {n + ".update.microsoft.com" for n in
                     ("v6first", "v6alone", "v6both", "v6bad")}), [],
             "%s: no rows for the internal A checks or other names" % mode,
             json.dumps(rows)[:1500])

    # the A verdict comes too late: public-wait bounds the wait, then the
    # AAAA is judged without it (nodata, repaired), as before
    late = DelayA(PUBLIC.addr, delay=1.5)
    wg = h.wuguard([ub.addr], name="wuguard-v6-late", public=late.addr,
                   config=guard_config({"guard": {"public-wait": 300}}),
                   args=["--mode", "repair", "--domains", DOMAINS])
    t0 = time.monotonic()
    m = ask(wg, "v6slow.update.microsoft.com", "AAAA")
    dt = time.monotonic() - t0
    h.eq(view(m, "AAAA"), "2001:db8::47",
         "A verdict later than public-wait: the AAAA is judged nodata and repaired",
         W.describe(m))
    h.ok(dt < 1.2, "... after public-wait (300 ms), not after the late A (1.5 s)",
         "took %.2f s" % dt)
    rows = db_rows(wg)
    mine = rows_for(rows, "v6slow.update.microsoft.com", "AAAA")
    h.eq(sorted({(r.get("category"), r.get("action")) for r in mine}), [("nodata", "public")],
         "the late case's row: nodata, served public", json.dumps(rows)[:1500])


def ede_text_in_clients():
    """What a help-desk sees of a repair in dig and kdig: the EDE line with
    its EXTRA-TEXT, on the first answer and on the cache hit (dig 9.18 and
    kdig 3.2 both call code 0 "Other")."""
    dm = h.dnsmasq(PUBLIC.addr, name="dnsmasq-corporate",
                   addresses=["/ctldl.windowsupdate.com/0.0.0.0"], cache_size=0)
    wg = h.wuguard([dm.addr], name="wuguard-ede-text", public=PUBLIC.addr,
                   config=guard_config(), args=["--mode", "repair", "--domains", DOMAINS])
    host, port = wg.addr
    want = EDE_TEXTS["sinkhole"]
    for tool, argv, line in (
            ("dig", ["dig", "@" + host, "-p", str(port), "+tries=1", "+time=4",
                     "ctldl.windowsupdate.com", "A"],
             "; EDE: 0 (Other): (%s)" % want),
            ("kdig", ["kdig", "@" + host, "-p", str(port), "+edns", "+retry=0",
                      "+timeout=4", "ctldl.windowsupdate.com", "A"],
             ";; EDE: 0 (Other): '%s'" % want)):
        for turn in ("first answer", "cache hit"):
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=20)
            h.ok(line in p.stdout and "192.0.2.20" in p.stdout,
                 "%s (%s) shows the repair's EDE line with its text" % (tool, turn),
                 "want %r" % line, p.stdout)
    # without EDNS the client gets no OPT at all, so no EDE
    m = W.query(wg.addr, "ctldl.windowsupdate.com", "A", edns=-1)[0]
    h.ok(m is not None and m.edns < 0 and view(m, "A") == "192.0.2.20",
         "a client without EDNS gets the repaired answer and no OPT", W.describe(m))


PUBLIC = None
try:
    PUBLIC = h.nsd(zones(AKAMAI_PUBLIC), name="nsd-public", probe="microsoft.com")
except Exception as e:  # noqa: BLE001
    h.ok(False, "the public authority starts", str(e))
if PUBLIC is not None:
    m, _ = W.query(PUBLIC.addr, "download.windowsupdate.com")
    h.eq(view(m, "A"), "192.0.2.10", "nsd follows the chain into the CDN zone",
         W.describe(m))
    h.case("unbound as the corporate resolver", unbound_corporate)
    h.case("dnsmasq as the corporate resolver", dnsmasq_corporate)
    h.case("a filter that signals blocks with EDE", ede_corporate)
    h.case("a slow public resolver, then none", slow_or_dead_public)
    h.case("the repair's EDE text in dig and kdig", ede_text_in_clients)
    h.case("IPv6 suppression whatever the query order", ipv6_suppression_any_order)
h.done()
