#!/usr/bin/python3
"""Operations of the real daemon (issue 2): prefetch refreshes a popular
entry before it expires (and only a popular one); running out of file
descriptors under a TCP flood sheds connections and recovers; -u drops
root for good after binding and the daemon keeps resolving; started in
the background, the command reports readiness or why start-up failed."""

import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402
from wgtest import dns  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN


def prefetch():
    """TTL 5 s, prefetch-min-hits 2: a hit in the last 10% of the lifetime
    of an entry hit twice before refreshes it in the background."""
    lock = threading.Lock()
    asked = {}

    def handler(q, transport):
        name = q.question[0].name.to_text().lower()  # asked in 0x20 case
        with lock:
            asked[name] = asked.get(name, 0) + 1
            n = asked[name]
        r = dns.message.make_response(q)
        rrset = r.find_rrset(r.answer, q.question[0].name, dns.rdataclass.IN,
                             dns.rdatatype.A, create=True)
        rrset.add(dns.rdata.from_text("IN", "A", "192.0.2.%d" % n), 5)
        return r

    def count(name):
        with lock:
            return asked.get(name + ".", 0)

    fu = W.FakeUpstream(h, handler)
    wg = h.wuguard([fu.addr], config=W.wg_config(
        cache={"min-ttl": 0, "prefetch": True, "prefetch-min-hits": 2}))
    hot, cold = "hot.prefetch.test", "cold.prefetch.test"
    t0 = time.monotonic()
    for _ in range(3):
        W.query(wg.addr, hot)
    W.query(wg.addr, cold)
    h.eq((count(hot), count(cold)), (1, 1), "each name fetched once at first")
    time.sleep(max(0, t0 + 4.6 - time.monotonic()))  # under 10% of 5 s left
    m, _ = W.query(wg.addr, hot)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
         "a hit near expiry still gets the cached answer", W.describe(m))
    W.query(wg.addr, cold)
    time.sleep(0.3)
    h.eq(count(hot), 2, "the hot entry was refreshed upstream before it expired",
         "upstream asked %d times" % count(hot))
    h.eq(count(cold), 1, "an entry hit once (below prefetch-min-hits) was not")
    time.sleep(max(0, t0 + 5.6 - time.monotonic()))  # the first answer expired
    m, _ = W.query(wg.addr, hot)
    h.eq(W.answer_set(m, "A"), {"192.0.2.2"},
         "after the old TTL ran out, the prefetched answer is served from cache",
         W.describe(m))
    h.eq(count(hot), 2, "and no further upstream query was needed")
    ttl = W.answer_ttl(m)
    h.ok(ttl is not None and 3 <= ttl <= 5, "with the refreshed TTL", "ttl %s" % ttl)


def emfile():
    """64 descriptors and tcp-max-clients above that: accept hits EMFILE.
    The daemon must shed the excess, keep answering UDP from the cache,
    and accept and resolve normally once the flood is gone."""
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], prefix=["prlimit", "--nofile=64:64", "--"],
                   config=W.wg_config(server={"tcp-max-clients": 1000,
                                              "tcp-per-client": 1000,
                                              "tcp-idle-timeout": 60000}))
    m, _ = W.query(wg.addr, "www.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "answers under a 64-descriptor limit")
    h.ok(any("file descriptors (RLIMIT_NOFILE)" in l for l in wg.log_tail(60)),
         "the start-up log warns that 64 descriptors are short", *wg.log_tail(5))
    flood = []
    try:
        for _ in range(120):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect(wg.addr)
            except OSError:
                s.close()
                continue
            flood.append(s)
        time.sleep(0.5)
        # the kernel completes handshakes the daemon never accepted, so
        # count the connections the daemon closed: they read EOF or reset
        shed = 0
        for s in flood:
            s.settimeout(0.05)
            try:
                if s.recv(1) == b"":
                    shed += 1
            except socket.timeout:
                pass
            except OSError:
                shed += 1
        h.ok(shed > 0, "connections beyond the descriptor limit were shed",
             "%d of %d closed by the daemon" % (shed, len(flood)))
        m, _ = W.query(wg.addr, "www.%s" % Z)
        h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
             "a cached name is answered over UDP during the flood", W.describe(m))
        h.ok(wg.alive(), "still running during the flood")
    finally:
        for s in flood:
            s.close()
    time.sleep(0.5)
    m, _ = W.query(wg.addr, "other.%s" % Z, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.4"},
         "after the flood, an uncached name resolves (upstream sockets again)",
         W.describe(m))
    m, _ = W.query(wg.addr, "mixed.%s" % Z, tcp=True, timeout=5)
    h.eq(W.answer_set(m, "A"), {"192.0.2.3"}, "and TCP clients are accepted again",
         W.describe(m))


