#!/usr/bin/env bash
# Native-mode XDP on a veth pair: samples/dns under koff-load --mode native
# on the server end, both ends in namespaces this test creates.  The client
# end carries an XDP program too (tests/xdp_pass_stats.bpf.c), without which
# veth drops what its peer sends with XDP_TX.  dig over IPv4 and IPv6 gets
# the right answers, the counters prove XDP_TX sent them, and the client's
# kernel, which checks the UDP checksum of a frame XDP_TX sent, counts no
# checksum error.  Requests in 802.1Q and 802.1ad + 802.1Q frames, written
# raw by tests/vlanframe.py (a VLAN device needs CONFIG_VLAN_8021Q, which
# not every kernel has), are answered with the tags kept.  Replies longer
# than their request, which veth's native XDP can grow only at the head,
# come back whole.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

command -v dig >/dev/null || koff_skip "needs dig (bind9-dnsutils)"
command -v clang >/dev/null || koff_skip "needs clang for the client's XDP program"
koff_require_netns
koff_build_loader

port=5353
tmp="$KOFF_OUT/t-native-veth"
rm -rf "$tmp"
mkdir -p "$tmp"
make -s samples/dns/dns.o koff-link >&2 || koff_fail "cannot build koff-link or samples/dns/dns.o"
./koff-link samples/dns/dns.o -o "$tmp/dns" --udp-port "$port" >"$tmp/link.log" 2>&1 ||
	koff_fail "koff-link failed: $(tail -n 5 "$tmp/link.log")"
clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Iinclude \
	-c tests/xdp_pass_stats.bpf.c -o "$tmp/pass.bpf.o" || koff_fail "cannot build the client's XDP program"

koff_netns_create vethsrv
srv=$KOFF_NETNS
koff_netns_create vethcli
cli=$KOFF_NETNS
# The pair is created inside the server's namespace: deleting the
# namespaces removes it whatever happens.
dev=kvs$$ peer=kvc$$
ip -n "$srv" link add "$dev" type veth peer name "$peer" netns "$cli" || koff_fail "cannot create a veth pair"
koff_on_exit "ip -n $srv link del $dev"
ip -n "$srv" addr add 10.77.0.1/24 dev "$dev" &&
ip -n "$srv" addr add fd77::1/64 dev "$dev" nodad &&
ip -n "$cli" addr add 10.77.0.2/24 dev "$peer" &&
ip -n "$cli" addr add fd77::2/64 dev "$peer" nodad || koff_fail "cannot address the pair"
for l in "$srv $dev" "$cli $peer"; do
	set -- $l
	ip -n "$1" link set "$2" up || koff_fail "cannot bring $2 up"
done
ip -n "$cli" link set dev "$peer" xdpdrv obj "$tmp/pass.bpf.o" sec xdp ||
	koff_fail "cannot attach the client's XDP program"

log="$tmp/load.log"
koff_bg "$srv" "$log" "$KOFF_LOAD" --mode native --dev "$dev" "$tmp/dns" -p "$port" -a ::
loader=$KOFF_BG_PID
koff_wait_for_line "$log" "^listening on $port$" 120 "$loader" ||
	koff_fail "server not started under koff-load: $(tail -n 5 "$log")"
ip -n "$srv" -d link show dev "$dev" | grep -q 'prog/xdp' || koff_fail "no XDP program on $dev"
ip -n "$srv" link show dev "$dev" | grep -q 'xdp ' && ip -n "$srv" link show dev "$dev" |
	grep -qv xdpgeneric || koff_fail "the program on $dev is not in native (driver) mode"

