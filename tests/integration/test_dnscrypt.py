#!/usr/bin/python3
"""DNSCrypt transport against dnsdist (Debian 12: 1.7.3) on loopback.

dnsmasq is the authority; dnsdist serves DNSCrypt in front of it on three
binds: es-version 1 (serial 1), es-version 2 (serial 2), and one whose
certificate is rotated while the client runs (serial 10, then 11 loaded by
dnsdist's maintenance() hook). The client is tests/wg-dnscrypt-query.
Prints TAP. Every process started here is killed at the end.
"""
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wgtest import free_port  # noqa: E402  (ports below the ephemeral range)

BUILD = os.environ.get("WG_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENT = os.path.join(BUILD, "tests", "wg-dnscrypt-query")
# e.g. WG_TEST_WRAPPER="valgrind -q --error-exitcode=9 --leak-check=full"
WRAPPER = os.environ.get("WG_TEST_WRAPPER", "").split()
PROVIDER = "2.dnscrypt-cert.example"

results = []
procs = []


def tap(ok, desc, detail=""):
    results.append((ok, desc))
    print("%s %d - %s" % ("ok" if ok else "not ok", len(results), desc))
    if not ok and detail:
        for line in detail.splitlines():
            print("#   " + line)
    sys.stdout.flush()


def stamp(addr, pk, name=PROVIDER):
    """sdns:// stamp for a DNSCrypt server (protocol 0x01, props 0)."""
    a, n = addr.encode(), name.encode()
    raw = bytes([1]) + bytes(8) + bytes([len(a)]) + a + bytes([len(pk)]) + pk + bytes([len(n)]) + n
    return "sdns://" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def start(args, log):
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(p)
    return p


def wait_udp(port, timeout=10.0):
    """Wait until a plain DNS query to 127.0.0.1:port gets any reply."""
    q = bytes.fromhex("abcd01000001000000000000") + b"\x01a\x07example\x00\x00\x01\x00\x01"
    end = time.time() + timeout
    while time.time() < end:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        try:
            s.sendto(q, ("127.0.0.1", port))
            s.recvfrom(4096)
            return True
        except OSError:
            time.sleep(0.2)
        finally:
            s.close()
    return False


def query(args, timeout=60):
    try:
        p = subprocess.run(WRAPPER + [CLIENT, "-v"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, text=True)
    except subprocess.TimeoutExpired as e:
        return -1, "", "client hung: %s" % e
    return p.returncode, p.stdout, p.stderr


def main():
    for tool in ("dnsdist", "dnsmasq"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin"):
            print("1..0 # SKIP %s not installed" % tool)
            return 0
    if not os.access(CLIENT, os.X_OK):
        print("1..0 # SKIP %s not built" % CLIENT)
        return 0
    dnsmasq = shutil.which("dnsmasq", path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", ""))
    dnsdist = shutil.which("dnsdist", path="/usr/bin:/usr/sbin:" + os.environ.get("PATH", ""))

    tmp = tempfile.mkdtemp(prefix="wg-dnscrypt-")
    print("1..9")
    try:
        run(tmp, dnsmasq, dnsdist)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if all(ok for ok, _ in results):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("# logs kept in " + tmp)
    return 0


def run(tmp, dnsmasq, dnsdist):
    f = lambda name: os.path.join(tmp, name)
    now = int(time.time())

    # keys and certificates, made by dnsdist itself (the config check runs the Lua)
    gen = f("gen.lua")
    with open(gen, "w") as g:
        g.write('generateDNSCryptProviderKeys("%s", "%s")\n' % (f("provider.pub"), f("provider.key")))
        certs = [("v1", 1, "VERSION1"), ("v2", 2, "VERSION2"), ("rot", 10, "VERSION1"),
                 ("rot2", 11, "VERSION2")]
        for name, serial, ver in certs:
            g.write('generateDNSCryptCertificate("%s", "%s", "%s", %d, %d, %d, DNSCryptExchangeVersion.%s)\n'
                    % (f("provider.key"), f(name + ".cert"), f(name + ".key"), serial, now - 600,
                       now + 86400, ver))
    subprocess.run([dnsdist, "--check-config", "-C", gen], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)
    pk = open(f("provider.pub"), "rb").read()
    if len(pk) != 32:
        tap(False, "dnsdist wrote a 32-byte provider public key", "got %d bytes" % len(pk))
        return

    auth, plain, p_v1, p_v2, p_rot, dead = (free_port() for _ in range(6))
    big = "x" * 200
    alog = open(f("dnsmasq.log"), "w")
    # -k, not --no-daemon: in debug mode dnsmasq serves TCP in its main process
    # and blocks on dnsdist's pooled backend connection
    start([dnsmasq, "--keep-in-foreground", "--port=%d" % auth, "--listen-address=127.0.0.1",
           "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
           "--pid-file=", "--address=/a.example/192.0.2.1",
           "--txt-record=big.example,%s1" % big, "--txt-record=big.example,%s2" % big,
           "--txt-record=big.example,%s3" % big], alog)

    conf = f("dnsdist.lua")
    with open(conf, "w") as c:
        c.write('setSecurityPollSuffix("")\n')  # else dnsdist asks a server off the machine
        c.write('setLocal("127.0.0.1:%d")\n' % plain)
        c.write('newServer({address="127.0.0.1:%d"}):setUp()\n' % auth)
        for port, name in ((p_v1, "v1"), (p_v2, "v2"), (p_rot, "rot")):
            c.write('addDNSCryptBind("127.0.0.1:%d", "%s", "%s", "%s")\n'
                    % (port, PROVIDER, f(name + ".cert"), f(name + ".key")))
        # rotation: 3 s after start, bind 2 gets serial 11 (es-version 2)
        c.write('local t0 = os.time()\nlocal rotated = false\n'
                'function maintenance()\n'
                '  if not rotated and os.time() >= t0 + 3 then\n'
                '    getDNSCryptBind(2):loadNewCertificate("%s", "%s")\n'
                '    rotated = true\n'
                '  end\n'
                'end\n' % (f("rot2.cert"), f("rot2.key")))
    dlog = open(f("dnsdist.log"), "w")
    start([dnsdist, "--supervised", "--disable-syslog", "-C", conf], dlog)
    if not wait_udp(auth) or not wait_udp(plain):
        tap(False, "dnsmasq and dnsdist start", open(f("dnsdist.log")).read())
        return

    s_v1 = stamp("127.0.0.1:%d" % p_v1, pk)
    s_v2 = stamp("127.0.0.1:%d" % p_v2, pk)
    s_rot = stamp("127.0.0.1:%d" % p_rot, pk)
    s_dead = stamp("127.0.0.1:%d" % dead, pk)
    s_wrong = stamp("127.0.0.1:%d" % p_v1, os.urandom(32))
    print("# stamp es-version 1: " + s_v1)
    print("# stamp es-version 2: " + s_v2)

    t_rot = time.time()
    rc, out, err = query(["-t", "1500", "-n", "8", "-i", "1000", "-R", "1000", s_rot, "a.example", "A"])
    rot = (rc, out, err)

    rc, out, err = query([s_v1, "a.example", "A"])
    tap(rc == 0 and "tcp=0" in out and "authenticated=1" in out and "192.0.2.1" in out
        and "es-version 1" in err,
        "es-version 1: answer over UDP", out + err)

    rc, out, err = query([s_v2, "a.example", "A"])
    tap(rc == 0 and "tcp=0" in out and "192.0.2.1" in out and "es-version 2" in err,
        "es-version 2: answer over UDP", out + err)

    rc, out, err = query([s_v1, "big.example", "TXT"])
    tap(rc == 0 and "tcp=1" in out and "answers=3" in out and "tcp_retries=1" in out,
        "es-version 1: large answer truncated over UDP, whole over TCP", out + err)

    rc, out, err = query([s_v2, "big.example", "TXT"])
    tap(rc == 0 and "tcp=1" in out and "answers=3" in out and "tcp_retries=1" in out,
        "es-version 2: large answer truncated over UDP, whole over TCP", out + err)

    rc, out, err = query([s_wrong, "a.example", "A"])
    tap(rc != 0 and "192.0.2.1" not in out and "replies=0" in out and "cert_failures=1" in out
        and "signature does not verify" in err,
        "wrong provider key in the stamp: no answer, an error naming the signature", out + err)

    rc, out, err = query(["-t", "500", s_dead, s_v2, "a.example", "A"])
    tap(rc == 0 and "server=1" in out and "192.0.2.1" in out,
        "failover: a dead first stamp, the answer comes from the second", out + err)

    rc, out, err = query(["-n", "20", s_v1, s_v2, "a.example", "A"])
    tap(rc == 0 and out.count("status=0") == 20 and "bad=0" in out,
        "20 queries in a row, none discarded", out + err)

    rc, out, err = rot
    tap(rc == 0 and out.count("status=0") == 8 and "rotations=1" in out and "serial=11" in out
        and "serial 10 -> 11" in err,
        "certificate rotated by the server while running: serial 10 -> 11, no query lost",
        out + err + "\n(started %.1f s after dnsdist)" % (time.time() - t_rot))

    out = subprocess.run([CLIENT, "sdns://AgAAAAAAAAAAAAA", "a.example", "A"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tap(out.returncode == 2 and "not a DNSCrypt stamp" in out.stderr,
        "a DoH stamp is rejected with a clear message", out.stderr)


if __name__ == "__main__":
    sys.exit(main())
