#!/usr/bin/python3
"""wuguardctl probe --tls end to end (issue 14): the TLS path to the WU names.

Everything runs in a network namespace made for this run (this process joins
it; deleted afterwards), whose loopback also carries 192.0.2.2-9 and 198.51.100.3: a
documentation range, because the guard rightly calls a 127/8 answer a
sinkhole, and the DNS verdict beside the TLS one must be a real "match".
nsd is the authority for microsoft.com and points each WU name at its own
192.0.2.N; a corporate unbound on 127.0.0.1 forwards to it, rewrites one
name (a CNAME at the authority) to the "inspection box" 198.51.100.3,
sinkholes one and NXDOMAINs one. On one port P
(WUGUARDCTL_PROBE_TLS_PORT, since a test does not bind 443) run:
  192.0.2.2  openssl s_server, a leaf for the names chained to a test root
             (the genuine service; the root is passed with --tls-roots)
  192.0.2.3  openssl s_server re-signed by an "inspection" CA (intercepted),
             and the same on 198.51.100.3
  192.0.2.4  openssl s_server, test root, but a leaf for another name
  192.0.2.5  nothing: a closed port (blocked: refused)
  192.0.2.6  a python server that reads the ClientHello and resets (SO_LINGER 0)
  192.0.2.7  openssl s_server, test root, an expired leaf (invalid)
  192.0.2.8  a python server that answers the ClientHello with a fatal alert
  192.0.2.9  a listening socket that never answers (blocked: timeout)
and two small HTTP CONNECT proxies in python on 127.0.0.1 for --via-proxy
(one to the genuine server, one to the inspection box).

Checks: each verdict with its reason and the inspection CA's subject, the
DNS verdict beside it, the public answer's address tried when it differs,
an IPv6-only name, no local address (sinkhole, NXDOMAIN), proxy-only, the
shipped Microsoft roots (a test root is not one), the default names, the
table, JSON, exit codes, the per-connection timeout and the phase's
deadline in bounded time, usage errors.
Skipped (TAP SKIP) where a namespace cannot be made. Nothing reads
/etc/resolv.conf. TAP output.
"""

import ctypes
import datetime
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
CTL = os.path.join(W.BUILDDIR, "wuguardctl")

OK_NAME = "fe3.delivery.mp.microsoft.com"           # 127.0.0.2 genuine
INTERCEPT = "sls.update.microsoft.com"              # 127.0.0.3 inspection CA
WRONG = "slscr.update.microsoft.com"                # 127.0.0.4 leaf for another name
CLOSED = "fe2.update.microsoft.com"                 # 127.0.0.5 closed port
RESET = "fe2cr.update.microsoft.com"                # 127.0.0.6 reset after ClientHello
EXPIRED = "geo.prod.do.dsp.mp.microsoft.com"        # 127.0.0.7 expired leaf
ALERT = "fe3cr.delivery.mp.microsoft.com"           # 127.0.0.8 fatal alert
HANG = "kv801.prod.do.dsp.mp.microsoft.com"         # 127.0.0.9 never answers
REWRITTEN = "tsfe.trafficshaping.dsp.mp.microsoft.com"  # genuine .2, local says .3
VIA_PROXY = "displaycatalog.mp.microsoft.com"       # closed .5, reachable by proxy
SINKHOLED = "catalog.update.microsoft.com"          # local says 0.0.0.0
NXDOMAINED = "www.update.microsoft.com"             # local says NXDOMAIN
V6ONLY = "update.microsoft.com"                     # AAAA only: 2001:db8::2, genuine
V6 = "2001:db8::2"
DEFAULT_NAMES = [OK_NAME, ALERT, INTERCEPT, WRONG, CLOSED, RESET, EXPIRED, HANG, REWRITTEN,
                 VIA_PROXY]

ADDR = {OK_NAME: 2, INTERCEPT: 3, WRONG: 4, CLOSED: 5, RESET: 6, EXPIRED: 7, ALERT: 8,
        HANG: 9, REWRITTEN: 2, VIA_PROXY: 5, SINKHOLED: 2, NXDOMAINED: 2}
# RFC 4514 order, as GnuTLS writes a DN
INSPECT_SUBJECT = "O=Contoso Firewall,CN=Contoso Inspection CA"
ROOT_SUBJECT = "O=wuguard tests,CN=WG Test Root"

