"""wuguardctl report --html, rendered in a real browser (headless Chromium).

TAP output. Fills a database through wg_dlog (tests/dlog_fill) with rows
that span several hours, two local upstreams and a name holding
"<script>alert(1)</script>", adds hourly counters, writes the report and
reads the page back from the DOM Chromium built: every chart has one point
per bucket and series, with the values computed here from the rows in the
database; the hostile name is text, not an element. Saves a screenshot
under the build tree and prints its path. The browser tests SKIP when
chromium is not installed; the rest (file, exit codes, verify state)
always run. One case runs the real daemon (nsd as the authority and public
resolver, a sinkholing dnsmasq as the local one) and charts what it wrote:
its own rows and hourly counters.
"""

import calendar
import html.parser
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wgtest as W  # noqa: E402

SRCDIR = os.environ.get("WG_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("WG_BUILDDIR") or SRCDIR
CTL = os.path.join(BUILDDIR, "wuguardctl")
FILL = os.path.join(BUILDDIR, "tests", "dlog_fill")
SHOT = os.path.join(BUILDDIR, "tests", "integration", "report-screenshot.png")
CHROMIUM = shutil.which("chromium")

TMP = tempfile.mkdtemp(prefix="wg_report_")
DB = os.path.join(TMP, "log.db")
EVIL = "evil<script>alert(1)</script>.windowsupdate.com"
UP1, UP2 = "10.0.0.53:53", "10.0.0.54:53"
results = []


def test(fn):
    results.append(fn)
    return fn


Skip = W.Skip


def ctl(*args, db=None, check=None):
    cmd = [CTL, "--db", db or DB, "--utc"] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    if check is not None and p.returncode != check:
        raise AssertionError("%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), p.returncode, check, p.stdout[-2000:], p.stderr))
    return p


def browser(args, page):
    """Chromium on the page with a fresh profile; nothing leaves loopback
    (no network is asked for: the page's policy forbids fetches)."""
    if not CHROMIUM:
        raise Skip("chromium not installed (apt-get install chromium)")
    prof = tempfile.mkdtemp(prefix="chrome_", dir=TMP)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--user-data-dir=" + prof] + args + ["file://" + page]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    shutil.rmtree(prof, ignore_errors=True)
    if p.returncode != 0:
        raise AssertionError("chromium exit %d: %s" % (p.returncode, p.stderr[-2000:]))
    return p.stdout


class Dom(html.parser.HTMLParser):
    """The elements of interest in a page: chart svgs, their points, every
    element by id, every tag name, and the text."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.charts, self.points, self.ids, self.tags, self.topv = {}, {}, {}, [], []
        self.text = []
        self.svg = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids[a["id"]] = a
        cls = (a.get("class") or "").split()
        if tag == "svg" and "chart" in cls:
            self.svg = a["id"]
            self.charts[self.svg] = a
            self.points[self.svg] = []
        elif "topv" in cls:
            self.topv.append(a)
        elif self.svg and "pt" in cls:
            self.points[self.svg].append(a)

    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg = None

    def handle_data(self, data):
        self.text.append(data)


def hour(ms):
    return ms // 3600000


NB = 24  # hourly buckets: the range is the 24 whole UTC hours up to the newest row's
state = {}


def fill():
    # 60 rows 10 minutes apart (the last 10 hours), every third one from
    # UP2, the last one named EVIL
    subprocess.run([FILL, DB, "60", "600", "0", EVIL, UP2], check=True, timeout=60)
    global NOW_H, SINCE, UNTIL
    c = sqlite3.connect(DB)
    NOW_H = c.execute("SELECT max(time) FROM events").fetchone()[0] // 3600000
    SINCE, UNTIL = (NOW_H - 23) * 3600, (NOW_H + 1) * 3600
    # hourly counters for the 20 hours before the newest row's, each different
    for k in range(1, 21):
        c.execute("INSERT INTO counters (hour, guarded, matched, repaired, cdn_variance, "
                  "public_unavailable) VALUES (?, ?, ?, ?, ?, ?)",
                  (NOW_H - k, 100 + 7 * k, 90, 3 * k, k % 4, k % 2))
    c.commit()
    c.close()


def expected():
    """Per chart, series -> [value per bucket], from the database rows."""
    c = sqlite3.connect(DB)
    want = {"chart-health": {"guarded": [0] * NB, "repaired": [0] * NB, "recorded": [0] * NB},
            "chart-category": {}, "chart-upstream": {}}
    for h, g, r in c.execute("SELECT hour, guarded, repaired FROM counters"):
        b = h - hour(SINCE * 1000)
        if 0 <= b < NB:
            want["chart-health"]["guarded"][b] += g
            want["chart-health"]["repaired"][b] += r
    rows = c.execute("SELECT time, count, category, l_upstream FROM events").fetchall()
    for t, n, cat, up in rows:
        b = hour(t) - hour(SINCE * 1000)
        if not 0 <= b < NB:
            continue
        want["chart-health"]["recorded"][b] += n
        want["chart-category"].setdefault(cat, [0] * NB)[b] += n
        want["chart-upstream"].setdefault(up, [0] * NB)[b] += n
    c.close()
    return want, len(rows)


def got(dom, chart):
    out = {}
    for p in dom.points[chart]:
        vals = out.setdefault(p["data-series"], [None] * NB)
        b = int(p["data-bucket"])
        assert vals[b] is None, "two points for %s bucket %d" % (p["data-series"], b)
        vals[b] = int(p["data-value"])
    return out


@test
def report_written():
    fill()
    page = os.path.join(TMP, "report.html")
    out = ctl("report", "--html", page, "--since", "@%d" % SINCE, "--until", "@%d" % UNTIL,
              check=0).stdout
    assert "60 rows in range, 24 hourly buckets, hash chain intact" in out, out
    with open(page) as f:
        text = f.read()
    state["page"], state["text"] = page, text
    # self-contained: no script, no reference to anything outside the file
    assert "<script" not in text.lower(), "a script element in the page"
    for ref in ("src=", "href=", "url(", "@import", "http://", "https://"):
        assert ref not in text, "external reference %r" % ref
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert "evil&lt;script&gt;alert(1)&lt;/script&gt;.windowsupdate.com" in text
    assert not os.path.exists(page + ".tmp")


@test
def charts_in_browser():
    dom_text = browser(["--dump-dom"], state["page"])
    dom = Dom(dom_text)
    want, nrows = expected()
    assert nrows == 60, nrows
    assert set(dom.charts) == {"chart-health", "chart-category", "chart-upstream"}, dom.charts
    for chart, series in want.items():
        a = dom.charts[chart]
        assert a["data-buckets"] == str(NB) and a["data-bucket-size"] == "hour", a
        assert a["data-series"] == str(len(series)), (chart, a, sorted(series))
        # one point per bucket and series, each with the value from the rows
        assert len(dom.points[chart]) == NB * len(series), (chart, len(dom.points[chart]))
        g = got(dom, chart)
        assert g == series, "%s:\n got  %s\n want %s" % (chart, g, series)
    assert set(want["chart-upstream"]) == {UP1, UP2}
    assert sum(want["chart-health"]["guarded"]) > 0 and sum(want["chart-health"]["repaired"]) > 0
    assert dom.ids["verify"]["data-state"] == "ok" and dom.ids["verify"]["data-rows"] == "60"
    assert dom.ids["rows-in-range"]["data-rows"] == "60"
    state["dom"] = dom


@test
def hostile_name_stays_text():
    dom = state.get("dom") or Dom(browser(["--dump-dom"], state["page"]))
    # the DOM after parsing: no script element at all, the name as text in
    # the top names and the last rows
    assert "script" not in dom.tags, "an injected <script> element"
    text = "".join(dom.text)
    assert text.count(EVIL) >= 2, text.count(EVIL)  # top names and last rows
    # an attribute value too (the top-names row's data-value)
    assert any(a.get("data-value") == EVIL for a in dom.topv), dom.topv


@test
def last_rows_both_answers():
    dom = state.get("dom") or Dom(browser(["--dump-dom"], state["page"]))
    text = "".join(dom.text)
    # the newest row (id 60, the EVIL name, a rewrite: i = 59, 59 % 4 == 3)
    # with both of its answers: 10.9.9.9 locally, 93.184.215.203 publicly
    assert "10.9.9.9" in text and "93.184.215.203" in text
    # the sinkhole rows: 0.0.0.0 with EDE 15 Blocked
    assert "EDE 15 Blocked" in text and "0.0.0.0" in text
    p = ctl("report", "--html", os.path.join(TMP, "r5.html"), "--limit", "5", "--since", "all",
            check=0)
    with open(os.path.join(TMP, "r5.html")) as f:
        d = Dom(f.read())
    assert sum(1 for k in d.ids if k == "last-rows") == 1
    assert d.tags.count("tr") >= 6


@test
def screenshot():
    browser(["--screenshot=" + SHOT, "--window-size=1280,2000", "--hide-scrollbars"],
            state["page"])
    with open(SHOT, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head
    w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert (w, h) == (1280, 2000), (w, h)
    assert os.path.getsize(SHOT) > 20000, os.path.getsize(SHOT)
    print("# screenshot: %s" % SHOT)


@test
def filters_apply():
    page = os.path.join(TMP, "sinkhole.html")
    ctl("report", "--html", page, "--since", "@%d" % SINCE, "--until", "@%d" % UNTIL,
        "--category", "sinkhole", check=0)
    with open(page) as f:
        d = Dom(f.read())
    cat = d.charts["chart-category"]
    assert cat["data-series"] == "1", cat
    c = sqlite3.connect(DB)
    n = c.execute("SELECT sum(count) FROM events WHERE category = 'sinkhole'").fetchone()[0]
    assert sum(int(p["data-value"]) for p in d.points["chart-category"]) == n
    assert all(p["data-series"] == "sinkhole" for p in d.points["chart-category"])
    assert d.ids["rows-in-range"]["data-rows"] == str(
        c.execute("SELECT count(*) FROM events WHERE category = 'sinkhole'").fetchone()[0])
    c.close()
    # a bad filter value is the usual error, and writes nothing
    bad = os.path.join(TMP, "bad.html")
    p = ctl("report", "--html", bad, "--category", "sinkhol", check=2)
    assert "one of:" in p.stderr and not os.path.exists(bad), p.stderr


@test
def daily_buckets():
    page = os.path.join(TMP, "month.html")
    ctl("report", "--html", page, "--since", "30d", check=0)
    with open(page) as f:
        d = Dom(f.read())
    now = int(time.time())
    first = (now - 30 * 86400) // 86400
    nb = now // 86400 - first + 1
    for chart in ("chart-health", "chart-category", "chart-upstream"):
        a = d.charts[chart]
        assert a["data-bucket-size"] == "day" and a["data-buckets"] == str(nb), (a, nb)
        assert len(d.points[chart]) == nb * int(a["data-series"])
    # every row of the fill is within the last day: the last bucket holds all
    rec = [p for p in d.points["chart-health"] if p["data-series"] == "recorded"]
    vals = [int(p["data-value"]) for p in rec]
    assert sum(vals) == 60 and vals[-1] + vals[-2] == 60, vals
    # up to 8 days: hourly buckets (8 * 24, and the hour "now" is in)
    page = os.path.join(TMP, "8d.html")
    ctl("report", "--html", page, "--since", "8d", check=0)
    with open(page) as f:
        a = Dom(f.read()).charts["chart-health"]
    assert a["data-bucket-size"] == "hour" and a["data-buckets"] == str(8 * 24 + 1), a


@test
def verify_state_shown():
    db = os.path.join(TMP, "edited.db")
    subprocess.run([FILL, db, "20", "60"], check=True, timeout=60)
    c = sqlite3.connect(db)
    c.execute("UPDATE events SET l_addrs = '192.0.2.66' WHERE id = 7")
    c.commit()
    c.close()
    page = os.path.join(TMP, "edited.html")
    p = ctl("report", "--html", page, db=db, check=1)
    assert "hash chain FAILED" in p.stdout, p.stdout
    with open(page) as f:
        d = Dom(f.read())
    v = d.ids["verify"]
    assert v["data-state"] == "failed" and v["data-row"] == "7", v


@test
def usage_errors():
    p = ctl("report", check=2)
    assert "--html FILE is required" in p.stderr, p.stderr
    p = ctl("report", "--html", os.path.join(TMP, "no", "such", "dir.html"), check=2)
    assert "No such file or directory" in p.stderr, p.stderr
    p = ctl("report", "--html", os.path.join(TMP, "x.html"), "--format", "json", check=2)
    assert "not valid here" in p.stderr, p.stderr
    # "-": the page on standard output
    p = ctl("report", "--html", "-", "--since", "1h", check=0)
    assert p.stdout.startswith("<!DOCTYPE html>") and "</html>" in p.stdout


@test
def real_daemon_rows():
    """The daemon's own rows and counters: nsd is the authority for
    windowsupdate.com, dnsmasq sinkholes every name under it to 0.0.0.0,
    wuguard repairs; every query is guarded and repaired, every name gets a
    sinkhole row, one of them with "<script>" in a label."""
    h = W.Harness()
    try:
        wu = "windowsupdate.com"
        ns = h.nsd({wu: W.soa() + "* 300 IN A 192.0.2.9\n"}, probe="ctldl." + wu)
        dm = h.dnsmasq(ns.addr, addresses=["/%s/0.0.0.0" % wu])
        wg = h.wuguard([dm.addr], public=ns.addr, config=W.wg_config(
            guard={"domains": os.path.join(W.SRCDIR, "db", "wu-domains.list")}))
        db = os.path.join(wg.dir, "wuguard.db")
        evil = W.dns.name.Name([b"x<script>alert(1)</script>"] + [l.encode() for l in wu.split(".")] + [b""])
        names = ["r%d.%s" % (i, wu) for i in range(5)] + [evil]
        for n in names:
            m, _ = W.query(wg.addr, n)
            assert m is not None and W.answer_set(m, "A") == {"192.0.2.9"}, W.describe(m)
        assert wg.stop() == 0, "daemon exit"
        c = sqlite3.connect(db)
        stored = [r[0] for r in c.execute("SELECT qname FROM events ORDER BY id")]
        guarded, repaired = c.execute("SELECT sum(guarded), sum(repaired) FROM counters").fetchone()
        c.close()
        assert len(stored) == 6 and guarded == 6 and repaired == 6, (stored, guarded, repaired)
        hostile = [q for q in stored if q.startswith("x")]
        assert len(hostile) == 1 and "<script>" in hostile[0], stored
        page = os.path.join(TMP, "daemon.html")
        out = ctl("report", "--html", page, "--since", "1h", db=db, check=0).stdout
        assert "6 rows in range" in out and "hash chain intact" in out, out
        with open(page) as f:
            text = f.read()
        dom = Dom(browser(["--dump-dom"], page) if CHROMIUM else text)
        pts = {}
        for p in dom.points["chart-health"]:
            pts[p["data-series"]] = pts.get(p["data-series"], 0) + int(p["data-value"])
        assert pts == {"guarded": 6, "repaired": 6, "recorded": 6}, pts
        cats = {p["data-series"] for p in dom.points["chart-category"]}
        assert cats == {"sinkhole"}, cats
        ups = {p["data-series"] for p in dom.points["chart-upstream"]}
        assert ups == {"%s:%d" % dm.addr}, ups
        assert "script" not in dom.tags, "an injected <script> element"
        assert "".join(dom.text).count(hostile[0]) >= 2, hostile[0]
        if not CHROMIUM:
            raise Skip("chromium not installed: checked the file, not the browser's DOM")
    finally:
        h.cleanup()


def main():
    return W.run_cases(results, TMP)


if __name__ == "__main__":
    sys.exit(main())
