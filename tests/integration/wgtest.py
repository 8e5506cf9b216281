"""wgtest: the harness every integration test uses.

Real servers (nsd, unbound, dnsmasq, the wuguard daemon) on random 127.0.0.1
ports, a temporary directory per test file, TAP output, and clean-up of every
process we started, also when a test fails or raises.

Run with /usr/bin/python3 (Debian's python3-dnspython). Environment:
  WG_BUILDDIR  where the built wuguard binary is (default: the source tree)
  WG_KEEP=1    keep the temporary directory (its path is printed)
  WG_VERBOSE=1 print server logs as TAP diagnostics even on success

Nothing here talks to anything but 127.0.0.1, and nothing reads
/etc/resolv.conf: dnspython is only used to build and parse messages.
"""

import atexit
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype

LOOPBACK = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("WG_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("WG_BUILDDIR") or SRCDIR
# the build tree's daemon finds the default lists here (make check sets it
# too; an installed binary has no compiled-in build path to fall back on)
os.environ.setdefault("WUGUARD_DBDIR", os.path.join(SRCDIR, "db"))

# Upper bounds, in seconds, so that no test can hang make check.
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


# ---------------------------------------------------------------------------
# ports

_handed_out = set()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A port free on 127.0.0.1 for both UDP and TCP right now.

    Picked below the kernel's ephemeral range: a port the kernel handed out
    (bind to port 0) can be handed out again at once as the source port of
    some other test's query (wuguard's upstream sockets, dig, dnspython),
    and then the server this port was meant for fails to bind. Ports below
    the range are only ever taken by an explicit bind."""
    lo, _ = _ephemeral_range()
    top = lo - 1 if lo > 11024 else 60999
    for _ in range(400):
        port = random.randint(10000, top)
        if port in _handed_out:
            continue
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            try:
                t.bind((LOOPBACK, port))
                u.bind((LOOPBACK, port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free loopback port found in 400 tries")


class Skip(Exception):
    """Raised by a run_cases() case: reported as a TAP SKIP with the reason."""


def run_cases(cases, tmp):
    """Run each function of cases as one TAP point (its name is the
    description; an exception fails it, Skip skips it), then remove tmp
    unless WG_KEEP is set. Returns the exit status: 1 if any failed."""
    print("1..%d" % len(cases))
    failed = 0
    for i, fn in enumerate(cases, 1):
        try:
            fn()
            print("ok %d - %s" % (i, fn.__name__))
        except Skip as e:
            print("ok %d - %s # SKIP %s" % (i, fn.__name__, e))
        except Exception:
            failed += 1
            print("not ok %d - %s" % (i, fn.__name__))
            for line in traceback.format_exc().splitlines():
                print("# " + line)
        sys.stdout.flush()
    if os.environ.get("WG_KEEP"):
        print("# kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def dead_addr():
    """An address with nothing listening (UDP gets ICMP port unreachable)."""
    return (LOOPBACK, free_port())


# ---------------------------------------------------------------------------
# queries

def make_query(name, rdtype="A", qid=None, rd=True, edns=None, payload=1232,
               do=False):
    """A dnspython query. edns=None: no OPT record; edns=0: EDNS0."""
    use_edns = edns if edns is not None else (0 if do else -1)
    q = dns.message.make_query(name, rdtype, use_edns=use_edns,
                               payload=payload,
                               want_dnssec=do)
    if use_edns > 0:
        # make_query does not carry an EDNS version other than 0 through
        q.use_edns(use_edns, ednsflags=q.ednsflags, payload=payload)
    if qid is not None:
        q.id = qid
    if not rd:
        q.flags &= ~dns.flags.RD
    return q


def udp_raw(addr, wire, timeout=3.0, expect_id=None):
    """Send wire to addr over UDP; the first reply's bytes, or None on timeout.

    Replies from other addresses, or (with expect_id) with another ID, are
    ignored until the deadline."""
    v6 = ":" in addr[0]
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("::1" if v6 else LOOPBACK, 0))
        s.sendto(wire, addr)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            s.settimeout(left)
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                return None
            except ConnectionRefusedError:
                return None
            if tuple(src[:2]) != tuple(addr[:2]):
                continue
            if expect_id is not None and (len(data) < 2 or
                                          struct.unpack("!H", data[:2])[0] != expect_id):
                continue
            return data
    finally:
        s.close()


def _recv_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        s.settimeout(left)
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def tcp_raw(addr, wire, timeout=3.0, frame=True, nreplies=1):
    """Send wire over a new TCP connection (length-framed unless frame=False).

    Returns a list of up to nreplies reply bodies; fewer if the server closed
    the connection or the deadline passed."""
    deadline = time.monotonic() + timeout
    s = socket.create_connection(addr, timeout=timeout)
    out = []
    try:
        s.sendall(struct.pack("!H", len(wire)) + wire if frame else wire)
        for _ in range(nreplies):
            try:
                n = struct.unpack("!H", _recv_exact(s, 2, deadline))[0]
                out.append(_recv_exact(s, n, deadline))
            except (socket.timeout, EOFError, ConnectionResetError):
                break
    finally:
        s.close()
    return out


def query(addr, name, rdtype="A", tcp=False, timeout=3.0, **kw):
    """Ask addr; returns (message, wire) or (None, None) on no reply."""
    q = make_query(name, rdtype, **kw)
    return ask(addr, q, tcp=tcp, timeout=timeout)


def ask(addr, q, tcp=False, timeout=3.0):
    wire = q.to_wire()
    if tcp:
        r = tcp_raw(addr, wire, timeout=timeout)
        data = r[0] if r else None
    else:
        data = udp_raw(addr, wire, timeout=timeout, expect_id=q.id)
    if data is None:
        return None, None
    return dns.message.from_wire(data, ignore_trailing=True), data


def rcode_text(msg):
    return "no reply" if msg is None else dns.rcode.to_text(msg.rcode())


def answer_set(msg, rdtype=None):
    """The answer section's rdata as a set of text, optionally of one type."""
    out = set()
    if msg is None:
        return out
    for rrset in msg.answer:
        if rdtype is None or rrset.rdtype == dns.rdatatype.from_text(rdtype):
            out.update(r.to_text() for r in rrset)
    return out


