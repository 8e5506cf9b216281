#!/bin/sh
# bench/guard.sh: issue 3's benchmark. A guarded cache miss (wuguard asking
# a "local" and a "public" unbound in parallel, both forwarding to one nsd)
# against each upstream asked alone, for clean and sinkholed WU names.
#
#   bench/guard.sh [--names N] [--outstanding Q] [--no-pin]
#
# Needs nsd, unbound, dnsperf, taskset and /usr/bin/python3 with dnspython.
# Uses the wuguard binary in $WG_BUILDDIR (default: the source tree). Not
# part of make check.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
WG_BUILDDIR=${WG_BUILDDIR:-$(dirname "$here")}
export WG_BUILDDIR
for tool in nsd unbound dnsperf taskset; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool not found" >&2; exit 2; }
done
exec /usr/bin/python3 "$here/guard.py" "$@"
