#!/usr/bin/env bash
# End to end with shared state: koff-link turns samples/kvcache/kvcache.o
# into a server plus its XDP offload; koff-load runs it on lo in a private
# netns.  Values written over TCP with Debian's memccp are served over UDP
# from XDP (the tx counter proves it), memccat reads them back over TCP,
# updates and deletes (memccp, memcrm) are seen by the very next UDP get,
# memcaslap's UDP gets (with its own verification; in its facebook mode of
# values set over TCP) and bench/kvload's checked gets are answered, and
# misses and writes fall back.  Then the
# same OUT runs alone (no loader) and answers the same way.
#
# A koff-link that is missing or fails is a FAILURE, not a skip.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

for tool in memccp memccat memcrm memcflush memcaslap; do
	command -v $tool >/dev/null || koff_skip "needs $tool (libmemcached-tools)"
done
koff_require_netns
koff_build_loader
koff_build_kvtools

port=11211
tmp="$KOFF_OUT/t-kvcache"
rm -rf "$tmp"
mkdir -p "$tmp/files"
koff_mount_bpffs "$tmp/bpffs"

# ---- link ----------------------------------------------------------------
make -s samples/kvcache/kvcache.o koff-link >&2 || koff_fail "cannot build kvcache.o and koff-link"
./koff-link samples/kvcache/kvcache.o -o "$tmp/kvcache" --udp-port "$port" >"$tmp/link.log" 2>&1 ||
	koff_fail "koff-link failed: $(tail -n 5 "$tmp/link.log")"
[ -s "$tmp/kvcache.bpf.o" ] || koff_fail "koff-link wrote no kvcache.bpf.o"
koff_ok "koff-link produced kvcache and kvcache.bpf.o"
# The XDP path only reads the table: SEQ mode (docs/shared-state.md).
koff_expect_eq "shared-state mode" "$(jq -r .shared.mode "$tmp/kvcache.koff.json")" seq

koff_netns_create kvcache
ns=$KOFF_NETNS
# memcaslap resolves with AI_ADDRCONFIG: it needs an address beside loopback's.
ip -n "$ns" addr add 10.99.0.1/32 dev lo || koff_fail "cannot add an address in $ns"

mc() { koff_nsexec "$ns" "$@" --servers=127.0.0.1:$port; }
udp() { koff_nsexec "$ns" "$KOFF_KVLOAD" udp -p "$port" "$1"; }
log="$tmp/load.log"
counters_now() {
	local n=$(( $(grep -c '^koff-load: counters (now)' "$log") + 1 )) i
	kill -USR1 "$loader"
	for ((i = 0; i < 60; i++)); do
		[ "$(grep -c '^koff-load: counters (now)' "$log")" -ge "$n" ] && return 0
		sleep 0.05
	done
	koff_fail "no counters on SIGUSR1"
}
tx_now() { counters_now && koff_counter "$log" now tx; }

koff_bg "$ns" "$log" "$KOFF_LOAD" --pin-dir "$tmp/bpffs/koff" --dev lo "$tmp/kvcache" -p "$port"
loader=$KOFF_BG_PID
koff_wait_for_line "$log" "^listening on $port$" 120 "$loader" ||
	koff_fail "kvcache not started under koff-load: $(tail -n 5 "$log")"
grep -q "^koff-load: shared state koff_shared pinned as " "$log" || koff_fail "no shared map handed over: $(cat "$log")"

# ---- memccp over TCP, UDP gets answered in XDP ---------------------------------
# memccp names each value after its file (flags 0, no expiry).  A reply XDP
# cannot grow the request into (README: on lo about 400 bytes more) falls
# back (pass_reply): the 1000-byte value is answered by userspace.
printf 'hello from tcp' >"$tmp/files/greeting"
head -c 1000 /dev/urandom | base64 -w 0 | head -c 1000 >"$tmp/files/big"
printf '12' >"$tmp/files/count"
(cd "$tmp/files" && mc memccp greeting big count) || koff_fail "memccp failed"
tx0=$(tx_now)
koff_expect_eq "UDP get of a value memccp wrote" "$(udp 'get greeting')" \
	"$(printf 'VALUE greeting 0 14\r\nhello from tcp\r\nEND\r\n')"
koff_expect_eq "UDP get of a 1000-byte value" "$(udp 'get big')" \
	"$(printf 'VALUE big 0 1000\r\n%s\r\nEND\r\n' "$(cat "$tmp/files/big")")"
