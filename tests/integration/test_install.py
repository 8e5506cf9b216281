#!/usr/bin/python3
"""What make install puts on a system, and debian/ kept in step with it.

make install DESTDIR=... with the Debian layout (prefix /usr, /etc, /var, a
multiarch libdir, the unit in /lib/systemd/system: what debian/rules asks
of configure, given to make instead, so no second build is needed):

- no installed file contains this build's source or build directory (a
  binary that falls back to lists in the build tree must never be installed);
  binaries are read without their debug sections, whose DW_AT_comp_dir names
  the build directory in any -g build (the package strips them into -dbgsym,
  and dpkg-buildflags maps the path away);
- only what a user runs: no libtool .la file, the example plugin only as
  source under the documentation, nothing but blocklist.so in the plugin dir;
- debian/wuguard.install (with debian/not-installed) names every installed
  file, and every line of it matches an installed file: dh_missing
  --fail-missing and dh_install would fail the package build otherwise;
- the unit's User= is the user debian/wuguard.sysusers creates.

TAP output.
"""
import fnmatch
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest as W  # noqa: E402

h = W.Harness()
DEBIAN = os.path.join(W.SRCDIR, "debian")
# dh_auto_configure's layout, and the unit directory debian/rules gives
UNITDIR = re.findall(r"--with-systemdsystemunitdir=(\S+)",
                     open(os.path.join(DEBIAN, "rules")).read())
LAYOUT = ["prefix=/usr", "sysconfdir=/etc", "localstatedir=/var",
          "libdir=/usr/lib/multiarch-triplet",
          "systemdsystemunitdir=" + (UNITDIR[0] if UNITDIR else "/nowhere")]
state = {}


def make_install():
    h.eq(UNITDIR, ["/lib/systemd/system"],
         "debian/rules puts the unit where dh_installsystemd (bookworm) looks")
    dest = h.mkdir("destdir")
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(k, None)
    p = subprocess.run(["make", "-s", "-C", W.BUILDDIR, "install", "DESTDIR=" + dest] + LAYOUT,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300, env=env)
    files = sorted(os.path.relpath(os.path.join(r, f), dest)
                   for r, _, fs in os.walk(dest) for f in fs)
    h.ok(p.returncode == 0 and len(files) > 0, "make install DESTDIR with the Debian layout",
         p.returncode, p.stderr[-2000:])
    h.diag("%d files installed" % len(files))
    state["dest"], state["files"] = dest, files


def no_build_path():
    dest, files = state["dest"], state["files"]
    dirs = {os.path.realpath(W.BUILDDIR), os.path.realpath(W.SRCDIR),
            os.path.abspath(W.BUILDDIR), os.path.abspath(W.SRCDIR)}
    needles = sorted(d.encode() for d in dirs if len(d) > 1)
    # configure's prefix is compiled in (SYSCONFDIR, DATADIR ...), and lies
    # inside the source tree under make distcheck: not a build path
    with open(os.path.join(W.BUILDDIR, "Makefile")) as fh:
        prefix = re.findall(r"^prefix = (.*)$", fh.read(), re.M)
    h.ok(len(prefix) == 1, "configure's prefix from the Makefile", prefix)
    hits = []
    for f in files:
        path = os.path.join(dest, f)
        with open(path, "rb") as fh:
            data = fh.read()
        if data.startswith(b"\x7fELF"):
            nodebug = os.path.join(h.tmp, "nodebug")
            p = subprocess.run(["objcopy", "--strip-debug", path, nodebug],
                               stderr=subprocess.PIPE, universal_newlines=True)
            h.ok(p.returncode == 0, "objcopy --strip-debug %s" % f, p.stderr)
            with open(nodebug, "rb") as fh:
                data = fh.read()
        if prefix and len(prefix[0]) > 1:
            data = data.replace(prefix[0].encode(), b"")
        hits += ["%s: %s" % (f, n.decode()) for n in needles if n in data]
    bins = [f for f in files if f in ("usr/sbin/wuguard", "usr/bin/wuguardctl")
            or f.endswith(".so")]
    h.ok(len(bins) == 3, "the daemon, wuguardctl and the plugin are installed", bins)
    h.eq(hits, [], "no installed file names the build or source directory", needles)


