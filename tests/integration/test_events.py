#!/usr/bin/python3
"""The event stream ([log] events, issue 16 part 3) as the running daemon
writes it, and `wuguardctl export --after-id` for batch pulls.

nsd is the authority for windowsupdate.com (TEST-NET addresses) and the
public resolver; dnsmasq sinkholes every name under it to 0.0.0.0 (the
tampering corporate resolver). Checked: the JSON lines of a file target
against `wuguardctl list --format json` for the same rows (aggregated rows
included), the host and site fields, rotation (rename, SIGHUP, new file),
a file that cannot take lines (/dev/full: dropped and counted, resolution
unaffected), syslog through a test-owned AF_UNIX datagram socket (priority,
tag, JSON), and a receiver that never reads (lines dropped, answers on
time).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
CTL = os.path.join(W.BUILDDIR, "wuguardctl")
WU = "windowsupdate.com"
CTLDL = "ctldl.%s" % WU
ZONE = (W.soa() +
        "ctldl 300 IN A 192.0.2.10\n"
        "* 300 IN A 192.0.2.9\n")
RUN = "r%d" % os.getpid()  # names unique per run


def servers():
    ns = h.nsd({WU: ZONE}, probe=CTLDL)
    dm = h.dnsmasq(ns.addr, addresses=["/%s/0.0.0.0" % WU])
    return ns, dm


def daemon(ns, dm, log, cache=None):
    sections = {"guard": {"domains": os.path.join(W.SRCDIR, "db", "wu-domains.list")},
                "log": log}
    if cache:
        sections["cache"] = cache
    return h.wuguard([dm.addr], public=ns.addr, config=W.wg_config(**sections))


def db_of(wg):
    return os.path.join(wg.dir, "wuguard.db")


def ctl(db, *args):
    return subprocess.run([CTL, "--db", db, "--utc"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=30)


def list_rows(db):
    p = ctl(db, "list", "--format", "json", "--limit", "0")
    return [json.loads(l) for l in p.stdout.splitlines()] if p.returncode == 0 else []


def read_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def wait_for(fn, timeout=10.0):
    """Poll fn until it returns something true; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def repaired(wg, name):
    m, _ = W.query(wg.addr, name)
    return W.answer_set(m, "A")


def events_stats(wg):
    """The last USR1 'events written=.. dropped=..' line after asking for one."""
    start = wg.log_size()
    wg.kill(signal.SIGUSR1)
    if not wg.wait_log("events written=", start, timeout=5):
        return None
    m = re.findall(r"events written=(\d+) dropped=(\d+) errors=(\d+) reopened=(\d+)",
                   wg.log_since(start))
    return tuple(int(x) for x in m[-1]) if m else None


def burst(addr, names, wave=50, timeout=5.0):
    """Ask for every name from one socket, wave at a time (a name with no
    reply, a datagram lost on a busy machine, is asked once more); returns
    {name: (A set, seconds to the answer)}."""
    got = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((W.LOOPBACK, 0))
    try:
        for i in [j for _ in range(2) for j in range(0, len(names), wave)]:
            pending = {}
            for n in [n for n in names[i:i + wave] if n not in got]:
                q = W.make_query(n)
                pending[q.id] = (n, time.monotonic())
                s.sendto(q.to_wire(), addr)
            deadline = time.monotonic() + timeout
            while pending and time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data, _ = s.recvfrom(65535)
                except socket.timeout:
                    break
                m = W.dns.message.from_wire(data, ignore_trailing=True)
                n = pending.pop(m.id, None)
                if n is not None:
                    got[n[0]] = (W.answer_set(m, "A"), time.monotonic() - n[1])
    finally:
        s.close()
    return got


# ---------------------------------------------------------------------------