JSON_KEYS = ("name", "wu", "dns", "tls", "local", "public", "proxy")
CONN_KEYS = ("address", "port", "verdict", "reason", "detail", "root", "leaf_subject",
             "leaf_issuer", "tls_version")


class Env:
    pass


E = Env()


TAG = "wgtls%d" % (os.getpid() % 1000000)
CLONE_NEWNET = 0x40000000


BOX = 103  # the inspection box in another range: 198.51.100.3


def ip(n):
    return "198.51.100.%d" % (n - 100) if n > 100 else "192.0.2.%d" % n


def run(*argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=20)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), p.stdout.strip()))
    return p.stdout


def enter_netns():
    """Make a namespace, join it (children inherit it), bring its loopback
    up with the test's addresses. A reason string when that cannot be done here."""
    if os.geteuid() != 0:
        return "not root: a network namespace needs CAP_SYS_ADMIN"
    if not which("ip"):
        return "no ip(8) (iproute2)"
    try:
        run("ip", "netns", "add", TAG)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        return "cannot create a network namespace: %s" % e
    h._closers.append(lambda: run("ip", "netns", "delete", TAG))
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + TAG, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            return "setns: %s" % os.strerror(ctypes.get_errno())
    finally:
        os.close(fd)
    run("ip", "link", "set", "lo", "up")
    for n in list(range(2, 10)) + [BOX]:
        run("ip", "addr", "add", ip(n) + "/32", "dev", "lo")
    run("ip", "-6", "addr", "add", V6 + "/128", "dev", "lo", "nodad")
    return None


def dump(*parts):
    return [str(p)[-3000:] for p in parts]


def which(tool):
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")


# --- certificates ----------------------------------------------------------

def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, cwd=E.dir,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def f(name):
    return os.path.join(E.dir, name)


def make_ca(stem, subject):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
            "-subj", subject, "-keyout", stem + ".key", "-out", stem + ".pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_leaf(stem, ca, names):
    san = ",".join("DNS:" + n for n in names)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", "/CN=" + names[0],
            "-keyout", stem + ".key", "-out", stem + ".csr")
    h.write(f(stem + ".ext"), "subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
            "extendedKeyUsage=serverAuth\n" % san)
    openssl("x509", "-req", "-in", stem + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-days", "30", "-sha256", "-extfile", stem + ".ext",
            "-out", stem + ".pem")


