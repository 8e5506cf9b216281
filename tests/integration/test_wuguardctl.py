"""wuguardctl against a database written through wg_dlog (tests/dlog_fill).

TAP output. Standalone (no daemon, no network): builds databases with the
dlog_fill helper and checks every wuguardctl command's output and exit code.
"""

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wgtest as W  # noqa: E402  (run_cases)
SRCDIR = os.environ.get("WG_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("WG_BUILDDIR") or SRCDIR
CTL = os.path.join(BUILDDIR, "wuguardctl")
FILL = os.path.join(BUILDDIR, "tests", "dlog_fill")

TMP = tempfile.mkdtemp(prefix="wg_ctl_")
results = []


def ctl(*args, db=None, check=None):
    cmd = [CTL, "--db", db or DB, "--utc"] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=30)
    if check is not None and p.returncode != check:
        raise AssertionError("%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), p.returncode, check, p.stdout[-2000:], p.stderr))
    return p


def fill(db, n, step=60, aggregate=0):
    subprocess.run([FILL, db, str(n), str(step), str(aggregate)], check=True, timeout=60)


def test(fn):
    results.append(fn)
    return fn


DB = os.path.join(TMP, "log.db")


@test
def list_json_rows():
    fill(DB, 200)
    out = ctl("list", "--format", "json", "--limit", "0", check=0).stdout
    rows = [json.loads(l) for l in out.splitlines()]
    assert len(rows) == 200, len(rows)
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids, reverse=True), "newest first"
    r = rows[-1]
    for key in ("time", "name", "type", "category", "severity", "action", "local", "public",
                "client", "count", "markers", "rule_version", "authenticated"):
        assert key in r, key
    assert r["id"] == 1 and r["category"] == "sinkhole" and r["severity"] == "high"
    assert r["local"]["addresses"] == ["0.0.0.0"] and r["local"]["ede"] == 15
    assert r["public"]["addresses"] == ["93.184.215.201", "93.184.215.202"]
    assert r["public"]["cname"][0] == "download.windowsupdate.com."
    assert r["time"].endswith("Z")
    cats = {x["category"] for x in rows}
    assert cats == {"sinkhole", "blocked-rcode", "cdn-variance", "rewrite"}, cats


@test
def list_filters_and_paging():
    rows = [json.loads(l) for l in ctl("list", "--format", "json", "--category", "rewrite",
                                       "--limit", "0", check=0).stdout.splitlines()]
    assert len(rows) == 50 and all(r["category"] == "rewrite" for r in rows)
    rows = [json.loads(l) for l in ctl("list", "--format", "json", "--name", "*.WINDOWS.COM",
                                       "--limit", "0", check=0).stdout.splitlines()]
    assert rows and all(r["name"] == "adl.windows.com" for r in rows), len(rows)
    rows = [json.loads(l) for l in ctl("list", "--format", "json", "--client", "*.11",
                                       "--severity", "high", "--limit", "0",
                                       check=0).stdout.splitlines()]
    assert rows and all(r["client"] == "192.168.1.11" and r["severity"] == "high"
                        for r in rows)
    assert ctl("list", "--format", "json", "--upstream", "nomatch*", check=0).stdout == ""
    # The events span the last 200 minutes: 1h holds about 60 of them.
    n = len(ctl("list", "--format", "json", "--since", "1h", "--limit", "0",
                check=0).stdout.splitlines())
    assert 58 <= n <= 61, n
    assert ctl("list", "--format", "json", "--until", "2000-01-01", check=0).stdout == ""
    # Stable paging: page 2 starts below page 1's last id, even after new rows.
    p1 = [json.loads(l)["id"] for l in ctl("list", "--format", "json", "--limit", "10",
                                           check=0).stdout.splitlines()]
    fill(DB, 5)
    p2 = [json.loads(l)["id"] for l in ctl("list", "--format", "json", "--limit", "10",
                                           "--before-id", str(min(p1)),
                                           check=0).stdout.splitlines()]
    assert p1 == list(range(200, 190, -1)), p1
    assert p2 == list(range(190, 180, -1)), p2
    table = ctl("list", "--limit", "10", check=0)
    lines = table.stdout.splitlines()
    assert len(lines) == 11 and lines[0].split()[0] == "ID"
    assert all(len(l) <= 80 for l in lines), max(len(l) for l in lines)
    assert "--before-id" in table.stderr


@test
def csv_export():
    out = ctl("export", "--format", "csv", check=0).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 205, len(rows)
    assert [int(r["id"]) for r in rows] == list(range(1, 206)), "oldest first"
    assert rows[0]["public_addresses"] == "93.184.215.201 93.184.215.202"
    js = ctl("export", check=0).stdout.splitlines()
    assert len(js) == 205 and json.loads(js[0])["id"] == 1


