#!/usr/bin/env bash
# koff-load --adapt end to end, in a private netns on lo (generic XDP):
# samples/slowpath under load, first with a workload that punishes the
# offload (most requests fall back after a long hash in the kernel), then
# with one that favours it.  The loader must detach the program during the
# first and re-attach it during the second, log each switch with its
# numbers, and no request may be lost across the switches.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

koff_require_netns
koff_build_loader
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
[ -f samples/slowpath/slowpath.o ] || koff_fail "samples/slowpath/slowpath.o is missing (make samples)"

dir="$KOFF_OUT/t-adapt"
rm -rf "$dir"
mkdir -p "$dir"
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 bench/udpload.c -o "$dir/udpload" ||
	koff_fail "cannot build bench/udpload.c"
./koff-link samples/slowpath/slowpath.o -o "$dir/sp" --udp-port 7070 >"$dir/link.log" 2>&1 ||
	koff_fail "koff-link failed: $(tail -n 1 "$dir/link.log")"
[ -f "$dir/sp.bpf.o" ] || koff_fail "koff-link wrote no sp.bpf.o"

koff_netns_create adapt
ns=$KOFF_NETNS
log="$dir/load.log"
koff_bg "$ns" "$log" "$KOFF_LOAD" --adapt --adapt-interval 200 "$dir/sp" -p 7070
loader=$KOFF_BG_PID
koff_wait_for_line "$log" "listening on" 10 "$loader" || koff_fail "server did not start: $(cat "$log")"
koff_wait_for_line "$log" "adapt: every 200 ms" 5 "$loader" || koff_fail "--adapt did not start: $(cat "$log")"
koff_xdp_attached "$ns" lo || koff_fail "the program is not attached at start"

# Runs udpload on workload $1 for $2 seconds; checks that nothing was lost.
load() {
	local name=$1 out
	out=$(koff_nsexec "$ns" "$dir/udpload" -p 7070 -c 4 -d "$2" "samples/slowpath/$name.txt") ||
		koff_fail "udpload failed on $name"
	echo "$name: $out"
	set -- $out	# udpload outstanding N seconds S replies N lost N unanswered N rps R
	[ "${7}" -gt 100 ] || koff_fail "$name: too few replies: $out"
	# "lost" counts replies later than 20 ms (this machine is shared);
	# "unanswered" the requests that got no reply at all.
	koff_expect_eq "$name: requests never answered across switches" "${11}" 0
}

load punish 3
grep -q "adapt: detach: 3 intervals lost in a row: .* predicted loss" "$log" ||
	koff_fail "no detach logged under the punishing workload: $(cat "$log")"
koff_ok "detached under the punishing workload: $(grep -m1 'adapt: detach' "$log")"
grep -q "adapt: probe: still a loss, detached again" "$log" ||
	koff_fail "the probes during the punishing workload did not detach again: $(cat "$log")"
grep -q "adapt: re-attach" "$log" && koff_fail "re-attached under the punishing workload: $(cat "$log")"

load favour 3
grep -q "adapt: re-attach: the offload pays again: .* predicted gain" "$log" ||
	koff_fail "no re-attach logged under the favouring workload: $(cat "$log")"
koff_ok "re-attached under the favouring workload: $(grep -m1 'adapt: re-attach' "$log")"
koff_xdp_attached "$ns" lo || koff_fail "not attached after the favouring workload"
koff_ok "attached at the end"

kill -TERM "$loader"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not exit on SIGTERM"
grep -q "adapt: [1-9][0-9]* detaches, [1-9][0-9]* re-attaches" "$log" ||
	koff_fail "no summary line: $(cat "$log")"
koff_ok "summary: $(grep 'detaches,' "$log")"
koff_xdp_attached "$ns" lo && koff_fail "program still attached after koff-load exited"
koff_ok "nothing left attached"
