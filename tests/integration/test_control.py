#!/usr/bin/python3
"""The control socket (issue 16 part 1) against the real daemon: wuguardctl
status, stats --live (text, JSON, --reset, the same counters as the SIGUSR1
line), reload (ok; a bad file: exit 1 with FILE:LINE and the old
configuration keeps serving), flush NAME [TYPE] / --all and cache NAME
(a repaired WU answer shows repaired and its EDE), a daemon that is not
running (exit 2, one line), the socket's mode and owner and a user outside
them refused (EACCES), and hostile clients (half a line, 1 MB, one that
never reads, more than the cap) that never stop DNS from being answered."""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN
CTL = os.path.join(W.BUILDDIR, "wuguardctl")
WU = "windowsupdate.com"
CTLDL = "ctldl.%s" % WU
WU_ZONE = W.soa() + "ctldl 300 IN A 192.0.2.10\n* 300 IN A 192.0.2.9\n"


def ctl(sock, *args, prefix=(), timeout=40):
    return subprocess.run(list(prefix) + [CTL, "-s", sock] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def stats(sock):
    p = ctl(sock, "stats", "--format", "json")
    return json.loads(p.stdout) if p.returncode == 0 else {}


def raw(sock, data, timeout=5.0):
    """Send data on a fresh connection, read until the daemon closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out


def status_stats():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    p = ctl(wg.control, "status")
    h.eq(p.returncode, 0, "status exits 0", p.stderr)
    out = p.stdout
    for pat, what in [(r"^version: wuguard \S+$", "version"),
                      (r"^up since: \d{4}-\d\d-\d\dT\S+Z \(\d+ s\)$", "up since"),
                      (r"^mode: repair$", "mode"),
                      (r"^config: %s$" % re.escape(wg.conf), "config file"),
                      (r"^listen: 127\.0\.0\.1:%d udp tcp$" % wg.addr[1], "listener"),
                      (r"^upstream: 127\.0\.0\.1:%d up " % ns.addr[1], "upstream with health"),
                      (r"^public: 127\.0\.0\.1:\d+ plain: ", "public reference and its state"),
                      (r"^database: \S+wuguard\.db open ", "database state")]:
        h.ok(re.search(pat, out, re.M), "status shows the %s" % what, out)

    before = stats(wg.control)
    h.ok("queries" in before and "cache.entries" in before and
         "guard.verdicts[sinkhole]" in before and
         "upstream[127.0.0.1:%d].replies" % ns.addr[1] in before and
         "listen.udp_in" in before and "database.written" in before,
         "stats --format json: queries, cache, guard per category, upstream per server, "
         "listener, database", sorted(before)[:20])
    for _ in range(3):
        W.query(wg.addr, "www.%s" % Z)
    after = stats(wg.control)
    h.eq(after.get("queries", 0) - before.get("queries", 0), 3,
         "stats: queries moved by the 3 queries asked (live, no signal)")
    h.eq(after.get("cache_hits", 0) - before.get("cache_hits", 0), 2, "and cache_hits by 2")
    key = "upstream[127.0.0.1:%d].replies" % ns.addr[1]
    h.eq(after.get(key, 0) - before.get(key, 0), 1,
         "the upstream's own reply counter moved by 1 (one miss)")
    p = ctl(wg.control, "stats", "--live")
    h.ok(p.returncode == 0 and re.search(r"^queries %d$" % after["queries"], p.stdout, re.M),
         "stats --live (text): NAME VALUE lines", p.stdout[:300])

    # the USR1 line and stats come from one registry: same keys, same values
    start = wg.log_size()
    wg.kill(signal.SIGUSR1)
    line = wg.wait_log("database queued=", start)
    m = re.search(r"stats\] info: (queries=.*)$", wg.log_since(start), re.M)
    usr1 = dict(kv.split("=", 1) for kv in m.group(1).split()) if m else {}
    now = stats(wg.control)
    h.ok(usr1 and all(int(usr1[k]) == now.get(k) for k in usr1 if k in now) and
         set(usr1) <= set(now), "the SIGUSR1 line's counters are stats' counters",
         usr1, line)

    p = ctl(wg.control, "stats", "--reset")
    h.eq(p.returncode, 0, "stats --reset exits 0", p.stderr)
    h.ok(re.search(r"^queries %d$" % now["queries"], p.stdout, re.M),
         "and prints the counters up to the reset", p.stdout[:200])
    W.query(wg.addr, "www.%s" % Z)
    r = stats(wg.control)
    h.eq(r.get("queries"), 1, "after --reset, queries count from the reset (1 query since)")
    h.eq(r.get("cache.entries"), now.get("cache.entries"), "gauges are not reset (cache.entries)")

    p = subprocess.run([CTL, "-s", os.path.join(wg.dir, "nothing.sock"), "status"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    h.ok(p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and
         "cannot reach the daemon" in p.stderr,
         "no daemon on the socket: one clear line, exit 2", p.returncode, p.stderr)
    # the socket from the config (-c), as the database path is
    p = subprocess.run([CTL, "-c", wg.conf, "status"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    h.ok(p.returncode == 0 and "mode: repair" in p.stdout,
         "wuguardctl -c CONFIG status finds the socket in [control]", p.stderr)
    p = raw(wg.control, b"bogus\n")
    h.ok(p.endswith(b"\n.\nerror unknown command 'bogus' (commands: status, stats, reload, "
                    b"flush, cache)\n") or b".\nerror unknown command" in p,
         "an unknown command: an error reply", p)
    h.eq(wg.stop(), 0, "SIGTERM: exit 0")
    h.ok(not os.path.exists(wg.control), "the socket is removed at exit")


def reload_cmd():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    with open(wg.conf) as f:
        good = f.read()
    h.write(wg.conf, good.replace("[upstream]", "[upstream]\ntimeout = 400"))
    p = ctl(wg.control, "reload")
    h.ok(p.returncode == 0 and p.stdout.strip() == "ok", "reload: prints ok, exit 0",
         p.stdout, p.stderr)
    bad = good + "\n[cache]\nmin-ttl = lots\n"
    h.write(wg.conf, bad)
    line = len(bad.rstrip("\n").split("\n"))
    p = ctl(wg.control, "reload")
    h.eq(p.returncode, 1, "reload of a bad file: exit 1", p.stdout, p.stderr)
    h.ok("%s:%d:" % (wg.conf, line) in p.stderr and "min-ttl" in p.stderr,
         "and the error names FILE:LINE and the key", p.stderr)
    m, _ = W.query(wg.addr, "other.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.4"}, "the running configuration keeps serving")
    h.ok("reload failed, keeping the running configuration" in wg.log_since(0),
         "and the log says so too")
    # SIGHUP goes through the same reload
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    wg.wait_log("reload failed", start)
    h.ok(("%s:%d:" % (wg.conf, line)) in wg.log_since(start), "SIGHUP: the same FILE:LINE")


def flush_cache():
    asked = {}
    lock = threading.Lock()

    def handler(q, transport):
        name = q.question[0].name.to_text().lower()  # 0x20: random case
        t = q.question[0].rdtype
        with lock:
            asked[(name, t)] = asked.get((name, t), 0) + 1
        r = W.dns.message.make_response(q)
        if t == W.dns.rdatatype.A:
            rr = r.find_rrset(r.answer, q.question[0].name, W.dns.rdataclass.IN,
                              W.dns.rdatatype.A, create=True)
            rr.add(W.dns.rdata.from_text("IN", "A", "192.0.2.77"), 300)
        return r

    fu = W.FakeUpstream(h, handler)
    wg = h.wuguard([fu.addr], config=W.wg_config())
    n = "f.flush.test"
    W.query(wg.addr, n)
    W.query(wg.addr, n, "AAAA")
    W.query(wg.addr, "keep.flush.test")
    p = ctl(wg.control, "cache", n)
    h.eq(p.returncode, 0, "cache NAME exits 0", p.stderr)
    h.ok(re.search(r"^A NOERROR ttl (29\d|300) of 300 unverified hits \d+: 192\.0\.2\.77$",
                   p.stdout, re.M), "cache NAME: type, rcode, TTL left, verified, answer",
         p.stdout)
    h.ok(re.search(r"^AAAA NOERROR ttl \d+ of \d+ ", p.stdout, re.M),
         "and the AAAA entry (NODATA)", p.stdout)
    p = ctl(wg.control, "flush", n, "AAAA")
    h.ok(p.returncode == 0 and "removed 1 entries" in p.stdout, "flush NAME AAAA: 1 entry",
         p.stdout, p.stderr)
    p = ctl(wg.control, "cache", n)
    h.ok("AAAA" not in p.stdout and re.search(r"^A ", p.stdout, re.M),
         "only the AAAA entry went", p.stdout)
    W.query(wg.addr, n, "AAAA")
    W.query(wg.addr, n)
    with lock:
        h.eq((asked.get((n + ".", 28)), asked.get((n + ".", 1))), (2, 1),
             "the upstream is asked again for the AAAA only")
    p = ctl(wg.control, "flush", n.upper())
    h.ok(p.returncode == 0 and "removed 2 entries" in p.stdout,
         "flush NAME (any case): every type", p.stdout)
    p = ctl(wg.control, "cache", n)
    h.eq(p.stdout.strip(), "%s: not cached" % n.upper() if False else "%s: not cached" % n,
         "cache NAME: not cached")
    p = ctl(wg.control, "flush", "--all")
    h.ok(p.returncode == 0 and re.search(r"removed [1-9]\d* entries", p.stdout),
         "flush --all removes the rest", p.stdout)
    h.eq(stats(wg.control).get("cache.entries"), 0, "cache.entries 0 after flush --all")
    p = ctl(wg.control, "flush", "a..b")
    h.ok(p.returncode == 1 and "not a domain name" in p.stderr, "a bad name: exit 1", p.stderr)
    p = ctl(wg.control, "flush", n, "NOTATYPE")
    h.ok(p.returncode == 1 and "not a record type" in p.stderr, "a bad type: exit 1", p.stderr)
    p = ctl(wg.control, "flush")
    h.eq(p.returncode, 2, "flush without a name: usage, exit 2")


def guard_counters_reload():
    """A reload builds a new cross-check; its counters continue from the old
    one's (a counter that falls back to 0 reads as a reset in Prometheus)."""
    ns = h.nsd({WU: WU_ZONE}, probe=CTLDL)
    dm = h.dnsmasq(ns.addr, addresses=["/%s/0.0.0.0" % CTLDL])
    wg = h.wuguard([dm.addr], public=ns.addr, config=W.wg_config(
        guard={"domains": os.path.join(W.SRCDIR, "db", "wu-domains.list")}))
    m, _ = W.query(wg.addr, CTLDL)
    h.eq(W.answer_set(m, "A"), {"192.0.2.10"}, "before the reload: repaired")
    before = stats(wg.control)
    h.ok(before.get("guard.guarded", 0) >= 1 and before.get("guard.repaired", 0) >= 1,
         "before the reload: guarded and repaired counted",
         {k: v for k, v in before.items() if k.startswith("guard")})
    p = ctl(wg.control, "reload")
    h.eq(p.stdout.strip(), "ok", "reload ok", p.stderr)
    m, _ = W.query(wg.addr, "download.%s" % WU)
    h.eq(W.answer_set(m, "A"), {"192.0.2.9"}, "after the reload: another WU name answered")
    after = stats(wg.control)
    h.ok(after.get("guard.guarded", 0) == before["guard.guarded"] + 1 and
         after.get("guard.repaired", 0) >= before["guard.repaired"] and
         after.get("guard.verdicts[sinkhole]", 0) >= before.get("guard.verdicts[sinkhole]", 0),
         "after the reload: the guard's counters went on from where they were",
         {k: (before.get(k), v) for k, v in after.items() if k.startswith("guard")})


def repaired_entry():
    """A sinkholed WU answer repaired with the public one: cache NAME says
    repaired, with the EDE every hit carries, and the guard's and the event
    stream's counters move."""
    ns = h.nsd({WU: WU_ZONE}, probe=CTLDL)
    dm = h.dnsmasq(ns.addr, addresses=["/%s/0.0.0.0" % CTLDL])
    ev = os.path.join(h.mkdir("events"), "events.json")
    wg = h.wuguard([dm.addr], public=ns.addr, config=W.wg_config(
        guard={"domains": os.path.join(W.SRCDIR, "db", "wu-domains.list")},
        log={"events": "file:%s" % ev}))
    m, _ = W.query(wg.addr, CTLDL)
    h.eq(W.answer_set(m, "A"), {"192.0.2.10"}, "the sinkholed WU name is repaired")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        p = ctl(wg.control, "cache", CTLDL)
        if "repaired" in p.stdout:
            break
        time.sleep(0.1)
    h.ok(re.search(r"^A NOERROR ttl \d+ of \d+ \S+ repaired ede \d+ hits \d+: 192\.0\.2\.10$",
                   p.stdout, re.M), "cache NAME: the entry is marked repaired with its EDE",
         p.stdout)
    s = stats(wg.control)
    h.ok(s.get("guard.repaired", 0) >= 1 and s.get("guard.verdicts[sinkhole]", 0) >= 1,
         "stats: guard.repaired and guard.verdicts[sinkhole] counted",
         {k: v for k, v in s.items() if k.startswith("guard")})
    # the event stream's counters are in the same table
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and stats(wg.control).get("events.written", 0) < 1:
        time.sleep(0.1)
    s = stats(wg.control)
    h.ok(s.get("events.written", 0) >= 1 and s.get("events.dropped") == 0,
         "stats: the event line written is counted (events.written, events.dropped)",
         {k: v for k, v in s.items() if k.startswith("events")})


def permissions():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    st = os.stat(wg.control)
    h.ok(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660,
         "the socket has mode 0660", oct(st.st_mode))
    # let other users reach the directory, so only the socket's mode decides
    os.chmod(h.tmp, 0o711)
    os.chmod(wg.dir, 0o755)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    p = ctl(wg.control, "status", prefix=nobody)
    h.ok(p.returncode == 2 and "Permission denied" in p.stderr,
         "another user (nobody) cannot connect: EACCES, exit 2", p.returncode, p.stderr)
    wg.stop()

    # dropping privileges: the socket belongs to the service user, who may
    # use it; a third user still may not
    d = h.mkdir("dropped")
    os.chmod(d, 0o755)
    # a "wuguard" directory the daemon makes is handed to the service user
    sock = os.path.join(d, "wuguard", "control.sock")
    wg = h.wuguard([ns.addr], config=W.wg_config(server={"user": "nobody"},
                                                 control={"socket": sock}))
    st = os.stat(sock)
    h.eq((st.st_uid, st.st_gid), (65534, 65534), "with user = nobody the socket is nobody's")
    p = ctl(sock, "status", prefix=nobody)
    h.ok(p.returncode == 0 and "mode: repair" in p.stdout, "and nobody can use it",
         p.stderr)
    p = ctl(sock, "status", prefix=["setpriv", "--reuid=1", "--regid=1", "--clear-groups"])
    h.ok(p.returncode == 2 and "Permission denied" in p.stderr,
         "a third user (uid 1) cannot", p.stderr)
    h.eq(wg.stop(), 0, "the dropped daemon exits 0")
    h.ok(not os.path.exists(sock), "and removed its socket as nobody")


def hostile():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    sock = wg.control
    # half a line, held open
    half = []
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(b"sta")
        half.append(s)
    # one that asks and never reads its reply
    lazy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy.connect(sock)
    lazy.sendall(b"stats\n")
    # 1 MB in one go, from a thread (the daemon stops reading at the limit)
    big = {}

    def send_big():
        big["reply"] = raw(sock, b"x" * (1 << 20))

    t = threading.Thread(target=send_big)
    t.start()
    t0 = time.monotonic()
    answered = 0
    for i in range(20):
        m, _ = W.query(wg.addr, "www.%s" % Z, timeout=2)
        answered += m is not None and W.answer_set(m, "A") == {"192.0.2.1"}
    h.eq(answered, 20, "DNS is answered while hostile control clients hang on")
    t.join(10)
    h.ok(b".\nerror request too long\n" in big.get("reply", b""),
         "1 MB request: 'error request too long', then closed", big.get("reply", b"")[-80:])
    p = ctl(sock, "status")
    h.ok(p.returncode == 0, "status still answers beside the half-sent requests", p.stderr)
    # the half lines are cut off at the deadline (2 s)
    closed = 0
    for s in half:
        s.settimeout(10)
        try:
            closed += s.recv(100) == b""
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
    h.eq(closed, 3, "half-sent requests are closed by the daemon at the deadline")
    h.ok(time.monotonic() - t0 < 10, "within the deadline, not later")
    lazy.close()
    # more clients than the cap: the surplus is closed at accept, counted
    many = []
    for _ in range(12):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        many.append(s)
    time.sleep(0)  # the daemon accepts when its loop runs; we wait on replies below
    shut = 0
    for s in many:
        s.settimeout(5)
        try:
            s.sendall(b"status\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            shut += not data.endswith(b".\nok\n")
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            shut += 1
        s.close()
    h.ok(shut >= 12 - 8, "beyond 8 control clients at once, the rest are closed", shut)
    m, _ = W.query(wg.addr, "other.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.4"}, "and DNS still resolves")
    p = raw(sock, b"status\0x\n")
    h.ok(b"error a NUL byte" in p, "a NUL in the request: an error reply", p)
    h.ok(wg.alive(), "the daemon is alive after it all")


def switched_off():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(control={"socket": "none"}))
    h.ok(not os.path.exists(wg.control), "socket = none: no control socket")
    p = subprocess.run([CTL, "-c", wg.conf, "status"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    h.ok(p.returncode == 2 and "switched off" in p.stderr,
         "wuguardctl -c with socket = none: says so, exit 2", p.stderr)
    # a socket path that cannot be made never stops resolution
    d = h.mkdir("blocked")
    h.write(os.path.join(d, "file"), "")
    wg2 = h.wuguard([ns.addr], config=W.wg_config(
        control={"socket": os.path.join(d, "file", "c.sock")}))
    m, _ = W.query(wg2.addr, "www.%s" % Z)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "a control socket that cannot be made: "
                                             "the daemon still serves")
    h.ok("control socket" in wg2.log_since(0), "and logs why")


h.case("status, stats --live, --reset, the USR1 line, no daemon", status_stats)
h.case("reload: ok, or FILE:LINE and exit 1", reload_cmd)
h.case("flush NAME [TYPE], flush --all, cache NAME", flush_cache)
h.case("cache NAME of a repaired WU answer", repaired_entry)
h.case("guard counters go on across a reload", guard_counters_reload)
h.case("mode 0660, owner, another user refused", permissions)
h.case("hostile clients never stall DNS", hostile)
h.case("socket = none, or a path that cannot be made", switched_off)
h.done()