koff_expect_eq "UDP multi-get" "$(udp 'get count greeting')" \
	"$(printf 'VALUE count 0 2\r\n12\r\nVALUE greeting 0 14\r\nhello from tcp\r\nEND\r\n')"
tx1=$(tx_now)
koff_expect_eq "the two short hits were answered in XDP (tx)" $((tx1 - tx0)) 2
koff_expect_eq "the 1000-byte reply fell back (pass_reply)" "$(koff_counter "$log" now pass_reply)" 1
koff_expect_eq "memccat reads it back over TCP" "$(mc memccat greeting)" "hello from tcp"

# ---- misses, writes and the rest fall back, and are right ------------------------
koff_expect_eq "UDP miss" "$(udp 'get nothing')" "$(printf 'END\r\n')"
koff_expect_eq "UDP gets with the cas" "$(udp 'gets count' | head -n 1 | cut -d' ' -f1-4)" "VALUE count 0 2"
koff_expect_eq "UDP incr (a write)" "$(udp 'incr count 30')" "$(printf '42\r\n')"
koff_expect_eq "UDP version" "$(udp version)" "$(printf 'VERSION 1.6.18-kvcache\r\n')"
tx2=$(tx_now)
koff_expect_eq "the gets-with-cas hit in XDP, nothing else (tx)" $((tx2 - tx1)) 1
pass=$(koff_counter "$log" now pass_call)
[ "${pass:-0}" -ge 3 ] || koff_fail "miss, incr and version did not fall back (pass_call=$pass)"
koff_ok "miss, write and version fell back (pass_call=$pass)"