def file_events():
    ns, dm = servers()
    ev = os.path.join(h.mkdir("events"), "events.json")
    # max-ttl 1: the repaired answer leaves the cache, so asking again
    # after a pause is compared again and folds into the same row
    wg = daemon(ns, dm, {"events": "file:" + ev, "site": "lab-7 \"east\""},
                cache={"max-ttl": 1})
    names = ["f%d-%s.%s" % (i, RUN, WU) for i in range(3)]
    for n in names:
        h.eq(repaired(wg, n), {"192.0.2.9"}, "file: %s repaired" % n)
    lines = wait_for(lambda: len(read_lines(ev)) >= 3 and read_lines(ev))
    h.eq(len(lines or []), 3, "file: one line per row written", *(lines or []))
    time.sleep(1.2)  # the TTL-1 answer expires (a cache property, not a wait for an event)
    h.eq(repaired(wg, names[0]), {"192.0.2.9"}, "file: the first name again, repaired")
    lines = wait_for(lambda: len(read_lines(ev)) >= 4 and read_lines(ev))
    h.eq(len(lines or []), 4, "file: the repeat gives a fourth line", *(lines or []))
    objs = []
    for l in lines or []:
        try:
            objs.append(json.loads(l))
        except ValueError:
            h.ok(False, "file: a line is JSON", l)
    db = db_of(wg)
    rows = {r["id"]: r for r in list_rows(db)}
    h.eq(len(rows), 3, "file: three rows in the database", str(rows))
    last = {}
    for o in objs:
        last[o["id"]] = o
    h.eq(sorted(last), sorted(rows), "file: the lines name the database's row ids")
    host = socket.gethostname()
    for i, o in last.items():
        want = dict(rows.get(i, {}))
        want["host"] = host
        want["site"] = 'lab-7 "east"'
        h.eq(o, want, "file: row %d: the line is list --format json's object plus host "
             "and site" % i)
    if len(objs) == 4:
        h.eq((objs[3]["id"], objs[3]["count"]), (objs[0]["id"], 2),
             "file: the folded occurrence repeats the row's id with count 2")
        h.ok(objs[3]["last_seen_ms"] > objs[0]["last_seen_ms"],
             "file: and a later last_seen", lines[0], lines[3])
        h.eq(objs[3]["time_ms"], objs[0]["time_ms"], "file: first seen unchanged")
    st = events_stats(wg)
    h.eq(st[:2] if st else None, (4, 0), "file: USR1 stats: 4 written, 0 dropped",
         *wg.log_tail(5))

    # rotation: rename the file away, HUP, the next line opens a new one
    os.rename(ev, ev + ".1")
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("configuration reloaded", start, timeout=5), "rotate: reloaded")
    n = "rot-%s.%s" % (RUN, WU)
    h.eq(repaired(wg, n), {"192.0.2.9"}, "rotate: a new name repaired")
    new = wait_for(lambda: read_lines(ev))
    h.eq([json.loads(l)["name"] for l in new or []], [n + "."],
         "rotate: the new file has the new line only")
    h.eq(len(read_lines(ev + ".1")), 4, "rotate: the renamed file kept its 4 lines")
    h.ok(wg.wait_log("reopened " + ev, start, timeout=5), "rotate: the log says reopened")
    st = events_stats(wg)
    h.eq((st[0], st[1], st[3]) if st else None, (5, 0, 1),
         "rotate: stats: 5 written, 0 dropped, 1 reopened", *wg.log_tail(5))
    h.eq(wg.stop(), 0, "file: daemon exits 0")
    h.eq(os.stat(ev).st_mode & 0o777, 0o640, "file: created 0640")


def full_file():
    ns, dm = servers()
    wg = daemon(ns, dm, {"events": "file:/dev/full"})
    names = ["full%d-%s.%s" % (i, RUN, WU) for i in range(5)]
    for n in names:
        h.eq(repaired(wg, n), {"192.0.2.9"}, "/dev/full: %s repaired" % n)
    db = db_of(wg)
    h.eq(len(wait_for(lambda: len(list_rows(db)) >= 5 and list_rows(db)) or []), 5,
         "/dev/full: the 5 rows are in the database")
    st = wait_for(lambda: (lambda s: s if s and s[1] >= 5 else None)(events_stats(wg)))
    h.eq(st[:2] if st else None, (0, 5), "/dev/full: stats: 0 written, 5 dropped",
         *wg.log_tail(5))
    h.eq(repaired(wg, "after-%s.%s" % (RUN, WU)), {"192.0.2.9"},
         "/dev/full: resolution goes on")
    h.eq(wg.stop(), 0, "/dev/full: daemon exits 0")


