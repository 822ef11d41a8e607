#!/usr/bin/env bash
# bench/frames.sh - what the frame kind costs the XDP wrapper, and how long
# a reply can grow.  Prints a Markdown section (bench/run.sh appends it to
# BENCHMARKS.md).  Needs root.
#   1. xdp_bench --frame v4|v6|vlan4|vlan6|qinq6 on koff-link's echo program
#      (the handler is a memcpy: the wrapper dominates) at 16, 256 and 1400
#      bytes, and on dns; ns per request under bpf_prog_test_run.  IPv6
#      replies pay for their UDP checksum, which grows with the reply.
#   2. bench/replysize.sh: the longest reply XDP sends in generic mode on lo
#      and in native mode on veth.
# Environment: BENCH_CPU (default 1), BENCH_REPS (default 15).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "bench/frames.sh: needs root" >&2; exit 1; }
CPU=${BENCH_CPU:-1}
REPS=${BENCH_REPS:-31}
kinds=(v4 v6 vlan4 vlan6 qinq6)
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 bench/xdp_bench.c -lbpf -lelf -lz \
	-o "$tmp/xdp_bench" || koff_fail "cannot build bench/xdp_bench.c"
./koff-link samples/echo/echo.o -o "$tmp/echo" --udp-port 7007 >/dev/null 2>&1 &&
./koff-link samples/dns/dns.o -o "$tmp/dns" --udp-port 5353 >/dev/null 2>&1 ||
	koff_fail "koff-link failed on a sample"
# The variant koff-load attaches on this kernel: the may_goto one when there.
prog_of() { if [ -f "$tmp/$1.6.18.bpf.o" ]; then echo "$tmp/$1.6.18.bpf.o"; else echo "$tmp/$1.bpf.o"; fi; }
for n in 16 256 1400; do
	head -c "$n" /dev/zero | tr '\0' 'k' | od -v -An -tx1 | tr -d ' \n' >"$tmp/echo$n.txt"
	echo >>"$tmp/echo$n.txt"
done
ns_of() {	# ns_of PROG PORT REQUESTS KIND
	taskset -c "$CPU" "$tmp/xdp_bench" --reps "$REPS" --inner 100 --port "$2" --frame "$4" "$1" "$3" |
		awk '/^xdp_ns_per_request/ { printf "%s (%s)", $2, $3 }'
}
empty=$(taskset -c "$CPU" "$tmp/xdp_bench" --empty --reps "$REPS" --inner 100 "$tmp/echo16.txt" |
	awk '/^xdp_ns_per_request/ { print $2 }')

echo "## Frame kinds"
echo
echo "ns per request under bpf_prog_test_run, median (minimum) of $REPS repetitions, the"
echo "empty program's $empty ns not subtracted; the variant koff-load attaches here"
echo "($(basename "$(prog_of echo)" | sed 's/^echo/OUT/')).  On a loaded machine the minimum is the steadier figure:"
echo
echo "| program, request | $(printf '%s | ' "${kinds[@]}")"
echo "|---|$(printf -- '---:|%.0s' "${kinds[@]}")"
for n in 16 256 1400; do
	row="| echo, $n bytes |"
	for k in "${kinds[@]}"; do row+=" $(ns_of "$(prog_of echo)" 7007 "$tmp/echo$n.txt" "$k") |"; done
	echo "$row"
done
row="| dns, samples/dns/requests.txt |"
for k in "${kinds[@]}"; do row+=" $(ns_of "$(prog_of dns)" 5353 samples/dns/requests.txt "$k") |"; done
echo "$row"
echo
echo "Reply size: a 2-byte request answered with N bytes (bench/replysize.sh):"
echo
bash bench/replysize.sh 2>/dev/null | grep '^|'
echo