def answer_ttl(msg, rdtype="A"):
    for rrset in msg.answer if msg is not None else []:
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            return rrset.ttl
    return None


def describe(msg):
    if msg is None:
        return "no reply"
    return msg.to_text().replace("\n", " | ")


# ---------------------------------------------------------------------------
# processes

class Server:
    """One process we started; stopped by process group."""

    def __init__(self, harness, name, argv, addr, logpath, cwd):
        self.h = harness
        self.name = name
        self.argv = argv
        self.addr = addr
        self.logpath = logpath
        self.log = open(logpath, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=cwd, start_new_session=True)
        self.pid = self.proc.pid
        harness._servers.append(self)

    @property
    def port(self):
        return self.addr[1]

    def alive(self):
        return self.proc.poll() is None

    def kill(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def log_tail(self, n=30):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        return lines[-n:]

    def log_size(self):
        try:
            return os.path.getsize(self.logpath)
        except OSError:
            return 0

    def log_since(self, start):
        """The log text after byte offset start."""
        try:
            with open(self.logpath, "rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, text, start=0, timeout=5.0):
        """Wait until text appears in the log after byte offset start."""
        deadline = time.monotonic() + timeout
        while True:
            if text in self.log_since(start):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM):
        """Stop the whole process group; SIGKILL after STOP_TIMEOUT. Returns
        the exit status of the main process."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        # Children (nsd's xfrd and servers) may outlive the parent briefly.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode

    def wait_ready(self, probe_name, timeout=READY_TIMEOUT, tcp=False):
        """Poll until any DNS reply comes back (any rcode); raise on death or
        after timeout, with the log tail."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while time.monotonic() < deadline:
            # Short first probes for a quick start, longer later ones for a
            # server whose first upstream times out before it fails over.
            wait = min(2.0, 0.25 * (1 << min(attempt, 3)))
            attempt += 1
            if not self.alive():
                raise RuntimeError("%s exited with %s before answering:\n$ %s\n%s" % (
                    self.name, self.proc.returncode, " ".join(self.argv),
                    "\n".join(self.log_tail())))
            try:
                m, _ = query(self.addr, probe_name, tcp=tcp, timeout=wait)
            except OSError:
                m = None
            if m is not None:
                return m
            time.sleep(0.05)
        raise RuntimeError("%s did not answer within %.0f s:\n$ %s\n%s" % (
            self.name, timeout, " ".join(self.argv), "\n".join(self.log_tail())))


class Blackhole:
    """A UDP socket that takes queries and never answers (an upstream that
    times out, unlike a closed port that is refused at once)."""

    def __init__(self, harness):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        port = free_port()
        self.sock.bind((LOOPBACK, port))
        self.addr = (LOOPBACK, port)
        harness._closers.append(self.sock.close)


class FakeUpstream:
    """A tiny UDP (and TCP) DNS server in a thread, for what real servers
    cannot show: what exactly the daemon sent upstream.

    handler(query_msg, transport) returns a dns.message reply, raw bytes, or
    None (no reply). Every query is recorded as (transport, src, wire, msg)."""

    def __init__(self, harness, handler=None, delay=0.0):
        self.handler = handler or self.default_handler
        self.delay = delay
        self.seen = []
        self.lock = threading.Lock()
        port = free_port()
        self.addr = (LOOPBACK, port)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(self.addr)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(self.addr)
        self.tcp.listen(16)
        self.stopping = False
        harness._closers.append(self.close)
        for target in (self._udp_loop, self._tcp_loop):
            threading.Thread(target=target, daemon=True).start()

    @staticmethod
    def default_handler(q, transport):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        rrset = r.find_rrset(r.answer, q.question[0].name, dns.rdataclass.IN,
                             dns.rdatatype.A, create=True)
        rrset.add(dns.rdata.from_text("IN", "A", "192.0.2.53"), 60)
        return r

    def queries(self):
        with self.lock:
            return list(self.seen)

    def _answer(self, wire, transport, src):
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            q = None
        with self.lock:
            self.seen.append((transport, src, wire, q))
        if q is None:
            return None
        if self.delay:
            time.sleep(self.delay)
        r = self.handler(q, transport)
        if r is None:
            return None
        return r if isinstance(r, bytes) else r.to_wire(max_size=65535)

    def _udp_loop(self):
        while not self.stopping:
            try:
                wire, src = self.udp.recvfrom(65535)
            except OSError:
                return
            reply = self._answer(wire, "udp", src)
            if reply is not None:
                try:
                    self.udp.sendto(reply, src)
                except OSError:
                    pass

    def _tcp_loop(self):
        while not self.stopping:
            try:
                c, src = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(c, src), daemon=True).start()

    def _tcp_conn(self, c, src):
        try:
            deadline = time.monotonic() + 10
            while True:
                n = struct.unpack("!H", _recv_exact(c, 2, deadline))[0]
                wire = _recv_exact(c, n, deadline)
                reply = self._answer(wire, "tcp", src)
                if reply is not None:
                    c.sendall(struct.pack("!H", len(reply)) + reply)
        except Exception:
            pass
        finally:
            c.close()

    def close(self):
        self.stopping = True
        for s in (self.udp, self.tcp):
            try:
                s.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------
