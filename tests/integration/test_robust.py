#!/usr/bin/python3
"""Robustness of the real daemon: malformed packets over UDP and TCP never
stop it answering (FORMERR where a header is readable), NOTIMP for opcodes
other than QUERY, no reply to responses (QR=1), SIGHUP with a broken config
keeps serving while a good one takes effect, SIGUSR1 and SIGTERM (issue 2)."""

import os
import random
import select
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402
from wgtest import dns  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN
QUESTION_A = W.struct.pack("!HH", 1, 1)


def alive(wg, what):
    """The daemon is running and answers a good query (cached name)."""
    m, _ = W.query(wg.addr, "www.%s" % Z, timeout=3)
    return h.ok(wg.alive() and W.answer_set(m, "A") == {"192.0.2.1"},
                "still answering after %s" % what,
                "process %s" % ("running" if wg.alive() else
                                "exited %s" % wg.proc.returncode), W.describe(m))


def expect_formerr(wg, wire, qid, what):
    data = W.udp_raw(wg.addr, wire, timeout=1.5)
    h.ok(data is not None and W.reply_id(data) == qid and
         W.reply_rcode(data) == "FORMERR" and data[2] & 0x80,
         "%s: FORMERR with the query's ID" % what,
         "reply: %s" % (data.hex() if data else "none"),
         "rcode %s, id %s" % (W.reply_rcode(data), W.reply_id(data)))