def only_runtime():
    files = state["files"]
    h.eq([f for f in files if f.endswith(".la")], [], "no libtool .la file is installed")
    plugdir = "usr/lib/multiarch-triplet/wuguard/"
    h.eq([f for f in files if f.startswith(plugdir)], [plugdir + "blocklist.so"],
         "the plugin directory holds blocklist.so only (no example plugin)")
    h.ok("usr/share/doc/wuguard/examples/example.c" in files,
         "the example plugin is installed as documentation (its source)", files)
    h.ok("etc/wuguard/wuguard.conf" in files and "lib/systemd/system/wuguard.service" in files,
         "the sample config and the unit are installed", files)


def patterns(name):
    path = os.path.join(DEBIAN, name)
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line.split()[0])  # "src [dest]": the source pattern
    return out


def debian_lists():
    files = state["files"]
    inst, notinst = patterns("wuguard.install"), patterns("not-installed")
    h.ok(len(inst) > 0, "debian/wuguard.install lists files", DEBIAN)
    missing = [f for f in files if not any(fnmatch.fnmatchcase(f, p) for p in inst + notinst)]
    h.eq(missing, [], "every installed file is in debian/wuguard.install or not-installed "
                      "(dh_missing --fail-missing)")
    unmatched = [p for p in inst if not any(fnmatch.fnmatchcase(f, p) for f in files)]
    h.eq(unmatched, [], "every debian/wuguard.install line matches an installed file "
                        "(dh_install)")


def debian_user():
    sysusers = open(os.path.join(DEBIAN, "wuguard.sysusers")).read()
    users = [line.split()[1] for line in sysusers.splitlines()
             if line.strip() and not line.startswith("#") and line.split()[0] == "u"]
    unit = open(os.path.join(W.SRCDIR, "contrib", "wuguard.service.in")).read()
    user = re.findall(r"^User=(\S+)$", unit, re.M)
    h.ok(len(user) == 1 and user[0] in users,
         "the unit's User= is the system user the package creates", user, users)


def build_depends():
    """configure.ac's WG_NEED lines name the Debian package of each library:
    outside the tests block each must be in Build-Depends, inside it with
    <!nocheck>, and the cross script must install the first kind for arm64."""
    ac = open(os.path.join(W.SRCDIR, "configure.ac")).read()
    tests_at = ac.find('AS_IF([test "x$enable_tests" = xyes]')
    need = [(m.start() > tests_at >= 0, m.group(1))
            for m in re.finditer(r"^\s*WG_NEED\(\[\w+\], \[[^]]*\], \[([\w.+-]+)\]", ac, re.M)]
    h.ok(len(need) >= 6, "configure.ac's WG_NEED packages", need)
    control = open(os.path.join(DEBIAN, "control")).read()
    bd = re.search(r"^Build-Depends:(.*?)^\S", control, re.M | re.S)
    deps = {}
    for item in (bd.group(1) if bd else "").split(","):
        words = item.split()
        if words:
            deps[words[0]] = " ".join(words[1:])
    cross = open(os.path.join(W.SRCDIR, "contrib", "cross-arm64.sh")).read()
    loop = re.search(r"^for p in (.*); do$", cross, re.M)
    cross_pkgs = loop.group(1).split() if loop else []
    for test_only, pkg in need:
        if test_only:
            h.ok("<!nocheck>" in deps.get(pkg, "-"),
                 "%s (tests only) is in Build-Depends with <!nocheck>" % pkg, deps.get(pkg))
        else:
            h.ok(pkg in deps and "<!nocheck>" not in deps[pkg],
                 "%s is in Build-Depends" % pkg, deps.get(pkg))
            h.ok(pkg in cross_pkgs and pkg + ":arm64" in cross,
                 "contrib/cross-arm64.sh checks and documents %s:arm64" % pkg, cross_pkgs)


def main():
    h.case("make install with the Debian layout", make_install)
    if not state.get("files"):
        h.done()
        return
    h.case("no build path in installed files", no_build_path)
    h.case("only what a user runs", only_runtime)
    h.case("debian/wuguard.install names exactly the installed files", debian_lists)
    h.case("debian/: the system user", debian_user)
    h.case("debian/control and the cross script: configure's libraries", build_depends)
    h.done()


main()