# the harness: TAP and resources

class Harness:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self._servers = []
        self._closers = []
        self._cleaned = False
        self.keep = os.environ.get("WG_KEEP") == "1"
        self.verbose = os.environ.get("WG_VERBOSE") == "1"
        self.tmp = tempfile.mkdtemp(prefix="wgtest-")
        if self.keep:
            self.diag("temporary directory kept: %s" % self.tmp)
        atexit.register(self.cleanup)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        self.diag("harness got signal %d, cleaning up" % signum)
        self.cleanup()
        os._exit(128 + signum)

    # -- TAP ---------------------------------------------------------------
    def diag(self, *lines):
        for text in lines:
            for line in str(text).splitlines() or [""]:
                print("# " + line)
        sys.stdout.flush()

    def ok(self, cond, desc, *diag, todo=None):
        """One TAP line. todo="daemon: why" marks a known daemon bug: a
        failure is then reported as TODO (not failing the run) and a pass
        shows up as an unexpected pass, so the mark gets removed."""
        self.n += 1
        desc = desc.replace("#", "\\#")
        suffix = " # TODO %s" % todo if todo else ""
        if cond:
            print("ok %d - %s%s" % (self.n, desc, suffix))
        else:
            if not todo:
                self.failed += 1
            print("not ok %d - %s%s" % (self.n, desc, suffix))
            self.diag(*diag)
        sys.stdout.flush()
        return bool(cond)

    def skip(self, desc, reason):
        """A check that cannot run here: TAP "ok N - desc # SKIP reason",
        counted as skipped, not passed."""
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc.replace("#", "\\#"),
                                        reason.replace("#", "")))
        sys.stdout.flush()

    def json_lines(self, text, what):
        """JSON lines -> list of dicts; a line that does not parse is a
        failed check ("WHAT printed JSON")."""
        rows = []
        for line in text.splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                self.ok(False, "%s printed JSON" % what, line)
        return rows

    def eq(self, got, want, desc, *diag, todo=None):
        return self.ok(got == want, desc,
                       "     got: %r" % (got,), "expected: %r" % (want,), *diag,
                       todo=todo)

    def rcode(self, msg, want, desc, *diag, todo=None):
        """msg answered with rcode want (text, e.g. "NOERROR")."""
        return self.ok(msg is not None and rcode_text(msg) == want, desc,
                       "     got: %s" % rcode_text(msg), "expected: %s" % want,
                       "   reply: %s" % describe(msg), *diag, todo=todo)

    def case(self, desc, fn, *args):
        """Run fn(*args) as one group; an exception is a failure (with the
        traceback and the tail of the group's server logs), not a crash. The
        servers the group started are stopped when it ends."""
        self.diag("--- %s" % desc)
        first = len(self._servers)
        failed = self.failed
        try:
            fn(*args)
        except Exception:
            self.ok(False, "%s: raised" % desc, traceback.format_exc())
        mine = self._servers[first:]
        if self.failed > failed or self.verbose:
            self.diag(*self._log_tails(mine))
        for s in mine:
            s.stop()

    def _log_tails(self, servers):
        out = []
        for s in servers:
            out.append("--- %s (pid %d, %s) log tail:" % (
                s.name, s.pid, "running" if s.alive() else "exit %s" % s.proc.returncode))
            out.extend("    " + l for l in s.log_tail(20))
        return out

    def done(self):
        """Print the plan, clean up, and exit non-zero on any failure."""
        self.cleanup()
        if self.n == 0:
            print("not ok 1 - no test ran")
            self.n, self.failed = 1, 1
        print("1..%d" % self.n)
        sys.stdout.flush()
        sys.exit(1 if self.failed else 0)

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for s in reversed(self._servers):
            try:
                s.stop()
            except Exception:
                pass
        for c in self._closers:
            try:
                c()
            except Exception:
                pass
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def mkdir(self, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        return d

    def write(self, path, text):
        with open(path, "w") as f:
            f.write(text)
        return path

    # -- servers -----------------------------------------------------------
    def nsd(self, zones, name="nsd", port=None, probe=None, prefix=(), minimal=True):
        """Start nsd 4 in the foreground serving zones {origin: zone text}.
        The zone text may use $ORIGIN-relative names. minimal=False: full
        authority and additional sections (minimal-responses: no)."""
        d = self.mkdir("%s-%d" % (name, len(self._servers)))
        port = port or free_port()
        zconf = []
        for origin, text in zones.items():
            origin = origin.rstrip(".")
            fname = "%s.zone" % origin
            self.write(os.path.join(d, fname), "$ORIGIN %s.\n%s" % (origin, text))
            zconf.append('zone:\n\tname: "%s"\n\tzonefile: "%s"\n' % (origin, fname))
        conf = os.path.join(d, "nsd.conf")
        self.write(conf, (
            'server:\n'
            '\tip-address: 127.0.0.1@{port}\n'
            '\tport: {port}\n'
            '\tdo-ip6: no\n'
            '\tserver-count: 1\n'
            '\treuseport: no\n'
            '\tzonesdir: "{d}"\n'
            '\tpidfile: "{d}/nsd.pid"\n'
            '\tdatabase: ""\n'
            '\tusername: ""\n'
            '\tchroot: ""\n'
            '\txfrdfile: "{d}/xfrd.state"\n'
            '\tzonelistfile: "{d}/zone.list"\n'
            '\tlogfile: "{d}/server.log"\n'
            '\tverbosity: 1\n'
            '\thide-version: yes\n'
            '\tminimal-responses: {minimal}\n'
            '\trrl-ratelimit: 0\n'
            '\trrl-whitelist-ratelimit: 0\n'
            'remote-control:\n'
            '\tcontrol-enable: no\n'
            '{zones}').format(port=port, d=d, zones="".join(zconf),
                              minimal="yes" if minimal else "no"))
        s = Server(self, name, list(prefix) + ["nsd", "-d", "-c", conf], (LOOPBACK, port),
                   os.path.join(d, "server.log"), d)
        s.conf = conf
        s.dir = d
        s.wait_ready(probe or list(zones)[0])
        return s

    def unbound(self, forward, name="unbound", port=None, local=(), extra="",
                probe="localhost.", threads=1, prefix=()):
        """Start unbound as a (filtering) recursive resolver forwarding every
        name to forward (ADDR, PORT). local: lines like
        'local-zone: "bad.test." always_nxdomain' or 'local-data: "..."'."""
        d = self.mkdir("%s-%d" % (name, len(self._servers)))
        port = port or free_port()
        conf = os.path.join(d, "unbound.conf")
        self.write(conf, (
            'server:\n'
            '\tinterface: 127.0.0.1@{port}\n'
            '\tport: {port}\n'
            '\tdo-ip6: no\n'
            '\tdo-daemonize: no\n'
            '\tchroot: ""\n'
            '\tusername: ""\n'
            '\tdirectory: "{d}"\n'
            '\tpidfile: "{d}/unbound.pid"\n'
            '\tlogfile: ""\n'
            '\tuse-syslog: no\n'
            '\tverbosity: 1\n'
            '\tnum-threads: {threads}\n'
            '\tmodule-config: "iterator"\n'
            '\tdo-not-query-localhost: no\n'
            '\taccess-control: 127.0.0.0/8 allow\n'
            '\tqname-minimisation: no\n'
            '\tharden-referral-path: no\n'
            '\ttarget-fetch-policy: "0 0 0 0 0"\n'
            '\tlocal-zone: "test." nodefault\n'
            '\tdomain-insecure: "test."\n'
            '{local}\n'
            '{extra}\n'
            'remote-control:\n'
            '\tcontrol-enable: no\n'
            'forward-zone:\n'
            '\tname: "."\n'
            '\tforward-addr: {fa}@{fp}\n'
        ).format(port=port, d=d, threads=threads,
                 local="".join("\t%s\n" % l for l in local), extra=extra,
                 fa=forward[0], fp=forward[1]))
        s = Server(self, name, list(prefix) + ["unbound", "-d", "-c", conf],
                   (LOOPBACK, port),
                   os.path.join(d, "stderr.log"), d)
        s.conf = conf
        s.dir = d
        s.wait_ready(probe)
        return s

    def dnsmasq(self, forward, name="dnsmasq", port=None, addresses=(),
                cache_size=None, extra=(), probe="localhost.", prefix=()):
        """Start dnsmasq forwarding to forward (ADDR, PORT) only.
        addresses: ("/name/0.0.0.0", ...) sinkhole rules."""
        d = self.mkdir("%s-%d" % (name, len(self._servers)))
        port = port or free_port()
        argv = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--no-poll",
                "--server=%s#%d" % forward, "--port=%d" % port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--pid-file=%s/dnsmasq.pid" % d, "--user=root",
                "--log-facility=-"]
        argv += ["--address=%s" % a for a in addresses]
        if cache_size is not None:
            argv.append("--cache-size=%d" % cache_size)
        argv = list(prefix) + argv + list(extra)
        s = Server(self, name, argv, (LOOPBACK, port),
                   os.path.join(d, "stderr.log"), d)
        s.dir = d
        s.wait_ready(probe)
        return s

    def wuguard(self, local, name="wuguard", port=None, config=None,
                args=(), public=None, verbose=True, probe="probe.invalid.",
                wait=True, prefix=()):
        """Start the daemon in the foreground on 127.0.0.1:port forwarding to
        local [(ADDR, PORT), ...]. config: {section: {key: value}} or a str
        written as the config file. public: (ADDR, PORT), or a str passed
        to --public as it is (an sdns:// stamp, "none"; "" passes no
        --public, so the config file must name one: the built-in default is
        off the machine); it defaults to a dead loopback port so nothing can
        leave the machine."""
        d = self.mkdir("%s-%d" % (name, len(self._servers)))
        port = port or free_port()
        conf = os.path.join(d, "wuguard.conf")
        # the control socket in the test's own directory, never the
        # system's runtime directory (unless the test names one)
        text = render_config(config or {})
        if "[control]" not in text:
            text += "\n[control]\nsocket = %s\n" % os.path.join(d, "control.sock")
        self.write(conf, text)
        if public is None:
            public = dead_addr()
        argv = list(prefix) + [os.path.join(BUILDDIR, "wuguard"), "-f", "-c", conf,
                "--listen", "%s:%d" % (LOOPBACK, port),
                "--db", os.path.join(d, "wuguard.db")]
        if public != "":
            argv += ["--public",
                     public if isinstance(public, str) else "%s:%d" % tuple(public)]
        for a in local:
            argv += ["--local", ("[%s]:%d" if ":" in a[0] else "%s:%d") % tuple(a[:2])]
        if verbose:
            argv.append("-v")
        argv += list(args)
        s = Server(self, name, argv, (LOOPBACK, port),
                   os.path.join(d, "stderr.log"), d)
        s.conf = conf
        s.dir = d
        s.control = os.path.join(d, "control.sock")
        if wait:
            s.wait_ready(probe)
        return s


