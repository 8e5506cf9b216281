#!/usr/bin/python3
"""GET /metrics (issue 16 part 2) against the real daemon: the Prometheus
text format parsed by python3-prometheus-client's parser (HELP and TYPE on
every family, wuguard_ names, categories and upstreams as labels), a
counter that moves after a query, 404 and 405, an oversized and a slow
request cut off without holding up resolution, and a client outside the
[acl] closed without a reply."""

import os
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

h = W.Harness()
Z = W.ZONE_ORIGIN


def scrape(port, path="/metrics", method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(fams, name, **labels):
    for f in fams.values():
        for s in f.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def start(config=None):
    ns = h.nsd({Z: W.ZONE})
    port = W.free_port()
    cfg = W.wg_config(metrics={"listen": "127.0.0.1:%d" % port})
    for k, v in (config or {}).items():
        cfg.setdefault(k, {}).update(v)
    wg = h.wuguard([ns.addr], config=cfg)
    return ns, wg, port


def format_and_counters():
    ns, wg, port = start()
    code, ctype, text = scrape(port)
    h.eq(code, 200, "GET /metrics: 200")
    h.ok(ctype and ctype.startswith("text/plain; version=0.0.4"),
         "Content-Type: the text exposition format 0.0.4", ctype)
    fams = families(text)
    h.ok(len(fams) > 40, "the parser reads every family (%d)" % len(fams))
    helps = [l.split()[2] for l in text.splitlines() if l.startswith("# HELP ")]
    h.eq(len(helps), len(set(helps)), "no metric name twice")
    h.ok(all(n.startswith("wuguard_") for n in fams), "every name starts with wuguard_",
         [n for n in fams if not n.startswith("wuguard_")])
    h.ok(all(f.documentation and f.type in ("counter", "gauge") for f in fams.values()),
         "every family has # HELP and a # TYPE of counter or gauge")
    lines = text.splitlines()
    h.ok(sum(l.startswith("# HELP ") for l in lines) == len(fams) and
         sum(l.startswith("# TYPE ") for l in lines) == len(fams),
         "one # HELP and one # TYPE line per family")
    h.eq(fams["wuguard_queries"].type, "counter", "wuguard_queries_total is a counter")
    h.eq(fams["wuguard_cache_entries"].type, "gauge", "wuguard_cache_entries is a gauge")
    h.ok(sample(fams, "wuguard_guard_verdicts_total", category="sinkhole") is not None and
         sample(fams, "wuguard_guard_verdicts_total", category="match") is not None,
         "guard verdicts carry the category as a label")
    up = "127.0.0.1:%d" % ns.addr[1]
    h.ok(sample(fams, "wuguard_upstream_server_replies_total", upstream=up) is not None,
         "local upstream counters carry the upstream address as a label")
    q0 = sample(fams, "wuguard_queries_total")
    r0 = sample(fams, "wuguard_upstream_server_replies_total", upstream=up)
    W.query(wg.addr, "www.%s" % Z)
    W.query(wg.addr, "www.%s" % Z)
    fams = families(scrape(port)[2])
    h.eq(sample(fams, "wuguard_queries_total") - q0, 2, "wuguard_queries_total moved by 2")
    h.eq(sample(fams, "wuguard_upstream_server_replies_total", upstream=up) - r0, 1,
         "the upstream's replies moved by 1 (one miss)")
    h.eq(sample(fams, "wuguard_upstream_server_up", upstream=up), 1.0, "and it is up")
    h.ok(sample(fams, "wuguard_cache_entries") >= 1, "wuguard_cache_entries counts the entry")

    code, _, _ = scrape(port, "/")
    h.eq(code, 404, "GET /: 404")
    code, _, _ = scrape(port, "/metricsx")
    h.eq(code, 404, "GET /metricsx: 404")
    code, _, _ = scrape(port, "/metrics", "POST")
    h.eq(code, 405, "POST /metrics: 405")
    code, _, _ = scrape(port, "/metrics", "HEAD")
    h.eq(code, 405, "HEAD /metrics: 405")
    code, _, _ = scrape(port, "/metrics?name=x")
    h.eq(code, 200, "a query string is ignored")


def raw(port, data, timeout=10.0, close_after=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if data:
            s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except ConnectionResetError:
        pass  # closed with our request unread: a reset is a close
    except socket.timeout:
        out += b"<timeout>" if not out else b""
    s.close()
    return out


def abuse():
    ns, wg, port = start()
    # slow: the head never completes; the daemon closes it, DNS goes on
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    ok = 0
    for _ in range(20):
        m, _ = W.query(wg.addr, "www.%s" % Z, timeout=2)
        ok += m is not None and W.answer_set(m, "A") == {"192.0.2.1"}
    h.eq(ok, 20, "DNS is answered while a scraper stalls mid-request")
    slow.settimeout(10)
    try:
        got = slow.recv(100)
    except socket.timeout:
        got = b"<timeout>"
    h.eq(got, b"", "the slow request is cut off (closed, nothing sent)")
    h.ok(time.monotonic() - t0 < 8, "at the 2 s deadline, not later")
    slow.close()
    big = raw(port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
    h.ok(big.startswith(b"HTTP/1.1 431 "), "an oversized request head: 431, then closed",
         big[:60])
    junk = raw(port, b"HELLO\r\n\r\n")
    h.ok(junk.startswith(b"HTTP/1.1 400 "), "not HTTP: 400", junk[:60])
    code, _, _ = scrape(port)
    h.eq(code, 200, "and /metrics still works")


def acl():
    ns, wg, port = start({"acl": {"allow": "10.0.0.0/8"}})
    got = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    h.eq(got, b"", "a client outside the [acl] gets the connection closed, nothing else")
    ns2, wg2, port2 = start({"acl": {"allow": "127.0.0.0/8"}})
    got = raw(port2, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    h.ok(got.startswith(b"HTTP/1.1 200 "), "the same request from inside the [acl]: 200",
         got[:60])


def off_by_default():
    ns = h.nsd({Z: W.ZONE})
    wg = h.wuguard([ns.addr], config=W.wg_config())
    h.ok("metrics on http" not in wg.log_since(0), "no [metrics] listen: no endpoint")


h.case("the exposition format, labels, a counter moving, 404/405", format_and_counters)
h.case("slow, oversized and junk requests", abuse)
h.case("the [acl] applies", acl)
h.case("off by default", off_by_default)
h.done()