@test
def summary_and_histogram():
    out = ctl("summary", check=0).stdout
    lines = out.splitlines()
    assert all(len(l) <= 80 for l in lines), [l for l in lines if len(l) > 80]
    assert "205 rows" in out
    for word in ("sinkhole", "blocked-rcode", "cdn-variance", "rewrite", "high",
                 "adl.windows.com", "192.168.1.10", "guarded 205", "per 10 minutes"):
        assert word in out, word
    bars = [l for l in lines if "|#" in l]
    assert len(bars) >= 15, len(bars)
    out = ctl("summary", "--since", "10m", check=0).stdout
    assert "rows" in out and "205 rows" not in out


@test
def show_both_sides():
    out = ctl("show", "1", check=0).stdout
    assert "LOCAL" in out and "PUBLIC" in out
    line = [l for l in out.splitlines() if l.startswith("addresses")][0]
    assert "0.0.0.0" in line and "93.184.215.201" in line
    assert "15 Blocked" in out
    assert all(len(l) <= 80 for l in out.splitlines())
    p = ctl("show", "99999", check=1)
    assert "no event" in p.stderr


@test
def values_field():
    out = ctl("values", "category", "--format", "json", check=0).stdout
    vals = {json.loads(l)["value"]: json.loads(l)["rows"] for l in out.splitlines()}
    assert set(vals) == {"sinkhole", "blocked-rcode", "cdn-variance", "rewrite"}
    assert sum(vals.values()) == 205
    out = ctl("values", "upstream", check=0).stdout
    assert "quad9-dnscrypt" in out and "10.0.0.53:53" in out
    ctl("values", "nosuchfield", check=2)


@test
def aggregation_counts():
    db = os.path.join(TMP, "agg.db")
    fill(db, 40, 1, 3600)  # one per second, aggregated within an hour
    rows = [json.loads(l) for l in ctl("list", "--format", "json", "--limit", "0",
                                       db=db, check=0).stdout.splitlines()]
    # 4 categories x 5 names x 3 clients ... but only 40 events: identical
    # (client, name, type, category, addresses) repeat every 60 events.
    assert sum(r["count"] for r in rows) == 40
    db2 = os.path.join(TMP, "agg2.db")
    fill(db2, 120, 1, 3600)
    rows = [json.loads(l) for l in ctl("list", "--format", "json", "--limit", "0",
                                       db=db2, check=0).stdout.splitlines()]
    assert len(rows) == 60, len(rows)
    assert all(r["count"] == 2 for r in rows)
    ctl("verify", db=db2, check=0)


@test
def verify_detects_edit():
    out = ctl("verify", check=0).stdout
    assert "205 rows" in out
    c = sqlite3.connect(DB)
    c.execute("UPDATE events SET p_addrs = '6.6.6.6' WHERE id = 17")
    c.commit()
    c.close()
    p = ctl("verify", check=1)
    assert "row 17" in p.stdout, p.stdout
    c = sqlite3.connect(DB)
    c.execute("UPDATE events SET p_addrs = '93.184.215.201 93.184.215.202' WHERE id = 17")
    c.commit()
    c.close()
    ctl("verify", check=0)
    c = sqlite3.connect(DB)
    c.execute("DELETE FROM events WHERE id = 30")
    c.commit()
    c.close()
    p = ctl("verify", check=1)
    assert "row 31" in p.stdout and "missing" in p.stdout, p.stdout


@test
def prune_keeps_chain():
    db = os.path.join(TMP, "prune.db")
    fill(db, 100, 3600)  # one per hour: 100 hours
    out = ctl("prune", "--older-than", "2d", db=db, check=0).stdout
    assert "pruned 53 rows" in out, out
    ctl("verify", db=db, check=0)
    rows = ctl("list", "--format", "json", "--limit", "0", db=db, check=0).stdout.splitlines()
    assert len(rows) == 47
    fill(db, 3, 1)
    ctl("verify", db=db, check=0)
    ctl("prune", "--older-than", "bogus", db=db, check=2)


@test
def backup_copy():
    db = os.path.join(TMP, "b.db")
    fill(db, 30)
    dst = os.path.join(TMP, "copy.db")
    out = ctl("backup", dst, db=db, check=0).stdout
    assert "30 rows" in out
    ctl("verify", db=dst, check=0)
    assert len(ctl("export", db=dst, check=0).stdout.splitlines()) == 30
    ctl("backup", dst, db=db, check=2)  # refuses to overwrite


