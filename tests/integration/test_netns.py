#!/usr/bin/python3
"""Wildcard listeners on a host with several addresses (issue 12, item 1).

Two network namespaces made for this run, joined by a veth pair: the
server side has two IPv4 and two IPv6 addresses (documentation ranges, in
different subnets so the kernel's own source choice is wrong for half the
queries) plus two link-local ones (whose interface must go with them), the
client side one address in each subnet. nsd and wuguard run in
the server namespace (this process joins it); client sockets are made in the
client namespace. Checked: a UDP answer leaves from the address the query
went to (IP_PKTINFO / IPV6_PKTINFO), for 0.0.0.0 and [::] listening at once;
a [::] listener alone is dual-stack and answers IPv4 over UDP and TCP, with
the ACL seeing the IPv4 address (a denied one gets REFUSED, a TCP
connection from it is closed at accept, and allow = ::/0 does not admit
IPv4); a dual-stack [::] whose IPv4 port is taken fails with a clear error;
the pktinfo path allocates nothing. Skipped (TAP SKIP) where namespaces
cannot be made. Everything is deleted afterwards."""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN
TAG = "wg%d" % (os.getpid() % 10000000)
NS_S, NS_C = TAG + "s", TAG + "c"
VETH_S, VETH_C = TAG + "a", TAG + "b"  # interface names: at most 15 bytes
SRV = {"v4a": "192.0.2.1", "v4b": "198.51.100.1",
       "v6a": "2001:db8:1::1", "v6b": "2001:db8:2::1"}
CLI = {"v4a": "192.0.2.100", "v4b": "198.51.100.100",
       "v6a": "2001:db8:1::100", "v6b": "2001:db8:2::100"}
OTHER = {"v4a": "v4b", "v4b": "v4a", "v6a": "v6b", "v6b": "v6a"}
# link-local: the interface goes with the address (no automatic ones, so
# these are the only link-local addresses)
LL_SRV = ["fe80::1", "fe80::2"]
LL_CLI = "fe80::100"
_cli_ifindex = 0
CLONE_NEWNET = 0x40000000
SHIM = os.path.join(W.BUILDDIR, "tests", "alloc", ".libs", "alloc_count.so")
_libc = ctypes.CDLL(None, use_errno=True)
_created = []
_host_ns = None


def run(*argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=20)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), p.stdout.strip()))
    return p.stdout


def setns(path_or_fd):
    fd = os.open(path_or_fd, os.O_RDONLY) if isinstance(path_or_fd, str) else path_or_fd
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns: %s" % os.strerror(e))
    finally:
        if isinstance(path_or_fd, str):
            os.close(fd)


def setup():
    """Make the namespaces and join the server one; a reason string when
    that cannot be done here, None on success."""
    global _host_ns, _cli_ifindex
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_SYS_ADMIN"
    if not shutil.which("ip"):
        return "no ip(8) (iproute2)"
    try:
        run("ip", "netns", "add", NS_S)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        return "cannot create a network namespace: %s" % e
    _created.append(NS_S)
    run("ip", "netns", "add", NS_C)
    _created.append(NS_C)
    run("ip", "link", "add", VETH_S, "netns", NS_S, "type", "veth",
        "peer", "name", VETH_C, "netns", NS_C)
    for ns, dev, addrs in ((NS_S, VETH_S, SRV), (NS_C, VETH_C, CLI)):
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "set", "dev", dev, "addrgenmode", "none")
        for ll in (LL_SRV if ns == NS_S else [LL_CLI]):
            run("ip", "-n", ns, "-6", "addr", "add", ll + "/64", "dev", dev, "nodad")
        for k in sorted(addrs):
            if k.startswith("v4"):
                run("ip", "-n", ns, "addr", "add", addrs[k] + "/24", "dev", dev)
            else:  # nodad: usable at once, no duplicate address detection wait
                run("ip", "-n", ns, "-6", "addr", "add", addrs[k] + "/64", "dev", dev,
                    "nodad")
        run("ip", "-n", ns, "link", "set", dev, "up")
    _cli_ifindex = int(run("ip", "-n", NS_C, "-o", "link", "show", VETH_C).split(":")[0])
    _host_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    setns("/run/netns/" + NS_S)
    return None


def teardown():
    if _host_ns is not None:
        try:
            setns(_host_ns)
        except OSError as e:
            h.diag("cannot return to the host namespace: %s" % e)
    for ns in reversed(_created):
        try:
            run("ip", "netns", "del", ns)  # takes the veth pair with it
        except Exception as e:  # noqa: BLE001 -- report, keep deleting
            h.diag("deleting namespace %s: %s" % (ns, e))


def client_socket(src, kind=socket.SOCK_DGRAM):
    """A socket in the client namespace, bound to src."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    setns("/run/netns/" + NS_C)
    try:
        s = socket.socket(fam, kind)
        s.bind(sockaddr(src, 0))
    finally:
        setns("/run/netns/" + NS_S)
    return s


def sockaddr(addr, port):
    """A link-local address needs the client's interface as its scope."""
    return (addr, port, 0, _cli_ifindex) if addr.startswith("fe80:") else (addr, port)


