#!/usr/bin/python3
"""TCP slots cannot be starved (issue 12, item 2; RFC 7766 6.2.3).

Flooders connect from their own loopback addresses (127.0.0.2 and up, bound
explicitly; all of 127/8 is loopback on Linux) and sit idle while the good
client on 127.0.0.1 asks over TCP. Checked: one source holds at most
tcp-per-client connections, the rest are closed at accept and counted; when
many sources fill every slot, the longest-idle connections are closed for
new ones (oldest first) and the good client gets all its answers; once 3/4
of the slots are taken idle connections are closed after a tenth of
tcp-idle-timeout until fewer than half are; a source the ACL denies is closed at accept, without an
answer, and counted. Counts are bounded and every wait is for a counter or
a closed connection, never a fixed sleep."""

import os
import select
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN
NAME = "www.%s" % Z


def stats(wg):
    """The listener counters of one SIGUSR1 line, as a dict."""
    start = wg.log_size()
    wg.kill(signal.SIGUSR1)
    wg.wait_log("send_errors=", start, timeout=5)
    for line in wg.log_since(start).splitlines():
        if "listen udp_in=" in line:
            return dict(w.split("=", 1) for w in line.split("listen ", 1)[1].split()
                        if "=" in w)
    return {}


def wait_stat(wg, key, want, timeout=10):
    """Poll the counters until key >= want; the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        v = int(stats(wg).get(key, -1))
        if v >= want or time.monotonic() >= deadline:
            return v
        time.sleep(0.05)


def connect_from(src, addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.bind((src, 0))
    s.connect(addr)
    return s


def is_closed(s, wait=0.0):
    """Has the server closed s (EOF or reset) within wait seconds?"""
    r, _, _ = select.select([s], [], [], wait)
    if not r:
        return False
    try:
        s.settimeout(0.5)
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return True


def wait_closed(socks, timeout, want=None):
    """Wait until want (default: every one) of socks are closed by the
    server or the deadline passes; the number closed."""
    left = list(socks)
    want = len(socks) if want is None else want
    deadline = time.monotonic() + timeout
    while len(socks) - len(left) < want and time.monotonic() < deadline:
        r, _, _ = select.select(left, [], [], max(0.0, deadline - time.monotonic()))
        for s in r:
            if is_closed(s):
                left.remove(s)
    return len(socks) - len(left)


def good_client(wg, n=10):
    good = 0
    for _ in range(n):
        m, _ = W.query(wg.addr, NAME, tcp=True, timeout=3)
        good += W.answer_set(m, "A") == {"192.0.2.1"}
    return good


def close_all(socks):
    for s in socks:
        s.close()


def one_source_flood():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(server={
        "tcp-max-clients": 16, "tcp-per-client": 4, "tcp-idle-timeout": 3600000}))
    flood = []
    try:
        for _ in range(40):
            flood.append(connect_from("127.0.0.2", wg.addr))
        v = wait_stat(wg, "tcp_per_client_closed", 36)
        h.eq(v, 36, "40 idle connections from 127.0.0.2 with tcp-per-client 4: "
             "36 closed at accept and counted")
        closed = wait_closed(flood[4:], 5)
        h.eq(closed, 36, "and those 36 see the connection closed")
        h.ok(not any(is_closed(s) for s in flood[:4]), "the first 4 stay open")
        good = good_client(wg)
        h.eq(good, 10, "the good client on 127.0.0.1 gets 10 of 10 TCP answers meanwhile")
    finally:
        close_all(flood)


def many_sources_fill():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(server={
        "tcp-max-clients": 16, "tcp-per-client": 4, "tcp-idle-timeout": 3600000}))
    flood = []
    try:
        for i in range(8):
            for _ in range(4):
                flood.append(connect_from("127.0.0.%d" % (10 + i), wg.addr))
                # one at a time, so the idle order is the connect order
                wait_stat(wg, "tcp_accepted", len(flood), timeout=5)
        st = stats(wg)
        h.eq((int(st.get("tcp_accepted", -1)), int(st.get("tcp_evicted", -1)),
              int(st.get("tcp_rejected", -1))), (32, 16, 0),
             "8 sources x 4 idle connections into 16 slots: all accepted, the 16 "
             "longest-idle closed to make room, none refused", st)
        h.ok(int(st.get("tcp_pressure", 0)) >= 1, "the pool went under pressure", st)
        closed = wait_closed(flood[:16], 5)
        h.eq(closed, 16, "the 16 oldest connections were the ones closed")
        h.ok(not any(is_closed(s) for s in flood[16:]), "the 16 newest stay open")
        good = good_client(wg)
        h.eq(good, 10, "the good client gets 10 of 10 TCP answers while every slot is "
             "taken by idle connections")
    finally:
        close_all(flood)


def pressure_idle():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(server={
        "tcp-max-clients": 16, "tcp-per-client": 4, "tcp-idle-timeout": 20000}))
    flood = []
    try:
        t0 = time.monotonic()
        for i in range(3):
            for _ in range(4):
                flood.append(connect_from("127.0.0.%d" % (20 + i), wg.addr))
        # pressure lasts until fewer than half (8) are open: 5 go
        closed = wait_closed(flood, 15, want=5)
        dt = time.monotonic() - t0
        h.eq(closed, 5, "12 of 16 slots taken (3/4): idle connections are closed until "
             "fewer than half the slots are taken")
        h.ok(dt < 12, "after a tenth of tcp-idle-timeout 20000 ms, not the full timeout",
             "closed after %.1f s" % dt)
        st = stats(wg)
        h.ok(int(st.get("tcp_pressure", 0)) == 1 and int(st.get("tcp_idle_closed", 0)) == 5,
             "counted: tcp_pressure=1 tcp_idle_closed=5", st)
        h.eq(sum(is_closed(s) for s in flood), 5, "the other 7 are left open: the pressure "
             "is over, the full timeout applies again")
        h.eq(good_client(wg, 3), 3, "and TCP answers again")
    finally:
        close_all(flood)


def denied_at_accept():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config(
        server={"tcp-max-clients": 8, "tcp-idle-timeout": 3600000},
        acl={"deny": "127.0.0.3"}))
    m, _ = W.query(wg.addr, NAME)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "127.0.0.1 is answered")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.3", 0))
    q = W.make_query(NAME)
    s.sendto(q.to_wire(), wg.addr)
    s.settimeout(3)
    try:
        data = s.recv(4096)
    except socket.timeout:
        data = None
    s.close()
    h.eq(W.reply_rcode(data), "REFUSED", "UDP from the denied 127.0.0.3 gets REFUSED")
    flood = []
    try:
        for _ in range(30):
            c = connect_from("127.0.0.3", wg.addr)
            wire = W.make_query(NAME).to_wire()
            try:
                c.sendall(W.struct.pack("!H", len(wire)) + wire)
            except OSError:
                pass
            flood.append(c)
        v = wait_stat(wg, "tcp_denied", 30)
        h.eq(v, 30, "30 TCP connections from the denied 127.0.0.3: closed at accept, "
             "counted as tcp_denied")
        answered = 0
        for c in flood:
            c.settimeout(3)
            try:
                answered += len(c.recv(4096)) > 0
            except OSError:
                pass
        h.eq(answered, 0, "none of them got an answer (not even REFUSED): they held no slot")
        h.eq(good_client(wg), 10, "the good client gets 10 of 10 TCP answers")
        st = stats(wg)
        h.eq(int(st.get("tcp_rejected", -1)), 0, "no allowed client was refused a slot", st)
    finally:
        close_all(flood)


h.case("one source cannot take every TCP slot", one_source_flood)
h.case("a full pool closes the longest-idle connection", many_sources_fill)
h.case("under pressure idle connections go sooner", pressure_idle)
h.case("an ACL-denied source is closed at accept", denied_at_accept)
h.done()