def privilege_drop():
    if os.geteuid() != 0:
        h.skip("-u drops root", "not running as root")
        return
    nobody = pwd.getpwnam("nobody")
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(), args=["-u", "nobody"])
    status = {}
    with open("/proc/%d/status" % wg.pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.split()
    h.eq(status.get("Uid"), [str(nobody.pw_uid)] * 4,
         "real, effective, saved and fs uid are nobody's", status.get("Uid"))
    h.eq(status.get("Gid"), [str(nobody.pw_gid)] * 4,
         "and so are the gids", status.get("Gid"))
    h.eq(status.get("Groups"), [str(nobody.pw_gid)],
         "supplementary groups reduced to nobody's group", status.get("Groups"))
    m, _ = W.query(wg.addr, "www.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
         "after the drop: a miss resolves (new upstream sockets as nobody)",
         W.describe(m))
    m, _ = W.query(wg.addr, "www.%s" % Z, tcp=True)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "and a hit over TCP")
    h.eq(wg.stop(), 0, "SIGTERM: exit status 0")


def background():
    """Without -f: the starting command returns 0 once the daemon serves,
    and 1 with the reason on stderr when it cannot start."""
    ns = h.nsd({Z: W.ZONE})
    d = h.mkdir("bg")
    pidfile = os.path.join(d, "wuguard.pid")
    conf = os.path.join(d, "wuguard.conf")
    h.write(conf, W.render_config(W.wg_config(server={"pidfile": pidfile},
                                              control={"socket": os.path.join(d, "c.sock")})))
    port = W.free_port()
    argv = [os.path.join(W.BUILDDIR, "wuguard"), "-c", conf,
            "--listen", "%s:%d" % (W.LOOPBACK, port),
            "--local", "%s:%d" % ns.addr, "--public", "%s:%d" % W.dead_addr(),
            "--db", os.path.join(d, "wuguard.db")]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=20)
    h.eq(r.returncode, 0, "background start: the command exits 0", r.stderr[-300:])
    pid = None
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        m, _ = W.query((W.LOOPBACK, port), "www.%s" % Z)
        h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
             "and the daemon answers at once (it was ready before the exit)",
             W.describe(m))
        h.ok(os.path.exists("/proc/%d" % pid),
             "the pidfile names the running daemon", "pid %s" % pid)

        # the same port again: bind fails, the starter says why and exits 1
        r2 = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, timeout=20)
        h.eq(r2.returncode, 1, "a second daemon on the same port: exit 1")
        h.ok("in use" in r2.stderr.lower(),
             "with the bind error on the starter's stderr", r2.stderr[-300:])
    finally:
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 5
            while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            h.ok(not os.path.exists("/proc/%d" % pid), "SIGTERM stops the daemon")


def port_not_shared():
    """Another socket cannot join the daemon's UDP port with SO_REUSEADDR
    (on Linux that would hand it a share of the queries)."""
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(wg.addr)
        bound = True
    except OSError:
        bound = False
    finally:
        s.close()
    h.ok(not bound, "binding the daemon's UDP address with SO_REUSEADDR fails")
    m, _ = W.query(wg.addr, "www.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "and the daemon answers", W.describe(m))


h.case("prefetch of popular entries near expiry", prefetch)
h.case("EMFILE under a TCP flood", emfile)
h.case("-u drops privileges after binding", privilege_drop)
h.case("background start reports readiness or the failure", background)
h.case("the UDP port cannot be shared", port_not_shared)
h.done()