def tmpfs_full():
    """A real file system that fills up: a line that does not fit is dropped
    whole (a write cut short half-way is taken back, never half a JSON
    object), and lines come again once there is room."""
    mnt = h.mkdir("evfs")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", mnt],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if p.returncode != 0:
        h.skip("tmpfs full", "cannot mount a tmpfs here: %s" % p.stdout.strip())
        return
    try:
        ev = os.path.join(mnt, "events.json")
        filler = os.path.join(mnt, "filler")
        ns, dm = servers()
        wg = daemon(ns, dm, {"events": "file:" + ev})
        # one line first: the file's last page is then part used, so a later
        # line can be written in part before the disk is full
        h.eq(repaired(wg, "tf-first-%s.%s" % (RUN, WU)), {"192.0.2.9"}, "tmpfs full: first name")
        wait_for(lambda: read_lines(ev))
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"x" * 512)
        except OSError:
            pass
        os.close(fd)
        names = ["tf%d-%s.%s" % (i, RUN, WU) for i in range(6)]
        for n in names:
            h.eq(repaired(wg, n), {"192.0.2.9"}, "tmpfs full: %s repaired" % n)
        db = db_of(wg)
        h.eq(len(wait_for(lambda: len(list_rows(db)) >= 7 and list_rows(db)) or []), 7,
             "tmpfs full: 7 rows in the database")
        st = wait_for(lambda: (lambda s: s if s and s[0] + s[1] >= 7 else None)(events_stats(wg)))
        h.ok(st and st[1] >= 1 and st[0] + st[1] == 7,
             "tmpfs full: the lines that did not fit dropped and counted", str(st),
             *wg.log_tail(5))
        lines = read_lines(ev)
        good = 0
        for l in lines:
            try:
                json.loads(l)
                good += 1
            except ValueError:
                h.ok(False, "tmpfs full: no partial line in the file", l)
        h.eq((good, len(lines)), (st[0] if st else -1,) * 2,
             "tmpfs full: the file holds exactly the lines counted written, each whole")
        h.ok(open(ev, "rb").read().endswith(b"}\n"), "tmpfs full: the file ends with a whole line")
        os.unlink(filler)
        n = "tf-after-%s.%s" % (RUN, WU)
        h.eq(repaired(wg, n), {"192.0.2.9"}, "tmpfs full: a name after space was freed")
        got = wait_for(lambda: len(read_lines(ev)) > len(lines) and read_lines(ev))
        h.eq(json.loads(got[-1])["name"] if got else None, n + ".",
             "tmpfs full: the next line is written whole")
        h.eq(wg.stop(), 0, "tmpfs full: daemon exits 0")
    finally:
        subprocess.run(["umount", "-l", mnt])