def make_expired_leaf(stem, ca, names):
    """A leaf that expired in 2021 (openssl 3.0's x509 cannot back-date)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
    with open(f(ca + ".key"), "rb") as fh:
        ca_key = serialization.load_pem_private_key(fh.read(), None)
    with open(f(ca + ".pem"), "rb") as fh:
        ca_cert = x509.load_pem_x509_certificate(fh.read())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2021, 1, 1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(ca_key, hashes.SHA256()))
    with open(f(stem + ".key"), "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption()))
    with open(f(stem + ".pem"), "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))


# --- servers ---------------------------------------------------------------

def common_port():
    """A TCP port free on every 127.0.0.N we use."""
    for _ in range(200):
        port = W.free_port()
        socks = []
        try:
            for n in list(range(2, 10)) + [BOX]:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((ip(n), port))
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((V6, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no port free on all the test's addresses")


def s_server(n, cert, chain=None):
    host = "[%s]" % n if isinstance(n, str) else ip(n)
    args = ["openssl", "s_server", "-accept", "%s:%d" % (host, E.port), "-www",
            "-cert", f(cert + ".pem"), "-key", f(cert + ".key")]
    if chain:
        args += ["-cert_chain", f(chain + ".pem")]
    tag = str(n).replace(":", "_")
    s = W.Server(h, "s_server-" + tag, args, (host, E.port), f("s_server-%s.log" % tag), E.dir)
    if not s.wait_log("ACCEPT", timeout=10):
        raise RuntimeError("s_server on %s did not start: %s" % (host, s.log_tail()))
    return s


class RawServer:
    """A TCP server on 192.0.2.N:port in a thread. mode: "reset" reads the
    ClientHello and closes with SO_LINGER 0 (an RST); "alert" answers it
    with a fatal handshake_failure alert record; "hang" never accepts."""

    def __init__(self, n, mode):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip(n), E.port))
        self.sock.listen(16)
        self.hellos = 0
        self.stopped = False
        h._closers.append(self.close)
        if mode != "hang":
            threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.settimeout(5)
                data = c.recv(4096)
                if data[:1] == b"\x16":  # a TLS handshake record: the ClientHello
                    self.hellos += 1
                if self.mode == "alert":
                    c.sendall(b"\x15\x03\x03\x00\x02\x02\x28")  # fatal, handshake_failure
                else:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            finally:
                c.close()

    def close(self):
        self.stopped = True
        self.sock.close()


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that sends every tunnel to one
    backend (what a corporate proxy does, seen from the client). Records the
    request lines."""

    def __init__(self, backend):
        self.backend = backend
        self.requests = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((W.LOOPBACK, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        h._closers.append(self.sock.close)
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _conn(self, c):
        try:
            c.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = c.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            self.requests.append(line)
            if not line.startswith("CONNECT "):
                c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            up = socket.create_connection(self.backend, timeout=5)
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                up.sendall(rest)
            t = threading.Thread(target=self._pipe, args=(up, c), daemon=True)
            t.start()
            self._pipe(c, up)
            t.join(10)
        except OSError:
            pass
        finally:
            c.close()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass


# --- running the probe -----------------------------------------------------

def probe(*args, env=None, timeout=60, roots=True):
    """wuguardctl probe --tls against the corporate resolver and nsd as the
    public side; (rc, stdout, stderr, seconds)."""
    cmd = [CTL, "probe", "--tls", "--local", "%s:%d" % E.corp.addr,
           "--public", "%s:%d" % E.auth.addr, "--timeout", "500", "--tls-timeout", "3000"]
    if roots:
        cmd += ["--tls-roots", f("root.pem")]
    cmd += list(args)
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout,
                       env=dict(os.environ, WUGUARDCTL_PROBE_TLS_PORT=str(E.port),
                                **(env or {})))
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def rows_of(out):
    return {r["name"].rstrip("."): r for r in h.json_lines(out, "probe --tls")}


# ---------------------------------------------------------------------------

def verdicts_json():
    names = [OK_NAME, INTERCEPT, WRONG, CLOSED, RESET, EXPIRED, ALERT]
    rc, out, err, _ = probe("--type", "A", "--format", "json", *names)
    rows = rows_of(out)
    h.eq(rc, 1, "intercepted and blocked names: exit 1", *dump(out, err))
    h.eq(sorted(rows), sorted(names), "one JSON line per name", out)
    h.ok(rows and all(all(k in r for k in JSON_KEYS) and
                      all(k in r["local"] for k in CONN_KEYS) for r in rows.values()),
         "every line carries the fields, the local connection described", out)

    r = rows.get(OK_NAME, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "ok" and lo.get("verdict") == "ok" and
         lo.get("address") == ip(2) and lo.get("port") == E.port and
         lo.get("root") == ROOT_SUBJECT and lo.get("tls_version", "").startswith("TLS"),
         "the genuine chain to the --tls-roots root is ok, at the local answer's address",
         json.dumps(r))
    h.ok(r.get("dns") and r["dns"][0]["verdict"] == "match" and
         r["dns"][0]["local"] == [ip(2)] and r["dns"][0]["type"] == "A",
         "the DNS verdict beside it: match", json.dumps(r))
    h.ok(r.get("public") is None and r.get("proxy") is None,
         "no public connection when the answers agree, no proxy without --via-proxy",
         json.dumps(r))

    r = rows.get(INTERCEPT, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "intercepted" and lo.get("root") == INSPECT_SUBJECT and
         lo.get("leaf_issuer") == INSPECT_SUBJECT and INSPECT_SUBJECT in lo.get("detail", ""),
         "re-signed by the inspection CA: intercepted, naming the CA as root and issuer",
         json.dumps(r))

    r = rows.get(WRONG, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "intercepted" and "not for " + WRONG in lo.get("detail", "") and
         lo.get("root") == ROOT_SUBJECT and "wrong.example.net" in lo.get("leaf_subject", ""),
         "a trusted chain for another name: intercepted, not for the name", json.dumps(r))

    r = rows.get(CLOSED, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "blocked" and lo.get("reason") == "refused" and
         "refused" in lo.get("detail", "").lower(),
         "a closed port: blocked, refused", json.dumps(r))

    r = rows.get(RESET, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "blocked" and lo.get("reason") == "reset" and
         "TLS handshake" in lo.get("detail", ""),
         "reset after the ClientHello: blocked, reset during the handshake", json.dumps(r))
    h.ok(E.reset.hellos >= 1, "the reset server did get a ClientHello",
         "hellos: %d" % E.reset.hellos)

    r = rows.get(ALERT, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "blocked" and lo.get("reason") == "alert" and
         "Handshake failed" in lo.get("detail", ""),
         "a fatal TLS alert: blocked, the alert named", json.dumps(r))

    r = rows.get(EXPIRED, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "invalid" and "expired" in lo.get("detail", "").lower() and
         lo.get("root") == ROOT_SUBJECT,
         "an expired leaf of a trusted chain: invalid, expired", json.dumps(r))


def timeout_bounded():
    rc, out, err, took = probe("--type", "A", "--format", "json", "--tls-timeout", "800", HANG)
    r = rows_of(out).get(HANG, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "blocked" and lo.get("reason") == "timeout" and
         "TLS handshake" in lo.get("detail", "") and "800 ms" in lo.get("detail", ""),
         "a server that never answers the ClientHello: blocked, timeout", *dump(out, err))
    h.ok(rc == 1 and took < 15, "exit 1, in bounded time", "rc %d, %.1f s" % (rc, took))


def deadline():
    rc, out, err, took = probe("--type", "A", "--format", "json", "--tls-timeout", "30000",
                               HANG, env={"WUGUARDCTL_PROBE_TLS_DEADLINE_MS": "1000"})
    r = rows_of(out).get(HANG, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "blocked" and lo.get("reason") == "timeout" and
         "deadline (1000 ms)" in lo.get("detail", ""),
         "the TLS phase's deadline ends a connection still in its handshake",
         *dump(out, err))
    h.ok(rc == 1 and took < 15, "exit 1, long before the 30 s connection timeout",
         "rc %d, %.1f s" % (rc, took))
    p = subprocess.run([CTL, "probe", "--tls", "--local", "%s:%d" % E.corp.addr,
                        "--public", "%s:%d" % E.auth.addr, OK_NAME], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=30,
                       env=dict(os.environ, WUGUARDCTL_PROBE_TLS_DEADLINE_MS="0"))
    h.ok(p.returncode == 2 and "WUGUARDCTL_PROBE_TLS_DEADLINE_MS" in p.stderr,
         "a bad WUGUARDCTL_PROBE_TLS_DEADLINE_MS: exit 2, named", p.stderr)


def ipv6():
    rc, out, err, _ = probe("--format", "json", V6ONLY)
    r = rows_of(out).get(V6ONLY, {})
    lo = r.get("local") or {}
    h.ok([d["type"] for d in r.get("dns", [])] == ["A", "AAAA"] and
         r["dns"][1]["local"] == [V6] and r["dns"][1]["verdict"] == "match",
         "a name with only an AAAA: the DNS verdicts of both types", *dump(out, err))
    h.ok(r.get("tls") == "ok" and lo.get("address") == V6 and lo.get("root") == ROOT_SUBJECT,
         "no A, so the TLS check connects to the AAAA's address: ok", json.dumps(r))
    h.eq(rc, 0, "exit 0", err)


def public_differs():
    rc, out, err, _ = probe("--type", "A", "--format", "json", REWRITTEN)
    r = rows_of(out).get(REWRITTEN, {})
    lo, pu = r.get("local") or {}, r.get("public") or {}
    h.ok(r.get("dns") and r["dns"][0]["verdict"] == "rewrite" and
         r["dns"][0]["local"] == [ip(BOX)] and r["dns"][0]["public"] == [ip(2)],
         "DNS: the local answer is rewritten to the inspection box", *dump(out, err))
    h.ok(r.get("tls") == "intercepted" and lo.get("address") == ip(BOX) and
         lo.get("root") == INSPECT_SUBJECT,
         "TLS at the local answer: intercepted", json.dumps(r))
    h.ok(pu.get("address") == ip(2) and pu.get("verdict") == "ok",
         "and the public answer's address, tried as well: ok", json.dumps(r))
    h.eq(rc, 1, "exit 1", err)


def no_address():
    rc, out, err, _ = probe("--type", "A", "--format", "json", SINKHOLED, NXDOMAINED)
    rows = rows_of(out)
    r = rows.get(SINKHOLED, {})
    lo, pu = r.get("local") or {}, r.get("public") or {}
    h.ok(r.get("dns") and r["dns"][0]["verdict"] == "sinkhole" and
         r.get("tls") == "blocked" and lo.get("reason") == "sinkhole-address" and
         "0.0.0.0" in lo.get("detail", "") and lo.get("address") is None,
         "a sinkholed name: blocked, nothing connected to 0.0.0.0", *dump(out, err))
    h.ok(pu.get("address") == ip(2) and pu.get("verdict") == "ok",
         "its public answer's address is tried: ok", json.dumps(r))
    r = rows.get(NXDOMAINED, {})
    lo = r.get("local") or {}
    h.ok(r.get("dns") and r["dns"][0]["verdict"] == "blocked-rcode" and
         r.get("tls") == "blocked" and lo.get("reason") == "no-address" and
         "NXDOMAIN" in lo.get("detail", ""),
         "an NXDOMAINed name: blocked, no address (NXDOMAIN)", json.dumps(r))
    h.eq(rc, 1, "exit 1", err)


def table():
    rc, out, err, _ = probe("--type", "A", OK_NAME, INTERCEPT, CLOSED, REWRITTEN)
    ls = out.splitlines()
    h.ok(ls and ls[0].split() == ["NAME", "DNS", "TLS", "ADDRESS", "DETAIL"],
         "the table's header", out)
    got = {tuple(l.split()[:4]) for l in ls[1:] if l and not l.startswith(" ")}
    want = {(OK_NAME + ".", "match", "ok", ip(2)),
            (INTERCEPT + ".", "match", "intercepted", ip(3)),
            (CLOSED + ".", "match", "blocked", ip(5)),
            (REWRITTEN + ".", "rewrite", "intercepted", ip(BOX))}
    h.ok(want <= got, "one line per name: the DNS verdict beside the TLS verdict",
         "got %r" % sorted(got), out)
    h.ok(any(l.startswith("  public answer") and " ok " in l and ip(2) in l for l in ls),
         "the public answer's address on its own line under the rewritten name", out)
    h.ok("4 names: 1 ok, 2 intercepted, 1 blocked" in out, "the summary counts verdicts",
         out)
    h.ok(INSPECT_SUBJECT in out, "the inspection CA's subject is in the table", out)
    h.ok(("roots: %s (1 certificate)" % f("root.pem")) in out, "the roots file is named",
         out)
    h.eq(rc, 1, "exit 1", err)


def all_ok_exit_0():
    rc, out, err, _ = probe("--type", "A", OK_NAME)
    h.eq(rc, 0, "a genuine chain and a clean DNS answer: exit 0", *dump(out, err))
    rc, out, err, _ = probe(OK_NAME)  # A and AAAA
    r = rows_of(probe("--format", "json", OK_NAME)[1]).get(OK_NAME, {})
    h.ok(rc == 0 and [d["type"] for d in r.get("dns", [])] == ["A", "AAAA"] and
         r.get("tls") == "ok",
         "with both types (the AAAA is NODATA at the authority too): still ok, exit 0",
         *dump(out, err, json.dumps(r)))


def via_proxy():
    url = "http://127.0.0.1:%d" % E.proxy.port
    n0 = len(E.proxy.requests)
    rc, out, err, _ = probe("--type", "A", "--format", "json", "--via-proxy", url,
                            OK_NAME, VIA_PROXY)
    rows = rows_of(out)
    r = rows.get(VIA_PROXY, {})
    lo, px = r.get("local") or {}, r.get("proxy") or {}
    h.ok(r.get("tls") == "proxy-only" and lo.get("reason") == "refused" and
         px.get("verdict") == "ok" and px.get("root") == ROOT_SUBJECT and
         px.get("address") == "127.0.0.1:%d" % E.proxy.port,
         "no direct route, a genuine chain through the proxy: proxy-only", *dump(out, err))
    h.ok("CONNECT %s:%d HTTP/1.1" % (VIA_PROXY, E.port) in E.proxy.requests[n0:],
         "the probe asked the proxy to CONNECT to the name and port",
         repr(E.proxy.requests[n0:]))
    r = rows.get(OK_NAME, {})
    h.ok(r.get("tls") == "ok" and (r.get("proxy") or {}).get("verdict") == "ok",
         "a name with a direct route stays ok; its proxy path is reported too", json.dumps(r))
    h.eq(rc, 0, "proxy-only through a genuine chain does not fail the run", err)

    url = "http://127.0.0.1:%d/" % E.bad_proxy.port
    rc, out, err, _ = probe("--type", "A", "--format", "json", "--via-proxy", url, VIA_PROXY)
    r = rows_of(out).get(VIA_PROXY, {})
    px = r.get("proxy") or {}
    h.ok(r.get("tls") == "proxy-only" and px.get("verdict") == "intercepted" and
         px.get("root") == INSPECT_SUBJECT,
         "an intercepting proxy: proxy-only, the proxy's chain intercepted", *dump(out, err))
    h.eq(rc, 1, "and exit 1", err)

    dead = "http://127.0.0.1:%d" % W.free_port()
    rc, out, err, _ = probe("--type", "A", "--format", "json", "--via-proxy", dead, CLOSED)
    r = rows_of(out).get(CLOSED, {})
    h.ok(r.get("tls") == "blocked" and (r.get("proxy") or {}).get("reason") == "refused",
         "no direct route and a dead proxy: blocked", *dump(out, err))


def shipped_roots():
    rc, out, err, _ = probe("--type", "A", "--format", "json", OK_NAME, roots=False)
    r = rows_of(out).get(OK_NAME, {})
    lo = r.get("local") or {}
    h.ok(r.get("tls") == "intercepted" and lo.get("root") == ROOT_SUBJECT,
         "with the shipped Microsoft roots a test root is not Microsoft's: intercepted",
         *dump(out, err))
    rc, out, err, _ = probe("--type", "A", OK_NAME, roots=False)
    want = os.path.join(W.SRCDIR, "db", "microsoft-roots.pem")
    h.ok("roots: " in out and "(6 certificates)" in out,
         "the shipped file is read: six roots", out)
    pem = open(want).read()
    h.ok("Microsoft Root Certificate Authority 2011" in pem and
         "8F43288AD272F3103B6FB1428485EA3014C0BCFE" in pem,
         "and it carries Microsoft's 2011 root with its thumbprint")
    p = subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", want],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    q = subprocess.run(["openssl", "pkcs7", "-print_certs", "-noout"], input=p.stdout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    subjects = q.stdout.decode()
    h.ok(p.returncode == 0 and subjects.count("subject=") == 6 and
         "CN = Microsoft RSA Root Certificate Authority 2017" in subjects,
         "openssl reads the same six certificates", subjects)
    fp = []
    for block in pem.split("-----END CERTIFICATE-----")[:-1]:
        cert = block[block.index("-----BEGIN CERTIFICATE-----"):] + \
            "-----END CERTIFICATE-----\n"
        x = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha1"],
                           input=cert.encode(), stdout=subprocess.PIPE)
        fp.append(x.stdout.decode().split("=")[-1].strip().replace(":", ""))
    h.ok(len(fp) == 6 and all(("SHA-1    " + x) in pem for x in fp),
         "each certificate's SHA-1 fingerprint is the thumbprint written above it", fp)


