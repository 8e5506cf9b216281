#!/bin/sh
# tests/fuzz/run.sh: build the fuzz targets with clang's libFuzzer, ASan and
# UBSan, and fuzz each for a while, starting from its corpus. Not part of
# make check (which only replays the corpus); see tests/fuzz/README.
#
#   tests/fuzz/run.sh [-t SECONDS] [-m] [TARGET...]     (targets: query reply dnscrypt config)
#
#   -t SECONDS  per target (default 60)
#   -m          afterwards merge what was found into tests/fuzz/corpus/TARGET
#               (libFuzzer -merge=1 keeps only inputs that add coverage)
#
# Needs clang (Debian: clang, which brings libFuzzer) and a configured build
# tree for autoconfig.h: WG_BUILDDIR (default: the source tree). Work files
# and crash inputs go to ${WG_FUZZ_WORK:-/tmp/wuguard-fuzz}.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
build=${WG_BUILDDIR:-$top}
work=${WG_FUZZ_WORK:-/tmp/wuguard-fuzz}
secs=60
merge=0
while getopts t:m opt; do
	case $opt in
	t) secs=$OPTARG ;;
	m) merge=1 ;;
	*) sed -n '2,15p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
targets=${*:-query reply dnscrypt config}
[ -f "$build/autoconfig.h" ] || { echo "fuzz: no autoconfig.h in $build (run ./configure)" >&2; exit 2; }
command -v clang >/dev/null || { echo "fuzz: clang not found (apt-get install clang)" >&2; exit 2; }
libs="ldns libuv libsodium sqlite3 inih"
mkdir -p "$work"
status=0
for t in $targets; do
	[ -f "$here/fuzz_$t.c" ] || { echo "fuzz: no target $t" >&2; exit 2; }
	exe=$work/fuzz_$t
	# shellcheck disable=SC2046
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$build" -I"$top/src" $(pkg-config --cflags $libs) -o "$exe" "$here/fuzz_$t.c" \
		"$top/src/wire.c" "$top/src/compare.c" "$top/src/cache.c" "$top/src/domainset.c" \
		"$top/src/netaddr.c" "$top/src/dnscrypt_proto.c" "$top/src/log.c" "$top/src/config.c" \
		$(pkg-config --libs $libs)
	mkdir -p "$work/$t/new" "$work/$t/crash"
	echo "fuzz: $t for $secs s"
	if ! "$exe" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/$t/crash/" "$work/$t/new" "$here/corpus/$t" \
		>"$work/$t/log" 2>&1; then
		echo "fuzz: $t FAILED, input in $work/$t/crash/, log $work/$t/log" >&2
		grep -E "invariant failed|ERROR: |runtime error" "$work/$t/log" | head -5 >&2
		status=1
		continue
	fi
	grep -E "^stat::number_of_executed_units|^Done" "$work/$t/log" | tail -1
	if [ "$merge" = 1 ]; then
		"$exe" -merge=1 "$here/corpus/$t" "$work/$t/new" >"$work/$t/merge.log" 2>&1
		echo "fuzz: $t corpus now $(ls "$here/corpus/$t" | wc -l) inputs"
	fi
done
exit $status
