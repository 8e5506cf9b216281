#!/usr/bin/python3
"""Running as a service: contrib/wuguard.service and contrib/wuguard.conf.

systemd is not running here, so the unit is checked the two ways that work
without it: systemd-analyze verify reads it (the template filled in with this
build tree's paths, so every command it names exists), and its ExecStartPre,
ExecStart, ExecReload lines are run as systemd would run them, against an nsd
on 127.0.0.1, with flags appended that keep the daemon on loopback (flags
override the file): start returns once the daemon answers, reload with a good
file keeps the same process answering, reload with a broken file fails before
any signal and names the line, SIGTERM (systemctl stop) ends it. Also: the
unit make built carries the install paths; the sample configuration is valid
as shipped and with every example line switched on; make's install rule never
overwrites an existing wuguard.conf and uninstall removes only the unchanged
sample. The hardening: the unit runs as its own user with only
CAP_NET_BIND_SERVICE, sandboxed (checked key by key, and systemd-analyze
security --offline rates its exposure below 3.0); its ExecStart, run as
systemd would run it (an unprivileged user holding only that capability as
an ambient one, with the config's "user" naming that same user), binds a
port below 1024 and answers. TAP output.
"""
import os
import pwd
import re
import socket
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
ZONE = "svc.test"
TEMPLATE = os.path.join(W.SRCDIR, "contrib", "wuguard.service.in")
SAMPLE = os.path.join(W.SRCDIR, "contrib", "wuguard.conf")


def unit_values(text, key):
    """The values of key= lines in a unit, in order."""
    return [line.split("=", 1)[1] for line in text.splitlines()
            if line.startswith(key + "=")]


