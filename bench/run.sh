#!/usr/bin/env bash
# bench/run.sh - koff's benchmarks (make bench; needs root).  Writes
# BENCHMARKS.md.  For each sample (echo, dns), side by side in one run:
#   native    the sample's handle_request() compiled by gcc -O2 (bench/native_bench.c)
#   empty     an XDP program that only returns XDP_PASS: test_run's own cost
#   reference the handler hand-ported to BPF, clang -O2 (bench/ref/*.bpf.c)
#   lifted    koff-link's OUT.bpf.o, when koff-link produces one
# (ns per request, medians of 15 repetitions over the sample's request file;
# the XDP figures are bpf_prog_test_run durations, empty subtracted for the
# ratios), the verifier's processed-insn counts and the xlated/JIT sizes.
# Then end to end for dns on lo in a private netns: userspace only, under
# koff-load with the lifted program, and with the reference program,
# closed-loop clients with 1 and 32 requests outstanding (bench/udpload.c),
# client and server pinned to one CPU.  Then bench/kvcache.sh: samples/kvcache
# with and without the offload beside Debian's memcached (shared state).  Then bench/kernels.sh: each kernel
# shape koff-link emits (portable, --kernel 6.12, --kernel host) on the host
# and inside Debian's 6.1 and 6.12 under QEMU.  Then bench/frames.sh: the
# wrapper's cost per frame kind and the reply-size limits.
# Environment: BENCH_CPU (default 1), BENCH_SECONDS (default 5),
#              BENCH_LOAD_RUNS (default 3: median of that many load runs),
#              BENCH_OUT (default BENCHMARKS.md).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: needs root (BPF test runs, netns)" >&2; exit 1; }

CPU=${BENCH_CPU:-1}
SECONDS_PER_LOAD=${BENCH_SECONDS:-5}
LOAD_RUNS=${BENCH_LOAD_RUNS:-3}
OUT=${BENCH_OUT:-BENCHMARKS.md}
REPS=15
CC_FLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2"
BPF_FLAGS="-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Iinclude"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
report="$tmp/report.md"
pin() { taskset -c "$CPU" "$@"; }
port_of() { case $1 in echo) echo 7007;; dns) echo 5353;; esac; }

build_tools() {
	cc $CC_FLAGS bench/xdp_bench.c -lbpf -lelf -lz -o "$tmp/xdp_bench" &&
	cc $CC_FLAGS bench/udpload.c -o "$tmp/udpload" || koff_fail "cannot build the bench tools"
	local s
	for s in echo dns; do
		objcopy --localize-symbol=main "samples/$s/$s.o" "$tmp/${s}_nomain.o" &&
		cc $CC_FLAGS bench/native_bench.c "$tmp/${s}_nomain.o" -o "$tmp/native_bench-$s" &&
		cc $CC_FLAGS tests/koffdiff.c "$tmp/${s}_nomain.o" -lbpf -lelf -lz -o "$tmp/koffdiff-$s" &&
		clang $BPF_FLAGS -c "bench/ref/${s}_ref.bpf.c" -o "$tmp/${s}_ref.bpf.o" ||
			koff_fail "cannot build the $s benchmark pieces"
	done
}

# koff-link's program for sample $1, or nothing (the lifted column stays empty).
link_sample() {
	local s=$1
	if [ -x ./koff-link ] && ./koff-link "samples/$s/$s.o" -o "$tmp/$s" --udp-port "$(port_of "$s")" \
		>"$tmp/link-$s.log" 2>&1 && [ -f "$tmp/$s.bpf.o" ]; then
		echo "koff-link: $s.bpf.o written"
	else
		echo "koff-link: no program for $s ($(tail -n 1 "$tmp/link-$s.log" 2>/dev/null))"
		rm -f "$tmp/$s.bpf.o"
	fi
}

# The program koff-load attaches here: the may_goto variant beside OUT when
# koff-link wrote one (this kernel takes it), else OUT.bpf.o.
lifted_of() { [ -f "$tmp/$1.6.12.bpf.o" ] && echo "$tmp/$1.6.12.bpf.o" || echo "$tmp/$1.bpf.o"; }

