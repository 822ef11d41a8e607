#!/usr/bin/env bash
# bench/decide.sh - does koff-link's --trace decision pick the faster side,
# and what does koff-load --adapt do when the workload changes mid-run?
# (make bench-decide; needs root.)  samples/slowpath end to end on lo in a
# private netns, server and closed-loop client (bench/udpload.c, 4 requests
# outstanding) pinned to one CPU, for each workload:
#   favour   samples/slowpath/favour.txt: 90% of requests answered in XDP
#   punish   samples/slowpath/punish.txt: 88% fall back after a long hash
# with and without the offload, beside the decision koff-link made from the
# same file.  Then one run whose workload switches favour -> punish ->
# favour, served without offload, with the static offload, and under
# koff-load --adapt.  Writes its section of BENCHMARKS.md (between the
# decide.sh markers, below the hand-written marker that bench/run.sh keeps).
# Environment: BENCH_CPU (1), BENCH_SECONDS (3 per load run),
#              BENCH_LOAD_RUNS (3, median), BENCH_OUT (BENCHMARKS.md).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "bench/decide.sh: needs root (BPF, netns)" >&2; exit 1; }

CPU=${BENCH_CPU:-1}
SECS=${BENCH_SECONDS:-3}
RUNS=${BENCH_LOAD_RUNS:-3}
OUT=${BENCH_OUT:-BENCHMARKS.md}
PORT=7070
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
report="$tmp/report.md"
sp=samples/slowpath

setup() {
	make -s all >&2 || koff_fail "make failed"
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 bench/udpload.c -o "$tmp/udpload" ||
		koff_fail "cannot build bench/udpload.c"
	cc $sp/slowpath.o -o "$tmp/plain" || koff_fail "cannot link slowpath.o"
	local w
	for w in favour punish; do
		./koff-link $sp/slowpath.o -o "$tmp/decided-$w" --udp-port $PORT --trace $sp/$w.txt \
			>/dev/null 2>&1 || koff_fail "koff-link --trace $w failed"
	done
	# The offload whatever a trace says, for the "with offload" side.
	./koff-link $sp/slowpath.o -o "$tmp/offload" --udp-port $PORT >/dev/null 2>&1 &&
		[ -f "$tmp/offload.bpf.o" ] || koff_fail "koff-link slowpath.o wrote no program"
	koff_build_loader
	koff_netns_create decide
	ns=$KOFF_NETNS
}

jget() { jq -r "$2" "$tmp/decided-$1.koff.json"; }

# One closed-loop run of workload $1 for $2 seconds: prints req/s.
load_once() {
	ip netns exec "$ns" taskset -c "$CPU" timeout $(($2 + 10)) \
		"$tmp/udpload" -p $PORT -c 4 -d "$2" "$sp/$1.txt" | awk '{ print $NF }'
}

load_median() {
	local i
	for ((i = 0; i < RUNS; i++)); do load_once "$1" "$SECS"; done | sort -n | sed -n "$(((RUNS + 1) / 2))p"
}

# start_server LOG command...: in the netns, pinned; waits for the port.
start_server() {
	local log=$1; shift
	koff_bg "$ns" "$log" taskset -c "$CPU" "$@"
	server=$KOFF_BG_PID
	koff_wait_for_udp_port "$ns" $PORT 10 || koff_fail "server did not start: $(cat "$log")"
	sleep 0.3
}

stop_server() {
	kill -TERM "$server" 2>/dev/null
	koff_wait_for_exit "$server" 5 || kill -KILL "$server" 2>/dev/null
}

static_workloads() {
	local w plain off winner decided gain
	{
		echo "### Each workload with and without the offload"
		echo
		echo "| workload | no offload, req/s | offload, req/s | faster | koff-link --trace decided | predicted gain ns/req | completed in XDP | kernel ns per fallback | userspace ns/req (measured) |"
		echo "|---|---|---|---|---|---|---|---|---|"
	} >>"$report"
	for w in favour punish; do
		start_server "$tmp/plain-$w.log" "$tmp/plain" -p $PORT
		plain=$(load_median "$w")
		stop_server
		start_server "$tmp/off-$w.log" "$KOFF_LOAD" --quiet "$tmp/offload" -p $PORT
		off=$(load_median "$w")
		stop_server
		winner=$(awk -v a="$plain" -v b="$off" 'BEGIN { print (b > a) ? "offload" : "no offload" }')
		decided=$(jget "$w" .decision.verdict)
		gain=$(jget "$w" '.decision.predicted_gain_ns_per_request')
		echo "| $w | $plain | $off | $winner ($(awk -v a="$plain" -v b="$off" 'BEGIN { printf "%.2fx", (b > a) ? b / a : a / b }')) | **$decided**$([ "$decided" = "$winner" ] && echo ' (matches)' || echo ' (DIFFERS)') | $gain | $(jget "$w" '.decision.completed_fraction * 100 | floor')% | $(jget "$w" .decision.kernel_ns_per_fallback) | $(jget "$w" .decision.userspace_ns_per_request) |" >>"$report"
	done
	echo >>"$report"
}

