#!/usr/bin/env bash
# bench/replysize.sh - how long a reply XDP can send when it is longer than
# the request, in generic mode on lo and in native mode on a veth pair.
# tests/grow.c answers a 2-byte request with as many bytes as it asks for;
# for each size one request goes through koff-load, and the counters say
# whether XDP sent the reply (tx) or had to pass it to the server
# (pass_reply: bpf_xdp_adjust_tail could not grow the packet).  Prints a
# Markdown table.  Needs root; every namespace and link is removed at exit.
#   bench/replysize.sh [SIZE...]
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
koff_require_netns
koff_build_loader
koff_build_udpclient

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 128 200 216 224 256 400 402 416 512 1024 1472)
port=9009
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
gcc -O2 -g -c tests/grow.c -o "$tmp/grow.o" || koff_fail "cannot build tests/grow.c"
./koff-link "$tmp/grow.o" -o "$tmp/grow" --udp-port "$port" >"$tmp/link.log" 2>&1 ||
	koff_fail "koff-link failed: $(tail -n 3 "$tmp/link.log")"
clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Iinclude \
	-c tests/xdp_pass_stats.bpf.c -o "$tmp/pass.bpf.o" || koff_fail "cannot build tests/xdp_pass_stats.bpf.c"

counter() { grep "^koff-load: counters (now):" "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# Fills RESULT[size] with "xdp", "userspace" or "none" for the server
# running under koff-load in namespace $1 (log $2, pid $3), reached at $4.
probe_sizes() {
	local ns=$1 log=$2 pid=$3 addr=$4 size tx0 tx1 reply
	for size in "${sizes[@]}"; do
		kill -USR1 "$pid"; sleep 0.2
		tx0=$(counter "$log" tx)
		reply=$(koff_nsexec "$ns" "$KOFF_UDPCLIENT" -a "$addr" -t 500 "$port" "$(printf '%04x' "$size")")
		kill -USR1 "$pid"; sleep 0.2
		tx1=$(counter "$log" tx)
		if [ $((${#reply} / 2)) -ne "$size" ]; then
			RESULT[$size]=none
		elif [ "$tx1" -gt "$tx0" ]; then
			RESULT[$size]=xdp
		else
			RESULT[$size]=userspace
		fi
	done
}

declare -A RESULT GENERIC NATIVE

koff_netns_create growlo
ns=$KOFF_NETNS
koff_bg "$ns" "$tmp/lo.log" "$KOFF_LOAD" --dev lo "$tmp/grow" -p "$port"
koff_wait_for_line "$tmp/lo.log" "^listening on $port$" 60 "$KOFF_BG_PID" || koff_fail "grow on lo did not start"
probe_sizes "$ns" "$tmp/lo.log" "$KOFF_BG_PID" 127.0.0.1
for s in "${sizes[@]}"; do GENERIC[$s]=${RESULT[$s]}; done
kill -TERM "$KOFF_BG_PID"

koff_netns_create growsrv
srv=$KOFF_NETNS
koff_netns_create growcli
cli=$KOFF_NETNS
dev=kgs$$ peer=kgc$$
ip -n "$srv" link add "$dev" type veth peer name "$peer" netns "$cli" || koff_fail "cannot create a veth pair"
ip -n "$srv" addr add 10.78.0.1/24 dev "$dev" && ip -n "$cli" addr add 10.78.0.2/24 dev "$peer" &&
ip -n "$srv" link set "$dev" up && ip -n "$cli" link set "$peer" up &&
ip -n "$cli" link set dev "$peer" xdpdrv obj "$tmp/pass.bpf.o" sec xdp || koff_fail "cannot set up the veth pair"
koff_bg "$srv" "$tmp/veth.log" "$KOFF_LOAD" --mode native --dev "$dev" "$tmp/grow" -p "$port" -a 10.78.0.1
koff_wait_for_line "$tmp/veth.log" "^listening on $port$" 60 "$KOFF_BG_PID" || koff_fail "grow on veth did not start"
probe_sizes "$cli" "$tmp/veth.log" "$KOFF_BG_PID" 10.78.0.1
for s in "${sizes[@]}"; do NATIVE[$s]=${RESULT[$s]}; done
kill -TERM "$KOFF_BG_PID"

echo "| reply bytes (request 2) | generic XDP on lo | native XDP on veth |"
echo "|---:|---|---|"
for s in "${sizes[@]}"; do
	echo "| $s | ${GENERIC[$s]} | ${NATIVE[$s]} |"
done