def malformed_udp():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    alive(wg, "start")

    seed = int(os.environ.get("WG_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    h.diag("random seed %d (set WG_SEED to repeat)" % seed)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(300):
        s.sendto(W.random_bytes(rng.randrange(0, 600), rng), wg.addr)
    s.close()
    alive(wg, "300 packets of random bytes (0-600 bytes)")

    for n in (0, 1, 5, 11):
        data = W.udp_raw(wg.addr, b"\xab" * n, timeout=0.5)
        if data is not None:
            h.diag("reply to a %d-byte packet: %s" % (n, data.hex()))
    alive(wg, "truncated headers (0, 1, 5, 11 bytes)")

    expect_formerr(wg, W.wire_header(0x0a01), 0x0a01,
                   "header only, QDCOUNT=1 but no question")
    expect_formerr(wg, W.wire_header(0x0a02) + b"\x3fabc" + QUESTION_A, 0x0a02,
                   "label length 63 running past the end")
    expect_formerr(wg, W.wire_header(0x0a03) + b"\x03www" + b"\x50" + b"x" * 10 +
                   b"\0" + QUESTION_A, 0x0a03, "label length 0x50 (reserved bits)")
    expect_formerr(wg, W.wire_header(0x0a04) + b"\xc0\x0c" + QUESTION_A, 0x0a04,
                   "compression pointer to itself")
    expect_formerr(wg, W.wire_header(0x0a05) + b"\x01a\xc0\x0c" + QUESTION_A, 0x0a05,
                   "compression loop through a label")
    expect_formerr(wg, W.wire_header(0x0a06) + b"\xc0\x20" + QUESTION_A, 0x0a06,
                   "compression pointer past the end")
    longname = (b"\x3f" + b"a" * 63) * 5 + b"\0"
    expect_formerr(wg, W.wire_header(0x0a07) + longname + QUESTION_A, 0x0a07,
                   "name longer than 255 bytes")
    expect_formerr(wg, W.wire_header(0x0a08) + W.wire_name("www.%s" % Z), 0x0a08,
                   "question without type and class")
    alive(wg, "malformed questions")

    # QDCOUNT=0 and QDCOUNT=2: not something to answer normally.
    for qd, qid in ((0, 0x0b00), (2, 0x0b02)):
        wire = W.wire_header(qid, qd=qd) + (W.wire_name("www.%s" % Z) + QUESTION_A) * qd
        data = W.udp_raw(wg.addr, wire, timeout=1.0)
        h.ok(data is None or W.reply_rcode(data) in ("FORMERR", "NOTIMP", "REFUSED"),
             "QDCOUNT=%d: FORMERR/NOTIMP/REFUSED or dropped" % qd,
             "reply: %s" % (data.hex() if data else "none"))
    alive(wg, "QDCOUNT 0 and 2")

    # A response (QR=1) sent to the daemon must not be answered: that is how
    # two resolvers end up in a loop.
    wire = W.wire_header(0x0c01, flags=0x8180) + W.wire_name("www.%s" % Z) + QUESTION_A
    data = W.udp_raw(wg.addr, wire, timeout=1.0)
    h.ok(data is None, "QR=1 packet dropped, not answered",
         "reply: %s" % (data.hex() if data else "none"))

    for opcode, name in ((2, "STATUS"), (4, "NOTIFY"), (15, "opcode 15")):
        qid = 0x0d00 + opcode
        wire = (W.wire_header(qid, flags=(opcode << 11) | 0x0100) +
                W.wire_name("www.%s" % Z) + QUESTION_A)
        data = W.udp_raw(wg.addr, wire, timeout=1.5)
        h.ok(data is not None and W.reply_id(data) == qid and
             W.reply_rcode(data) == "NOTIMP" and data[2] & 0x80,
             "opcode %s: NOTIMP with the query's ID" % name,
             "reply: %s" % (data.hex() if data else "none"))
    alive(wg, "other opcodes")

    # EDNS version 1: BADVERS (extended rcode 16, RFC 6891 6.1.3), ID kept.
    q = W.make_query("www.%s" % Z, qid=0x0e01, edns=1)
    m, wire = W.ask(wg.addr, q, timeout=1.5)
    h.ok(m is not None and m.rcode() == dns.rcode.BADVERS and m.edns == 0,
         "EDNS version 1: BADVERS in an EDNS0 reply", W.describe(m))
    h.eq(W.reply_id(wire), 0x0e01, "BADVERS keeps the query's ID")

    # Mutations of a good query: flip bytes, cut, extend. Bounded count.
    good = W.make_query("mutant.%s" % Z, qid=0x0e00).to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(500):
        b = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        if rng.random() < 0.2:
            b = b[:rng.randrange(len(b))]
        if rng.random() < 0.2:
            b += W.random_bytes(rng.randrange(1, 40), rng)
        s.sendto(bytes(b), wg.addr)
        if i % 50 == 49:
            time.sleep(0.02)  # let the daemon keep up; this is not a flood test
    s.close()
    time.sleep(0.5)
    alive(wg, "500 mutated queries")
    # Trailing garbage after a good question: answered or FORMERR, not a crash.
    wire = W.make_query("www.%s" % Z, qid=0x0f01).to_wire() + b"\xff" * 7
    data = W.udp_raw(wg.addr, wire, timeout=1.5)
    h.ok(data is None or W.reply_id(data) == 0x0f01,
         "trailing garbage: a reply, if any, keeps the ID")
    alive(wg, "trailing garbage")

    # A datagram longer than any real query (5000 bytes): dropped and
    # counted, and the next good query is answered.
    big = W.make_query("www.%s" % Z, qid=0x0f02).to_wire() + b"\0" * 4900
    data = W.udp_raw(wg.addr, big, timeout=1.0)
    h.ok(data is None, "a 5000-byte datagram gets no answer (dropped)",
         "reply: %s" % (data[:16].hex() if data else "none"))
    alive(wg, "a 5000-byte datagram")
    logsize = wg.log_size()
    wg.kill(signal.SIGUSR1)
    wg.wait_log("udp_too_long=", logsize, timeout=3)
    text = wg.log_since(logsize)
    h.ok("udp_too_long=1 " in text, "and counted: udp_too_long=1 in the SIGUSR1 counters",
         text[-400:])


def malformed_tcp():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(server={"tcp-idle-timeout": 2000}))
    alive(wg, "start")
    rng = random.Random(1234)
    # A framed compression loop: FORMERR over TCP as over UDP.
    wire = W.wire_header(0x1a01) + b"\xc0\x0c" + QUESTION_A
    r = W.tcp_raw(wg.addr, wire, timeout=2)
    h.ok(r and W.reply_id(r[0]) == 0x1a01 and W.reply_rcode(r[0]) == "FORMERR",
         "TCP: compression loop gets FORMERR",
         "replies: %s" % [x.hex() for x in r])
    # Random framed garbage, zero-length frames, a length promising more than
    # is sent, then closing.
    for payload, frame in ((W.random_bytes(100, rng), True), (b"", True),
                           (W.struct.pack("!H", 500) + b"abc", False),
                           (b"\x00", False), (W.random_bytes(3000, rng), False)):
        try:
            W.tcp_raw(wg.addr, payload, timeout=0.5, frame=frame)
        except OSError as e:
            h.diag("tcp send: %s" % e)
    alive(wg, "TCP garbage, empty frames, short frames")
    # Connections opened and left idle must not stop new ones being served.
    idle = []
    try:
        for _ in range(20):
            idle.append(socket.create_connection(wg.addr, timeout=2))
        m, _ = W.query(wg.addr, "www.%s" % Z, tcp=True)
        h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
             "TCP query answered while 20 idle connections are open", W.describe(m))
        # The idle timeout is 2 s: an idle connection is closed by the daemon.
        c = idle[0]
        c.settimeout(5)
        t0 = time.monotonic()
        try:
            got = c.recv(1)
        except socket.timeout:
            got = None
        except ConnectionResetError:
            got = b""
        dt = time.monotonic() - t0
        h.ok(got == b"" and dt < 4.5, "idle TCP connection closed by the daemon "
             "after tcp-idle-timeout 2000 ms", "recv %r after %.1f s" % (got, dt))
    finally:
        for c in idle:
            c.close()
    alive(wg, "idle TCP connections")