def syslog_socket():
    ns, dm = servers()
    path = os.path.join(h.mkdir("syslog"), "log.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(10)
    try:
        wg = daemon(ns, dm, {"events": "syslog:" + path, "facility": "local3",
                             "site": "branch-12"})
        n = "sl-%s.%s" % (RUN, WU)
        h.eq(repaired(wg, n), {"192.0.2.9"}, "syslog: name repaired")
        try:
            data = rx.recv(65536).decode()
        except socket.timeout:
            data = ""
        m = re.match(r"<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) wuguard-events\[(\d+)\]: "
                     r"(\{.*\})$", data)
        h.ok(m, "syslog: an RFC 3164 message with the tag wuguard-events", data)
        if m:
            # local3 (19) * 8 + warning (4): a sinkhole is severity high
            h.eq(int(m.group(1)), 19 * 8 + 4, "syslog: facility local3, severity warning")
            h.eq(int(m.group(3)), wg.proc.pid, "syslog: the daemon's pid")
            o = json.loads(m.group(4))
            rows = list_rows(db_of(wg))
            want = dict(rows[0]) if rows else {}
            want.update(host=socket.gethostname(), site="branch-12")
            h.eq(o, want, "syslog: the JSON is the row's list object plus host and site")
        # the receiver goes away (syslog restarted): lines are dropped, and
        # the next receiver at the path gets them again
        rx.close()
        os.unlink(path)
        h.eq(repaired(wg, "gone-%s.%s" % (RUN, WU)), {"192.0.2.9"},
             "syslog gone: resolution goes on")
        st = wait_for(lambda: (lambda s: s if s and s[1] >= 1 else None)(events_stats(wg)))
        h.ok(st and st[1] >= 1, "syslog gone: the line is dropped and counted", str(st))
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(path)
        rx.settimeout(0.2)
        got = None
        deadline = time.monotonic() + 15
        i = 0
        while got is None and time.monotonic() < deadline:
            n = "back%d-%s.%s" % (i, RUN, WU)
            i += 1
            repaired(wg, n)
            try:
                got = rx.recv(65536).decode()
            except socket.timeout:
                pass
        h.ok(got and "wuguard-events[" in got and '"name":"back' in got,
             "syslog back: a new receiver at the path gets the lines (connected again)", got)
        h.eq(wg.stop(), 0, "syslog: daemon exits 0")
    finally:
        rx.close()


def syslog_burst():
    """A receiver that reads, as a syslog daemon does, while a burst commits
    hundreds of rows at once: the socket's queue (max_dgram_qlen, often 10)
    fills faster than it is read, and no line may be lost to that."""
    import threading
    ns, dm = servers()
    path = os.path.join(h.mkdir("burst"), "log.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(0.5)
    got = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                got.append(rx.recv(65536))
            except socket.timeout:
                pass
            except OSError:
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        wg = daemon(ns, dm, {"events": "syslog:" + path})
        names = ["bu%d-%s.%s" % (i, RUN, WU) for i in range(300)]
        ans = burst(wg.addr, names)
        h.eq(len([n for n in names if ans.get(n, (None,))[0] == {"192.0.2.9"}]), 300,
             "syslog burst: 300 names repaired")
        db = db_of(wg)
        h.eq(len(wait_for(lambda: len(list_rows(db)) >= 300 and list_rows(db), 30) or []), 300,
             "syslog burst: 300 rows")
        wait_for(lambda: len(got) >= 300, 15)
        st = events_stats(wg)
        h.eq(st[:2] if st else None, (300, 0), "syslog burst: 300 lines written, none dropped")
        names_got = {json.loads(g.decode().split(": ", 1)[1])["name"] for g in got}
        h.eq(len(names_got), 300, "syslog burst: the reader got a line for every row")
        h.eq(wg.stop(), 0, "syslog burst: daemon exits 0")
    finally:
        stop.set()
        t.join(5)
        rx.close()


def syslog_stalled():
    """A receiver that never reads: the daemon's socket fills, lines are
    dropped and counted, and every DNS answer comes at once."""
    ns, dm = servers()
    path = os.path.join(h.mkdir("stalled"), "log.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    try:
        wg = daemon(ns, dm, {"events": "syslog:" + path})
        names = ["st%d-%s.%s" % (i, RUN, WU) for i in range(400)]
        got = burst(wg.addr, names)
        bad = [n for n in names if got.get(n, (None,))[0] != {"192.0.2.9"}]
        h.eq(bad, [], "stalled syslog: 400 names answered (repaired)")
        slow = [n for n, (a, t) in got.items() if t > 2.0]
        h.eq(slow, [], "stalled syslog: no answer took 2 s or more")
        db = db_of(wg)
        h.eq(len(wait_for(lambda: len(list_rows(db)) >= 400 and list_rows(db), 30) or []), 400,
             "stalled syslog: 400 rows in the database")
        st = wait_for(lambda: (lambda s: s if s and s[0] + s[1] >= 400 else None)(
            events_stats(wg)), 15)
        h.ok(st and st[1] > 0 and st[0] > 0 and st[0] + st[1] == 400,
             "stalled syslog: some lines written, the rest dropped and counted", str(st))
        h.diag("stalled syslog: written %s dropped %s; slowest answer %.3f s" % (
            st[0] if st else "?", st[1] if st else "?",
            max(t for a, t in got.values()) if got else -1))
        m, _ = W.query(wg.addr, "after-st-%s.%s" % (RUN, WU))
        h.eq(W.answer_set(m, "A"), {"192.0.2.9"}, "stalled syslog: resolution goes on")
        h.eq(wg.stop(), 0, "stalled syslog: daemon exits 0 (the writer is not stuck)")
    finally:
        rx.close()


def export_cursor(p):
    m = re.search(r"^export: last-id (\d+) last-seen-ms (\d+)$", p.stderr, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else None


def export_after_id():
    """A batch pull that resumes: --after-id for new rows, --changed-since
    for rows aggregation changed, the cursor on standard error."""
    import csv
    import io
    ns, dm = servers()
    wg = daemon(ns, dm, {}, cache={"max-ttl": 1})
    db = db_of(wg)
    names = ["ex%d-%s.%s" % (i, RUN, WU) for i in range(3)]
    for n in names:
        repaired(wg, n)
    wait_for(lambda: len(list_rows(db)) >= 3)
    p = ctl(db, "export")
    h.eq(p.returncode, 0, "export: exit 0", p.stderr)
    first = [json.loads(l) for l in p.stdout.splitlines()]
    h.eq([o["name"] for o in first], [n + "." for n in names], "export: 3 rows, oldest first")
    cur = export_cursor(p)
    h.eq(cur[0] if cur else None, first[-1]["id"] if first else None,
         "export: the cursor names the last id", p.stderr)
    h.eq(cur[1] if cur else None, max(o["last_seen_ms"] for o in first) if first else None,
         "export: and the newest last_seen_ms", p.stderr)
    p = ctl(db, "export", "--after-id", str(cur[0]))
    h.eq((p.stdout, export_cursor(p)), ("", cur), "export --after-id: nothing new yet, same cursor",
         p.stderr)
    # one new row and one occurrence folded into the first row
    time.sleep(1.2)  # the TTL-1 answer expires (a cache property, not a wait for an event)
    repaired(wg, names[0])
    new = "ex-new-%s.%s" % (RUN, WU)
    repaired(wg, new)
    wait_for(lambda: any(r["count"] == 2 for r in list_rows(db)) and len(list_rows(db)) >= 4)
    p = ctl(db, "export", "--after-id", str(cur[0]))
    got = [json.loads(l) for l in p.stdout.splitlines()]
    h.eq([o["name"] for o in got], [new + "."], "export --after-id: only the new row")
    p2 = ctl(db, "export", "--changed-since", str(cur[1]))
    got2 = [json.loads(l) for l in p2.stdout.splitlines()]
    h.eq(sorted((o["name"], o["count"]) for o in got2),
         sorted([(names[0] + ".", 2), (new + ".", 1)]),
         "export --changed-since: the aggregated row with its new count, and the new row")
    p = ctl(db, "export", "--format", "csv", "--after-id", str(first[0]["id"]))
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    h.eq([r["name"] for r in rows], [names[1] + ".", names[2] + ".", new + "."],
         "export --format csv --after-id: the rows after the first")
    h.ok(export_cursor(p) and export_cursor(p)[0] == got[0]["id"] if got else False,
         "export csv: the cursor on standard error", p.stderr)
    p = ctl(db, "export", "--after-id", "x")
    h.eq(p.returncode, 2, "export --after-id x: usage error", p.stderr)
    h.eq(wg.stop(), 0, "export: daemon exits 0")


def bad_config():
    cases = [({"events": "syslog:relative"}, "events"), ({"events": "file:"}, "events"),
             ({"facility": "local9"}, "facility")]
    for log, key in cases:
        conf = os.path.join(h.mkdir("badconf"), "wuguard.conf")
        h.write(conf, W.render_config({"log": log}))
        p = subprocess.run([os.path.join(W.BUILDDIR, "wuguard"), "-n", "-c", conf, "--local",
                            "127.0.0.1:1", "--public", "none"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=30)
        h.ok(p.returncode == 1 and re.search(r"wuguard\.conf:2: .*%s" % key, p.stdout),
             "bad [log] %s: refused, naming line 2" % log, p.stdout)


h.case("events to a file: the rows as list --format json has them, rotation", file_events)
h.case("events to /dev/full: dropped and counted, resolution goes on", full_file)
h.case("events on a file system that fills up", tmpfs_full)
h.case("events to a syslog socket", syslog_socket)
h.case("a syslog receiver that reads gets every line of a burst", syslog_burst)
h.case("a syslog receiver that never reads", syslog_stalled)
h.case("bad [log] values name their line", bad_config)
h.case("export --after-id and --changed-since resume a batch pull", export_after_id)
h.done()
