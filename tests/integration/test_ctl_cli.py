#!/usr/bin/python3
"""wuguardctl's command-line frictions (issue 16, part 5): the list table
sized to the width with the action and both answers, --wide, filter values
outside their set, global options after the command, summary and stats as
JSON, a bad time naming the valid forms, prune --dry-run and the refusal
below the aggregation window.

TAP output. Standalone (no daemon, no network): databases written through
wg_dlog by tests/dlog_fill.
"""

import json
import os
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wgtest as W  # noqa: E402  (run_cases)
SRCDIR = os.environ.get("WG_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("WG_BUILDDIR") or SRCDIR
CTL = os.path.join(BUILDDIR, "wuguardctl")
FILL = os.path.join(BUILDDIR, "tests", "dlog_fill")

TMP = tempfile.mkdtemp(prefix="wg_cli_")
DB = os.path.join(TMP, "log.db")
results = []


def run(*args, check=None, env=None, columns=None):
    e = dict(os.environ)
    e.pop("COLUMNS", None)
    if columns:
        e["COLUMNS"] = str(columns)
    e.update(env or {})
    p = subprocess.run([CTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=30, env=e)
    if check is not None and p.returncode != check:
        raise AssertionError("%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), p.returncode, check, p.stdout[-2000:], p.stderr))
    return p


def ctl(*args, **kw):
    return run("--db", kw.pop("db", DB), "--utc", *args, **kw)


def fill(db, n, step=60, aggregate=0):
    subprocess.run([FILL, db, str(n), str(step), str(aggregate)], check=True, timeout=60)


def test(fn):
    results.append(fn)
    return fn


def table_rows(out):
    lines = out.splitlines()
    return lines[0], {int(l.split()[0]): l for l in lines[1:]}


@test
def list_table_width_and_answers():
    fill(DB, 20)
    # 80 columns: the name is no longer cut at 23 (fe3cr... has 31)
    head, rows = table_rows(ctl("list", "--limit", "0", check=0, columns=80).stdout)
    assert all(len(l) <= 80 for l in [head] + list(rows.values())), head
    assert head.split()[:6] == ["ID", "TIME", "UTC", "CATEGORY", "TYPE", "ACTION"], head
    assert rows[2].endswith(" fe3cr.delivery.mp.microsoft.com"), rows[2]
    # 140 columns: client and both answers, short form
    head, rows = table_rows(ctl("list", "--limit", "0", check=0, columns=140).stdout)
    assert head.split() == ["ID", "TIME", "UTC", "CATEGORY", "TYPE", "ACTION", "CLIENT",
                            "LOCAL", "PUBLIC", "NAME"], head
    assert all(len(l) <= 140 for l in rows.values())
    # row 1: sinkhole, served the public answer; two public addresses
    assert rows[1].split()[4:9] == ["A", "public", "192.168.1.10", "0.0.0.0",
                                    "93.184.215.201+1"], rows[1]
    # row 2: blocked-rcode, the local side NXDOMAIN
    assert rows[2].split()[7:9] == ["NXDOMAIN", "93.184.215.201"], rows[2]
    # row 3: cdn-variance served the local answer
    assert rows[3].split()[4:6] == ["A", "local"], rows[3]
    # narrower than the fixed columns and a name: --wide cuts nothing
    head, rows = table_rows(ctl("list", "--limit", "0", "--wide", check=0, columns=40).stdout)
    assert "PUBLIC" in head and rows[2].endswith(" fe3cr.delivery.mp.microsoft.com"), rows[2]
    head, rows = table_rows(ctl("list", "--limit", "0", check=0, columns=40).stdout)
    assert "PUBLIC" not in head and ".." in rows[2], rows[2]


@test
def monitor_and_policy_actions_short():
    db = os.path.join(TMP, "act.db")
    fill(db, 4)
    c = sqlite3.connect(db)
    c.execute("UPDATE events SET action = 'local-monitor' WHERE id = 1")
    c.execute("UPDATE events SET action = 'not-applied', category = 'local-policy' WHERE id = 2")
    c.commit()
    c.close()
    head, rows = table_rows(ctl("list", check=0, db=db, columns=140).stdout)
    assert rows[1].split()[5] == "mon" and rows[2].split()[5] == "n/a", rows
    ctl("list", "--category", "local-policy", check=0, db=db)


@test
def filter_values_outside_their_set():
    p = ctl("list", "--category", "sinkhol", check=2)
    assert "unknown category 'sinkhol'" in p.stderr, p.stderr
    for word in ("sinkhole", "blocked-rcode", "cdn-variance", "local-policy"):
        assert " " + word in p.stderr, (word, p.stderr)
    assert p.stdout == ""
    p = ctl("summary", "--severity", "hi", check=2)
    assert "unknown severity 'hi'; one of: info low medium high" in p.stderr, p.stderr
    ctl("export", "--category", "Sinkhole", check=2)
    assert len(ctl("list", "--category", "sinkhole", "--format", "json", "--limit", "0",
                   check=0).stdout.splitlines()) == 5


@test
def bad_time_names_the_forms():
    for opt in ("--since", "--until"):
        p = ctl("list", opt, "5", check=2)
        assert "bad time '5'" in p.stderr, p.stderr
        for form in ("10m", "today", "yesterday", "all", "YYYY-MM-DD", "@EPOCH"):
            assert form in p.stderr, (form, p.stderr)


@test
def global_options_after_the_command():
    env = {"TZ": "Europe/Berlin"}
    out = run("--db", DB, "list", "--format", "json", "--limit", "1", check=0, env=env).stdout
    assert json.loads(out)["time"].endswith(("+01:00", "+02:00")), out
    out = run("list", "--format", "json", "--limit", "1", "--utc", "--db", DB, check=0,
              env=env).stdout
    assert json.loads(out)["time"].endswith("Z"), out
    out = run("list", "--db=" + DB, "--limit", "1", "--format=json", check=0).stdout
    assert json.loads(out)["id"] == 20, out
    conf = os.path.join(TMP, "g.conf")
    with open(conf, "w") as f:
        f.write("[database]\npath = %s\n" % DB)
    out = run("stats", "-c", conf, "--format", "json", check=0).stdout
    assert json.loads(out)["database"] == DB, out
    out = run("summary", "--config", conf, "--utc", "--format", "json", check=0).stdout
    assert json.loads(out)["rows"] == 20, out
    # a value that only looks like an option stays the command's
    p = run("list", "--db", check=2)
    assert "--db needs a value" in p.stderr, p.stderr


@test
def summary_json():
    s = json.loads(ctl("summary", "--format", "json", check=0).stdout)
    assert s["rows"] == 20 and s["events"] == 20, s
    assert s["until"] is None and s["since"].endswith("Z"), s
    cats = {c["value"]: c["rows"] for c in s["category"]}
    assert cats == {"sinkhole": 5, "blocked-rcode": 5, "cdn-variance": 5, "rewrite": 5}, cats
    assert {x["value"] for x in s["severity"]} == {"high", "low", "medium"}, s["severity"]
    assert s["top_names"][0]["rows"] == 4 and len(s["top_names"]) == 5, s["top_names"]
    assert sum(c["rows"] for c in s["top_clients"]) == 20, s["top_clients"]
    assert s["health"]["guarded"] == 20 and s["health"]["repaired"] == 15, s["health"]
    h = s["histogram"]
    assert h["bucket_s"] == 600 and sum(b["events"] for b in h["buckets"]) == 20, h
    assert len(h["buckets"]) == 144, len(h["buckets"])
    ctl("summary", "--format", "csv", check=2)
    assert "wuguard discrepancies" in ctl("summary", check=0).stdout


@test
def stats_json():
    s = json.loads(ctl("stats", "--format", "json", check=0).stdout)
    assert (s["rows"], s["events"], s["first_id"], s["last_id"]) == (20, 20, 1, 20), s
    assert s["schema_version"] >= 2 and s["file_size"] > 0 and s["chain_anchor"] is None, s
    assert s["health"]["guarded"] == 20, s
    assert s["oldest"].endswith("Z") and s["oldest"] < s["newest"], s
    assert "schema version" in ctl("stats", check=0).stdout


@test
def prune_dry_run_and_window():
    db = os.path.join(TMP, "prune.db")
    fill(db, 100, 60)  # one a minute: 100 minutes
    p = ctl("prune", "--older-than", "2m", db=db, check=2)
    assert "below the aggregation window (300 s" in p.stderr and "--force" in p.stderr, p.stderr
    p = ctl("prune", "--older-than", "2m", "--dry-run", db=db, check=2)
    # the config's window is the one that counts
    conf = os.path.join(TMP, "p.conf")
    with open(conf, "w") as f:
        f.write("[database]\naggregate-window = 60\n")
    out = run("-c", conf, "--db", db, "prune", "--older-than", "50m", "--dry-run",
              check=0).stdout
    assert out.startswith("would prune ") and "nothing deleted" in out, out
    want = int(out.split()[2])
    assert 45 <= want <= 52, out
    assert len(ctl("export", db=db, check=0).stdout.splitlines()) == 100, "dry run kept all"
    out = run("-c", conf, "--db", db, "prune", "--older-than", "50m", check=0).stdout
    assert out.startswith("pruned %d rows" % want), (out, want)
    assert len(ctl("export", db=db, check=0).stdout.splitlines()) == 100 - want
    out = ctl("prune", "--older-than", "1m", "--force", db=db, check=0).stdout
    assert out.startswith("pruned "), out
    ctl("verify", db=db, check=0)


def main():
    return W.run_cases(results, TMP)


if __name__ == "__main__":
    sys.exit(main())
