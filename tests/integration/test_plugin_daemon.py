#!/usr/bin/python3
"""Filter plugins in the running daemon (issue 6): the blocklist plugin
blocks ad names in each blocking mode (with EDE 15), reading each list
line the way Pi-hole does (a hosts or plain-domain line blocks that name
only, "||name^" and "*.name" reach below), and honours @@|| exceptions; WU names on the same list resolve to their real
addresses and each set-aside verdict becomes a local-policy row naming the
plugin; a bad or world-writable plugin (or one in a world-writable
directory, or owned by another user) stops start-up with the reason; a
plugin that crashes in its init is refused by -n, start-up and SIGHUP, and
the running daemon keeps its plugins;
SIGHUP keeps the old list when the new one is broken and picks up a
changed one; the example plugin loads and answers."""

import json
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()

BLOCKLIST_SO = os.path.join(W.BUILDDIR, "plugin", ".libs", "blocklist.so")
EXAMPLE_SO = os.path.join(W.BUILDDIR, "plugin", ".libs", "example.so")
# test plugins, built by make check (check_LTLIBRARIES)
CTXCHECK_SO = os.path.join(W.BUILDDIR, "tests", "plugins", ".libs", "ctxcheck.so")
BLOCKALL_SO = os.path.join(W.BUILDDIR, "tests", "plugins", ".libs", "blockall.so")
CRASHINIT_SO = os.path.join(W.BUILDDIR, "tests", "plugins", ".libs", "crashinit.so")
WUGUARD = os.path.join(W.BUILDDIR, "wuguard")
CTL = os.path.join(W.BUILDDIR, "wuguardctl")

# Authoritative data: TEST-NET addresses only (192.0.2.0/24, 2001:db8::/32),
# so no answer looks like a sinkhole or a private address to the guard.
ZONES = {
    # hosts format entries
    "ads.example": W.soa() +
        "@ 300 IN A 192.0.2.10\n"
        "@ 300 IN AAAA 2001:db8::10\n"
        "www 300 IN A 192.0.2.11\n"
        "sub.deep 300 IN A 192.0.2.12\n"
        "ok 300 IN A 192.0.2.13\n"
        "ok 300 IN AAAA 2001:db8::13\n"
        "@ 300 IN MX 10 mail\n"
        "mail 300 IN A 192.0.2.14\n",
    # plain format entries
    "tracker.example": W.soa() +
        "@ 300 IN A 192.0.2.20\n"
        "pixel 300 IN A 192.0.2.21\n"
        "x.y 300 IN A 192.0.2.22\n",
    # adblock format entries, and names that must pass
    "example.test": W.soa() +
        "adnet 300 IN A 192.0.2.40\n"
        "cdn.adnet 300 IN A 192.0.2.41\n"
        "ok.adnet 300 IN A 192.0.2.45\n"
        "www 300 IN A 192.0.2.1\n"
        "new 300 IN A 192.0.2.42\n"
        "lan 300 IN A 192.0.2.43\n"
        "host.lan 300 IN A 192.0.2.44\n"
        "hidden 300 IN CNAME tracker.example.\n"
        "bad 300 IN A 192.0.2.66\n"
        "good 300 IN A 192.0.2.67\n",
    "windowsupdate.com": W.soa() +
        "@ 300 IN A 192.0.2.30\n"
        "download 300 IN A 192.0.2.31\n"
        "au.download 300 IN A 192.0.2.32\n"
        "ctldl 300 IN A 192.0.2.33\n"
        "edge 300 IN A 192.0.2.34\n"
        "viacname 300 IN CNAME edge\n",
    "microsoft.com": W.soa() +
        "geo.prod.do.dsp.mp 300 IN A 192.0.2.50\n"
        "kv801.prod.do.dsp.mp 300 IN A 192.0.2.51\n"
        "settings-win.data 300 IN A 192.0.2.52\n",
}

LIST = """\
# a blocklist the way Pi-hole / AdGuard users write them, three formats mixed
[Adblock Plus 2.0]
! Title: test list
0.0.0.0 ads.example
127.0.0.1 localhost
0.0.0.0 download.windowsupdate.com    # telemetry lists carry this one
:: ads.example
tracker.example
*.prod.do.dsp.mp.microsoft.com
||adnet.example.test^
||settings-win.data.microsoft.com^
||edge.windowsupdate.com^
@@||ok.adnet.example.test^
"""