counter() {
	grep "^koff-load: counters ($2):" "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}
csum_errors() {
	koff_nsexec "$cli" nstat -az UdpInCsumErrors Udp6InCsumErrors | awk 'NR > 1 { s += $2 } END { print s + 0 }'
}
ask() {	# ask SERVER-ADDRESS NAME TYPE EXPECTED
	local got
	got=$(koff_nsexec "$cli" dig @"$1" -p "$port" +tries=2 +time=2 "$2" "$3" +short | sort | tr '\n' ' ' | sed 's/ $//')
	koff_expect_eq "dig @$1 $2 $3" "$got" "$4"
}

errors_before=$(csum_errors)
sent=0
for server in 10.77.0.1 fd77::1; do
	ask "$server" www.example.test A 192.0.2.10
	ask "$server" mail.example.test AAAA 2001:db8::25
	ask "$server" api.example.test A "192.0.2.30 192.0.2.31"
	sent=$((sent + 3))
done
# VLAN-tagged frames, made by tests/vlanframe.py (AF_PACKET): the reply must
# keep the tags and be the exact DNS answer.
query=abcd0100000100000000000003777777076578616d706c6504746573740000010001
answer=abcd8500000100010000000003777777076578616d706c6504746573740000010001c00c000100010000012c0004c000020a
srv_mac=$(ip -n "$srv" -br link show dev "$dev" | awk '{ print $3 }')
for kind in vlan4 vlan6 qinq4 qinq6; do
	case $kind in *4) from=10.77.0.2 to=10.77.0.1;; *) from=fd77::2 to=fd77::1;; esac
	got=$(koff_nsexec "$cli" python3 tests/vlanframe.py "$peer" "$srv_mac" "$kind" "$from" "$to" "$port" "$query") ||
		koff_fail "$kind frame: no right reply (vlanframe exit $?)"
	koff_expect_eq "$kind frame: DNS answer, tags kept, checksums valid" "$got" "$answer"
	sent=$((sent + 1))
done
kill -USR1 "$loader"
koff_wait_for_line "$log" "^koff-load: counters \(now\):" 3 || koff_fail "no counters on SIGUSR1"
tx=$(counter "$log" now tx)
[ "$tx" -ge "$sent" ] || koff_fail "tx=$tx: not every one of the $sent queries was answered by XDP_TX"
koff_ok "tx=$tx: the $sent queries over IPv4, IPv6 and in VLAN frames were answered by XDP_TX in native mode"
koff_expect_eq "no UDP checksum errors at the client" "$(( $(csum_errors) - errors_before ))" 0

kill -TERM "$loader"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not stop on SIGTERM"
wait "$loader"
koff_expect_eq "koff-load exit status" $? 0

# Replies longer than the request: veth's native XDP buffer has no room at
# the tail, so the wrapper grows the packet at the head (bpfgen/xdp.c).
# tests/grow.c answers N bytes of 'x' to the 2-byte request N.
gcc -O2 -g -c tests/grow.c -o "$tmp/grow.o" &&
./koff-link "$tmp/grow.o" -o "$tmp/grow" --udp-port 9009 >"$tmp/link-grow.log" 2>&1 ||
	koff_fail "cannot build or koff-link tests/grow.c"
koff_build_udpclient
log="$tmp/grow.log"
koff_bg "$srv" "$log" "$KOFF_LOAD" --mode native --dev "$dev" "$tmp/grow" -p 9009 -a ::
loader=$KOFF_BG_PID
koff_wait_for_line "$log" "^listening on 9009$" 60 "$loader" || koff_fail "grow did not start: $(tail -n 3 "$log")"
for server in 10.77.0.1 fd77::1; do
	for size in 3 150 200 1000; do
		want=$(head -c "$size" /dev/zero | tr '\0' x | od -v -An -tx1 | tr -d ' \n')
		got=$(koff_nsexec "$cli" "$KOFF_UDPCLIENT" -a "$server" -t 1000 9009 "$(printf '%04x' "$size")")
		[ "$got" = "$want" ] || koff_fail "grow $size bytes from $server: wrong or no reply"
	done
	koff_ok "grow: 3, 150, 200 and 1000-byte replies from $server"
done
kill -USR1 "$loader"
koff_wait_for_line "$log" "^koff-load: counters \(now\):" 3 || koff_fail "no counters on SIGUSR1"
# 3, 150 and 200 bytes fit the headroom: XDP_TX; 1000 does not: userspace.
koff_expect_eq "grown replies sent by XDP_TX" "$(counter "$log" now tx)" 6
koff_expect_eq "replies too long to grow passed to userspace" "$(counter "$log" now pass_reply)" 2
koff_expect_eq "still no UDP checksum errors at the client" "$(( $(csum_errors) - errors_before ))" 0
kill -TERM "$loader"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not stop on SIGTERM"
echo "t-native-veth: all checks passed"
