#!/usr/bin/env bash
# The shared-state protocol under fire: samples/kvcache under koff-load,
# writers setting values over TCP (userspace, inside the trampolines) while
# readers on both CPUs (pinned) get them over UDP, answered in XDP.
# tests/kvstress.c checks every reply against the history of writes: 0 torn,
# stale, phantom or missing values, 0 lost writes at the end; and the
# counters prove most reads were served in the kernel.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

koff_require_netns
koff_build_loader
koff_build_kvtools
[ "$(nproc)" -ge 2 ] || koff_skip "needs two CPUs"

port=11211
seconds=${KOFF_STRESS_SECONDS:-8}
tmp="$KOFF_OUT/t-shared-stress"
rm -rf "$tmp"
mkdir -p "$tmp"
koff_mount_bpffs "$tmp/bpffs"

make -s samples/kvcache/kvcache.o koff-link >&2 || koff_fail "cannot build kvcache.o and koff-link"
./koff-link samples/kvcache/kvcache.o -o "$tmp/kvcache" --udp-port "$port" >"$tmp/link.log" 2>&1 ||
	koff_fail "koff-link failed: $(tail -n 5 "$tmp/link.log")"
koff_expect_eq "shared-state mode" "$(jq -r .shared.mode "$tmp/kvcache.koff.json")" seq

koff_netns_create stress
ns=$KOFF_NETNS
log="$tmp/load.log"
koff_bg "$ns" "$log" "$KOFF_LOAD" --pin-dir "$tmp/bpffs/koff" --dev lo "$tmp/kvcache" -p "$port"
loader=$KOFF_BG_PID
koff_wait_for_line "$log" "^listening on $port$" 120 "$loader" ||
	koff_fail "kvcache not started under koff-load: $(tail -n 5 "$log")"
grep -q "^koff-load: shared state koff_shared pinned as " "$log" || koff_fail "no shared map handed over"

# 16 keys: the writers hit every key often, so readers race them constantly.
# Values of 48 to 300 bytes: a reply XDP can grow the request into on lo
# (README: about 400 bytes at the tail); longer ones would all fall back.
koff_nsexec "$ns" "$KOFF_KVSTRESS" -p "$port" -k 16 -w 2 -r 4 -C 2 -V 300 -d "$seconds" >"$tmp/stress.out" 2>&1
rc=$?
cat "$tmp/stress.out"
line=$(grep '^kvstress: reads' "$tmp/stress.out") || koff_fail "kvstress did not finish"
field() { echo "$line" | sed -n "s/.* $1 \([0-9]*\).*/\1/p"; }
for f in torn stale phantom missing lost write_errors; do
	koff_expect_eq "$f" "$(field "$f")" 0
done
[ "$rc" -eq 0 ] || koff_fail "kvstress failed (exit $rc)"
reads=$(field reads) writes=$(field writes)
[ "$reads" -ge 1000 ] && [ "$writes" -ge 100 ] || koff_fail "too little traffic: $line"

kill -TERM "$loader"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not stop"
wait "$loader"
echo "$(grep '^koff-load: counters (exit)' "$log")"
tx=$(koff_counter "$log" exit tx)
shared=$(koff_counter "$log" exit pass_shared)
# kvstress's own final UDP reads are among tx too: compare to all UDP reads.
[ "${tx:-0}" -ge $((reads / 2)) ] ||
	koff_fail "only ${tx:-0} of $reads UDP reads answered in XDP (pass_shared=$shared)"
koff_ok "$reads reads checked (0 torn/stale/lost) while $writes writes ran; $tx answered in XDP, $shared fell back on a concurrent writer"
echo "t-shared-stress: all checks passed"
