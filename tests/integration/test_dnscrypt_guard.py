#!/usr/bin/python3
"""The full guard path with DNSCrypt as the public reference (issue 5).

nsd is the authority for windowsupdate.com (TEST-NET addresses); dnsdist
(Debian 12: 1.7.3) serves DNSCrypt in front of it, es-version 1 on one
port and es-version 2 on another; dnsmasq is the tampering corporate
resolver (ctldl.windowsupdate.com -> 0.0.0.0, the rest forwarded to nsd)
and wuguard's only --local. The reference is given as an sdns:// stamp.

Checks: the sinkholed name is repaired from the DNSCrypt answer and its
database row says authenticated; a stamp with a wrong provider key makes the
reference unavailable (public-unavailable rows and counter; the clean name
keeps its local answer, its TTL capped, the unmistakable sinkhole gets
SERVFAIL, or the stale repaired answer when the cache holds one); dropped
DNSCrypt traffic; a clean stop with an exchange in flight; wuguard -n
decodes stamps.

Two operators (issue 17 part 4): a second dnsdist with its own provider key
("other.example") that filters: it sinkholes ctldl, answers NXDOMAIN for
www, and passes an NXDOMAIN with EDE 15 (Blocked) from a fake backend for
ede.download; both operators sinkhole both.download. With the filtering
operator listed first, WU names are still verified and repaired from the
other one, and a name every operator filters is public-unavailable (a
filtered answer is never the truth). With the first operator down (never
reachable, or stopped after its certificate was loaded), the other answers.
TAP output; every process is stopped at the end.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402
from wgtest import dns  # noqa: E402
import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402

PROVIDER = "2.dnscrypt-cert.example"
ORIGIN = "windowsupdate.com"
CTLDL = "ctldl.windowsupdate.com"
WWW = "www.windowsupdate.com"
PROVIDER2 = "2.dnscrypt-cert.other.example"
EDE_NAME = "ede.download.windowsupdate.com"
BOTH = "both.download.windowsupdate.com"
ZONE = (W.soa(ttl=300, minimum=60) +
        "ctldl 300 IN A 192.0.2.10\n"
        "www 300 IN A 192.0.2.11\n"
        "ede.download 300 IN A 192.0.2.12\n"
        "both.download 300 IN A 192.0.2.13\n")
WUGUARD = os.path.join(W.BUILDDIR, "wuguard")
CTL = os.path.join(W.BUILDDIR, "wuguardctl")

h = W.Harness()


def which(tool):
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")


def stamp(addr, pk, name=PROVIDER):
    """sdns:// stamp for a DNSCrypt server (protocol 0x01, props 0)."""
    a, n = addr.encode(), name.encode()
    raw = (bytes([1]) + bytes(8) + bytes([len(a)]) + a + bytes([len(pk)]) + pk +
           bytes([len(n)]) + n)
    return "sdns://" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Env:
    pass


