#!/usr/bin/python3
"""wuguardctl probe end to end: the seeds' nslookup check, automated.

nsd is the authority ("the Internet") for windowsupdate.com, microsoft.com
and example.org. A corporate unbound forwards to it and filters WU names
with local-zone rules: ctldl.windowsupdate.com -> 0.0.0.0 / ::,
fe3.delivery.mp.microsoft.com -> NXDOMAIN, v6.update.microsoft.com without
its AAAA (an IPv6 filter). The public side is nsd itself, asked with plain
DNS through --public ADDR:PORT, or dnsdist serving DNSCrypt in front of it
(an sdns:// stamp), or a port that never answers.

Checks: the verdicts (match, sinkhole, blocked-rcode, aaaa-suppressed after a
verified A, nodata without one), the JSON fields, the table, exit codes 0, 1,
2 and 3, a dead public side in bounded time, the overall deadline with
exchanges in flight, usage and config errors, the default names (the exact
entries of a --domains file, or of the config's domains file with its groups,
add and remove), flags over the config, a name outside the WU set, and the
DNSCrypt reference (authenticated).
Only 127.0.0.1; nothing reads /etc/resolv.conf (every run names --local or
a config with [upstream] local). TAP output.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
CTL = os.path.join(W.BUILDDIR, "wuguardctl")

CTLDL = "ctldl.windowsupdate.com"
DOWNLOAD = "download.windowsupdate.com"
FE3 = "fe3.delivery.mp.microsoft.com"
WWW_UPDATE = "www.update.microsoft.com"
V6 = "v6.update.microsoft.com"
OUTSIDE = "www.example.org"

WU_ZONE = (W.soa() +
           "download 300 IN A 192.0.2.21\n"
           "download 300 IN AAAA 2001:db8::21\n"
           "ctldl 300 IN A 192.0.2.20\n"
           "ctldl 300 IN AAAA 2001:db8::20\n")
MS_ZONE = (W.soa() +
           "fe3.delivery.mp 300 IN A 192.0.2.35\n"
           "www.update 300 IN A 192.0.2.40\n"
           "v6.update 300 IN A 192.0.2.42\n"
           "v6.update 300 IN AAAA 2001:db8::42\n")
ORG_ZONE = W.soa() + "www 300 IN A 192.0.2.80\n"

CORP_RULES = [
    'local-zone: "ctldl.windowsupdate.com." redirect',
    'local-data: "ctldl.windowsupdate.com. 300 A 0.0.0.0"',
    'local-data: "ctldl.windowsupdate.com. 300 AAAA ::"',
    'local-zone: "fe3.delivery.mp.microsoft.com." always_nxdomain',
    # the genuine A, no AAAA
    'local-zone: "v6.update.microsoft.com." static',
    'local-data: "v6.update.microsoft.com. 300 A 192.0.2.42"',
]

JSON_KEYS = ("name", "type", "wu", "group", "groups", "category", "severity", "action",
             "would_repair", "local", "public", "markers", "authenticated", "error")
SIDE_KEYS = ("rcode", "flags", "ede", "cname", "addresses", "min_ttl", "upstream",
             "latency_us", "status")


class Env:
    pass


E = Env()


def addr(a):
    return "%s:%d" % tuple(a)


def probe(*args, config=None, timeout=60, env=None):
    """Run wuguardctl [-c config] probe ARGS; (rc, stdout, stderr, seconds).
    env: variables added to the environment."""
    cmd = [CTL] + (["-c", config] if config else []) + ["probe"] + list(args)
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def plain(*args, local=None, public=None):
    """The usual command line: the corporate resolver against nsd over
    plain DNS, short timeouts."""
    return probe("--local", addr(local or E.corp.addr), "--public", addr(public or E.auth.addr),
                 "--timeout", "300", *args)


def lines(out):
    """JSON lines -> list of dicts; a line that does not parse fails."""
    return h.json_lines(out, "probe")


def row(rows, name, rdtype):
    for r in rows:
        if r["name"].rstrip(".") == name and r["type"] == rdtype:
            return r
    return None


def dump(*parts):
    return [str(p)[-3000:] for p in parts]


# ---------------------------------------------------------------------------

def mixed_json():
    rc, out, err, _ = plain("--format", "json", "--type", "both", DOWNLOAD, CTLDL, FE3)
    rows = lines(out)
    h.eq(rc, 1, "a sinkholed and an NXDOMAINed name: exit 1", *dump(out, err))
    h.eq(len(rows), 6, "one JSON line per name and type (3 names x A, AAAA)", out)
    h.ok(rows and all(all(k in r for k in JSON_KEYS) and
                      all(k in (r["local"] or {}) for k in SIDE_KEYS) and
                      all(k in (r["public"] or {}) for k in SIDE_KEYS) for r in rows),
         "every line carries the fields, both sides in list --format json's shape", out)
    h.eq([(r["name"], r["type"]) for r in rows],
         [(n + ".", t) for n in (DOWNLOAD, CTLDL, FE3) for t in ("A", "AAAA")],
         "lines in the order of the names, A before AAAA")

    r = row(rows, DOWNLOAD, "A")
    h.ok(r is not None and r["category"] == "match" and r["would_repair"] is False and
         r["local"]["addresses"] == ["192.0.2.21"] and
         r["public"]["addresses"] == ["192.0.2.21"] and r["action"] == "local",
         "the clean name matches, local and public both 192.0.2.21", json.dumps(r))
    # the real list has the name in windows-update and *.name in
    # delivery-optimization: the exact entry's group is reported
    h.ok(r is not None and r["wu"] is True and r["group"] == "windows-update" and
         r["error"] is None,
         "it is in the WU set, with the group of its exact entry", json.dumps(r))
    # every group of the real list that covers a name, in file order: ctldl
    # is an entry of windows-update, defender and crl
    r = row(rows, CTLDL, "A")
    h.ok(r is not None and r["groups"] == ["windows-update", "defender", "crl"],
         "groups: every group holding an entry that covers ctldl", json.dumps(r))
    r = row(rows, DOWNLOAD, "A")
    h.ok(r is not None and r["groups"] == ["windows-update", "defender"],
         "groups: download.windowsupdate.com, its exact entry and defender's "
         "*.windowsupdate.com", json.dumps(r))
    h.ok(r is not None and r["local"]["upstream"] == addr(E.corp.addr) and
         r["public"]["upstream"] == addr(E.auth.addr) and r["authenticated"] is False,
         "the sides name the upstreams; plain DNS is not authenticated", json.dumps(r))

    r = row(rows, CTLDL, "A")
    h.ok(r is not None and r["category"] == "sinkhole" and r["would_repair"] is True and
         r["local"]["addresses"] == ["0.0.0.0"] and
         r["public"]["addresses"] == ["192.0.2.20"] and r["action"] == "public" and
         r["severity"] == "high",
         "the 0.0.0.0 name is a sinkhole the guard would repair", json.dumps(r))
    h.ok(r is not None and "sinkhole-addr" in r["markers"],
         "with the sinkhole-addr marker", json.dumps(r))
    r = row(rows, CTLDL, "AAAA")
    h.ok(r is not None and r["category"] == "sinkhole" and r["local"]["addresses"] == ["::"]
         and r["public"]["addresses"] == ["2001:db8::20"],
         "its AAAA (::) too", json.dumps(r))

    r = row(rows, FE3, "A")
    h.ok(r is not None and r["category"] == "blocked-rcode" and r["would_repair"] is True and
         r["local"]["status"] == "NXDOMAIN" and r["local"]["rcode"] == "NXDOMAIN" and
         r["public"]["addresses"] == ["192.0.2.35"],
         "the NXDOMAIN name is blocked-rcode", json.dumps(r))


def mixed_table():
    rc, out, err, _ = plain("--type", "A", DOWNLOAD, CTLDL, FE3)
    h.eq(rc, 1, "table: exit 1 as well", *dump(out, err))
    ls = out.splitlines()
    h.ok(ls and ls[0].split() == ["NAME", "TYPE", "VERDICT", "LOCAL", "PUBLIC"],
         "the table starts with its header", out)
    got = {tuple(l.split()[:5]) for l in ls[1:4]}
    want = {(DOWNLOAD + ".", "A", "match", "192.0.2.21", "192.0.2.21"),
            (CTLDL + ".", "A", "sinkhole", "0.0.0.0", "192.0.2.20"),
            (FE3 + ".", "A", "blocked-rcode", "NXDOMAIN", "192.0.2.35")}
    h.eq(got, want, "one row per name: verdict, local and public answer", out)
    h.ok("3 checks: 1 sinkhole, 1 blocked-rcode, 1 match" in out,
         "the footer counts the verdicts in rule order", out)
    h.ok(all(len(l) <= 80 for l in ls), "the table fits 80 columns here", out)
    h.ok("groups:\n" in out and
         ("  %s. windows-update, defender, crl\n" % CTLDL) in out,
         "below the table: every group of each name", out)


def clean_exit_0():
    rc, out, err, _ = plain(DOWNLOAD, WWW_UPDATE)
    h.eq(rc, 0, "only clean names: exit 0", *dump(out, err))
    h.ok("4 checks:" in out and "4 match" in out, "A and AAAA of both names match", out)


def aaaa_rule():
    # A then AAAA: the AAAA NODATA is judged against the A just verified,
    # as the daemon judges it against its cache
    rc, out, err, _ = plain("--format", "json", V6)
    rows = lines(out)
    a, aaaa = row(rows, V6, "A"), row(rows, V6, "AAAA")
    h.ok(a is not None and a["category"] == "match",
         "IPv6 filter: the A matches", json.dumps(rows))
    h.ok(aaaa is not None and aaaa["category"] == "aaaa-suppressed" and
         aaaa["would_repair"] is False and aaaa["action"] == "local",
         "and the AAAA NODATA is aaaa-suppressed (not repaired)", json.dumps(rows))
    h.eq(rc, 0, "aaaa-suppressed is nothing to repair: exit 0", *dump(out, err))
    rc, out, err, _ = plain("--format", "json", "--type", "AAAA", V6)
    rows = lines(out)
    aaaa = row(rows, V6, "AAAA")
    # as in the daemon, the verdict does not depend on the order: asked
    # alone, the cross-check asks the A itself (issue 17)
    h.ok(aaaa is not None and aaaa["category"] == "aaaa-suppressed" and
         aaaa["would_repair"] is False,
         "--type AAAA alone: the guard checks the A itself, still aaaa-suppressed",
         json.dumps(rows))
    h.eq(rc, 0, "nothing to repair: exit 0", *dump(out, err))
    h.eq(row(rows, V6, "A"), None, "and the internal A check is no row of its own",
         json.dumps(rows))


def outside_set():
    rc, out, err, _ = plain("--format", "json", "--type", "A", OUTSIDE)
    rows = lines(out)
    r = row(rows, OUTSIDE, "A")
    h.ok(r is not None and r["wu"] is False and r["group"] is None and
         r["category"] == "match" and r["local"]["addresses"] == ["192.0.2.80"],
         "a name outside the WU set is still probed and judged, marked wu:false",
         json.dumps(rows))
    h.eq(rc, 0, "and a match there is exit 0", *dump(out, err))
    rc, out, err, _ = plain("--type", "A", OUTSIDE, DOWNLOAD)
    ls = out.splitlines()
    h.ok(any(l.startswith(OUTSIDE + ".*") for l in ls) and
         not any(l.startswith(DOWNLOAD + ".*") for l in ls) and
         "* not in the WU set" in out,
         "the table marks it with * and explains the mark", out)


def write_domains():
    return h.write(os.path.join(h.tmp, "small.list"),
                   "# a small WU set\n"
                   "[windows-update]\n"
                   "%s\n"
                   "*.windowsupdate.com\n"
                   "%s\n"
                   "[optional default=off]\n"
                   "%s\n"
                   "[extra]\n"
                   "*.windowsupdate.com\n"
                   "[extra-off default=off]\n"
                   "%s\n" % (DOWNLOAD, CTLDL, FE3, DOWNLOAD))


def default_names_domains():
    domains = write_domains()
    rc, out, err, _ = plain("--format", "json", "--type", "A", "--domains", domains)
    rows = lines(out)
    names = sorted(r["name"].rstrip(".") for r in rows)
    h.eq(names, sorted([DOWNLOAD, CTLDL]),
         "no NAME: the exact entries of --domains (no *.name, no default=off group)",
         *dump(out, err))
    h.ok(rows and all(r["wu"] is True and r["group"] == "windows-update" for r in rows),
         "each with its group from the file", json.dumps(rows))
    h.ok(rows and all(r["groups"] == ["windows-update", "extra"] for r in rows),
         "groups: both loaded groups covering each name, not the off one",
         json.dumps(rows))
    h.eq(rc, 1, "ctldl among them is sinkholed: exit 1", err)


def default_names_config():
    domains = write_domains()
    conf = h.write(os.path.join(h.tmp, "probe.conf"), W.render_config({
        "upstream": {"local": addr(E.corp.addr), "public": addr(E.auth.addr),
                     "timeout": 300, "retries": 1},
        "guard": {"domains": domains, "groups": "optional", "add": WWW_UPDATE,
                  "remove": CTLDL},
    }))
    rc, out, err, _ = probe("--format", "json", "--type", "A", config=conf)
    rows = lines(out)
    names = sorted(r["name"].rstrip(".") for r in rows)
    h.eq(names, sorted([DOWNLOAD, FE3, WWW_UPDATE]),
         "-c: the config's domains file, its groups, add and remove decide the names",
         *dump(out, err))
    r = row(rows, WWW_UPDATE, "A")
    h.ok(r is not None and r["group"] == "config" and r["category"] == "match",
         "a name from [guard] add: group config, judged", json.dumps(rows))
    h.ok(r is not None and r["groups"] == ["config"],
         "a name from [guard] add: groups [config]", json.dumps(rows))
    r = row(rows, FE3, "A")
    h.ok(r is not None and r["groups"] == ["optional"],
         "a name of a group switched on by the config: that group", json.dumps(rows))
    rc2, out2, err2, _ = probe("--format", "json", "--type", "A", CTLDL, OUTSIDE, config=conf)
    rows2 = lines(out2)
    r = row(rows2, CTLDL, "A")
    h.ok(r is not None and r["wu"] is False and r["groups"] == [],
         "a name taken out by [guard] remove: no groups", *dump(out2, err2))
    r = row(rows2, OUTSIDE, "A")
    h.ok(r is not None and r["groups"] == [], "a name outside the set: no groups",
         json.dumps(r))
    r = row(rows, FE3, "A")
    h.ok(r is not None and r["category"] == "blocked-rcode" and
         r["local"]["upstream"] == addr(E.corp.addr),
         "the config's local upstream is asked (fe3 NXDOMAIN: blocked-rcode)",
         json.dumps(rows))
    h.eq(rc, 1, "-c: exit 1", err)
    # flags override the config: the authority as the local side too
    rc, out, err, _ = probe("--format", "json", "--type", "A", "--local", addr(E.auth.addr),
                            config=conf)
    rows = lines(out)
    h.ok(len(rows) == 3 and all(r["category"] == "match" and
                                r["local"]["upstream"] == addr(E.auth.addr) for r in rows),
         "--local overrides [upstream] local: every name matches", json.dumps(rows))
    h.eq(rc, 0, "and the exit status is 0", *dump(out, err))


def dead_public():
    hole = W.Blackhole(h)
    rc, out, err, took = plain("--format", "json", "--type", "both", CTLDL, DOWNLOAD,
                               public=hole.addr)
    rows = lines(out)
    h.ok(len(rows) == 4 and all(r["category"] == "public-unavailable" and
                                r["public"]["status"] == "timeout" for r in rows),
         "public side silent: every check is public-unavailable", *dump(out, err))
    r = row(rows, DOWNLOAD, "A")
    h.ok(r is not None and r["local"]["addresses"] == ["192.0.2.21"],
         "with the local answer still shown", json.dumps(r))
    h.eq(rc, 2, "nothing could be checked: exit 2", *dump(out, err))
    h.ok(took < 6.0, "in bounded time (public-timeout 300 ms, 2 tries)",
         "took %.2f s" % took)
    # a closed port: refused at once
    rc, out, err, took = plain("--type", "A", DOWNLOAD, public=W.dead_addr())
    h.ok(rc == 2 and "public-unavailable" in out and took < 6.0,
         "public port closed: public-unavailable, exit 2, quickly",
         "rc %d, took %.2f s" % (rc, took), *dump(out, err))


def deadline():
    # Exchanges still in flight when the overall deadline hits are cancelled
    # and reported; under ASan this is the path that frees them mid-flight.
    hole = W.Blackhole(h)
    t0 = time.monotonic()
    rc, out, err, took = probe("--local", addr(E.corp.addr), "--public", addr(hole.addr),
                               "--timeout", "3000", "--format", "json", "--type", "both",
                               CTLDL, DOWNLOAD, env={"WUGUARDCTL_PROBE_DEADLINE_MS": "400"})
    rows = lines(out)
    h.ok(len(rows) == 4 and all(r["category"] == "no-verdict" for r in rows),
         "public side silent for longer than the deadline: every check no-verdict",
         *dump(out, err))
    h.ok(err.count("no verdict within the probe's deadline (400 ms)") == 4,
         "each one named on standard error with the deadline", *dump(err))
    h.eq(rc, 2, "nothing could be checked: exit 2", *dump(out, err))
    h.ok(took < 2.5, "stopped at the deadline, not after the 3 s tries",
         "took %.2f s" % (time.monotonic() - t0))
    rc, out, err, _ = probe("--local", addr(E.corp.addr), "--public", addr(hole.addr),
                            CTLDL, env={"WUGUARDCTL_PROBE_DEADLINE_MS": "12x"})
    h.ok(rc == 2 and "WUGUARDCTL_PROBE_DEADLINE_MS" in err and out == "",
         "a bad WUGUARDCTL_PROBE_DEADLINE_MS is a usage error", *dump(rc, out, err))


def partial():
    # a public resolver that only knows microsoft.com refuses windowsupdate.com
    pub = h.nsd({"microsoft.com": MS_ZONE}, name="nsd-ms", probe=WWW_UPDATE + ".")
    rc, out, err, _ = plain("--format", "json", "--type", "A", WWW_UPDATE, DOWNLOAD,
                            public=pub.addr)
    rows = lines(out)
    a, b = row(rows, WWW_UPDATE, "A"), row(rows, DOWNLOAD, "A")
    h.ok(a is not None and a["category"] == "match" and b is not None and
         b["category"] == "public-unavailable" and b["public"]["status"] == "REFUSED",
         "one name checked, the other refused by the public side", json.dumps(rows))
    h.eq(rc, 3, "nothing to repair but not every name checked: exit 3", *dump(out, err))


def usage_errors():
    rc, out, err, _ = plain("--frobnicate")
    h.ok(rc == 2 and "--frobnicate" in err and "probe --help" in err and out == "",
         "an unknown flag: exit 2, the message names it", "rc %d" % rc, err)
    rc, out, err, _ = plain("--type", "MX", DOWNLOAD)
    h.ok(rc == 2 and "--type" in err and "MX" in err,
         "a bad --type: exit 2 with the reason", "rc %d" % rc, err)
    rc, out, err, _ = plain("--format", "csv", DOWNLOAD)
    h.ok(rc == 2 and "--format" in err, "--format csv is not offered: exit 2",
         "rc %d" % rc, err)
    rc, out, err, _ = probe("--local", "not-an-address", "--public", addr(E.auth.addr))
    h.ok(rc == 2 and "not-an-address" in err and "IPv6 as [::1]" in err,
         "a bad --local: exit 2, the daemon's parser's message", "rc %d" % rc, err)
    rc, out, err, _ = probe("--local", addr(E.corp.addr), "--public", "none", DOWNLOAD)
    h.ok(rc == 2 and "public" in err, "--public none: nothing to compare with, exit 2",
         "rc %d" % rc, err)
    rc, out, err, _ = plain("*.windowsupdate.com")
    h.ok(rc == 2 and "not a name" in err, "a wildcard NAME: exit 2", "rc %d" % rc, err)
    rc, out, err, _ = plain("--timeout", "0", DOWNLOAD)
    h.ok(rc == 2 and "timeout" in err, "--timeout 0: exit 2", "rc %d" % rc, err)
    bad = h.write(os.path.join(h.tmp, "bad.conf"), "[upstream]\nlocal = 127.0.0.1:1\n"
                  "timeout = soon\n")
    rc, out, err, _ = probe(DOWNLOAD, config=bad)
    h.ok(rc == 2 and ("%s:3" % bad) in err, "a bad config: exit 2, FILE:LINE named",
         "rc %d" % rc, err)
    rc, out, err, _ = probe("--help")
    h.ok(rc == 0 and "--public" in out and "--type" in out, "probe --help: exit 0, the options",
         out)
    p = subprocess.run([CTL, "-h"], stdout=subprocess.PIPE, universal_newlines=True,
                       timeout=10)
    h.ok(p.returncode == 0 and "probe [--local ADDR:PORT]" in p.stdout,
         "wuguardctl -h lists probe", p.stdout)


# --- DNSCrypt ---------------------------------------------------------------

PROVIDER = "2.dnscrypt-cert.example"


def which(tool):
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")


def stamp(address, pk, name=PROVIDER):
    a, n = address.encode(), name.encode()
    raw = (bytes([1]) + bytes(8) + bytes([len(a)]) + a + bytes([len(pk)]) + pk +
           bytes([len(n)]) + n)
    return "sdns://" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def dnscrypt():
    """dnsdist serves DNSCrypt (es-version 2) in front of nsd; keys and the
    certificate are made by dnsdist's own Lua."""
    d = h.mkdir("dnsdist")
    f = lambda n: os.path.join(d, n)  # noqa: E731
    now = int(time.time())
    h.write(f("gen.lua"),
            'generateDNSCryptProviderKeys("%s", "%s")\n'
            'generateDNSCryptCertificate("%s", "%s", "%s", 1, %d, %d, '
            'DNSCryptExchangeVersion.VERSION2)\n'
            % (f("provider.pub"), f("provider.key"), f("provider.key"), f("v2.cert"),
               f("v2.key"), now - 600, now + 86400))
    subprocess.run([which("dnsdist"), "--check-config", "-C", f("gen.lua")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    with open(f("provider.pub"), "rb") as k:
        pk = k.read()
    h.eq(len(pk), 32, "dnsdist made a provider key")
    plain_port, dc_port = W.free_port(), W.free_port()
    h.write(f("dnsdist.lua"),
            'setSecurityPollSuffix("")\n'  # else it asks a server off the machine
            'setLocal("127.0.0.1:%d")\n'
            'newServer({address="%s"}):setUp()\n'
            'addDNSCryptBind("127.0.0.1:%d", "%s", "%s", "%s")\n'
            % (plain_port, addr(E.auth.addr), dc_port, PROVIDER, f("v2.cert"), f("v2.key")))
    dd = W.Server(h, "dnsdist", [which("dnsdist"), "--supervised", "--disable-syslog",
                                 "-C", f("dnsdist.lua")],
                  (W.LOOPBACK, plain_port), f("dnsdist.log"), d)
    dd.wait_ready(DOWNLOAD + ".")
    st = stamp("127.0.0.1:%d" % dc_port, pk)
    rc, out, err, _ = probe("--local", addr(E.corp.addr), "--public", st, "--timeout", "1000",
                            "--format", "json", "--type", "A", CTLDL, DOWNLOAD)
    rows = lines(out)
    a, b = row(rows, CTLDL, "A"), row(rows, DOWNLOAD, "A")
    h.ok(a is not None and a["category"] == "sinkhole" and a["authenticated"] is True and
         a["public"]["addresses"] == ["192.0.2.20"] and
         a["public"]["upstream"] == "127.0.0.1:%d" % dc_port,
         "DNSCrypt reference: the sinkhole is found, the public answer authenticated",
         *dump(out, err))
    h.ok(b is not None and b["category"] == "match" and b["authenticated"] is True,
         "and the clean name matches over DNSCrypt", json.dumps(rows))
    h.eq(rc, 1, "DNSCrypt: exit 1", err)
    wrong = stamp("127.0.0.1:%d" % dc_port, bytes(x ^ 0x5a for x in pk))
    rc, out, err, took = probe("--local", addr(E.corp.addr), "--public", wrong, "--timeout",
                               "500", "--type", "A", DOWNLOAD)
    h.ok(rc == 2 and "public-unavailable" in out and took < 10,
         "a stamp with the wrong provider key: public-unavailable, exit 2",
         "rc %d, took %.2f s" % (rc, took), *dump(out, err))


def main():
    for tool in ("nsd", "unbound"):
        if not which(tool):
            print("1..0 # SKIP %s not installed" % tool)
            return
    try:
        E.auth = h.nsd({"windowsupdate.com": WU_ZONE, "microsoft.com": MS_ZONE,
                        "example.org": ORG_ZONE}, probe=DOWNLOAD + ".")
        E.corp = h.unbound(E.auth.addr, name="corp", local=CORP_RULES, probe=DOWNLOAD + ".")
    except Exception as ex:
        h.ok(False, "nsd and the corporate unbound start", str(ex))
        h.done()
    m, _ = W.query(E.corp.addr, CTLDL)
    h.eq(W.answer_set(m, "A"), {"0.0.0.0"}, "the corporate resolver sinkholes " + CTLDL,
         W.describe(m))
    h.case("a sinkhole, an NXDOMAIN and a clean name (json)", mixed_json)
    h.case("the same as a table", mixed_table)
    h.case("only clean names", clean_exit_0)
    h.case("aaaa-suppressed needs the verified A", aaaa_rule)
    h.case("a name outside the WU set", outside_set)
    h.case("default names from --domains", default_names_domains)
    h.case("default names and upstreams from -c CONFIG", default_names_config)
    h.case("a dead public side", dead_public)
    h.case("the overall deadline", deadline)
    h.case("some names not checked", partial)
    h.case("usage and config errors", usage_errors)
    if which("dnsdist"):
        h.case("DNSCrypt as the public side", dnscrypt)
    else:
        h.skip("DNSCrypt as the public side", "dnsdist not installed")
    h.done()


main()