def run(argv, timeout=20, env=None):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def daemon_pids(marker):
    """Processes whose command line holds marker (the test's listen flag)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if marker.encode() in argv and argv[0].endswith(b"wuguard"):
            pids.append(int(d))
    return pids


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def answers(port):
    try:
        m, _ = W.query((W.LOOPBACK, port), "www.%s." % ZONE, timeout=2.0)
    except OSError:
        return set()
    return W.answer_set(m, "A")


def built_unit():
    path = os.path.join(W.BUILDDIR, "contrib", "wuguard.service")
    text = open(path).read() if os.path.exists(path) else ""
    h.ok(text != "", "make built contrib/wuguard.service", path)
    h.ok(re.search(r"@[a-z]+@", text) is None, "with no template marker left", text)
    start = unit_values(text, "ExecStart")
    h.ok(len(start) == 1 and re.fullmatch(r"/\S*/sbin/wuguard -c /\S*/wuguard/wuguard\.conf",
                                          start[0]) is not None,
         "ExecStart runs the installed daemon with the installed config", start)
    h.eq(unit_values(text, "Type"), ["forking"], "Type=forking: the start command waits for ready")


def sample_config():
    rc, out, err = run([os.path.join(W.BUILDDIR, "wuguard"), "-n", "-c", SAMPLE,
                        "--local", "127.0.0.1:53", "--public", "none"])
    h.ok(rc == 0, "the sample configuration is valid as shipped", out, err)
    lines = open(SAMPLE).read().splitlines()
    on = [re.sub(r"^; ([a-z-]+ = )", r"\1", line) for line in lines]
    switched = sum(1 for a, b in zip(lines, on) if a != b)
    path = h.write(os.path.join(h.tmp, "all-on.conf"), "\n".join(on) + "\n")
    rc, out, err = run([os.path.join(W.BUILDDIR, "wuguard"), "-n", "-c", path,
                        "--public", "none"])
    h.ok(rc == 0 and switched >= 6,
         "and with its %d example lines switched on" % switched, out, err)


def unit_commands():
    ns = h.nsd({ZONE: W.soa() + "www 300 IN A 192.0.2.80\n"}, probe="www.%s." % ZONE)
    etc = h.mkdir("etc")
    os.makedirs(os.path.join(etc, "wuguard"))
    conf = os.path.join(etc, "wuguard", "wuguard.conf")
    shutil.copy(SAMPLE, conf)
    unit = open(TEMPLATE).read().replace("@sbindir@", W.BUILDDIR).replace("@sysconfdir@", etc)
    path = h.write(os.path.join(h.tmp, "wuguard.service"), unit)

    if shutil.which("systemd-analyze"):
        rc, out, err = run(["systemd-analyze", "verify", "--man=no", path])
        h.ok(rc == 0 and err.strip() == "" and out.strip() == "",
             "systemd-analyze verify: no complaint about the unit (man pages not checked)", rc, out, err)
    else:
        h.skip("systemd-analyze verify", "systemd-analyze not installed")

    port = W.free_port()
    listen = "%s:%d" % (W.LOOPBACK, port)
    # keep everything on loopback: flags override the file
    extra = ["--listen", listen, "--local", "%s:%d" % ns.addr, "--public", "none",
             "--db", os.path.join(h.tmp, "wuguard.db")]

    def cmd(line):
        return line.split() + extra

    pre, start = unit_values(unit, "ExecStartPre"), unit_values(unit, "ExecStart")
    reload_ = unit_values(unit, "ExecReload")
    h.ok(len(pre) == 1 and len(start) == 1 and len(reload_) == 2,
         "the unit has one ExecStartPre, one ExecStart, two ExecReload", pre, start, reload_)

    rc, out, err = run(cmd(pre[0]))
    h.eq(rc, 0, "ExecStartPre (wuguard -n) accepts the sample config", out, err)
    t0 = time.monotonic()
    rc, out, err = run(cmd(start[0]))
    h.eq(rc, 0, "ExecStart returns 0 (the daemon is up)", out, err)
    pids = daemon_pids(listen)
    h.diag("daemon pid %s, started in %.2f s" % (pids, time.monotonic() - t0))
    if len(pids) == 1:
        h._closers.append(lambda: os.kill(pids[0], signal.SIGKILL) if alive(pids[0]) else None)
    h.ok(len(pids) == 1, "one daemon process stays behind (systemd's MAINPID)", pids)
    if len(pids) != 1:
        return
    pid = pids[0]
    h.eq(answers(port), {"192.0.2.80"}, "it answers as soon as the start command has returned")

    # systemctl reload: wuguard -n, then kill -HUP $MAINPID
    rc, out, err = run(cmd(reload_[0]))
    h.eq(rc, 0, "ExecReload's check passes for the good file", out, err)
    kill = reload_[1].replace("$MAINPID", str(pid)).split()
    rc, out, err = run(kill)
    h.eq(rc, 0, "ExecReload's kill -HUP reaches the daemon", out, err)
    time.sleep(0.5)
    h.ok(alive(pid) and answers(port) == {"192.0.2.80"},
         "after the reload the same process answers")

    # a broken file: the check fails, so systemd never sends the HUP
    with open(conf, "a") as f:
        f.write("[cache]\nsize = lots\n")
    rc, out, err = run(cmd(reload_[0]))
    h.ok(rc != 0 and "wuguard.conf:" in err and "size" in err,
         "a broken file fails ExecReload's check, naming file and line", rc, out, err)
    h.ok(alive(pid) and answers(port) == {"192.0.2.80"}, "and the daemon keeps answering")

    # systemctl stop: SIGTERM to the main process
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + W.STOP_TIMEOUT
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    h.ok(not alive(pid), "SIGTERM (systemctl stop) ends it within %.0f s" % W.STOP_TIMEOUT)


def install_rules():
    dest = h.mkdir("destdir")
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    env.pop("MAKELEVEL", None)

    def make(target):
        return run(["make", "-s", "-C", W.BUILDDIR, target, "DESTDIR=" + dest], timeout=60,
                   env=env)

    rc, out, err = make("install-data-local")
    found = [os.path.join(r, f) for r, _, fs in os.walk(dest) for f in fs]
    installed = [p for p in found if p.endswith(os.path.join("wuguard", "wuguard.conf"))]
    h.ok(rc == 0 and len(installed) == 1 and open(installed[0]).read() == open(SAMPLE).read(),
         "install puts the sample at SYSCONFDIR/wuguard/wuguard.conf", rc, err, found)
    if len(installed) != 1:
        return
    conf = installed[0]
    with open(conf, "a") as f:
        f.write("; the admin's own line\n")
    rc, out, err = make("install-data-local")
    h.ok(rc == 0 and open(conf).read().endswith("; the admin's own line\n"),
         "installing again keeps the admin's file", rc, err)
    rc, out, err = make("uninstall-local")
    h.ok(rc == 0 and os.path.exists(conf), "uninstall keeps a changed file", rc, err)
    shutil.copy(SAMPLE, conf)
    rc, out, err = make("uninstall-local")
    h.ok(rc == 0 and not os.path.exists(conf), "and removes the unchanged sample", rc, err)

HARDENING = {
    "User": "wuguard", "Group": "wuguard",
    "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
    "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
    "NoNewPrivileges": "yes", "StateDirectory": "wuguard", "RuntimeDirectory": "wuguard",
    "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
    "SystemCallFilter": "@system-service",
}


def hardening():
    text = open(TEMPLATE).read()
    for key, want in sorted(HARDENING.items()):
        got = unit_values(text, key)
        h.ok(want in got, "the unit sets %s=%s" % (key, want), got)
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        h.skip("systemd-analyze security", "systemd-analyze not installed")
        return
    unit = text.replace("@sbindir@", W.BUILDDIR).replace("@sysconfdir@", h.tmp)
    path = h.write(os.path.join(h.tmp, "wuguard.service"), unit)
    rc, out, err = run([analyze, "security", "--offline=yes", "--no-pager", path])
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out + err)
    level = float(m.group(1)) if m else 99.0
    h.diag("systemd-analyze security --offline=yes: exposure %.1f" % level)
    h.ok(m is not None and level < 3.0,
         "systemd-analyze security rates the unit's exposure below 3.0", level, err[-500:])


def low_port():
    """A free UDP and TCP port below 1024 on loopback (only root or
    CAP_NET_BIND_SERVICE may bind it)."""
    import random
    for _ in range(200):
        port = random.randrange(600, 1024)
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((W.LOOPBACK, port))
            return port
        except OSError:
            continue
    return None


def as_service_user():
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        h.skip("ExecStart as an unprivileged user with CAP_NET_BIND_SERVICE",
               "needs root and setpriv (util-linux)")
        return
    pw = pwd.getpwnam("nobody")
    ns = h.nsd({ZONE: W.soa() + "www 300 IN A 192.0.2.81\n"}, probe="www.%s." % ZONE)
    etc = h.mkdir("etc-user")
    state = h.mkdir("state-user")
    os.chmod(h.tmp, 0o755)
    os.chmod(etc, 0o755)
    os.chown(state, pw.pw_uid, pw.pw_gid)
    # the config's user names the user systemd already started it as
    conf = h.write(os.path.join(etc, "wuguard.conf"), "[server]\nuser = nobody\n")
    os.chmod(conf, 0o644)
    port = low_port()
    h.ok(port is not None, "a free port below 1024 on loopback", port)
    if port is None:
        return
    listen = "%s:%d" % (W.LOOPBACK, port)
    start = unit_values(open(TEMPLATE).read(), "ExecStart")[0]
    start = start.replace("@sbindir@", W.BUILDDIR).replace("@sysconfdir@/wuguard", etc)
    # what User=, Group=, AmbientCapabilities= and NoNewPrivileges= make of it
    argv = [setpriv, "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--clear-groups",
            "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service",
            "--bounding-set=-all,+net_bind_service", "--no-new-privs"] + start.split() + \
        ["--listen", listen, "--local", "%s:%d" % ns.addr, "--public", "none",
         "--db", os.path.join(state, "wuguard.db")]
    rc, out, err = run(argv)
    pids = daemon_pids(listen)
    for pid in pids:
        h._closers.append(lambda pid=pid: os.kill(pid, signal.SIGKILL) if alive(pid) else None)
    h.ok(rc == 0 and len(pids) == 1,
         "ExecStart as nobody with CAP_NET_BIND_SERVICE, config user = nobody: started",
         rc, out, err, pids)
    if len(pids) != 1:
        return
    with open("/proc/%d/status" % pids[0]) as f:
        uid = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
    h.eq(uid, [str(pw.pw_uid)] * 4, "the daemon runs as that user")
    h.eq(answers(port), {"192.0.2.81"}, "and answers on port %d (below 1024)" % port)
    os.kill(pids[0], signal.SIGTERM)
    deadline = time.monotonic() + W.STOP_TIMEOUT
    while alive(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    h.ok(not alive(pids[0]), "SIGTERM ends it")


def main():
    if not shutil.which("nsd") and not os.path.exists("/usr/sbin/nsd"):
        print("1..0 # SKIP nsd not installed")
        return
    h.case("the unit make built", built_unit)
    h.case("the sample configuration", sample_config)
    h.case("the unit's commands, as systemd runs them", unit_commands)
    h.case("make's install rules for the sample", install_rules)
    h.case("the unit's hardening", hardening)
    h.case("the unit's user and capability, as systemd gives them", as_service_user)
    h.done()


main()