def udp_ask(src, dst, port, name, timeout=2.0):
    """Ask dst:port from src; (message, reply source address) of the first
    datagram that comes back with the query's ID, wherever it comes from,
    or (None, None)."""
    q = W.make_query(name)
    s = client_socket(src)
    try:
        s.sendto(q.to_wire(), sockaddr(dst, port))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            s.settimeout(left)
            try:
                data, frm = s.recvfrom(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None, None
            if W.reply_id(data) == q.id:
                return (W.dns.message.from_wire(data, ignore_trailing=True),
                        frm[0].split("%")[0])
    finally:
        s.close()


def udp_ask_retry(src, dst, port, name, tries=5):
    """The first exchange over a link just brought up may be lost to
    neighbour discovery: a few tries, bounded."""
    for _ in range(tries):
        m, frm = udp_ask(src, dst, port, name, timeout=1.0)
        if m is not None:
            return m, frm
    return None, None


def tcp_ask(src, dst, port, name, timeout=3.0):
    """(message or None, closed): closed is True when the server closed the
    connection without an answer."""
    q = W.make_query(name)
    s = client_socket(src, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        try:
            s.connect((dst, port))
        except OSError as e:
            h.diag("TCP connect to %s:%d: %s" % (dst, port, e))
            return None, False
        wire = q.to_wire()
        deadline = time.monotonic() + timeout
        try:
            s.sendall(W.struct.pack("!H", len(wire)) + wire)
            n = W.struct.unpack("!H", W._recv_exact(s, 2, deadline))[0]
            return W.dns.message.from_wire(W._recv_exact(s, n, deadline)), False
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return None, True
        except socket.timeout:
            return None, False
    finally:
        s.close()


def stats_line(wg):
    start = wg.log_size()
    wg.kill(signal.SIGUSR1)
    wg.wait_log("send_errors=", start, timeout=5)
    for line in wg.log_since(start).splitlines():
        if "listen udp_in=" in line:
            return line
    return ""


def counter(line, key):
    for word in line.split():
        if word.startswith(key + "="):
            return int(word.split("=", 1)[1])
    return None


def acl(allow, deny=None):
    a = {"allow": allow}
    if deny:
        a["deny"] = deny
    return a


def sanitized():
    try:
        out = subprocess.run(["ldd", os.path.join(W.BUILDDIR, "wuguard")],
                             stdout=subprocess.PIPE, text=True).stdout
    except OSError:
        return False
    return "libasan" in out


def read_count(wg, path):
    """The shim's allocation count (tests/alloc/alloc_count.c), or None."""
    before = os.stat(path).st_mtime_ns if os.path.exists(path) else None
    wg.kill(signal.SIGUSR2)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.stat(path).st_mtime_ns != before:
            try:
                with open(path) as f:
                    text = f.read().strip()
                if text:
                    return int(text)
            except (OSError, ValueError):
                pass
        time.sleep(0.02)
    return None


def both_wildcards():
    """0.0.0.0:53 and [::]:53 at once (the README's example; [::] stays
    IPv6-only then): every address answers from itself."""
    ns = h.nsd({Z: W.ZONE})
    shim = not sanitized() and os.path.exists(SHIM)
    countfile = os.path.join(h.tmp, "alloc.count")
    prefix = ["env", "LD_PRELOAD=" + SHIM, "WG_ALLOC_COUNT_FILE=" + countfile] if shim else []
    wg = h.wuguard([ns.addr], args=["--listen", "0.0.0.0:53", "--listen", "[::]:53"],
                   config=W.wg_config(acl=acl("192.0.2.0/24, 198.51.100.0/24, "
                                              "2001:db8::/32, fe80::/10, 127.0.0.0/8")),
                   prefix=prefix, verbose=not shim)
    name = "www.%s" % Z
    for k in sorted(SRV):
        # from the other subnet's address: the kernel's pick would be wrong
        for src in (CLI[OTHER[k]], CLI[k]):
            m, frm = udp_ask_retry(src, SRV[k], 53, name)
            h.ok(m is not None and W.answer_set(m, "A") == {"192.0.2.1"} and frm == SRV[k],
                 "UDP %s -> %s:53 is answered from %s" % (src, SRV[k], SRV[k]),
                 "reply from %s: %s" % (frm, W.describe(m)))
    for ll in LL_SRV:
        m, frm = udp_ask_retry(LL_CLI, ll, 53, name)
        h.ok(m is not None and W.answer_set(m, "A") == {"192.0.2.1"} and frm == ll,
             "UDP %s -> [%s%%if]:53 (link-local) is answered from %s" % (LL_CLI, ll, ll),
             "reply from %s: %s" % (frm, W.describe(m)))
    m, closed = tcp_ask(CLI["v4b"], SRV["v4a"], 53, name)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "TCP to 0.0.0.0:53 answered", W.describe(m))
    m, closed = tcp_ask(CLI["v6a"], SRV["v6b"], 53, name)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "TCP to [::]:53 answered", W.describe(m))

    # the dual-stack [::] on the same port would collide with 0.0.0.0:53
    # (and with any IPv4 socket on it): a clear start-up error
    bad = h.wuguard([ns.addr], name="wuguard-dual", args=["--listen", "[::]:53"],
                    wait=False)
    try:
        bad.proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    tail = "\n".join(bad.log_tail(10))
    h.ok(bad.proc.returncode == 1 and "also takes IPv4" in tail and
         "Address already in use" in tail,
         "a dual-stack [::]:53 whose IPv4 port is taken fails with a clear error",
         "exit %s" % bad.proc.returncode, tail)

    if not shim:
        h.skip("no allocation on the pktinfo path", "ASan build or no shim")
        return
    for k in sorted(SRV):
        udp_ask(CLI[OTHER[k]], SRV[k], 53, name)
    c0 = read_count(wg, countfile)
    good = 0
    for _ in range(25):
        for k in sorted(SRV):
            m, frm = udp_ask(CLI[OTHER[k]], SRV[k], 53, name)
            good += m is not None and frm == SRV[k]
    c1 = read_count(wg, countfile)
    h.eq(good, 100, "100 cache hits over four wildcard addresses, each from its address")
    h.ok(c0 is not None and c0 == c1,
         "no heap allocation on the pktinfo path (100 UDP cache hits)",
         "before %s, after %s" % (c0, c1))