def setup():
    """Keys and certificates (made by dnsdist's own Lua), nsd, dnsdist,
    dnsmasq. Raises when something does not start."""
    e = Env()
    d = h.mkdir("dnsdist")
    f = lambda name: os.path.join(d, name)  # noqa: E731
    now = int(time.time())
    with open(f("gen.lua"), "w") as g:
        g.write('generateDNSCryptProviderKeys("%s", "%s")\n' % (f("provider.pub"),
                                                                f("provider.key")))
        for name, serial, ver in (("v1", 1, "VERSION1"), ("v2", 2, "VERSION2")):
            g.write('generateDNSCryptCertificate("%s", "%s", "%s", %d, %d, %d, '
                    'DNSCryptExchangeVersion.%s)\n'
                    % (f("provider.key"), f(name + ".cert"), f(name + ".key"), serial,
                       now - 600, now + 86400, ver))
        # the second operator: its own provider key
        g.write('generateDNSCryptProviderKeys("%s", "%s")\n' % (f("op2.pub"), f("op2.key")))
        g.write('generateDNSCryptCertificate("%s", "%s", "%s", 1, %d, %d, '
                'DNSCryptExchangeVersion.VERSION1)\n'
                % (f("op2.key"), f("op2.cert"), f("op2.certkey"), now - 600, now + 86400))
    W.subprocess.run([which("dnsdist"), "--check-config", "-C", f("gen.lua")],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    with open(f("provider.pub"), "rb") as k:
        e.pk = k.read()
    with open(f("op2.pub"), "rb") as k:
        e.pk2 = k.read()
    if len(e.pk) != 32 or len(e.pk2) != 32 or e.pk == e.pk2:
        raise RuntimeError("dnsdist wrote provider keys of %d and %d bytes"
                           % (len(e.pk), len(e.pk2)))

    e.auth = h.nsd({ORIGIN: ZONE}, probe=WWW + ".")
    plain, e.p_v1, e.p_v2 = W.free_port(), W.free_port(), W.free_port()
    with open(f("dnsdist.lua"), "w") as c:
        c.write('setSecurityPollSuffix("")\n')  # else dnsdist asks a server off the machine
        c.write('setLocal("127.0.0.1:%d")\n' % plain)
        c.write('newServer({address="127.0.0.1:%d"}):setUp()\n' % e.auth.port)
        # a name every operator filters
        c.write('addAction(QNameRule("%s."), SpoofAction("0.0.0.0"))\n' % BOTH)
        for port, name in ((e.p_v1, "v1"), (e.p_v2, "v2")):
            c.write('addDNSCryptBind("127.0.0.1:%d", "%s", "%s", "%s")\n'
                    % (port, PROVIDER, f(name + ".cert"), f(name + ".key")))
    e.dnsdist = W.Server(h, "dnsdist", [which("dnsdist"), "--supervised", "--disable-syslog",
                                        "-C", f("dnsdist.lua")],
                         (W.LOOPBACK, plain), f("dnsdist.log"), d)
    e.dnsdist.wait_ready(WWW + ".")
    e.corp = h.dnsmasq(e.auth.addr, name="corp",
                       addresses=("/%s/0.0.0.0" % CTLDL, "/%s/0.0.0.0" % EDE_NAME),
                       probe=WWW + ".")
    # the second operator, filtering: the blocking EDE comes from a fake
    # backend (dnsdist 1.7 cannot add an EDE itself)
    def blocked(q, transport):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        if q.question[0].name.to_text().rstrip(".").lower() == EDE_NAME:
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.use_edns(0, payload=1232,
                       options=[dns.edns.EDEOption(dns.edns.EDECode.BLOCKED, "policy")])
        return r
    e.ede_backend = W.FakeUpstream(h, blocked)
    plain2, e.p_f = W.free_port(), W.free_port()
    with open(f("filter.lua"), "w") as c:
        c.write('setSecurityPollSuffix("")\n')
        c.write('setLocal("127.0.0.1:%d")\n' % plain2)
        c.write('newServer({address="127.0.0.1:%d"}):setUp()\n' % e.auth.port)
        c.write('newServer({address="127.0.0.1:%d", pool="ede"}):setUp()\n'
                % e.ede_backend.addr[1])
        c.write('addAction(QNameRule("%s."), SpoofAction("0.0.0.0"))\n' % CTLDL)
        c.write('addAction(QNameRule("%s."), SpoofAction("0.0.0.0"))\n' % BOTH)
        c.write('addAction(QNameRule("%s."), RCodeAction(DNSRCode.NXDOMAIN))\n' % WWW)
        c.write('addAction(QNameRule("%s."), PoolAction("ede"))\n' % EDE_NAME)
        c.write('addDNSCryptBind("127.0.0.1:%d", "%s", "%s", "%s")\n'
                % (e.p_f, PROVIDER2, f("op2.cert"), f("op2.certkey")))
    e.filter = W.Server(h, "dnsdist-filter", [which("dnsdist"), "--supervised",
                                              "--disable-syslog", "-C", f("filter.lua")],
                        (W.LOOPBACK, plain2), f("dnsdist-filter.log"), d)
    e.filter.wait_ready(WWW + ".")
    e.s_filter = stamp("127.0.0.1:%d" % e.p_f, e.pk2, PROVIDER2)
    e.s_v1 = stamp("127.0.0.1:%d" % e.p_v1, e.pk)
    e.s_v2 = stamp("127.0.0.1:%d" % e.p_v2, e.pk)
    e.s_wrong = stamp("127.0.0.1:%d" % e.p_v1, bytes(b ^ 0x5a for b in e.pk))
    h.diag("stamp es-version 1: " + e.s_v1)
    return e


def rows(wg, want=None, timeout=5.0):
    """The daemon's database rows (wuguardctl list --format json); with
    want, poll until that many have been written."""
    db = os.path.join(wg.dir, "wuguard.db")
    deadline = time.monotonic() + timeout
    while True:
        out = []
        if os.path.exists(db):
            p = W.subprocess.run([CTL, "--db", db, "list", "--format", "json", "--limit", "0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True, timeout=10)
            out = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        if want is None or len(out) >= want or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


def row_for(rs, name):
    for r in rs:
        if r["name"].rstrip(".") == name:
            return r
    return None


def log_text(wg):
    with open(wg.logpath, "rb") as f:
        return f.read().decode("utf-8", "replace")


def repaired(e, st, version):
    wg = h.wuguard([e.corp.addr], config=W.wg_config(), public=st)
    m, _ = W.query(e.corp.addr, CTLDL)
    h.eq(W.answer_set(m, "A"), {"0.0.0.0"}, "es-version %d: the corporate resolver "
         "sinkholes %s" % (version, CTLDL), W.describe(m))
    m, _ = W.query(wg.addr, CTLDL, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.10"},
         "es-version %d: %s repaired with the DNSCrypt answer" % (version, CTLDL),
         W.describe(m))
    m, _ = W.query(wg.addr, WWW, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.11"},
         "es-version %d: a clean WU name is served as it is" % version, W.describe(m))
    rs = rows(wg, 1)
    r = row_for(rs, CTLDL)
    h.ok(r is not None and r["category"] == "sinkhole" and r["action"] == "public" and
         r["authenticated"] is True and r["public"]["addresses"] == ["192.0.2.10"],
         "es-version %d: the row says sinkhole, served public, authenticated" % version,
         json.dumps(rs, indent=1))
    port = e.p_v1 if version == 1 else e.p_v2
    h.eq(r and r["public"].get("upstream"), "127.0.0.1:%d" % port,
         "es-version %d: the row names the DNSCrypt server that answered" % version)
    h.ok(row_for(rs, WWW) is None, "es-version %d: the matching name has no row" % version,
         json.dumps(rs, indent=1))
    log = log_text(wg)
    h.ok("es-version %d" % version in log and "serial %d" % version in log,
         "es-version %d: the certificate in use is logged" % version, log[-2000:])


def wrong_key(e):
    wg = h.wuguard([e.corp.addr], config=W.wg_config(guard={"repair-ttl": 60}),
                   public=e.s_wrong)
    t0 = time.monotonic()
    m, _ = W.query(wg.addr, CTLDL, timeout=5)
    # 0.0.0.0 is unmistakable, so the local answer is not passed on: the
    # guard asks for a stale answer, and with none cached that is SERVFAIL
    h.rcode(m, "SERVFAIL", "wrong provider key: the unmistakable sinkhole gets SERVFAIL "
            "(nothing stale cached)")
    h.ok(time.monotonic() - t0 < 3.0, "and without waiting out the timeouts",
         "took %.2f s" % (time.monotonic() - t0))
    m, _ = W.query(wg.addr, WWW, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.11"},
         "wrong provider key: a clean WU name gets the local answer", W.describe(m))
    ttl = W.answer_ttl(m)
    h.ok(ttl is not None and ttl <= 60, "unverified, so its TTL is capped by repair-ttl",
         W.describe(m))
    rs = rows(wg, 2)
    r1, r2 = row_for(rs, CTLDL), row_for(rs, WWW)
    h.ok(r1 is not None and r1["category"] == "public-unavailable" and
         r1["action"] == "stale" and r1["authenticated"] is False and
         not r1["public"]["addresses"],
         "the sinkholed name's row: public-unavailable, stale, not authenticated",
         json.dumps(rs, indent=1))
    h.ok(r2 is not None and r2["category"] == "public-unavailable" and
         r2["action"] == "local" and r2["local"]["addresses"] == ["192.0.2.11"],
         "the clean name's row: public-unavailable, served local", json.dumps(rs, indent=1))
    wg.kill(signal.SIGUSR1)
    deadline = time.monotonic() + 3
    while "public_unavailable=" not in log_text(wg) and time.monotonic() < deadline:
        time.sleep(0.05)
    log = log_text(wg)
    h.ok("public_unavailable=2" in log, "the public_unavailable counter is 2", log[-2000:])
    h.ok("signature does not verify" in log,
         "the log says why: the certificate's signature does not verify", log[-2000:])


def dropped(e):
    """DNSCrypt traffic dropped on the way (the stamp's port never answers):
    the clean local answer is served at once, before the certificate fetch
    has given up, and the cache entry is capped once the verdict is in."""
    hole = W.Blackhole(h)
    st = stamp("127.0.0.1:%d" % hole.addr[1], e.pk)
    wg = h.wuguard([e.corp.addr], public=st,
                   config=W.wg_config(upstream={"public-timeout": 800},
                                      guard={"repair-ttl": 60}))
    t0 = time.monotonic()
    m, _ = W.query(wg.addr, WWW, timeout=5)
    took = time.monotonic() - t0
    h.ok(W.answer_set(m, "A") == {"192.0.2.11"} and took < 0.5,
         "reference dropped: the clean local answer is served at once",
         W.describe(m), "took %.2f s" % took)
    rs = rows(wg, 1, timeout=8)
    r = row_for(rs, WWW)
    h.ok(r is not None and r["category"] == "public-unavailable" and "early" in r["markers"]
         and r["action"] == "local",
         "and recorded as public-unavailable, served early", json.dumps(rs, indent=1))
    m, _ = W.query(wg.addr, WWW, timeout=5)
    ttl = W.answer_ttl(m)
    h.ok(W.answer_set(m, "A") == {"192.0.2.11"} and ttl is not None and ttl <= 60,
         "the cached local answer's TTL is then capped by repair-ttl", W.describe(m))


def stop_in_flight(e):
    """SIGTERM while a DNSCrypt exchange waits for a certificate: a clean
    exit (it used to abort on a double uv_close)."""
    hole = W.Blackhole(h)
    st = stamp("127.0.0.1:%d" % hole.addr[1], e.pk)
    wg = h.wuguard([e.corp.addr], public=st,
                   config=W.wg_config(upstream={"public-timeout": 3000}))
    m, _ = W.query(wg.addr, WWW, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.11"}, "clean name served early, public side pending",
         W.describe(m))
    wg.proc.send_signal(signal.SIGTERM)
    try:
        rc = wg.proc.wait(5)
    except W.subprocess.TimeoutExpired:
        rc = "still running"
    h.eq(rc, 0, "SIGTERM with the DNSCrypt exchange in flight: exit 0",
         *wg.log_tail(5))


def stale_on_outage(e):
    """A repaired answer cached with a 1 s cap, then the reference loses its
    pin (reload with a wrong key): the stale repaired answer is served."""
    conf = W.render_config(W.wg_config(upstream={"public": e.s_v1},
                                       guard={"repair-ttl": 1}))
    wg = h.wuguard([e.corp.addr], config=conf, public="")
    m, _ = W.query(wg.addr, CTLDL, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.10"}, "stale case: first repaired", W.describe(m))
    h.write(wg.conf, conf.replace(e.s_v1, e.s_wrong))
    wg.kill(signal.SIGHUP)
    deadline = time.monotonic() + 3
    while "configuration reloaded" not in log_text(wg) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.2)  # past the 1 s repair-ttl
    m, _ = W.query(wg.addr, CTLDL, timeout=5, edns=0)
    ede = [o.code for o in (m.options if m else []) if o.otype == 15]
    h.ok(m is not None and W.answer_set(m, "A") == {"192.0.2.10"} and 3 in ede,
         "reference unavailable after a reload: the stale repaired answer, EDE 3",
         W.describe(m), log_text(wg)[-1500:])


def two_operators(e, publics, config=None):
    """wuguard behind the corporate dnsmasq with these stamps, in order,
    once every reachable one holds a certificate."""
    args = []
    for st in publics[1:]:
        args += ["--public", st]
    wg = h.wuguard([e.corp.addr], public=publics[0], args=args,
                   config=config or W.wg_config(guard={"repair-ttl": 60}))
    return wg


def filtering_operator(e):
    """The filtering operator first, the clean one second."""
    wg = two_operators(e, [e.s_filter, e.s_v1])
    h.ok(wg.wait_log("(%s.): certificate serial" % PROVIDER2, timeout=5) and
         wg.wait_log("(%s.): certificate serial" % PROVIDER, timeout=5),
         "certificates of both operators in the log", log_text(wg)[-1500:])
    # what the filtering operator says, for the record
    m, _ = W.query(wg.addr, CTLDL, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.10"},
         "operator 1 sinkholes %s too: repaired from operator 2" % CTLDL, W.describe(m))
    m, _ = W.query(wg.addr, WWW, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.11"},
         "operator 1 says NXDOMAIN for %s: the local answer stands" % WWW, W.describe(m))
    m, _ = W.query(wg.addr, EDE_NAME, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.12"},
         "operator 1 blocks %s with EDE 15: repaired from operator 2" % EDE_NAME,
         W.describe(m))
    m, _ = W.query(wg.addr, BOTH, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.13"},
         "both operators sinkhole %s: the clean local answer is served" % BOTH,
         W.describe(m))
    rs = rows(wg, 3)
    clean = "127.0.0.1:%d" % e.p_v1
    for name in (CTLDL, EDE_NAME):
        r = row_for(rs, name)
        h.ok(r is not None and r["category"] == "sinkhole" and r["action"] == "public" and
             r["public"]["addresses"] == ["192.0.2.%s" % ("10" if name == CTLDL else "12")]
             and r["public"].get("upstream") == clean and r["authenticated"] is True,
             "%s: row sinkhole, served public, from the clean operator" % name,
             json.dumps(rs, indent=1))
    h.eq(row_for(rs, WWW), None, "%s: no row (the other operator's answer matches)" % WWW,
         json.dumps(rs, indent=1))
    r = row_for(rs, BOTH)
    h.ok(r is not None and r["category"] == "public-unavailable" and r["action"] == "local",
         "%s: every operator filtered it: public-unavailable, served local" % BOTH,
         json.dumps(rs, indent=1))
    m, _ = W.query(wg.addr, BOTH, timeout=5)
    ttl = W.answer_ttl(m)
    h.ok(W.answer_set(m, "A") == {"192.0.2.13"} and ttl is not None and ttl <= 60,
         "unverified, so the cached answer's TTL is capped by repair-ttl", W.describe(m))
    wg.kill(signal.SIGUSR1)
    h.ok(wg.wait_log("public_second=", timeout=3), "stats written")
    log = log_text(wg)
    h.ok("public_second=4 public_set_aside=3" in log,
         "4 answers set aside for a second opinion, 3 of them replaced", log[-1500:])


def first_operator_down(e):
    """The first stamp never answers (its certificate fetch times out): the
    other operator verifies and repairs."""
    hole = W.Blackhole(h)
    down = stamp("127.0.0.1:%d" % hole.addr[1], e.pk2, PROVIDER2)
    wg = two_operators(e, [down, e.s_v1],
                       config=W.wg_config(upstream={"public-timeout": 500},
                                          guard={"repair-ttl": 60}))
    h.ok(wg.wait_log("(%s.): certificate serial" % PROVIDER, timeout=5),
         "the reachable operator's certificate is loaded", log_text(wg)[-1500:])
    m, _ = W.query(wg.addr, CTLDL, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.10"},
         "first operator unreachable: %s repaired from the other" % CTLDL, W.describe(m))
    m, _ = W.query(wg.addr, WWW, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.11"}, "and a clean name is verified",
         W.describe(m))
    rs = rows(wg, 1)
    r = row_for(rs, CTLDL)
    h.ok(r is not None and r["category"] == "sinkhole" and r["action"] == "public" and
         r["public"].get("upstream") == "127.0.0.1:%d" % e.p_v1,
         "the row: sinkhole, served public by the second operator", json.dumps(rs, indent=1))
    h.eq(row_for(rs, WWW), None, "the clean name matched (no public-unavailable row)",
         json.dumps(rs, indent=1))


def first_operator_stops(e):
    """Both operators up, then the first one stops: the next query fails
    over to the other (last case: it stops the filtering dnsdist)."""
    wg = two_operators(e, [e.s_filter, e.s_v1],
                       config=W.wg_config(upstream={"public-timeout": 500},
                                          guard={"repair-ttl": 60}))
    h.ok(wg.wait_log("(%s.): certificate serial" % PROVIDER2, timeout=5) and
         wg.wait_log("(%s.): certificate serial" % PROVIDER, timeout=5),
         "both certificates loaded", log_text(wg)[-1500:])
    e.filter.stop()
    m, _ = W.query(wg.addr, EDE_NAME, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.12"},
         "first operator stopped: %s repaired from the other" % EDE_NAME, W.describe(m))
    rs = rows(wg, 1)
    r = row_for(rs, EDE_NAME)
    h.ok(r is not None and r["category"] == "sinkhole" and
         r["public"].get("upstream") == "127.0.0.1:%d" % e.p_v1,
         "the row names the operator that answered", json.dumps(rs, indent=1))


def check_mode(e):
    def run(*args):
        p = W.subprocess.run([WUGUARD, "-n", "-c", "/dev/null", "--local", "127.0.0.1:53"] +
                             list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=10)
        return p.returncode, p.stdout + p.stderr
    rc, out = run("--public", e.s_v1, "--public", e.s_v2)
    h.ok(rc == 0 and e.pk.hex() in out and "127.0.0.1:%d" % e.p_v2 in out and PROVIDER in out,
         "wuguard -n decodes the stamps: address, provider name, provider key", out)
    rc, out = run("--public", e.s_v1[:40])
    h.ok(rc == 1 and "public resolver 1" in out, "wuguard -n rejects a truncated stamp", out)
    rc, out = run("--public", e.s_v1, "--public", "127.0.0.1:53")
    h.ok(rc == 1 and "not both" in out, "wuguard -n rejects stamps mixed with plain DNS", out)
    rc, out = run()
    h.ok(rc == 0 and "2.dnscrypt-cert.quad9.net" in out and "built-in" in out,
         "wuguard -n shows the built-in default stamps", out)
    h.ok("94.140.14.140:5443" in out and "2.dnscrypt.unfiltered.ns1.adguard.com" in out and
         out.count("no filter") == 3,
         "the built-in list has a second operator (AdGuard DNS non-filtering)", out)


def main():
    for tool in ("dnsdist", "dnsmasq", "nsd"):
        if not which(tool):
            print("1..0 # SKIP %s not installed" % tool)
            return
    try:
        e = setup()
    except Exception as ex:
        h.ok(False, "nsd, dnsdist and dnsmasq start", str(ex))
        h.done()
    h.case("repair with DNSCrypt es-version 1", repaired, e, e.s_v1, 1)
    h.case("repair with DNSCrypt es-version 2", repaired, e, e.s_v2, 2)
    h.case("a wrong provider key: public-unavailable", wrong_key, e)
    h.case("DNSCrypt dropped on the way: public-unavailable", dropped, e)
    h.case("stop with a DNSCrypt exchange in flight", stop_in_flight, e)
    h.case("stale repaired answer when the reference goes away", stale_on_outage, e)
    h.case("wuguard -n checks stamps", check_mode, e)
    h.case("two operators, the first filtering", filtering_operator, e)
    h.case("two operators, the first unreachable", first_operator_down, e)
    h.case("two operators, the first stops", first_operator_stops, e)
    h.done()


main()
