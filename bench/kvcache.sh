#!/usr/bin/env bash
# bench/kvcache.sh - samples/kvcache with and without koff's offload, beside
# Debian's memcached, on the same load (make bench runs it; needs root).
# Prints a markdown section on stdout.
#
# In a private netns on lo, everything pinned to CPU $BENCH_CPU (client,
# server, and so the XDP program, which runs in the sender's softirq):
#   servers: kvcache alone (cc kvcache.o), koff-load + koff-link's kvcache,
#            memcached -t 1 -U PORT (one worker thread)
#   GET load: bench/kvload get, closed loop, 16 outstanding UDP gets of
#            1000 keys x 100 bytes, at 100%, 90% and 50% hits (every reply
#            checked); memcaslap -U (its default 9:1 get:set mix, 100-byte
#            values) for one run each
#   writes:  bench/kvload set, closed loop over TCP, one outstanding: the
#            cost the trampolines (and the shared mapping) add to a set; one
#            more run with koff-load attaching to a veth the traffic does not
#            cross, so that OUT runs with the map and the trampolines active
#            but lo has no XDP program (generic XDP costs TCP on lo dearly)
#   direct:  bench/tramp_bench.c, a writer root called 20M times in a loop:
#            plain cc, koff-link's OUT alone, and under koff-load (live map)
# Environment: BENCH_CPU (default 1), BENCH_KV_SECONDS (default 3).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "bench/kvcache.sh: needs root (BPF, netns)" >&2; exit 1; }

CPU=${BENCH_CPU:-1}
SECS=${BENCH_KV_SECONDS:-3}	# whole seconds (memcaslap -t)
PORT=11211
KEYS=1000
SIZE=100
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
pin() { taskset -c "$CPU" "$@"; }

cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 bench/kvload.c -o "$tmp/kvload" ||
	koff_fail "cannot build bench/kvload.c"
make -s samples/kvcache/kvcache.o >&2 || koff_fail "cannot build kvcache.o"
cc samples/kvcache/kvcache.o -o "$tmp/kvcache-plain" || koff_fail "cannot link kvcache.o"
koff_build_loader
offload=yes
./koff-link samples/kvcache/kvcache.o -o "$tmp/kvcache" --udp-port $PORT >"$tmp/link.log" 2>&1 ||
	offload="no: $(tail -n 1 "$tmp/link.log")"
koff_netns_create kvbench
ns=$KOFF_NETNS
ip -n "$ns" addr add 10.99.0.1/32 dev lo	# memcaslap's getaddrinfo wants an address beside loopback's
koff_mount_bpffs "$tmp/bpffs"