def render_config(config):
    if isinstance(config, str):
        return config
    out = []
    for section, keys in config.items():
        out.append("[%s]" % section)
        for k, v in keys.items():
            if isinstance(v, bool):
                v = "yes" if v else "no"
            out.append("%s = %s" % (k, v))
        out.append("")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# zone text shared by the tests

def big_txt(label, total=2000, chunk=200, ttl=300):
    """TXT records at label adding up to more than total bytes of rdata, so
    the RRset cannot fit in a 1232-byte UDP reply."""
    lines = []
    i = 0
    while i * (chunk + 1) < total:
        s = ("%02d" % i) + "x" * (chunk - 2)
        lines.append('%s %d IN TXT "%s"' % (label, ttl, s))
        i += 1
    return "\n".join(lines) + "\n"


def soa(ttl=300, minimum=300):
    return ("@ {ttl} IN SOA ns1 hostmaster 1 3600 600 86400 {minimum}\n"
            "@ {ttl} IN NS ns1\n"
            "ns1 {ttl} IN A 127.0.0.1\n").format(ttl=ttl, minimum=minimum)


def wire_header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def reply_id(data):
    return struct.unpack("!H", data[:2])[0] if data and len(data) >= 2 else None


def reply_rcode(data):
    if not data or len(data) < 4:
        return None
    return dns.rcode.to_text(struct.unpack("!H", data[2:4])[0] & 0xF)