# WU names on the list: (name, the real address).
WU_NAMES = [
    ("download.windowsupdate.com", "192.0.2.31", "download.windowsupdate.com"),

    ("geo.prod.do.dsp.mp.microsoft.com", "192.0.2.50", "*.prod.do.dsp.mp.microsoft.com"),
    ("kv801.prod.do.dsp.mp.microsoft.com", "192.0.2.51", "*.prod.do.dsp.mp.microsoft.com"),
    ("settings-win.data.microsoft.com", "192.0.2.52", "||settings-win.data.microsoft.com^"),
]

# Blocked ad names (name, which list format blocks it).
ADS = [
    ("ads.example", "hosts"),
    ("tracker.example", "plain"),
    ("adnet.example.test", "adblock"),
    ("cdn.adnet.example.test", "adblock, subdomain"),
]

# Names under a hosts or plain-domain entry: Pi-hole blocks the listed name
# only, so these resolve (name, real address, the line above them).
NOT_BELOW_EXACT = [
    ("www.ads.example", "192.0.2.11", "hosts"),
    ("sub.deep.ads.example", "192.0.2.12", "hosts, two labels down"),
    ("pixel.tracker.example", "192.0.2.21", "plain"),
    ("x.y.tracker.example", "192.0.2.22", "plain, two labels down"),
    # WindowsSpyBlocker's "0.0.0.0 download.windowsupdate.com" leaves the
    # names under it alone
    ("au.download.windowsupdate.com", "192.0.2.32", "hosts, a WU name"),
]

EDE_BLOCKED = 15


ede_codes = W.ede_codes


def plugin_conf(name, path, **keys):
    sec = {"path": path}
    sec.update(keys)
    return {"plugin:%s" % name: sec}


def config(plugins, **extra):
    c = W.wg_config(**extra)
    # settings-win.data.microsoft.com is in the optional WU group
    c.setdefault("guard", {})["groups"] = "optional"
    for p in plugins:
        c.update(p)
    return c


def start_nsd():
    return h.nsd(ZONES, probe="www.example.test")


def start_wg(ns, plugins, name="wuguard", **kw):
    # the nsd is also the public reference: WU answers match at once
    return h.wuguard([ns.addr], name=name, config=config(plugins), public=ns.addr,
                     probe="probe.example.test.", **kw)


def write_list(text=LIST, name="list.txt"):
    d = h.mkdir("lists")
    return h.write(os.path.join(d, name), text)


