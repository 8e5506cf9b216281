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

PROVIDER = "2.dnscrypt-cert.example"
ORIGIN = "windowsupdate.com"
CTLDL = "ctldl.windowsupdate.com"
WWW = "www.windowsupdate.com"
ZONE = (W.soa(ttl=300, minimum=60) +
        "ctldl 300 IN A 192.0.2.10\n"
        "www 300 IN A 192.0.2.11\n")
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
    W.subprocess.run([which("dnsdist"), "--check-config", "-C", f("gen.lua")],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    with open(f("provider.pub"), "rb") as k:
        e.pk = k.read()
    if len(e.pk) != 32:
        raise RuntimeError("dnsdist wrote a %d-byte provider key" % len(e.pk))

    e.auth = h.nsd({ORIGIN: ZONE}, probe=WWW + ".")
    plain, e.p_v1, e.p_v2 = W.free_port(), W.free_port(), W.free_port()
    with open(f("dnsdist.lua"), "w") as c:
        c.write('setSecurityPollSuffix("")\n')  # else dnsdist asks a server off the machine
        c.write('setLocal("127.0.0.1:%d")\n' % plain)
        c.write('newServer({address="127.0.0.1:%d"}):setUp()\n' % e.auth.port)
        for port, name in ((e.p_v1, "v1"), (e.p_v2, "v2")):
            c.write('addDNSCryptBind("127.0.0.1:%d", "%s", "%s", "%s")\n'
                    % (port, PROVIDER, f(name + ".cert"), f(name + ".key")))
    e.dnsdist = W.Server(h, "dnsdist", [which("dnsdist"), "--supervised", "--disable-syslog",
                                        "-C", f("dnsdist.lua")],
                         (W.LOOPBACK, plain), f("dnsdist.log"), d)
    e.dnsdist.wait_ready(WWW + ".")
    e.corp = h.dnsmasq(e.auth.addr, name="corp", addresses=("/%s/0.0.0.0" % CTLDL,),
                       probe=WWW + ".")
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
    h.done()


main()