def ede_codes(m):
    """The Extended DNS Error codes (RFC 8914) in a reply, [] for none."""
    if m is None:
        return []
    return [o.code for o in m.options if isinstance(o, dns.edns.EDEOption)]


def random_bytes(n, rng=random):
    return bytes(rng.getrandbits(8) for _ in range(n))


# The zone most tests serve: names under example.test. The negative TTL is
# min(SOA TTL, SOA minimum) = 60 s (RFC 2308).
ZONE_ORIGIN = "example.test"
ZONE = (soa(ttl=300, minimum=60) +
        "www 300 IN A 192.0.2.1\n"
        "www 300 IN AAAA 2001:db8::1\n"
        "short 1 IN A 192.0.2.2\n"
        "mixed 300 IN A 192.0.2.3\n"
        "other 300 IN A 192.0.2.4\n"
        "tcpname 300 IN A 192.0.2.5\n"
        "hup 300 IN A 192.0.2.6\n"
        "*.many 300 IN A 192.0.2.7\n" +
        big_txt("big") + big_txt("big2") + big_txt("big3"))


def wg_config(**sections):
    """The daemon configuration most tests use: short upstream timeouts so
    failures show quickly; sections given as dicts are merged over it,
    e.g. wg_config(cache={"serve-stale": True})."""
    base = {"upstream": {"timeout": 300, "retries": 1}}
    for name, keys in sections.items():
        base.setdefault(name, {}).update(keys)
    return base