def default_names():
    rc, out, err, took = probe("--type", "A", "--format", "json", "--tls-timeout", "800")
    rows = rows_of(out)
    h.eq(sorted(rows), sorted(DEFAULT_NAMES),
         "without names: the WU HTTPS endpoints (scan, metadata, DO, Store)", *dump(out, err))
    h.ok(rows and all(r["wu"] for r in rows.values()),
         "every default name is in the shipped WU set", out)
    h.ok(rc == 1 and took < 30, "exit 1 here, in bounded time", "rc %d %.1f s" % (rc, took))


def usage_errors():
    base = [CTL, "probe", "--local", "%s:%d" % E.corp.addr, "--public", "%s:%d" % E.auth.addr]
    cases = [
        (["--via-proxy", "http://127.0.0.1:3128", OK_NAME], {}, "need --tls"),
        (["--tls", "--via-proxy", "socks5://127.0.0.1:1080", OK_NAME], {}, "http://"),
        (["--tls", "--via-proxy", "http://u:p@127.0.0.1:3128", OK_NAME], {}, "credentials"),
        (["--tls", "--via-proxy", "http://127.0.0.1:99999", OK_NAME], {}, "bad port"),
        (["--tls", "--tls-roots", f("nope.pem"), OK_NAME], {}, "nope.pem"),
        (["--tls", "--tls-roots", f("empty.pem"), OK_NAME], {}, "no PEM certificate"),
        (["--tls", "--tls-timeout", "0", OK_NAME], {}, "--tls-timeout"),
        (["--tls", OK_NAME], {"WUGUARDCTL_PROBE_TLS_PORT": "70000"},
         "WUGUARDCTL_PROBE_TLS_PORT"),
    ]
    h.write(f("empty.pem"), "# no certificate here\n")
    for args, env, text in cases:
        p = subprocess.run(base + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30,
                           env=dict(os.environ, **env))
        h.ok(p.returncode == 2 and text in p.stderr and p.stdout == "",
             "usage error %s: exit 2, says %r, asks nothing" % (" ".join(args[:3]), text),
             "rc %d" % p.returncode, p.stderr, p.stdout)


