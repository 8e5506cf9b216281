#!/bin/sh
# bench/run.sh: issue 2's benchmark. wuguard, unbound and dnsmasq each forward
# to the same nsd (a zone of 100k names) and are measured one after the other
# with dnsperf on 127.0.0.1, --rounds times (default 3, interleaved); prints
# a table of per-field medians, the target ratios, and the ratios per round.
# "floor" is bench/floor.c (built with cc): a responder that does no DNS
# work, the kernel's share of a cache hit on this machine.
#
#   bench/run.sh [--duration S] [--rounds N] [--names N]
#                [--servers wuguard,unbound,dnsmasq,floor]
#                [--no-pin] [--no-p99] [--wg-cache-size N] [--wg-config FILE]
#
# Needs nsd, unbound, dnsmasq, dnsperf, taskset, cc and /usr/bin/python3 with
# dnspython (Debian: nsd unbound dnsmasq-base dnsperf util-linux
# python3-dnspython). Uses the wuguard binary in $WG_BUILDDIR (default: the
# source tree, i.e. an in-tree build). Not part of make check.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
WG_BUILDDIR=${WG_BUILDDIR:-$(dirname "$here")}
export WG_BUILDDIR
for tool in nsd unbound dnsmasq dnsperf taskset; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool not found" >&2; exit 2; }
done
exec /usr/bin/python3 "$here/bench.py" "$@"
