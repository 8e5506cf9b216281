#!/bin/sh
# bench/dlog_bench.sh: issue 4's benchmark. Rows per second the discrepancy
# database's writer sustains (tests/dlog_fill), and the daemon's query latency
# while every query adds a row, against the same load with no database.
#
#   bench/dlog_bench.sh [--rows N] [--qps Q] [--duration S]
#
# Needs a built tree (make check builds tests/dlog_fill), nsd, dnsmasq,
# dnsperf and /usr/bin/python3 with dnspython. Uses the binaries in
# $WG_BUILDDIR (default: the source tree). Not part of make check.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
WG_BUILDDIR=${WG_BUILDDIR:-$(dirname "$here")}
export WG_BUILDDIR
for tool in nsd dnsmasq dnsperf; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$tool" >/dev/null 2>&1 || { echo "dlog_bench: $tool not found" >&2; exit 2; }
done
exec /usr/bin/python3 "$here/dlog_bench.py" "$@"
