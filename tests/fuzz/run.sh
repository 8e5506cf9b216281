#!/bin/sh
# tests/fuzz/run.sh: build the fuzz targets with clang's libFuzzer, ASan and
# UBSan, and fuzz each for a while, starting from a copy of its corpus. Not
# part of make check (which only replays the corpus); `make fuzz` runs this.
# See tests/fuzz/README.
#
#   tests/fuzz/run.sh [-t SECONDS] [-m] [TARGET...]     (targets: query reply dnscrypt config)
#
#   -t SECONDS  per target (default: $FUZZ_SECONDS, or 60)
#   -m          afterwards merge what was found into tests/fuzz/corpus/TARGET
#               (libFuzzer -merge=1 keeps only inputs that add coverage);
#               without -m the source corpus is only read
#
# Stops at the first target that fails (crash, leak, invariant, timeout) and
# prints the reproducer's path; exit 1. Exit 2: no clang, no configured
# build tree, or a target that does not build.
#
# Needs clang (Debian: clang, which brings libFuzzer) and a configured build
# tree for autoconfig.h: WG_BUILDDIR (default: the source tree). Work files
# and crash inputs go to ${WG_FUZZ_WORK:-/tmp/wuguard-fuzz}, emptied first.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
build=${WG_BUILDDIR:-$top}
work=${WG_FUZZ_WORK:-/tmp/wuguard-fuzz}
secs=${FUZZ_SECONDS:-60}
merge=0
while getopts t:m opt; do
	case $opt in
	t) secs=$OPTARG ;;
	m) merge=1 ;;
	*) sed -n '2,20p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
targets=${*:-query reply dnscrypt config}
case $secs in
''|*[!0-9]*) echo "fuzz: FUZZ_SECONDS/-t must be a number of seconds, not '$secs'" >&2; exit 2 ;;
esac
[ -f "$build/autoconfig.h" ] || { echo "fuzz: no autoconfig.h in $build (run ./configure)" >&2; exit 2; }
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null; then
	echo "fuzz: clang not found: make fuzz needs clang with libFuzzer" \
		"(Debian: apt-get install clang); make check still replays the corpus" >&2
	exit 2
fi
libs="ldns libuv libsodium sqlite3 inih"
for t in $targets; do
	[ -f "$here/fuzz_$t.c" ] || { echo "fuzz: no target $t (have: query reply dnscrypt config)" >&2; exit 2; }
done
mkdir -p "$work"
for t in $targets; do
	exe=$work/fuzz_$t
	rm -rf "$work/$t"
	mkdir -p "$work/$t/crash"
	# shellcheck disable=SC2046
	if ! "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$build" -I"$top/src" $(pkg-config --cflags $libs) -o "$exe" "$here/fuzz_$t.c" \
		"$top/src/wire.c" "$top/src/compare.c" "$top/src/cache.c" "$top/src/domainset.c" \
		"$top/src/netaddr.c" "$top/src/dnscrypt_proto.c" "$top/src/log.c" "$top/src/config.c" "$top/src/safefile.c" \
		$(pkg-config --libs $libs) >"$work/$t/build.log" 2>&1; then
		echo "fuzz: $t does not build with $CLANG, see $work/$t/build.log" >&2
		head -20 "$work/$t/build.log" >&2
		exit 2
	fi
	# A copy, so libFuzzer adds what it finds there, not to the source tree.
	cp -R "$here/corpus/$t" "$work/$t/corpus"
	echo "fuzz: $t for $secs s ($(ls "$work/$t/corpus" | wc -l) corpus inputs)"
	if ! "$exe" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/$t/crash/" "$work/$t/corpus" >"$work/$t/log" 2>&1; then
		echo "fuzz: $t FAILED, log $work/$t/log" >&2
		grep -E "invariant failed|ERROR: |runtime error" "$work/$t/log" | head -5 >&2 || true
		for f in "$work/$t/crash/"*; do
			[ -f "$f" ] && echo "fuzz: reproducer $f (replay: $exe $f)" >&2
		done
		exit 1
	fi
	grep -E "^stat::number_of_executed_units|^Done" "$work/$t/log" | tail -1 | \
		sed "s/^/fuzz: $t: /"
	if [ "$merge" = 1 ]; then
		"$exe" -merge=1 "$here/corpus/$t" "$work/$t/corpus" >"$work/$t/merge.log" 2>&1
		echo "fuzz: $t corpus now $(ls "$here/corpus/$t" | wc -l) inputs"
	fi
done
echo "fuzz: no failure in $targets ($secs s each)"