def db_rows(wg):
    """Rows of the daemon's database, after stopping it (SIGTERM flushes
    the writer queue)."""
    rc = wg.stop(signal.SIGTERM)
    h.eq(rc, 0, "daemon exits 0 on SIGTERM")
    db = os.path.join(wg.dir, "wuguard.db")
    p = subprocess.run([CTL, "--db", db, "--utc", "list", "--format", "json", "--limit", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=20)
    h.eq(p.returncode, 0, "wuguardctl list reads the database", p.stderr)
    return h.json_lines(p.stdout, "wuguardctl list")


# ---------------------------------------------------------------------------

def mode_null(ns, lst):
    wg = start_wg(ns, [plugin_conf("ads", BLOCKLIST_SO, list=lst, mode="null")],
                  name="wg-null")
    for name, fmt in ADS:
        m, _ = W.query(wg.addr, name)
        h.eq(W.answer_set(m, "A"), {"0.0.0.0"}, "null: %s A is 0.0.0.0 (%s)" % (name, fmt),
             W.describe(m))
    m, _ = W.query(wg.addr, "ads.example", "AAAA", edns=0)
    h.rcode(m, "NOERROR", "null: AAAA is NOERROR")
    h.eq(W.answer_set(m, "AAAA"), {"::"}, "null: ads.example AAAA is ::", W.describe(m))
    h.ok(EDE_BLOCKED in ede_codes(m), "null: EDE 15 (Blocked) on an EDNS query",
         W.describe(m))
    m, _ = W.query(wg.addr, "ads.example", "MX")
    h.ok(m is not None and m.rcode() == 0 and not m.answer and m.authority,
         "null: other types get NODATA with a SOA", W.describe(m))
    m, _ = W.query(wg.addr, "ads.example", tcp=True)
    h.eq(W.answer_set(m, "A"), {"0.0.0.0"}, "null: blocked over TCP too", W.describe(m))
    for name, addr, fmt in NOT_BELOW_EXACT:
        m, _ = W.query(wg.addr, name, edns=0)
        h.eq(W.answer_set(m, "A"), {addr},
             "null: %s resolves: a %s line blocks its own name only" % (name, fmt),
             W.describe(m))
        h.ok(EDE_BLOCKED not in ede_codes(m), "null: no EDE 15 on %s" % name, W.describe(m))
    # an exception beats the parent's block entry
    m, _ = W.query(wg.addr, "ok.adnet.example.test", edns=0)
    h.eq(W.answer_set(m, "A"), {"192.0.2.45"},
         "null: @@||ok.adnet.example.test^ exception resolves", W.describe(m))
    h.ok(EDE_BLOCKED not in ede_codes(m), "null: no EDE 15 on the excepted name",
         W.describe(m))
    # names not listed, and names that merely end the same way
    for name, addr in (("www.example.test", "192.0.2.1"), ("new.example.test", "192.0.2.42")):
        m, _ = W.query(wg.addr, name)
        h.eq(W.answer_set(m, "A"), {addr}, "null: unlisted %s resolves" % name, W.describe(m))
    # post-response: a CNAME into a blocked name
    m, _ = W.query(wg.addr, "hidden.example.test", edns=0)
    h.eq(W.answer_set(m, "A"), {"0.0.0.0"},
         "null: a CNAME to a blocked name is blocked (post-response)", W.describe(m))
    h.ok(EDE_BLOCKED in ede_codes(m), "null: EDE 15 on the post-response block",
         W.describe(m))
    m, _ = W.query(wg.addr, "hidden.example.test")
    h.eq(W.answer_set(m, "A"), {"0.0.0.0"},
         "null: the post-response block was not cached as the real answer", W.describe(m))

    # WU names on the list: the guard sets the verdict aside
    for name, addr, entry in WU_NAMES:
        m, _ = W.query(wg.addr, name, edns=0)
        h.eq(W.answer_set(m, "A"), {addr}, "WU %s resolves to its real address" % name,
             W.describe(m))
        h.ok(EDE_BLOCKED not in ede_codes(m), "WU %s: no EDE 15" % name, W.describe(m))
    m, _ = W.query(wg.addr, "download.windowsupdate.com", tcp=True)
    h.eq(W.answer_set(m, "A"), {"192.0.2.31"}, "WU name resolves over TCP (cache hit)",
         W.describe(m))
    # a WU name whose CNAME target is listed: the post-response verdict is
    # set aside too
    m, _ = W.query(wg.addr, "viacname.windowsupdate.com")
    h.eq(W.answer_set(m, "A"), {"192.0.2.34"},
         "WU name with a CNAME to a listed name resolves", W.describe(m))

    rows = [r for r in db_rows(wg) if r.get("category") == "local-policy"]
    h.ok(rows, "local-policy rows in the database", "%d rows" % len(rows))
    if rows:
        h.diag("a row: %s" % json.dumps(rows[0], sort_keys=True))
    by_name = {}
    for r in rows:
        by_name.setdefault(str(r.get("name", "")).rstrip(".").lower(), []).append(r)
    for name, addr, entry in WU_NAMES:
        got = by_name.get(name, [])
        h.ok(got, "a local-policy row for %s" % name, sorted(by_name))
        if not got:
            continue
        text = json.dumps(got[0], sort_keys=True)
        h.ok("plugin:ads" in text, "the %s row names the plugin" % name, text)
        h.ok("entry=%s" % entry in text, "the %s row names the list entry %s" % (name, entry),
             text)
        h.ok(got[0].get("action") == "not-applied", "the %s row: action not-applied" % name,
             text)
    got = by_name.get("viacname.windowsupdate.com", [])
    h.ok(got and "entry=||edge.windowsupdate.com^" in json.dumps(got[0]),
         "a local-policy row for the post-response verdict on the WU CNAME",
         json.dumps(got))
    ad = [n for n, _ in ADS if n in by_name]
    h.eq(ad, [], "no local-policy row for ordinary ad names")
    h.eq(by_name.get("au.download.windowsupdate.com", []), [],
         "no local-policy row for a WU name under a hosts entry: nothing was blocked")


def mode_rcode(ns, lst, mode, rcode):
    wg = start_wg(ns, [plugin_conf("ads", BLOCKLIST_SO, list=lst, mode=mode)],
                  name="wg-%s" % mode)
    for name, fmt in ADS:
        m, _ = W.query(wg.addr, name, edns=0)
        ok = m is not None and W.rcode_text(m) == rcode and not m.answer
        h.ok(ok, "%s: %s is %s with no answer (%s)" % (mode, name, rcode, fmt), W.describe(m))
        h.ok(EDE_BLOCKED in ede_codes(m), "%s: %s carries EDE 15" % (mode, name),
             W.describe(m))
    m, _ = W.query(wg.addr, "ads.example")
    h.rcode(m, rcode, "%s: non-EDNS query blocked too" % mode)
    h.ok(m is not None and m.edns < 0, "%s: no OPT for a non-EDNS client" % mode,
         W.describe(m))
    if rcode != "REFUSED":
        h.ok(m is not None and m.authority, "%s: a SOA for negative caching" % mode,
             W.describe(m))
    m, _ = W.query(wg.addr, "ok.adnet.example.test")
    h.eq(W.answer_set(m, "A"), {"192.0.2.45"}, "%s: exception resolves" % mode, W.describe(m))
    name, addr, _ = WU_NAMES[0]
    m, _ = W.query(wg.addr, name)
    h.eq(W.answer_set(m, "A"), {addr}, "%s: WU %s resolves" % (mode, name), W.describe(m))


def modes():
    ns = start_nsd()
    lst = write_list()
    mode_null(ns, lst)
    mode_rcode(ns, lst, "nxdomain", "NXDOMAIN")
    mode_rcode(ns, lst, "nodata", "NOERROR")
    mode_rcode(ns, lst, "refused", "REFUSED")


def bad_plugins():
    ns = start_nsd()
    lst = write_list()
    tmp = h.mkdir("bad")
    ww = os.path.join(tmp, "blocklist-ww.so")
    shutil.copy(BLOCKLIST_SO, ww)
    os.chmod(ww, 0o757)
    gw = os.path.join(tmp, "blocklist-gw.so")
    shutil.copy(BLOCKLIST_SO, gw)
    os.chmod(gw, 0o775)
    # a good file in a directory anyone can write: anyone could swap it
    wwdir = h.mkdir("bad/anyone")
    os.chmod(wwdir, 0o777)
    wwd = os.path.join(wwdir, "blocklist.so")
    shutil.copy(BLOCKLIST_SO, wwd)
    os.chmod(wwd, 0o755)
    # a good file owned by another user (the tests run as root)
    nob = os.path.join(tmp, "blocklist-nobody.so")
    shutil.copy(BLOCKLIST_SO, nob)
    os.chmod(nob, 0o755)
    as_root = os.geteuid() == 0
    if as_root:
        os.chown(nob, 65534, 65534)
    cases = [
        ("missing file", plugin_conf("ads", os.path.join(tmp, "nope.so"), list=lst),
         ["nope.so", "No such file"]),
        ("world-writable file", plugin_conf("ads", ww, list=lst), ["writable", "blocklist-ww.so"]),
        ("group-writable file", plugin_conf("ads", gw, list=lst), ["writable", "blocklist-gw.so"]),
        ("world-writable directory", plugin_conf("ads", wwd, list=lst),
         ["directory %s is writable by group or others" % wwdir, "chmod go-w %s" % wwdir]),
    ]
    if as_root:
        cases.append(("file owned by nobody", plugin_conf("ads", nob, list=lst),
                      ["blocklist-nobody.so: owned by uid 65534", "chown root %s" % nob]))
    cases += [
        ("not a shared object", plugin_conf("ads", lst, list=lst), ["cannot load"]),
        ("missing list", plugin_conf("ads", BLOCKLIST_SO, list=os.path.join(tmp, "no.txt")),
         ["no.txt"]),
        ("bad mode", plugin_conf("ads", BLOCKLIST_SO, list=lst, mode="sinkhole"), ["mode"]),
    ]
    for desc, plug, want in cases:
        conf = h.write(os.path.join(tmp, "%s.conf" % desc.replace(" ", "-")),
                       W.render_config(config([plug])))
        p = subprocess.run([WUGUARD, "-n", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=10)
        h.ok(p.returncode != 0, "%s: wuguard -n rejects the config" % desc,
             "exit %d: %s" % (p.returncode, p.stdout))
        h.ok(all(w in p.stdout for w in want), "%s: wuguard -n says why" % desc, p.stdout)
        wg = h.wuguard([ns.addr], name="wg-bad", config=config([plug]), public=ns.addr,
                       wait=False)
        try:
            rc = wg.proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        log = "\n".join(wg.log_tail(10))
        h.ok(rc is not None and rc != 0, "%s: the daemon exits non-zero at start" % desc,
             "exit %s" % rc, log)
        h.ok(all(w in log for w in want), "%s: the log says why (%s)" % (desc, ", ".join(want)),
             log)
        wg.stop()


def crash_in_init():
    """A plugin whose init writes through NULL: -n, start-up and SIGHUP try
    it in a child and refuse it with its name, path and the signal."""
    if not os.path.exists(CRASHINIT_SO):
        h.skip("crashing plugin", "not built (make check builds it)")
        return
    ns = start_nsd()
    tmp = h.mkdir("crash")
    crash = plugin_conf("boom", CRASHINIT_SO)
    want = ["plugin boom", CRASHINIT_SO, "in its init", "SIGSEGV"]
    conf = h.write(os.path.join(tmp, "crash.conf"), W.render_config(config([crash])))
    p = subprocess.run([WUGUARD, "-n", "-c", conf, "--local", "%s:%d" % ns.addr,
                        "--public", "none"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=20)
    h.ok(p.returncode == 1, "crash in init: wuguard -n exits 1 (not killed by the signal)",
         "exit %d" % p.returncode, p.stderr)
    h.ok(all(w in p.stderr for w in want),
         "crash in init: wuguard -n names the plugin, its path and SIGSEGV", p.stderr)

    wg = h.wuguard([ns.addr], name="wg-crash", config=config([crash]), public=ns.addr,
                   wait=False)
    try:
        rc = wg.proc.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    log = "\n".join(wg.log_tail(10))
    h.eq(rc, 1, "crash in init: start-up fails with exit 1, not with the signal", log)
    h.ok(all(w in log for w in want), "crash in init: the start-up log says which and why",
         log)
    wg.stop()

    # a running daemon with blockall, reloaded into a config that adds the
    # crashing plugin: the reload is refused, blockall still blocks
    wg = start_wg(ns, [plugin_conf("all", BLOCKALL_SO)], name="wg-crash-hup")
    m, _ = W.query(wg.addr, "www.example.test")
    h.rcode(m, "NXDOMAIN", "before the reload: blockall blocks")
    h.write(wg.conf, W.render_config(config([plugin_conf("all", BLOCKALL_SO), crash])))
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("reload failed", start, timeout=20),
         "SIGHUP into a crashing plugin: reload failed is logged", *wg.log_tail(5))
    text = wg.log_since(start)
    h.ok(all(w in text for w in want + ["keeping the running configuration"]),
         "SIGHUP into a crashing plugin: the log says the reload was refused and why", text)
    h.ok(wg.alive(), "SIGHUP into a crashing plugin: the daemon survives")
    m, _ = W.query(wg.addr, "www.example.test")
    h.rcode(m, "NXDOMAIN", "after the refused reload: the old plugin still blocks")
    m, _ = W.query(wg.addr, WU_NAMES[0][0])
    h.eq(W.answer_set(m, "A"), {WU_NAMES[0][1]}, "after the refused reload: still answers",
         W.describe(m))
    # an init that hangs: killed after [server] plugin-timeout, the reload
    # refused the same way (it goes first and the bound leaves a starved
    # machine time to reach its init, so the report names it and the step)
    hang = config([plugin_conf("stuck", CRASHINIT_SO, mode="hang"),
                   plugin_conf("all", BLOCKALL_SO)])
    hang.setdefault("server", {})["plugin-timeout"] = 2000
    hconf = h.write(os.path.join(tmp, "hang.conf"), W.render_config(hang))
    p = subprocess.run([WUGUARD, "-n", "-c", hconf, "--local", "%s:%d" % ns.addr,
                        "--public", "none"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=20)
    hwant = ["plugin stuck", CRASHINIT_SO, "hung in its init", "killed it after 2000 ms"]
    h.ok(p.returncode == 1 and all(w in p.stderr for w in hwant),
         "a hanging init: wuguard -n exits 1 and says it was killed after plugin-timeout",
         "exit %d" % p.returncode, p.stderr)
    h.write(wg.conf, W.render_config(hang))
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("reload failed", start, timeout=20),
         "SIGHUP into a hanging plugin: reload failed is logged", *wg.log_tail(5))
    text = wg.log_since(start)
    h.ok(all(w in text for w in hwant), "SIGHUP into a hanging plugin: the log says why", text)
    h.ok(wg.alive(), "SIGHUP into a hanging plugin: the daemon survives")
    m, _ = W.query(wg.addr, "www.example.test")
    h.rcode(m, "NXDOMAIN", "after the refused reload: blockall still blocks")

    # and a good config afterwards reloads as usual
    h.write(wg.conf, W.render_config(config([])))
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("configuration reloaded", start, timeout=20),
         "a good config after the refused one reloads", *wg.log_tail(5))
    m, _ = W.query(wg.addr, "www.example.test")
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "without plugins www.example.test resolves",
         W.describe(m))


