#!/usr/bin/env bash
# End to end over IPv6: samples/dns under koff-load on lo (generic XDP) in a
# private netns, the server bound to "::" (both families).  dig -6 @::1
# gets every plain A/AAAA answer, and the counters prove XDP sent each one
# (tx); queries the handler leaves to userspace are answered over IPv6 by
# the server itself, and IPv4 still works beside it.  Every request is
# accounted for in the counters.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

command -v dig >/dev/null || koff_skip "needs dig (bind9-dnsutils)"
koff_require_netns
koff_build_loader

port=5353
tmp="$KOFF_OUT/t-e2e-v6"
rm -rf "$tmp"
mkdir -p "$tmp"
make -s samples/dns/dns.o koff-link >&2 || koff_fail "cannot build koff-link or samples/dns/dns.o"
./koff-link samples/dns/dns.o -o "$tmp/dns" --udp-port "$port" >"$tmp/link.log" 2>&1 ||
	koff_fail "koff-link failed: $(tail -n 5 "$tmp/link.log")"
[ -s "$tmp/dns.bpf.o" ] || koff_fail "koff-link wrote no $tmp/dns.bpf.o"

koff_netns_create e2ev6
ns=$KOFF_NETNS
koff_nsexec "$ns" ip -6 addr show dev lo | grep -q '::1/128' || koff_skip "no ::1 on lo (IPv6 disabled?)"

# "dig arguments|expected +short output": answered by XDP.
plain=(
	"www.example.test A|192.0.2.10"
	"www.example.test AAAA|2001:db8::10"
	"mail.example.test AAAA|2001:db8::25"
	"api.example.test A|192.0.2.30 192.0.2.31"
	"ns1.example.test AAAA +noedns|2001:db8::53"
)
# "dig arguments|expected status|expected +short": any side may answer.
other=(
	"nope.example.test A|NXDOMAIN|"
	"www.example.org A|REFUSED|"
	"example.test TXT|NOERROR|\"koff sample zone\""
	"example.test NS|NOERROR|ns1.example.test."
)
dig6() { koff_nsexec "$ns" dig -6 @::1 -p "$port" +tries=1 +time=2 "$@"; }
dig4() { koff_nsexec "$ns" dig -4 @127.0.0.1 -p "$port" +tries=1 +time=2 "$@"; }
short_of() { local d=$1; shift; "$d" "$@" +short | sort | tr '\n' ' ' | sed 's/ $//'; }
status_of() { local d=$1; shift; "$d" "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
counter() {
	grep "^koff-load: counters ($2):" "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}
handled_total() {
	local sum=0 name v
	for name in tx drop pass_too_big pass_insn pass_call pass_loop pass_mem pass_div \
		pass_flags pass_jump pass_reply; do
		v=$(counter "$1" "$2" "$name")
		[ -n "$v" ] || koff_fail "counter $name missing from koff-load's output"
		sum=$((sum + v))
	done
	echo "$sum"
}

log="$tmp/load.log"
koff_bg "$ns" "$log" "$KOFF_LOAD" --dev lo "$tmp/dns" -p "$port" -a ::
loader=$KOFF_BG_PID
koff_wait_for_line "$log" "^listening on $port$" 120 "$loader" ||
	koff_fail "server not started under koff-load: $(tail -n 5 "$log")"
koff_xdp_attached "$ns" lo || koff_fail "no XDP program on lo while the server runs"

for q in "${plain[@]}"; do
	# shellcheck disable=SC2086
	koff_expect_eq "dig -6 ${q%%|*}" "$(short_of dig6 ${q%%|*})" "${q#*|}"
done
kill -USR1 "$loader"
koff_wait_for_line "$log" "^koff-load: counters \(now\):" 3 || koff_fail "no counters on SIGUSR1"
koff_expect_eq "every plain query over IPv6 answered in XDP (tx)" "$(counter "$log" now tx)" "${#plain[@]}"

sent=${#plain[@]}
for q in "${other[@]}"; do
	IFS='|' read -r args status short <<<"$q"
	# shellcheck disable=SC2086
	koff_expect_eq "dig -6 $args status" "$(status_of dig6 $args)" "$status"
	# shellcheck disable=SC2086
	koff_expect_eq "dig -6 $args answer" "$(short_of dig6 $args)" "$short"
	sent=$((sent + 2))
done
koff_expect_eq "dig -4 beside it: www.example.test A" "$(short_of dig4 www.example.test A)" "192.0.2.10"
sent=$((sent + 1))

kill -TERM "$loader"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not stop on SIGTERM"
wait "$loader"
koff_expect_eq "koff-load exit status" $? 0
tx=$(counter "$log" exit tx)
[ "$tx" -ge $((${#plain[@]} + 1)) ] || koff_fail "tx=$tx: the plain queries were not all answered in XDP"
koff_expect_eq "every request accounted for (tx+drop+fallbacks)" "$(handled_total "$log" exit)" "$sent"
echo "t-e2e-v6: all checks passed (tx=$tx of $sent requests in XDP)"
