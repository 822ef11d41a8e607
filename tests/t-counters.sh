#!/usr/bin/env bash
# samples/counters: the handler writes the sums it serves, so koff's XDP side
# runs it under the shared-state lock (LOCK mode, docs/shared-state.md).
# The same request sequences (bench/kvload statsd: two senders at once,
# pinned to CPU 0 and CPU 1, each with a question every 32 datagrams) go to
# the native server (cc counters.o) and to koff-link's pair under
# koff-load; the totals, read out through each server itself, must be
# identical to each other and to what the senders counted, and the kernel
# must have done most of the counting (drop: a handled increment has no reply).
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

koff_require_netns
koff_build_loader
koff_build_kvtools
command -v taskset >/dev/null || koff_skip "needs taskset (util-linux)"

port=8125
requests=${KOFF_COUNTERS_REQUESTS:-4000}
names=40
tmp="$KOFF_OUT/t-counters"
rm -rf "$tmp"
mkdir -p "$tmp"
koff_mount_bpffs "$tmp/bpffs"

make -s samples/counters/counters.o koff-link >&2 || koff_fail "cannot build counters.o and koff-link"
cc samples/counters/counters.o -o "$tmp/native" || koff_fail "cannot link the native server"
./koff-link samples/counters/counters.o -o "$tmp/counters" --udp-port "$port" >"$tmp/link.log" 2>&1 ||
	koff_fail "koff-link failed: $(tail -n 5 "$tmp/link.log")"
[ -s "$tmp/counters.bpf.o" ] || koff_fail "koff-link wrote no counters.bpf.o"
koff_expect_eq "shared-state mode (the handler writes)" "$(jq -r .shared.mode "$tmp/counters.koff.json")" lock

koff_netns_create counters
ns=$KOFF_NETNS

# run LABEL COMMAND...: starts the server, sends both sequences at once,
# reads every total back; leaves LABEL.totals and LABEL.expect.
run() {
	local label=$1 pid a b; shift
	koff_bg "$ns" "$tmp/$label.log" "$@"
	pid=$KOFF_BG_PID
	koff_wait_for_line "$tmp/$label.log" "^listening on $port$" 120 "$pid" ||
		koff_fail "$label: server did not start: $(tail -n 5 "$tmp/$label.log")"
	koff_nsexec "$ns" taskset -c 0 "$KOFF_KVLOAD" statsd -p "$port" -n "$requests" -k "$names" -r 1 \
		>"$tmp/$label.expect0" &
	a=$!
	koff_nsexec "$ns" taskset -c 1 "$KOFF_KVLOAD" statsd -p "$port" -n "$requests" -k "$names" -r 2 \
		>"$tmp/$label.expect1" &
	b=$!
	wait "$a" || koff_fail "$label: sender on CPU 0 failed"
	wait "$b" || koff_fail "$label: sender on CPU 1 failed"
	# What the two senders counted, name by name.
	cat "$tmp/$label.expect0" "$tmp/$label.expect1" |
		awk '{ s[$2] += $3 } END { for (n in s) print n "=" s[n] }' | sort >"$tmp/$label.expect"
	# shellcheck disable=SC2046
	koff_nsexec "$ns" "$KOFF_KVLOAD" ask -p "$port" $(cut -d= -f1 "$tmp/$label.expect") |
		sort >"$tmp/$label.totals" || koff_fail "$label: cannot read the totals"
	kill -TERM "$pid"
	koff_wait_for_exit "$pid" 5 || koff_fail "$label: server did not stop"
	wait "$pid" 2>/dev/null
}

run native "$tmp/native" -p "$port"
koff_expect_eq "native: $(wc -l <"$tmp/native.expect") totals as counted" \
	"$(diff "$tmp/native.expect" "$tmp/native.totals" >/dev/null && echo same)" same
run koff "$KOFF_LOAD" --pin-dir "$tmp/bpffs/koff" --dev lo "$tmp/counters" -p "$port"
grep -q "^koff-load: shared state koff_shared pinned as " "$tmp/koff.log" ||
	koff_fail "no shared map handed over: $(cat "$tmp/koff.log")"
diff -u "$tmp/koff.expect" "$tmp/koff.totals" || koff_fail "koff: totals differ from what was sent"
diff -u "$tmp/native.totals" "$tmp/koff.totals" || koff_fail "koff and native totals differ"
koff_ok "koff's pair ends with the native server's $(wc -l <"$tmp/koff.totals") totals"

# Most of the counting happened in XDP: handled increments are drops (no
# reply), handled questions tx; whatever fell back was counted by userspace.
drop=$(koff_counter "$tmp/koff.log" exit drop)
shared=$(koff_counter "$tmp/koff.log" exit pass_shared)
datagrams=$((2 * requests))
echo "counters at exit: $(grep '^koff-load: counters (exit)' "$tmp/koff.log")"
[ "${drop:-0}" -ge $((datagrams / 2)) ] ||
	koff_fail "only ${drop:-0} of $datagrams datagrams handled in XDP (pass_shared=$shared)"
koff_ok "$drop of $datagrams datagrams handled in XDP, $shared fell back for the lock"
echo "t-counters: all checks passed"