def tcp_cap():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(server={"tcp-max-clients": 5}))
    alive(wg, "start")
    conns = []
    try:
        for _ in range(15):
            try:
                conns.append(socket.create_connection(wg.addr, timeout=2))
            except OSError as e:
                h.diag("connect beyond the cap: %s" % e)
                break
        m, _ = W.query(wg.addr, "www.%s" % Z)
        h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
             "UDP answered while TCP clients exceed tcp-max-clients 5", W.describe(m))
    finally:
        for c in conns:
            c.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m, _ = W.query(wg.addr, "www.%s" % Z, tcp=True, timeout=1)
        if m is not None:
            break
        time.sleep(0.2)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"},
         "TCP answered again once the excess clients closed", W.describe(m))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tcp_no_reader():
    """A TCP client that pipelines queries and does not read the answers:
    wuguard stops reading it once 64 queries or 256 KB of answers wait
    (RFC 7766 6.2.1.1), so its memory stays bounded (before: every answer
    was queued, 20000 x 2 KB here); other clients are served meanwhile, and
    once the client reads, every answer arrives."""
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(server={"tcp-idle-timeout": 60000}))
    alive(wg, "start")
    m, _ = W.query(wg.addr, "big.%s" % Z, "TXT", tcp=True)  # cached: hits from now on
    h.ok(m is not None and len(m.answer) > 0, "big TXT answer over TCP", W.describe(m))
    n = 20000
    frames = b"".join(W.struct.pack("!H", len(w)) + w for w in (
        dns.message.make_query("big.%s" % Z, "TXT", id=i & 0xffff).to_wire()
        for i in range(n)))
    rss0 = rss_kb(wg.pid)
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.connect(wg.addr)
    c.setblocking(False)
    sent, deadline = 0, time.monotonic() + 8
    while sent < len(frames) and time.monotonic() < deadline:
        try:
            sent += c.send(frames[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(1.0)  # let the daemon do whatever it does with them
    grew = rss_kb(wg.pid) - rss0
    h.diag("sent %d of %d bytes without reading; RSS grew %d kB" % (sent, len(frames), grew))
    h.ok(grew < 16 * 1024, "a client that does not read cannot grow memory (grew %d kB, "
         "limit 16 MB; unbounded it would be ~40 MB)" % grew)
    alive(wg, "a TCP client stopped reading")
    m, _ = W.query(wg.addr, "www.%s" % Z, tcp=True, timeout=3)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "another TCP client is answered meanwhile",
         W.describe(m))

    # now read (and send whatever did not fit before) until every answer is in
    buf, got, deadline = b"", 0, time.monotonic() + 60
    while got < n and time.monotonic() < deadline:
        want_w = [c] if sent < len(frames) else []
        r, w, _ = select.select([c], want_w, [], 5)
        if not r and not w:
            break
        if w:
            try:
                sent += c.send(frames[sent:sent + 65536])
            except BlockingIOError:
                pass
        if r:
            try:
                data = c.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                break
            buf += data
            while len(buf) >= 2 and len(buf) >= 2 + W.struct.unpack("!H", buf[:2])[0]:
                buf = buf[2 + W.struct.unpack("!H", buf[:2])[0]:]
                got += 1
    c.close()
    h.eq(got, n, "once the client reads, every one of the %d answers arrives" % n)
    start = wg.log_size()
    wg.kill(signal.SIGUSR1)
    wg.wait_log("tcp_paused=", start)
    line = next((x for x in wg.log_since(start).splitlines() if "tcp_paused=" in x), "")
    paused = int(line.split("tcp_paused=")[1].split()[0]) if line else 0
    h.ok(paused >= 1, "SIGUSR1 counts the pauses (tcp_paused=%d)" % paused, line or "no line")


def signals():
    ns = h.nsd({Z: W.ZONE})
    good = W.render_config(W.wg_config())
    wg = h.wuguard([ns.addr], config=good)
    alive(wg, "start")

    def poll(pred, limit=5.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            m, _ = W.query(wg.addr, "hup.%s" % Z, timeout=1)
            if pred(m):
                return m
            time.sleep(0.1)
        return m

    logsize = os.path.getsize(wg.logpath)
    for name, text in (("not INI at all", "this is not a config file\n[[[\n"),
                       ("unknown key", good + "[server]\nno-such-key = 1\n"),
                       ("bad value", good + "[upstream]\ntimeout = soon\n"),
                       ("bad CIDR", good + "[acl]\ndeny = 127.0.0.1/99\n")):
        h.write(wg.conf, text)
        wg.kill(signal.SIGHUP)
        time.sleep(0.5)
        m = poll(lambda m: m is not None)
        h.ok(wg.alive() and W.answer_set(m, "A") == {"192.0.2.6"},
             "SIGHUP with a broken config (%s): still serving" % name, W.describe(m))
    with open(wg.logpath, "rb") as f:
        f.seek(logsize)
        reloadlog = f.read().decode("utf-8", "replace")
    h.ok("wuguard.conf:" in reloadlog,
         "the broken configs are reported in the log as file:line",
         "log since the first reload: %r" % reloadlog[-600:])
    alive(wg, "broken reloads")

    # A good change takes effect: deny ourselves, then allow again.
    h.write(wg.conf, W.render_config(W.wg_config(acl={"deny": "127.0.0.1/32"})))
    wg.kill(signal.SIGHUP)
    m = poll(lambda m: m is not None and W.rcode_text(m) == "REFUSED")
    h.rcode(m, "REFUSED", "SIGHUP with a good config denying 127.0.0.1: REFUSED")
    h.write(wg.conf, good)
    wg.kill(signal.SIGHUP)
    m = poll(lambda m: m is not None and W.rcode_text(m) == "NOERROR")
    h.eq(W.answer_set(m, "A"), {"192.0.2.6"},
         "SIGHUP back to the first config: answering again", W.describe(m))

    size = os.path.getsize(wg.logpath)
    wg.kill(signal.SIGUSR1)
    time.sleep(0.5)
    grew = os.path.getsize(wg.logpath) > size
    with open(wg.logpath, "rb") as f:
        f.seek(size)
        counters = f.read().decode("utf-8", "replace")
    h.ok(grew and "quer" in counters.lower(), "SIGUSR1 logs counters",
         "log after SIGUSR1: %r" % counters[:400])
    alive(wg, "SIGUSR1")

    t0 = time.monotonic()
    wg.kill(signal.SIGTERM)
    try:
        rc = wg.proc.wait(5)
    except W.subprocess.TimeoutExpired:
        rc = None
    h.eq(rc, 0, "SIGTERM: clean exit with status 0",
         "took %.2f s" % (time.monotonic() - t0), *wg.log_tail(10))


def check_mode():
    good = os.path.join(h.tmp, "good.conf")
    h.write(good, W.render_config(W.wg_config(cache={"serve-stale": True})))
    bad = os.path.join(h.tmp, "bad.conf")
    h.write(bad, "[upstream]\ntimeout = 300\n\n[cache]\nserve-stale = perhaps\n")
    exe = os.path.join(W.BUILDDIR, "wuguard")
    r = W.subprocess.run([exe, "-n", "-c", good, "--local", "127.0.0.1:53"],
                         capture_output=True, timeout=10)
    h.eq(r.returncode, 0, "wuguard -n on a good config exits 0",
         r.stderr.decode(errors="replace"))
    r = W.subprocess.run([exe, "-n", "-c", bad, "--local", "127.0.0.1:53"],
                         capture_output=True, timeout=10)
    err = (r.stdout + r.stderr).decode(errors="replace")
    h.ok(r.returncode != 0, "wuguard -n on a bad config exits non-zero", err)
    h.ok("bad.conf:5" in err, "and names file:line", err)


def upstream_trailing_bytes():
    """Bytes after an upstream reply's last record (a broken middlebox, or
    someone on the path) must not reach the client: the OPT wuguard appends
    would land behind them and the client would read them as the OPT (found
    by tests/fuzz/fuzz_reply.c). dnspython rejects trailing junk, so a
    parsed reply proves they are gone."""
    junk = b"\x00\x00\x29\x10\x00junk-after-the-message"

    def handler(q, transport):
        r = dns.message.make_response(q)
        name = q.question[0].name.to_text().lower()  # asked in 0x20 case
        if name.startswith("opt."):
            r.use_edns(0, payload=1232)  # OPT last, then the junk
        r.answer.append(dns.rrset.from_text(q.question[0].name, 300, "IN", "A",
                                            "192.0.2.77"))
        return r.to_wire() + junk

    fu = W.FakeUpstream(h, handler)
    wg = h.wuguard([fu.addr], config=W.wg_config())
    for name in ("plain.trailing.test", "opt.trailing.test"):
        for turn in ("upstream", "cache"):
            q = dns.message.make_query(name, "A", use_edns=0, payload=1232)
            wire = W.udp_raw(wg.addr, q.to_wire(), timeout=3)
            try:
                m = dns.message.from_wire(wire) if wire else None
                err = ""
            except Exception as e:  # TrailingJunk, BadEDNS ...
                m, err = None, "%s: %s" % (type(e).__name__, e)
            h.ok(m is not None and W.answer_set(m, "A") == {"192.0.2.77"} and m.edns == 0,
                 "%s (%s): the EDNS client gets a well-formed reply with the answer" % (
                     name, turn), err, "reply: %s" % (wire.hex() if wire else "none"))
    alive_name = "plain.trailing.test"
    m, _ = W.query(wg.addr, alive_name, timeout=3)
    h.ok(wg.alive() and W.answer_set(m, "A") == {"192.0.2.77"},
         "still answering (no EDNS, from cache)", W.describe(m))


h.case("malformed packets over UDP", malformed_udp)
h.case("upstream reply with bytes after its last record", upstream_trailing_bytes)
h.case("malformed input over TCP", malformed_tcp)
h.case("TCP client cap", tcp_cap)
h.case("TCP client that does not read", tcp_no_reader)
h.case("signals: SIGHUP reload, SIGUSR1 counters, SIGTERM", signals)
h.case("wuguard -n checks the config", check_mode)
h.done()