def reload_lists():
    ns = start_nsd()
    lst = write_list("||ads.example^\n", name="hup.txt")
    wg = start_wg(ns, [plugin_conf("ads", BLOCKLIST_SO, list=lst, mode="nxdomain")],
                  name="wg-hup")
    m, _ = W.query(wg.addr, "ads.example")
    h.rcode(m, "NXDOMAIN", "before reload: ads.example blocked")
    m, _ = W.query(wg.addr, "new.example.test")
    h.eq(W.answer_set(m, "A"), {"192.0.2.42"}, "before reload: new.example.test resolves (cached)",
         W.describe(m))

    # the list file disappears: the reload fails, the old list keeps blocking
    os.unlink(lst)
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("reload failed", start),
         "SIGHUP with a deleted list: reload failed is logged", *wg.log_tail(5))
    h.ok(wg.alive(), "SIGHUP with a deleted list: still running")
    m, _ = W.query(wg.addr, "ads.example")
    h.rcode(m, "NXDOMAIN", "SIGHUP with a deleted list: the old list still blocks")
    m, _ = W.query(wg.addr, "www.ads.example")
    h.rcode(m, "NXDOMAIN", "SIGHUP with a deleted list: its subdomains too")

    # a changed list: new entries block (even a name already cached), the
    # removed one resolves again
    h.write(lst, "||new.example.test^\n")
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("configuration reloaded", start),
         "SIGHUP with a changed list: reloaded", *wg.log_tail(5))
    m, _ = W.query(wg.addr, "new.example.test")
    h.rcode(m, "NXDOMAIN", "after reload: the new entry blocks a cached name")
    m, _ = W.query(wg.addr, "ads.example")
    h.eq(W.answer_set(m, "A"), {"192.0.2.10"}, "after reload: the dropped entry resolves",
         W.describe(m))