field() { awk -v k="$1" -v n="$2" '$1 == k { print $n }'; }	# key, column

# Fallback percentage of a program on the sample's own requests (koffdiff).
fallback_of() {	# sample prog
	"$tmp/koffdiff-$1" --port "$(port_of "$1")" "$2" "samples/$1/requests.txt" 2>/dev/null |
		sed -n 's/^file: .*(fallback \([0-9.]*\)%), mismatches \([0-9]*\)$/\1% (mismatches \2)/p'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }

micro_sample() {
	local s=$1 port
	port=$(port_of "$s")
	local req="samples/$s/requests.txt"
	local native empty ref lifted="" ref_info lifted_info=""
	native=$(pin "$tmp/native_bench-$s" --reps $REPS "$req" | field native_ns_per_request 2)
	pin "$tmp/xdp_bench" --empty --reps $REPS "$req" >"$tmp/empty-$s.txt"
	pin "$tmp/xdp_bench" --port "$port" --reps $REPS "$tmp/${s}_ref.bpf.o" "$req" >"$tmp/ref-$s.txt"
	[ -f "$tmp/$s.bpf.o" ] &&
		pin "$tmp/xdp_bench" --port "$port" --reps $REPS "$(lifted_of "$s")" "$req" >"$tmp/lifted-$s.txt"
	empty=$(field xdp_ns_per_request 2 <"$tmp/empty-$s.txt")
	ref=$(field xdp_ns_per_request 2 <"$tmp/ref-$s.txt")
	ref_info=$(awk '$1 == "xdp_prog" { print $3 " | " $5 " | " $7 }' "$tmp/ref-$s.txt")
	if [ -f "$tmp/lifted-$s.txt" ]; then
		lifted=$(field xdp_ns_per_request 2 <"$tmp/lifted-$s.txt")
		lifted_info=$(awk '$1 == "xdp_prog" { print $3 " | " $5 " | " $7 }' "$tmp/lifted-$s.txt")
	fi
	local ref_net lifted_net
	ref_net=$(minus "$ref" "$empty")
	{
		echo "### $s ($(grep -cv '^[[:space:]]*\(#\|$\)' "$req") requests from $req)"
		echo
		echo "| program | ns/request (test_run) | minus empty | fallback on the file | verifier insns | xlated bytes | JIT bytes |"
		echo "|---|---|---|---|---|---|---|"
		echo "| native gcc -O2 (no test_run) | $native | - | - | - | - | - |"
		echo "| empty XDP (XDP_PASS) | $empty | 0 | - | $(awk '$1 == "xdp_prog" { print $3 " | " $5 " | " $7 }' "$tmp/empty-$s.txt") |"
		echo "| reference (clang -O2 -target bpf) | $ref | $ref_net | $(fallback_of "$s" "$tmp/${s}_ref.bpf.o") | $ref_info |"
		if [ -n "$lifted" ]; then
			lifted_net=$(minus "$lifted" "$empty")
			echo "| lifted (koff-link, $(basename "$(lifted_of "$s")" | sed "s/^$s/OUT/")) | $lifted | $lifted_net | $(fallback_of "$s" "$(lifted_of "$s")") | $lifted_info |"
			echo
			echo "Ratios (empty subtracted): lifted/native **$(ratio "$lifted_net" "$native")**," \
			     "lifted/reference **$(ratio "$lifted_net" "$ref_net")**," \
			     "reference/native $(ratio "$ref_net" "$native")."
		else
			echo "| lifted (koff-link) | not measured: $(tail -n 1 "$tmp/link-$s.log" 2>/dev/null) | | | | | |"
			echo
			echo "Ratio (empty subtracted): reference/native $(ratio "$ref_net" "$native")."
		fi
		echo
	} >>"$report"
}