def main():
    for tool in ("nsd", "unbound", "openssl"):
        if not which(tool):
            print("1..0 # SKIP %s not installed" % tool)
            return
    try:
        import cryptography  # noqa: F401
    except ImportError:
        print("1..0 # SKIP python3-cryptography not installed")
        return
    why = enter_netns()
    if why:
        print("1..0 # SKIP %s" % why)
        h.cleanup()
        return
    E.dir = h.mkdir("tls")
    try:
        E.port = common_port()
        names = list(ADDR) + [V6ONLY]
        make_ca("root", "/O=wuguard tests/CN=WG Test Root")
        make_ca("inspect", "/O=Contoso Firewall/CN=Contoso Inspection CA")
        make_leaf("genuine", "root", names)
        make_leaf("mitm", "inspect", names)
        make_leaf("wrong", "root", ["wrong.example.net"])
        make_expired_leaf("expired", "root", names)
        s_server(2, "genuine")
        s_server(3, "mitm", chain="inspect")
        s_server(BOX, "mitm", chain="inspect")
        s_server(4, "wrong")
        s_server(7, "expired")
        s_server(V6, "genuine")
        E.reset = RawServer(6, "reset")
        E.alert = RawServer(8, "alert")
        E.hang = RawServer(9, "hang")
        E.proxy = ConnectProxy((ip(2), E.port))
        E.bad_proxy = ConnectProxy((ip(3), E.port))
        # the genuine REWRITTEN is a CNAME, as the real names are: a bare
        # local address against a public chain is a rewrite, not CDN variance
        zone = W.soa() + "".join(
            "%s 300 IN A %s\n" % (n[:-len(".microsoft.com")], ip(a)) for n, a in ADDR.items()
            if n != REWRITTEN) + (
            "%s 300 IN CNAME tsfe-edge.mp\ntsfe-edge.mp 300 IN A %s\n" % (
                REWRITTEN[:-len(".microsoft.com")], ip(ADDR[REWRITTEN]))) + (
            "update 300 IN AAAA %s\n" % V6)
        E.auth = h.nsd({"microsoft.com": zone}, probe=OK_NAME + ".")
        E.corp = h.unbound(E.auth.addr, name="corp", probe=OK_NAME + ".", local=[
            'local-zone: "%s." redirect' % REWRITTEN,
            'local-data: "%s. 300 A %s"' % (REWRITTEN, ip(BOX)),
            'local-zone: "%s." redirect' % SINKHOLED,
            'local-data: "%s. 300 A 0.0.0.0"' % SINKHOLED,
            'local-zone: "%s." always_nxdomain' % NXDOMAINED])
    except Exception as ex:
        h.ok(False, "certificates, TLS servers, nsd and unbound start", str(ex))
        h.done()
    h.case("each verdict (json)", verdicts_json)
    h.case("a server that never answers", timeout_bounded)
    h.case("the TLS phase's deadline", deadline)
    h.case("an IPv6 endpoint", ipv6)
    h.case("the public answer differs", public_differs)
    h.case("no local address", no_address)
    h.case("the table", table)
    h.case("all ok", all_ok_exit_0)
    h.case("--via-proxy", via_proxy)
    h.case("the shipped Microsoft roots", shipped_roots)
    h.case("the default names", default_names)
    h.case("usage errors", usage_errors)
    h.done()


main()