def example_plugin():
    ns = start_nsd()
    lst = write_list()
    wg = start_wg(ns, [plugin_conf("lan", EXAMPLE_SO, suffix="lan.example.test"),
                       plugin_conf("ads", BLOCKLIST_SO, list=lst, mode="refused")],
                  name="wg-example")
    h.ok(wg.wait_log("loaded lan"), "the example plugin is loaded", *wg.log_tail(5))
    m, _ = W.query(wg.addr, "host.lan.example.test")
    h.rcode(m, "NXDOMAIN", "example plugin: a name under its suffix is NXDOMAIN")
    m, _ = W.query(wg.addr, "www.example.test")
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "example plugin: other names resolve",
         W.describe(m))
    m, _ = W.query(wg.addr, "ads.example")
    h.rcode(m, "REFUSED", "the second plugin in the chain still runs")


def stats_line(wg, instance):
    """SIGUSR1, then the plugin's counters from the log: {key: int}."""
    start = wg.log_size()
    wg.kill(signal.SIGUSR1)
    tag = "plugin %s " % instance
    if not wg.wait_log(tag, start):
        return {}
    text = wg.log_since(start)
    out = {}
    for line in text.splitlines():
        if tag in line:
            for kv in line.split(tag, 1)[1].split():
                k, _, v = kv.partition("=")
                if v.isdigit():
                    out[k] = int(v)
    return out