@test
def follow_prints_new_rows():
    db = os.path.join(TMP, "f.db")
    fill(db, 3)
    p = subprocess.Popen([CTL, "--db", db, "list", "--follow", "--format", "json",
                          "--category", "sinkhole"],
                         stdout=subprocess.PIPE, universal_newlines=True)
    try:
        time.sleep(1.0)
        fill(db, 8)  # ids 4..11, sinkhole at 4, 8
        time.sleep(1.5)
    finally:
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
    ids = [json.loads(l)["id"] for l in out.splitlines()]
    assert ids == [1, 4, 8], ids


@test
def bad_databases_and_usage():
    p = ctl("list", db=os.path.join(TMP, "missing.db"), check=2)
    assert "No such file" in p.stderr
    other = os.path.join(TMP, "other.db")
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    p = ctl("list", db=other, check=2)
    assert "not a wuguard database" in p.stderr
    notsql = os.path.join(TMP, "text.db")
    with open(notsql, "w") as f:
        f.write("hello\n" * 100)
    assert "not a wuguard database" in ctl("summary", db=notsql, check=2).stderr
    ctl("list", "--since", "yesterdayish", check=2)
    ctl("list", "--limit", "ten", check=2)
    ctl("list", "--format", "xml", check=2)
    ctl("frobnicate", check=2)
    ctl("stats", check=0)


@test
def readonly_while_writing():
    """A reader never disturbs the writer: list while dlog_fill writes."""
    db = os.path.join(TMP, "live.db")
    fill(db, 1)
    w = subprocess.Popen([FILL, db, "3000", "1"])
    seen = 0
    while w.poll() is None:
        seen = max(seen, len(ctl("list", "--format", "json", "--limit", "0",
                                 db=db, check=0).stdout.splitlines()))
    assert w.returncode == 0
    assert len(ctl("export", db=db, check=0).stdout.splitlines()) == 3001
    ctl("verify", db=db, check=0)


@test
def config_hides_names_and_clients():
    """-c CONFIG: the daemon's [database] path is used, and its hide-name /
    hide-client entries stay hidden in every reading command."""
    db = os.path.join(TMP, "hide.db")
    fill(db, 200)
    conf = os.path.join(TMP, "hide.conf")
    with open(conf, "w") as f:
        f.write("[database]\npath = %s\nhide-name = *.windowsupdate.com\n"
                "hide-client = 192.168.1.11/32\n" % db)

    def run(*args, check=0):
        p = subprocess.run([CTL, "-c", conf, "--utc"] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
        assert p.returncode == check, (args, p.returncode, p.stderr)
        return p.stdout

    every = [json.loads(l) for l in ctl("list", "--format", "json", "--limit", "0", db=db,
                                        check=0).stdout.splitlines()]
    want = [r for r in every if not r["name"].rstrip(".").endswith(".windowsupdate.com")
            and r["client"] != "192.168.1.11"]
    assert len(every) == 200 and 0 < len(want) < 200, (len(every), len(want))
    rows = [json.loads(l) for l in run("list", "--format", "json", "--limit", "0").splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in want], (len(rows), len(want))
    exported = [json.loads(l) for l in run("export").splitlines()]
    assert sorted(r["id"] for r in exported) == sorted(r["id"] for r in want)
    names = run("values", "name")
    assert "windowsupdate" not in names and "adl.windows.com" in names, names
    clients = run("values", "client")
    assert "192.168.1.11" not in clients and "192.168.1.10" in clients, clients
    summary = run("summary", "--since", "all")
    assert "windowsupdate" not in summary and "192.168.1.11" not in summary, summary
    hidden = next(r for r in every if r["client"] == "192.168.1.11")
    run("show", str(hidden["id"]), check=1)
    run("show", str(want[0]["id"]), check=0)
    # a truncated client (/24) overlapping a hidden address is hidden too
    with open(conf, "a") as f:
        f.write("hide-client = 10.9.8.7/32\n")
    sqlite3.connect(db).execute("UPDATE events SET client = '10.9.8.0/24' WHERE id = ?",
                                (want[0]["id"],)).connection.commit()
    run("show", str(want[0]["id"]), check=1)
    # --db still wins over the config's path
    p = subprocess.run([CTL, "-c", conf, "--db", os.path.join(TMP, "nope.db"), "list"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=30)
    assert p.returncode == 2 and "nope.db" in p.stderr, p.stderr
    # a config with an error: its file:line, exit 2
    bad = os.path.join(TMP, "bad.conf")
    with open(bad, "w") as f:
        f.write("[database]\nhide-client = 10.0.0.0/99\n")
    p = subprocess.run([CTL, "-c", bad, "list"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    assert p.returncode == 2 and "bad.conf:2" in p.stderr, p.stderr


def main():
    return W.run_cases(results, TMP)


if __name__ == "__main__":
    sys.exit(main())