# Busy jiffies of CPU $CPU (everything but idle and iowait).
cpu_busy() { awk -v c="cpu$CPU" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# One closed-loop run against the server in $ns; prints "rps µs-of-CPU-per-request".
load_once() {	# outstanding requests-file
	local before after line rps replies
	before=$(cpu_busy)
	line=$(ip netns exec "$ns" taskset -c "$CPU" timeout $((SECONDS_PER_LOAD + 10)) \
		"$tmp/udpload" -p 5353 -c "$1" -d "$SECONDS_PER_LOAD" "$2")
	after=$(cpu_busy)
	rps=$(echo "$line" | awk '{ print $NF }')
	replies=$(echo "$line" | awk '{ print $7 }')
	awk -v r="$rps" -v n="$replies" -v j=$((after - before)) -v hz="$(getconf CLK_TCK)" \
		'BEGIN { us = (n > 0) ? j * 1e6 / hz / n : 0; printf "%.0f %.2f\n", r, us }'
}

# The median (by req/s) of LOAD_RUNS closed-loop runs: one run moves with
# whatever else this shared machine is doing.
load_median() {	# outstanding requests-file
	local i
	for ((i = 0; i < LOAD_RUNS; i++)); do
		load_once "$1" "$2"
	done | sort -n | sed -n "$(((LOAD_RUNS + 1) / 2))p"
}

# Starts a server setup in $ns, loads it twice, stops it; appends a table row.
e2e_case() {	# label command...
	local label=$1
	shift
	koff_bg "$ns" "$tmp/server.log" taskset -c "$CPU" "$@"
	local pid=$KOFF_BG_PID
	koff_wait_for_udp_port "$ns" 5353 5 || { echo "| $label | server did not start | | | |" >>"$report"; return; }
	sleep 0.3
	local one many
	one=$(load_median 1 "$tmp/dns-answered.txt")
	many=$(load_median 32 "$tmp/dns-answered.txt")
	kill -TERM "$pid" 2>/dev/null
	koff_wait_for_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null
	local counters
	counters=$(grep -o 'tx=[0-9]*' "$tmp/server.log" | tail -n 1)
	echo "| $label | ${one% *} | ${one#* } | ${many% *} | ${many#* } | ${counters:--} |" >>"$report"
}

e2e_dns() {
	pin "$tmp/native_bench-dns" --reps 1 --inner 1 --answered "$tmp/dns-answered.txt" \
		samples/dns/requests.txt >/dev/null || koff_fail "cannot select answered requests"
	cc samples/dns/dns.o -o "$tmp/dns-plain" || koff_fail "cannot link samples/dns/dns.o"
	cp "$tmp/dns-plain" "$tmp/dnsref" && cp "$tmp/dns_ref.bpf.o" "$tmp/dnsref.bpf.o"
	# koff-load attaches only a program stamped with its executable's identity.
	koff_stamp_identity "$tmp/dnsref.bpf.o" "$tmp/dnsref"
	koff_build_loader
	koff_netns_create bench
	ns=$KOFF_NETNS
	{
		echo "### dns end to end ($(grep -cv '^#' "$tmp/dns-answered.txt") answered queries, round robin, median of $LOAD_RUNS runs of ${SECONDS_PER_LOAD} s)"
		echo
		echo "| server | req/s, 1 outstanding | CPU µs/req | req/s, 32 outstanding | CPU µs/req | XDP counters at exit |"
		echo "|---|---|---|---|---|---|"
	} >>"$report"
	e2e_case "userspace only (recvfrom/sendto)" "$tmp/dns-plain" -p 5353
	if [ -f "$tmp/dns.bpf.o" ]; then
		e2e_case "koff-load, lifted program" "$KOFF_LOAD" --dev lo "$tmp/dns" -p 5353
	else
		echo "| koff-load, lifted program | not measured: no dns.bpf.o | | | | |" >>"$report"
	fi
	e2e_case "koff-load, reference program" "$KOFF_LOAD" --dev lo "$tmp/dnsref" -p 5353
	echo >>"$report"
}

write_header() {
	cat <<HDR
# koff benchmarks

Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`make bench\` (bench/run.sh) at commit
$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (with local changes)').

Machine: $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),
kernel $(uname -r), bpf_jit_enable=$(cat /proc/sys/net/core/bpf_jit_enable),
bpf_jit_harden=$(cat /proc/sys/net/core/bpf_jit_harden),
spec_rstack_overflow: $(cat /sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow 2>/dev/null || echo n/a).
Everything pinned to CPU $CPU (\`taskset -c $CPU\`): client, server, test runs.

Commands (what run.sh does, \$tmp is a scratch directory):

    koff-link samples/S/S.o -o \$tmp/S --udp-port PORT          # echo 7007, dns 5353
    objcopy --localize-symbol=main samples/S/S.o \$tmp/S_nomain.o
    cc -O2 bench/native_bench.c \$tmp/S_nomain.o -o native_bench-S
    clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Iinclude -c bench/ref/S_ref.bpf.c
    taskset -c $CPU native_bench-S --reps $REPS samples/S/requests.txt
    taskset -c $CPU xdp_bench --empty --reps $REPS samples/S/requests.txt
    taskset -c $CPU xdp_bench --port PORT --reps $REPS \$tmp/S_ref.bpf.o samples/S/requests.txt
    taskset -c $CPU xdp_bench --port PORT --reps $REPS \$tmp/S.bpf.o samples/S/requests.txt
    # end to end, in netns koff-bench-PID on lo, server and client on CPU $CPU:
    taskset -c $CPU \$tmp/dns-plain -p 5353                     # or: koff-load --dev lo \$tmp/dns -p 5353
    taskset -c $CPU udpload -p 5353 -c 1|32 -d $SECONDS_PER_LOAD \$tmp/dns-answered.txt   # x$LOAD_RUNS, median

How to read: ns/request is a median over $REPS repetitions, each averaging every
request of the file 20 times (native: 200 times).  XDP runs are single
bpf_prog_test_run calls (repeat = 1: a repeat would rerun the program on the
frame it already turned into a reply), so each includes the test-run
overhead the empty program shows; "minus empty" is the program's own cost.
"fallback on the file" is koffdiff's share of the file's requests that the
program passed to userspace: a lifted program that falls back is fast
because it does not do the work.  CPU µs/req is the pinned CPU's busy time
(/proc/stat) over the replies, client included.

HDR
}

main() {
	build_tools
	: >"$report"
	local s
	echo "## Per request (bpf_prog_test_run vs native)" >>"$report"
	echo >>"$report"
	for s in echo dns; do
		link_sample "$s"
		micro_sample "$s"
	done
	echo "## End to end" >>"$report"
	echo >>"$report"
	e2e_dns
	# samples/kvcache with and without the offload, beside memcached.
	bash bench/kvcache.sh >>"$report" || echo "(bench/kvcache.sh failed: kvcache not measured)" >>"$report"
	# Each kernel shape on the host and in Debian's 6.1 and 6.12 (QEMU).
	if [ -x ./koff-vm ]; then
		bash bench/kernels.sh >>"$report" || echo "(bench/kernels.sh failed: kernel shapes not measured)" >>"$report"
	fi
	# The wrapper per frame kind (IPv4, IPv6, VLAN) and the reply-size limits.
	bash bench/frames.sh >>"$report" || echo "(bench/frames.sh failed: frame kinds not measured)" >>"$report"
	# Hand-written notes below the marker line survive a new run.
	local marker='<!-- reading: written by hand, kept by bench/run.sh -->'
	{
		write_header
		cat "$report"
		if grep -qF -- "$marker" "$OUT" 2>/dev/null; then
			# awk, not sed: the marker holds a '/' (bench/run.sh)
			awk -v m="$marker" '$0 == m { keep = 1 } keep' "$OUT"
		else
			echo "$marker"
		fi
	} >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
	echo "bench/run.sh: wrote $OUT"
	cat "$OUT"
}

main