def test_plugins():
    if not (os.path.exists(CTXCHECK_SO) and os.path.exists(BLOCKALL_SO)):
        h.skip("test plugins", "not built (make check builds them)")
        return
    ns = start_nsd()
    # ctxcheck: local data in pre-query, the context reaches post-response,
    # blocks an answer by address
    wg = start_wg(ns, [plugin_conf("ctx", CTXCHECK_SO)], name="wg-ctx")
    st0 = stats_line(wg, "ctx")  # after the start-up probe(s)
    m, _ = W.query(wg.addr, "local.test", edns=0)
    h.eq(W.answer_set(m, "A"), {"10.1.2.3"}, "a pre-query answer verdict serves local data",
         W.describe(m))
    h.ok(EDE_BLOCKED not in ede_codes(m), "local data carries no EDE 15", W.describe(m))
    m, _ = W.query(wg.addr, "bad.example.test", edns=0)
    h.eq(W.answer_set(m, "A"), {"0.0.0.0"}, "post-response blocks an answer by address",
         W.describe(m))
    h.ok(EDE_BLOCKED in ede_codes(m), "post-response block: EDE 15", W.describe(m))
    m, _ = W.query(wg.addr, "good.example.test")
    h.eq(W.answer_set(m, "A"), {"192.0.2.67"}, "other answers pass post-response",
         W.describe(m))
    m, _ = W.query(wg.addr, "good.example.test")
    h.eq(W.answer_set(m, "A"), {"192.0.2.67"}, "and come from the cache", W.describe(m))
    st = stats_line(wg, "ctx")
    d = {k: st.get(k, 0) - st0.get(k, 0) for k in ("data_ok", "ends")}
    # four queries: local.test, bad, good twice (the second a cache hit);
    # the two misses reached post-response
    h.eq(d["data_ok"], 2, "post-response sees what pre-query stored (one context per query)",
         st0, st)
    h.eq(d["ends"], 4, "query_end ran once per query (misses, hit, local answer)", st0, st)

    # blockall: blocks every name in both hooks; WU names still resolve
    wg = start_wg(ns, [plugin_conf("all", BLOCKALL_SO)], name="wg-all")
    m, _ = W.query(wg.addr, "www.example.test")
    h.rcode(m, "NXDOMAIN", "a plugin that blocks everything blocks ordinary names")
    for name, addr, _ in WU_NAMES:
        m, _ = W.query(wg.addr, name)
        h.eq(W.answer_set(m, "A"), {addr}, "blocks everything: WU %s still resolves" % name,
             W.describe(m))
    rows = [r for r in db_rows(wg) if r.get("category") == "local-policy"]
    names = {str(r.get("name", "")).rstrip(".") for r in rows}
    h.ok(all(n in names for n, _, _ in WU_NAMES), "blocks everything: a row for each WU name",
         sorted(names))
    h.ok(all("entry=everything" in json.dumps(r) and "plugin:all" in json.dumps(r)
             for r in rows), "blocks everything: rows name the plugin and its reason",
         json.dumps(rows[:2]))


h.case("blocking modes, exceptions and WU names", modes)
h.case("bad plugins stop start-up with the reason", bad_plugins)
h.case("a plugin that crashes in its init: -n, start-up, SIGHUP", crash_in_init)
h.case("SIGHUP reload of plugin lists", reload_lists)
h.case("the example plugin", example_plugin)
h.case("test plugins: context, local data, address blocks, block-all", test_plugins)
h.done()