def dual_stack():
    """[::] alone receives IPv4 too; clients are seen as IPv4."""
    ns = h.nsd({Z: W.ZONE})
    name = "www.%s" % Z
    wg = h.wuguard([ns.addr], args=["--listen", "[::]:5300"],
                   config=W.wg_config(acl=acl("192.0.2.0/24, 2001:db8::/32, 127.0.0.0/8",
                                              "198.51.100.100")))
    m, frm = udp_ask_retry(CLI["v4a"], SRV["v4b"], 5300, name)
    h.ok(m is not None and W.answer_set(m, "A") == {"192.0.2.1"} and frm == SRV["v4b"],
         "IPv4 UDP to a [::]:5300 listener is answered, from the address asked",
         "reply from %s: %s" % (frm, W.describe(m)))
    m, frm = udp_ask_retry(CLI["v6b"], SRV["v6a"], 5300, name)
    h.ok(m is not None and W.answer_set(m, "A") == {"192.0.2.1"} and frm == SRV["v6a"],
         "IPv6 UDP to it too", "reply from %s: %s" % (frm, W.describe(m)))
    m, frm = udp_ask_retry(CLI["v4b"], SRV["v4a"], 5300, name)
    h.rcode(m, "REFUSED", "the ACL denies the IPv4 client 198.51.100.100 on [::]: REFUSED")
    m, closed = tcp_ask(CLI["v4a"], SRV["v4a"], 5300, name)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "IPv4 TCP to [::]:5300 is answered",
         W.describe(m))
    m, closed = tcp_ask(CLI["v4b"], SRV["v4b"], 5300, name)
    h.ok(m is None and closed, "a TCP connection from the denied IPv4 client is closed "
         "without an answer", W.describe(m))
    line = stats_line(wg)
    h.eq(counter(line, "tcp_denied"), 1, "and counted as tcp_denied at accept", line)

    # allow = ::/0 means every IPv6 client; an IPv4 client on [::] is IPv4,
    # not ::ffff:a.b.c.d, so it is not admitted by it
    wg2 = h.wuguard([ns.addr], name="wuguard-v6acl", args=["--listen", "[::]:5301"],
                    config=W.wg_config(acl=acl("::/0, 127.0.0.0/8")))
    m, frm = udp_ask_retry(CLI["v6a"], SRV["v6a"], 5301, name)
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "allow = ::/0 admits an IPv6 client",
         W.describe(m))
    m, frm = udp_ask_retry(CLI["v4a"], SRV["v4a"], 5301, name)
    h.rcode(m, "REFUSED", "and refuses an IPv4 client on the dual-stack [::]: the ACL "
            "sees 192.0.2.100, not ::ffff:192.0.2.100")
    h.ok(wg.alive() and wg2.alive(), "both daemons still running")


try:
    why = setup()
except Exception as e:  # noqa: BLE001 -- any set-up failure is a reason to skip
    why = "network namespace set-up failed: %s" % e
if why:
    teardown()
    h.skip("wildcard listeners answer from the address asked", why)
    h.skip("a [::] listener is dual-stack", why)
else:
    try:
        h.case("0.0.0.0:53 and [::]:53 answer from the address asked", both_wildcards)
        h.case("a [::] listener alone is dual-stack", dual_stack)
    finally:
        h.cleanup()  # stop the servers while their namespace still exists
        teardown()
h.done()