kv() { koff_nsexec "$ns" taskset -c "$CPU" "$tmp/kvload" "$@" -p $PORT; }
# Busy jiffies of CPU $CPU (everything but idle and iowait), as bench/run.sh.
cpu_busy() { awk -v c="cpu$CPU" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
us_per() {	# jiffies replies
	awk -v j="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (n > 0 ? j * 1e6 / hz / n : 0) }'
}
field() { echo "$1" | sed -n "s/.* $2 \([0-9.]*\).*/\1/p"; }

# The kernel's share of the replies since the last call (koff-load's tx).
LOG="" LOADER="" TX_BEFORE=0
tx_now() {
	[ -n "$LOADER" ] || { echo 0; return; }
	local n i
	n=$(( $(grep -c '^koff-load: counters (now)' "$LOG") + 1 ))
	kill -USR1 "$LOADER"
	for ((i = 0; i < 60; i++)); do
		[ "$(grep -c '^koff-load: counters (now)' "$LOG")" -ge "$n" ] && break
		sleep 0.05
	done
	koff_counter "$LOG" now tx
}
# The share of REPLIES the kernel answered since the last call (tx moved);
# sets SHARE.  Called in this shell, not in $(...): it keeps TX_BEFORE.
xdp_share() {	# replies
	local tx
	SHARE="-"
	[ -n "$LOADER" ] || return 0
	tx=$(tx_now)
	SHARE=$(awk -v t=$((tx - TX_BEFORE)) -v r="$1" 'BEGIN { printf "%.0f%%", (r > 0 ? 100 * t / r : 0) }')
	TX_BEFORE=$tx
}

start_server() {	# label command...
	local label=$1; shift
	LOG="$tmp/$label.log"
	koff_bg "$ns" "$LOG" taskset -c "$CPU" "$@"
	SERVER=$KOFF_BG_PID
	koff_wait_for_udp_port "$ns" $PORT 60 || koff_fail "$label did not start: $(tail -n 3 "$LOG")"
	sleep 0.3
	kv fill -k $KEYS -s $SIZE >/dev/null || koff_fail "$label: fill failed"
}
stop_server() {
	kill -TERM "$SERVER" 2>/dev/null
	koff_wait_for_exit "$SERVER" 5 || kill -KILL "$SERVER" 2>/dev/null
	wait "$SERVER" 2>/dev/null
	LOADER=""
}

GET_ROWS=() SLAP_ROWS=() SET_ROWS=() TRAMP_ROWS=()
measure() {	# label
	local label=$1 m line slap gets
	TX_BEFORE=$(tx_now)
	for m in 0 10 50; do
		local before after
		before=$(cpu_busy)
		line=$(kv get -k $KEYS -s $SIZE -m $m -c 16 -d "$SECS") || line="$line (wrong replies!)"
		after=$(cpu_busy)
		xdp_share "$(field "$line" replies)"
		GET_ROWS+=("| $label | $((100 - m))% | $(field "$line" rps) | $(field "$line" p50_us) | $(field "$line" p99_us) | $(us_per $((after - before)) "$(field "$line" replies)") | $SHARE | $(field "$line" bad) |")
	done
	slap=$(koff_nsexec "$ns" timeout $((SECS + 20)) taskset -c "$CPU" memcaslap -s 127.0.0.1:$PORT \
		-T 1 -c 2 -w 1k -t "${SECS}s" -U -X $SIZE 2>&1)
	slapv() { echo "$slap" | sed -n "s/^$1: //p"; }
	gets=$(slapv cmd_get)
	xdp_share "${gets:-0}"
	SLAP_ROWS+=("| $label | $(echo "$slap" | sed -n 's/.*TPS: \([0-9]*\).*/\1/p') | $gets | $(slapv cmd_set) | $(slapv get_misses) | $(slapv udp_timeout) | $SHARE |")
	line=$(kv set -k $KEYS -s $SIZE -d "$SECS")
	SET_ROWS+=("| $label | $(field "$line" rps) | $(field "$line" p50_us) | $(field "$line" p99_us) |")
}

start_server plain "$tmp/kvcache-plain" -p $PORT
measure "kvcache, userspace only"
stop_server
if [ "$offload" = yes ]; then
	start_server koff-alone "$tmp/kvcache" -p $PORT
	measure "koff's kvcache alone (no loader)"
	stop_server
	start_server koff "$KOFF_LOAD" --pin-dir "$tmp/bpffs/koff" --dev lo "$tmp/kvcache" -p $PORT
	LOADER=$SERVER
	measure "koff's kvcache under koff-load"
	stop_server
	# The map and the trampolines without XDP on the traffic's path.
	ip -n "$ns" link add kvb0 type veth peer name kvb1 && ip -n "$ns" link set kvb0 up &&
		ip -n "$ns" link set kvb1 up || koff_fail "cannot make a veth pair in $ns"
	start_server koff-veth "$KOFF_LOAD" --pin-dir "$tmp/bpffs/koff" --dev kvb0 "$tmp/kvcache" -p $PORT
	line=$(kv set -k $KEYS -s $SIZE -d "$SECS")
	SET_ROWS+=("| koff's kvcache under koff-load, XDP on another device | $(field "$line" rps) | $(field "$line" p50_us) | $(field "$line" p99_us) |")
	stop_server
fi
# The trampolines measured directly: ns per call of a writer root.
gcc -O2 -g -c bench/tramp_bench.c -o "$tmp/tramp.o" && cc "$tmp/tramp.o" -o "$tmp/tramp-plain" ||
	koff_fail "cannot build bench/tramp_bench.c"
tramp_row() {	# label command...
	local label=$1 per_call; shift
	per_call=$(koff_nsexec "$ns" taskset -c "$CPU" "$@" 20000000 </dev/null 2>/dev/null |
		sed -n 's/^ns_per_call \([0-9.]*\).*/\1/p')
	TRAMP_ROWS+=("| $label | ${per_call:--} |")
}
tramp_row "plain (cc tramp.o)" "$tmp/tramp-plain"
if ./koff-link "$tmp/tramp.o" -o "$tmp/tramp" --udp-port 9 >"$tmp/tramp-link.log" 2>&1; then
	tramp_row "koff-link's OUT alone (trampolines, no map)" "$tmp/tramp"
	tramp_row "koff-link's OUT under koff-load (live map: lock, seq, writers)" \
		"$KOFF_LOAD" -q --pin-dir "$tmp/bpffs/koff" --dev lo "$tmp/tramp"
fi

if command -v memcached >/dev/null; then
	start_server memcached memcached -u root -t 1 -l 127.0.0.1 -p $PORT -U $PORT -m 64
	measure "memcached 1.6 -t 1"
	stop_server
fi

cat <<EOF
## kvcache: a cache served from XDP (samples/kvcache, bench/kvcache.sh)

Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (with local changes)'),
$(nproc) vCPU, kernel $(uname -r); client, server and XDP all on CPU $CPU, in a private netns on lo
(generic XDP). Offload: $offload. $KEYS keys of $SIZE bytes set over TCP first.

    koff-link samples/kvcache/kvcache.o -o kvcache --udp-port $PORT
    koff-load --pin-dir BPFFS/koff --dev lo ./kvcache -p $PORT        # or ./kvcache alone, or memcached -t 1 -U $PORT
    kvload get -p $PORT -k $KEYS -s $SIZE -m 0|10|50 -c 16 -d $SECS     # UDP gets, 16 outstanding, each reply checked
    memcaslap -s 127.0.0.1:$PORT -T 1 -c 2 -w 1k -t ${SECS}s -U -X $SIZE
    kvload set -p $PORT -k $KEYS -s $SIZE -d $SECS                      # TCP sets, one outstanding

GET over UDP (closed loop, 16 outstanding; CPU µs/get is CPU $CPU's busy time over
the replies, client included; "in XDP" is koff-load's tx over the replies):

| server | hits | gets/s | p50 µs | p99 µs | CPU µs/get | in XDP | wrong replies |
|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${GET_ROWS[@]}")

memcaslap over UDP (its 9:1 get:set mix, 2 concurrent, about 2k keys; sets and misses fall back to userspace):

| server | ops/s | gets | sets | get misses | UDP timeouts | gets in XDP |
|---|---|---|---|---|---|---|
$(printf '%s\n' "${SLAP_ROWS[@]}")

The write path (TCP set, one outstanding): "alone" has the trampolines patched
in but no map (they only check a flag); "XDP on another device" runs them for
real (lock, seq, writers) with no XDP program on lo; "under koff-load" adds
generic XDP on lo, which every TCP segment crosses:

| server | sets/s | p50 µs | p99 µs |
|---|---|---|---|
$(printf '%s\n' "${SET_ROWS[@]}")

The same, measured directly (bench/tramp_bench.c: bump(), a writer root that
increments a global, called 20M times in a loop; ns per call):

| build | ns per call |
|---|---|
$(printf '%s\n' "${TRAMP_ROWS[@]}")

EOF