# The switching workload: favour, punish, favour, $SECS*2 seconds each;
# prints the three req/s and the requests never answered, in table cells.
phases() {
	local w out unanswered=0
	for w in favour punish favour; do
		out=$(ip netns exec "$ns" taskset -c "$CPU" timeout $((SECS * 2 + 10)) \
			"$tmp/udpload" -p $PORT -c 4 -d $((SECS * 2)) "$sp/$w.txt")
		printf '%s | ' "$(awk '{ print $NF }' <<<"$out")"
		unanswered=$((unanswered + $(awk '{ print $11 }' <<<"$out")))
	done
	echo "$unanswered"
}

switching_workload() {
	local plain off adapt
	start_server "$tmp/sw-plain.log" "$tmp/plain" -p $PORT
	plain=$(phases)
	stop_server
	start_server "$tmp/sw-off.log" "$KOFF_LOAD" --quiet "$tmp/offload" -p $PORT
	off=$(phases)
	stop_server
	start_server "$tmp/sw-adapt.log" "$KOFF_LOAD" --quiet --adapt --adapt-interval 250 "$tmp/offload" -p $PORT
	adapt=$(phases)
	stop_server
	{
		echo "### The workload switches mid-run: favour -> punish -> favour ($((SECS * 2)) s each)"
		echo
		echo "| server | favour req/s | punish req/s | favour again req/s | requests never answered |"
		echo "|---|---|---|---|---|"
		echo "| no offload | $plain |"
		echo "| static offload | $off |"
		echo "| koff-load --adapt --adapt-interval 250 | $adapt |"
		echo
		echo "One run per phase and row; the rows ran one after the other on a 2-vCPU machine shared"
		echo "with other jobs, whose load moves a row by up to 2x (compare the static offload's favour"
		echo "figures here and above): read each row's phases against each other."
		echo
		echo "What the adaptive loader logged (every switch, with its numbers):"
		echo
		grep 'adapt:' "$tmp/sw-adapt.log" | sed 's/^/    /'
		echo
	} >>"$report"
}

write_section() {
	local begin='<!-- decide.sh begin -->' end='<!-- decide.sh end -->'
	local marker='<!-- reading: written by hand, kept by bench/run.sh -->'
	{
		echo "$begin"
		echo "## Workload decision and adaptive offload (bench/decide.sh)"
		echo
		echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`make bench-decide\` at commit $(git rev-parse --short HEAD)$(git diff --quiet 2>/dev/null || echo ' (with local changes)');"
		echo "kernel $(uname -r), $(nproc) vCPU, server and client pinned to CPU $CPU, generic XDP on lo in a private netns."
		echo
		echo "Commands (\$tmp is a scratch directory):"
		echo
		echo "    koff-link samples/slowpath/slowpath.o -o \$tmp/decided-W --udp-port $PORT --trace samples/slowpath/W.txt"
		echo "    koff-link samples/slowpath/slowpath.o -o \$tmp/offload --udp-port $PORT      # offload, no trace"
		echo "    cc samples/slowpath/slowpath.o -o \$tmp/plain                                # no offload"
		echo "    taskset -c $CPU \$tmp/plain -p $PORT      # or: koff-load [--adapt --adapt-interval 250] \$tmp/offload -p $PORT"
		echo "    taskset -c $CPU udpload -p $PORT -c 4 -d $SECS samples/slowpath/W.txt   # x$RUNS, median"
		echo
		cat "$report"
		echo "$end"
	} >"$tmp/section.md"
	[ -f "$OUT" ] || echo "$marker" >"$OUT"
	grep -qF -- "$marker" "$OUT" || echo "$marker" >>"$OUT"
	awk -v b="$begin" -v e="$end" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$OUT" >"$tmp/rest.md"
	cat "$tmp/rest.md" "$tmp/section.md" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
	echo "bench/decide.sh: wrote its section of $OUT"
	cat "$tmp/section.md"
}

setup
: >"$report"
static_workloads
switching_workload
write_section