# ---- updates and deletes are seen by the next UDP get ------------------------------
for round in 1 2 3 4 5; do
	value="version $round of the greeting"
	printf '%s' "$value" >"$tmp/files/greeting"
	(cd "$tmp/files" && mc memccp greeting) || koff_fail "memccp update $round failed"
	koff_expect_eq "UDP get right after update $round" "$(udp 'get greeting')" \
		"$(printf 'VALUE greeting 0 %d\r\n%s\r\nEND\r\n' "${#value}" "$value")"
done
mc memcrm greeting || koff_fail "memcrm failed"
koff_expect_eq "UDP get right after memcrm" "$(udp 'get greeting')" "$(printf 'END\r\n')"
mc memccat greeting >/dev/null 2>&1 && koff_fail "memccat still finds the deleted value"
koff_ok "memccat: the deleted value is gone over TCP too"
tx3=$(tx_now)
koff_expect_eq "every update's get answered in XDP" $((tx3 - tx2)) 5

# ---- kvload: many checked gets, 90% hits ------------------------------------
koff_nsexec "$ns" "$KOFF_KVLOAD" fill -p "$port" -k 500 -s 200 >/dev/null || koff_fail "kvload fill failed"
line=$(koff_nsexec "$ns" "$KOFF_KVLOAD" get -p "$port" -k 500 -s 200 -m 10 -c 8 -d 2) ||
	koff_fail "kvload saw wrong replies: $line"
echo "$line"
hits=$(echo "$line" | sed -n 's/.* hits \([0-9]*\) .*/\1/p')
tx4=$(tx_now)
[ "$hits" -gt 1000 ] || koff_fail "too few hits: $line"
# A miss runs handle_request in userspace, a writer section (execute_command
# writes): hits in XDP meanwhile fall back (pass_shared).  Most stay in XDP.
[ $((tx4 - tx3)) -ge $((hits * 3 / 4)) ] ||
	koff_fail "only $((tx4 - tx3)) of $hits hits answered in XDP"
koff_ok "kvload: $hits checked hits, $((tx4 - tx3)) answered in XDP"

# ---- memcaslap: UDP sets (fall back) and gets (XDP), with its verification -------
# memcaslap -U writes its own keys over UDP first: its gets read values
# written through userspace (its facebook mode, below, writes over TCP).
# Its 1.7k keys need the room: memcflush empties the table first.
mc memcflush || koff_fail "memcflush failed"
koff_expect_eq "UDP get after memcflush" "$(udp 'get key:1')" "$(printf 'END\r\n')"
koff_nsexec "$ns" timeout 30 memcaslap -s "127.0.0.1:$port" -T 1 -c 1 -w 1k -t 3s -U -X 100 -v 1 \
	>"$tmp/memcaslap.log" 2>&1 || koff_fail "memcaslap failed: $(tail -n 5 "$tmp/memcaslap.log")"
tx5=$(tx_now)
get=$(sed -n 's/^cmd_get: //p' "$tmp/memcaslap.log")
for f in get_misses verify_misses verify_failed udp_timeout; do
	koff_expect_eq "memcaslap $f" "$(sed -n "s/^$f: //p" "$tmp/memcaslap.log")" 0
done
grep -q 'SERVER_ERROR' "$tmp/memcaslap.log" && koff_fail "memcaslap got server errors"
[ "${get:-0}" -gt 1000 ] && [ $((tx5 - tx4)) -ge $((get / 2)) ] ||
	koff_fail "memcaslap: $get gets, only $((tx5 - tx4)) answered in XDP"
koff_ok "memcaslap: $get verified UDP gets, $((tx5 - tx4)) answered in XDP"
# And over TCP (process_input's sections while XDP serves nothing).
koff_nsexec "$ns" timeout 30 memcaslap -s "127.0.0.1:$port" -T 1 -c 4 -w 1k -t 1s -X 100 -v 1 \
	>"$tmp/memcaslap-tcp.log" 2>&1 || koff_fail "memcaslap (TCP) failed: $(tail -n 5 "$tmp/memcaslap-tcp.log")"
koff_expect_eq "memcaslap over TCP: verify_failed" "$(sed -n 's/^verify_failed: //p' "$tmp/memcaslap-tcp.log")" 0
# Its "facebook" mode (-a, without -U): sets over TCP, multi-gets of -d keys
# over UDP: the values it wrote over TCP are read over UDP, from XDP.
mc memcflush || koff_fail "memcflush failed"
tx6=$(tx_now)
koff_nsexec "$ns" timeout 30 memcaslap -s "127.0.0.1:$port" -T 1 -c 1 -w 1k -t 3s -X 100 -v 1 -a -d 2 \
	>"$tmp/memcaslap-fb.log" 2>&1 || koff_fail "memcaslap -a failed: $(tail -n 5 "$tmp/memcaslap-fb.log")"
tx7=$(tx_now)
fbget=$(sed -n 's/^cmd_get: //p' "$tmp/memcaslap-fb.log")
fbset=$(sed -n 's/^cmd_set: //p' "$tmp/memcaslap-fb.log")
fbmiss=$(sed -n 's/^get_misses: //p' "$tmp/memcaslap-fb.log")
for f in verify_failed udp_timeout packet_drop; do
	koff_expect_eq "memcaslap -a $f" "$(sed -n "s/^$f: //p" "$tmp/memcaslap-fb.log")" 0
done
grep -q 'SERVER_ERROR' "$tmp/memcaslap-fb.log" && koff_fail "memcaslap -a got server errors"
# cmd_get counts keys, 2 per datagram (-d 2).  A get of keys not yet set
# (memcaslap counts those as misses) falls back; most datagrams whose keys
# it did set are answered in XDP.
hitsfb=$((fbget - fbmiss))
[ "${fbset:-0}" -gt 100 ] && [ "$hitsfb" -gt 500 ] && [ $((tx7 - tx6)) -ge $((hitsfb / 2 * 3 / 4)) ] ||
	koff_fail "memcaslap -a: $fbset TCP sets, $hitsfb UDP get hits, only $((tx7 - tx6)) answered in XDP"
koff_ok "memcaslap -a: $fbset sets over TCP, $hitsfb keys found by UDP multi-gets and verified, $((tx7 - tx6)) datagrams answered in XDP"

kill -TERM "$loader"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not stop on SIGTERM"
wait "$loader"
koff_expect_eq "koff-load exit status" $? 0
[ -z "$(ls "$tmp/bpffs/koff" 2>/dev/null)" ] || koff_fail "pins left: $(ls "$tmp/bpffs/koff")"
koff_ok "the pins are gone"

# ---- the same OUT alone ------------------------------------------------------
log="$tmp/alone.log"
koff_bg "$ns" "$log" "$tmp/kvcache" -p "$port"
koff_wait_for_line "$log" "^listening on $port$" 5 || koff_fail "kvcache alone did not start: $(cat "$log")"
(cd "$tmp/files" && mc memccp big count) || koff_fail "memccp (alone) failed"
koff_expect_eq "alone: UDP get" "$(udp 'get big')" \
	"$(printf 'VALUE big 0 1000\r\n%s\r\nEND\r\n' "$(cat "$tmp/files/big")")"
koff_expect_eq "alone: memccat" "$(mc memccat count)" "12"
echo "t-kvcache: all checks passed"
