#!/usr/bin/python3
"""Files the daemon takes orders from (issue 15): the configuration file and
the lists it names (the WU set, sinkhole.list and cdn.list beside it) get
the plugins' rule. A file writable by group or others, a file owned by
another user, or a file in a directory others can write is refused by
wuguard -n, at start-up and on SIGHUP (the running configuration stays),
with the command that fixes it; a file in a sticky root-owned directory
(like /tmp) is accepted."""

import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
WUGUARD = os.path.join(W.BUILDDIR, "wuguard")
WU_LIST = os.path.join(W.SRCDIR, "db", "wu-domains.list")
AS_ROOT = os.geteuid() == 0

ZONES = {
    "example.test": W.soa() + "www 300 IN A 192.0.2.1\n",
    "windowsupdate.com": W.soa() + "download 300 IN A 192.0.2.31\n",
}


def check(conf, *args):
    """wuguard -n on conf (never the defaults: loopback local, no public)."""
    p = subprocess.run([WUGUARD, "-n", "-c", conf, "--local", "127.0.0.1:9",
                        "--public", "none"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=20)
    return p.returncode, p.stderr


def conf_text(domains=None):
    c = "[server]\nlog-level = info\n"
    if domains:
        c += "[guard]\ndomains = %s\n" % domains
    return c


def refused(desc, conf, want, *args):
    rc, err = check(conf, *args)
    h.eq(rc, 1, "%s: wuguard -n refuses it" % desc, err)
    h.ok(all(w in err for w in want), "%s: and says how to fix it (%s)" % (desc, "; ".join(want)),
         err)


def check_rules():
    d = h.mkdir("check")
    good = h.write(os.path.join(d, "good.conf"), conf_text())
    os.chmod(good, 0o644)
    rc, err = check(good)
    h.eq(rc, 0, "a root-owned 0644 config in a 0700 directory passes", err)

    rc, err = check("/dev/null")
    h.eq(rc, 0, "-c /dev/null (an empty config, mode 0666 but nothing to read) passes", err)

    ww = h.write(os.path.join(d, "ww.conf"), conf_text())
    os.chmod(ww, 0o666)
    refused("a world-writable config", ww,
            ["%s: writable by group or others (mode 0666)" % ww, "chmod go-w %s" % ww])
    gw = h.write(os.path.join(d, "gw.conf"), conf_text())
    os.chmod(gw, 0o664)
    refused("a group-writable config", gw, ["mode 0664", "chmod go-w %s" % gw])

    if AS_ROOT:
        nob = h.write(os.path.join(d, "nobody.conf"), conf_text())
        os.chmod(nob, 0o644)
        os.chown(nob, 65534, 65534)
        refused("a config owned by nobody", nob,
                ["%s: owned by uid 65534" % nob, "chown root %s" % nob])
        nd = h.mkdir("check/nobodys")
        os.chown(nd, 65534, 65534)
        inn = h.write(os.path.join(nd, "in-nobodys-dir.conf"), conf_text())
        refused("a config in a directory owned by nobody", inn,
                ["directory %s is owned by uid 65534" % nd, "chown root %s" % nd])
    else:
        h.skip("configs owned by another user", "needs root to chown")

    wd = h.mkdir("check/anyone")
    os.chmod(wd, 0o777)
    inw = h.write(os.path.join(wd, "wuguard.conf"), conf_text())
    os.chmod(inw, 0o644)
    refused("a config in a world-writable directory", inw,
            ["directory %s is writable by group or others (mode 0777)" % wd,
             "chmod go-w %s" % wd])
    # a symlink to a good file is judged by where it leads
    ln = os.path.join(wd, "link.conf")
    os.symlink(good, ln)
    rc, err = check(ln)
    h.eq(rc, 0, "a symlink (in a world-writable directory) to a good config passes", err)

    # a sticky directory owned by root, like /tmp, is fine: nobody can
    # rename or remove the entries they do not own
    st = h.mkdir("check/sticky")
    os.chmod(st, 0o1777)
    ins = h.write(os.path.join(st, "wuguard.conf"), conf_text())
    os.chmod(ins, 0o644)
    rc, err = check(ins)
    h.eq(rc, 0, "a root-owned config in a sticky root-owned directory passes", err)



def start_refused(ns, desc, conf, want, *args):
    """Start the daemon on conf (a path): it must exit 1 with want in its
    log. wuguard -n does not read the lists, start-up does."""
    wg = h.wuguard([ns.addr], name="wg-refused", config=None, wait=False,
                   args=["-c", conf] + list(args))
    try:
        rc = wg.proc.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    log = "\n".join(wg.log_tail(10))
    h.eq(rc, 1, "%s: start-up fails (exit 1)" % desc, log)
    h.ok(all(w in log for w in want), "%s: and says how to fix it (%s)" % (desc, "; ".join(want)),
         log)
    wg.stop()


def list_rules():
    """The lists the config names: the WU set and its siblings."""
    ns = h.nsd(ZONES, probe="www.example.test")
    ld = h.mkdir("lists")
    lst = os.path.join(ld, "wu-domains.list")
    shutil.copy(WU_LIST, lst)
    os.chmod(lst, 0o644)
    withlist = h.write(os.path.join(ld, "list.conf"), conf_text(lst))
    wg = h.wuguard([ns.addr], name="wg-list", config=None, args=["-c", withlist],
                   probe="www.example.test.")
    h.ok(wg.alive(), "a good WU list: the daemon starts")
    wg.stop()
    os.chmod(lst, 0o646)
    start_refused(ns, "a world-writable WU list", withlist,
                  ["%s: writable by group or others (mode 0646)" % lst, "chmod go-w %s" % lst])
    os.chmod(lst, 0o644)
    cdn = h.write(os.path.join(ld, "cdn.list"), "example.net\n")
    os.chmod(cdn, 0o666)
    start_refused(ns, "a world-writable cdn.list beside it", withlist,
                  ["%s: writable by group or others" % cdn, "chmod go-w %s" % cdn])
    os.unlink(cdn)
    if AS_ROOT:
        sink = h.write(os.path.join(ld, "sinkhole.list"), "0.0.0.0\n")
        os.chmod(sink, 0o644)
        os.chown(sink, 65534, 65534)
        start_refused(ns, "a sinkhole.list owned by nobody", withlist,
                      ["%s: owned by uid 65534" % sink, "chown root %s" % sink])
        os.unlink(sink)
    # --domains on the command line names a list too
    good = h.write(os.path.join(ld, "nolist.conf"), conf_text())
    os.chmod(lst, 0o666)
    start_refused(ns, "a world-writable list given with --domains", good,
                  ["chmod go-w %s" % lst], "--domains", lst)
    os.chmod(lst, 0o644)


def startup_and_reload():
    ns = h.nsd(ZONES, probe="www.example.test")
    d = h.mkdir("start")
    ww = h.write(os.path.join(d, "ww.conf"), conf_text())
    os.chmod(ww, 0o666)
    wg = h.wuguard([ns.addr], name="wg-ww", config=None, wait=False,
                   args=["-c", ww])
    try:
        rc = wg.proc.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    log = "\n".join(wg.log_tail(10))
    h.eq(rc, 1, "start-up with a world-writable config fails (exit 1)", log)
    h.ok("chmod go-w %s" % ww in log, "start-up says how to fix the config", log)
    wg.stop()

    # a running daemon whose config becomes world-writable: SIGHUP refuses
    # it and the running configuration stays
    lst = os.path.join(d, "wu-domains.list")
    shutil.copy(WU_LIST, lst)
    os.chmod(lst, 0o644)
    wg = h.wuguard([ns.addr], name="wg-hup", config=conf_text(lst), public=ns.addr,
                   probe="www.example.test.")
    m, _ = W.query(wg.addr, "www.example.test")
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "the daemon answers", W.describe(m))
    os.chmod(wg.conf, 0o666)
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("reload failed", start, timeout=20),
         "SIGHUP with a world-writable config: reload failed is logged", *wg.log_tail(5))
    text = wg.log_since(start)
    h.ok("keeping the running configuration" in text and "chmod go-w %s" % wg.conf in text,
         "SIGHUP with a world-writable config: the old one stays, the log says the fix", text)
    h.ok(wg.alive(), "SIGHUP with a world-writable config: still running")
    m, _ = W.query(wg.addr, "download.windowsupdate.com")
    h.eq(W.answer_set(m, "A"), {"192.0.2.31"}, "and still answers", W.describe(m))

    os.chmod(wg.conf, 0o644)
    os.chmod(lst, 0o666)
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("reload failed", start, timeout=20),
         "SIGHUP with a world-writable WU list: reload failed is logged", *wg.log_tail(5))
    h.ok("chmod go-w %s" % lst in wg.log_since(start),
         "SIGHUP with a world-writable WU list: the log names the list and the fix",
         wg.log_since(start))
    h.ok(wg.alive(), "SIGHUP with a world-writable WU list: still running")

    os.chmod(lst, 0o644)
    start = wg.log_size()
    wg.kill(signal.SIGHUP)
    h.ok(wg.wait_log("configuration reloaded", start, timeout=20),
         "fixed: SIGHUP reloads", *wg.log_tail(5))
    m, _ = W.query(wg.addr, "www.example.test")
    h.eq(W.answer_set(m, "A"), {"192.0.2.1"}, "and the daemon answers", W.describe(m))


h.case("the rule for the config and its lists, as wuguard -n applies it", check_rules)
h.case("the rule for the lists the config names, at start-up", list_rules)
h.case("start-up and SIGHUP with an unsafe config or list", startup_and_reload)
h.done()
