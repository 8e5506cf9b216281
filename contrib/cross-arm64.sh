#!/bin/sh
# cross-arm64.sh: build the arm64 (Raspberry Pi 3/4/5, 64-bit OS) package on
# an amd64 Debian 12 machine, and run the arm64 binaries under QEMU when
# qemu-user-static is installed. Usage, from the source tree:
#
#   contrib/cross-arm64.sh [OUTDIR]      (default OUTDIR: ./cross-arm64)
#
# One-time set-up, as root (the recipe this script checks):
#
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install -y crossbuild-essential-arm64 debhelper dpkg-dev \
#     libuv1-dev:arm64 libsodium-dev:arm64 libsqlite3-dev:arm64 libinih-dev:arm64 \
#     libgnutls28-dev:arm64 \
#     qemu-user-static
#
# The build itself is the Debian cross recipe: the nocheck profile leaves out
# ldns and cmocka (used only by the tests; libldns-dev:arm64 cannot be
# installed beside the amd64 one), so only the target's runtime -dev packages
# are needed:
#
#   DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -aarm64 -Pnocheck -us -uc -b
#
# Exit status: 0 built (and, with QEMU, ran), 1 failed, 77 skipped (the reason
# is printed): automake's code for a skipped test.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$PWD/cross-arm64}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage not installed (apt-get install dpkg-dev debhelper)"
command -v aarch64-linux-gnu-gcc >/dev/null || skip "no arm64 cross compiler (apt-get install crossbuild-essential-arm64)"
dpkg --print-foreign-architectures | grep -qx arm64 || skip "arm64 is not a dpkg architecture here (dpkg --add-architecture arm64 && apt-get update)"
missing=
# configure.ac's WG_NEED packages outside the tests (test_install.py checks the list)
for p in libuv1-dev libsodium-dev libsqlite3-dev libinih-dev libgnutls28-dev; do
	dpkg-query -W -f='${Status}\n' "$p:arm64" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p:arm64"
done
[ -z "$missing" ] || skip "arm64 runtime -dev packages missing (apt-get install$missing)"

# a copy of the tree, so the build never touches (or cleans) this one
work=$(mktemp -d "${TMPDIR:-/tmp}/wuguard-arm64.XXXXXX") || fail "mktemp"
trap 'rm -rf "$work"' EXIT
mkdir "$work/wuguard"
if [ -d "$src/.git" ] && command -v git >/dev/null; then
	# the tracked files as they are in the working tree
	(cd "$src" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$work/wuguard" ||
		fail "copying the tracked files"
else
	cp -a "$src/." "$work/wuguard/" || fail "copying the tree"
fi

echo "cross-arm64: DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -aarm64 -Pnocheck -us -uc -b (log: $out/build.log)"
mkdir -p "$out" || fail "mkdir $out"
(cd "$work/wuguard" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -aarm64 -Pnocheck -us -uc -b) \
	>"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; fail "dpkg-buildpackage (see $out/build.log)"; }
deb=$(ls "$work"/wuguard_*_arm64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no wuguard_*_arm64.deb was built"
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out/" || fail "copying the packages"
deb=$out/$(basename "$deb")
echo "cross-arm64: $deb: $(stat -c %s "$deb") bytes"

root="$out/root"
rm -rf "$root" && dpkg-deb -x "$deb" "$root" || fail "dpkg-deb -x"
for f in usr/sbin/wuguard usr/bin/wuguardctl usr/lib/aarch64-linux-gnu/wuguard/blocklist.so; do
	[ -f "$root/$f" ] || fail "$f is not in the package"
	if command -v file >/dev/null; then
		file -b "$root/$f" | grep -q 'ARM aarch64' || fail "$f is no arm64 binary: $(file -b "$root/$f")"
	fi
	echo "cross-arm64: /$f: $(stat -c %s "$root/$f") bytes"
done

qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
if [ -z "$qemu" ]; then
	echo "cross-arm64: built; not run (no qemu-aarch64: apt-get install qemu-user-static)"
	exit 0
fi
# the arm64 libraries of the set-up above are the target's root: -L /
"$qemu" -L / "$root/usr/sbin/wuguard" -h >"$out/wuguard-h.txt" 2>&1 ||
	{ cat "$out/wuguard-h.txt"; fail "wuguard -h under $qemu"; }
head -1 "$out/wuguard-h.txt" | grep -q '^Usage: wuguard' || fail "wuguard -h printed no usage"
echo "cross-arm64: $qemu: wuguard -h: $(head -1 "$out/wuguard-h.txt")"
"$qemu" -L / "$root/usr/sbin/wuguard" -n --public none --local 127.0.0.1:53 \
	--domains "$root/usr/share/wuguard/wu-domains.list" >"$out/wuguard-n.txt" 2>&1 ||
	{ cat "$out/wuguard-n.txt"; fail "wuguard -n under $qemu"; }
echo "cross-arm64: $qemu: wuguard -n: $(tail -1 "$out/wuguard-n.txt")"

# one test under QEMU: the query parser's fuzz corpus replay, built in the
# same arm64 tree (the cmocka unit tests need ldns, which the cross set-up
# leaves out)
(cd "$work/wuguard" && make -s tests/fuzz/replay_query) >"$out/replay.log" 2>&1 ||
	{ tail -20 "$out/replay.log"; fail "building tests/fuzz/replay_query for arm64"; }
"$qemu" -L / "$work/wuguard/tests/fuzz/replay_query" >"$out/replay.tap" 2>&1 ||
	{ tail -20 "$out/replay.tap"; fail "tests/fuzz/replay_query under $qemu"; }
grep -q '^not ok' "$out/replay.tap" && fail "tests/fuzz/replay_query: $(grep -m1 '^not ok' "$out/replay.tap")"
echo "cross-arm64: $qemu: tests/fuzz/replay_query: $(grep -m1 "^ok" "$out/replay.tap")"
exit 0
