#!/usr/bin/env bash
# End to end: koff-link turns samples/dns/dns.o into a server plus its XDP
# offload; koff-load runs it on lo in a private netns; dig and a raw UDP
# client check every answer exactly; the kernel counters prove that the
# plain A/AAAA answers came from XDP and that every request was accounted
# for.  Then the same binary runs without the loader (userspace only) and
# must give the same answers, byte for byte as dig shows them.
#
# A koff-link that is missing or fails is a FAILURE, not a skip.
# KOFF_LINK=path overrides ./koff-link (e.g. an ASan build).
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

command -v dig >/dev/null || koff_skip "needs dig (bind9-dnsutils)"
koff_require_netns
koff_build_loader
koff_build_udpclient

port=5353
tmp="$KOFF_OUT/t-e2e-dns"
rm -rf "$tmp"
mkdir -p "$tmp"

# ---- link ----------------------------------------------------------------
make -s samples/dns/dns.o || koff_fail "cannot build samples/dns/dns.o"
if [ -z "${KOFF_LINK:-}" ]; then
	make -s koff-link >&2 || koff_fail "koff-link does not build"
fi
link=${KOFF_LINK:-./koff-link}
[ -x "$link" ] || koff_fail "$link does not exist"
"$link" samples/dns/dns.o -o "$tmp/dns" --udp-port "$port" >"$tmp/link.log" 2>&1 ||
	koff_fail "koff-link failed: $(tail -n 5 "$tmp/link.log")"
[ -x "$tmp/dns" ] || koff_fail "koff-link wrote no executable $tmp/dns"
[ -s "$tmp/dns.bpf.o" ] || koff_fail "koff-link wrote no $tmp/dns.bpf.o"
koff_ok "koff-link produced dns and dns.bpf.o"

koff_netns_create e2edns
ns=$KOFF_NETNS

# ---- the queries -------------------------------------------------------------
# Plain A/AAAA queries, the ones the XDP side must answer itself:
# "dig arguments|expected +short output".
plain_queries=(
	"www.example.test A|192.0.2.10"
	"www.example.test AAAA|2001:db8::10"
	"mail.example.test A|192.0.2.25"
	"mail.example.test AAAA|2001:db8::25"
	"api.example.test A|192.0.2.30 192.0.2.31"
	"api.example.test AAAA|2001:db8::30"
	"ns1.example.test A|192.0.2.53"
	"ns1.example.test AAAA|2001:db8::53"
	"example.test A|192.0.2.1"
	"www.example.test A +noedns|192.0.2.10"
	"mail.example.test AAAA +noedns|2001:db8::25"
)
# Every other kind of answer: "dig arguments|expected status|expected +short".
other_queries=(
	"WwW.ExAmPlE.tEsT A|NOERROR|192.0.2.10"
	"API.EXAMPLE.TEST AAAA +noedns|NOERROR|2001:db8::30"
	"nope.example.test A|NXDOMAIN|"
	"a.b.www.example.test AAAA +noedns|NXDOMAIN|"
	"www.example.org A|REFUSED|"
	"www.example.test CH A|REFUSED|"
	"ftp.example.test AAAA|NOERROR|"
	"www.example.test MX|NOERROR|"
	"example.test NS|NOERROR|ns1.example.test."
	"example.test TXT|NOERROR|\"koff sample zone\""
	"example.test SOA +noedns|NOERROR|ns1.example.test. hostmaster.example.test. 2020092929 3600 900 604800 300"
	"api.example.test ANY +notcp|NOERROR|192.0.2.30 192.0.2.31 2001:db8::30"
	"www.example.test A +norecurse|NOERROR|192.0.2.10"
)
# Raw requests dig cannot send: "hex request|expected hex reply or 'none'".
raw_queries=(
	# compression pointer in the QNAME: FORMERR, header only
	"12340100000100000000000003777777c00c00010001|123481010000000000000000"
	# label of 64 bytes: FORMERR
	"12340100000100000000000040$(printf '61%.0s' {1..64})0000010001|123481010000000000000000"
	# opcode STATUS: NOTIMP
	"12341100000100000000000003777777076578616d706c6504746573740000010001|123491040000000000000000"
	# QDCOUNT 2: FORMERR
	"12340100000200000000000003777777076578616d706c6504746573740000010001|123481010000000000000000"
	# QR=1 (a response): dropped
	"12348100000100000000000003777777076578616d706c6504746573740000010001|none"
	# 11 bytes, no full header: dropped
	"1234010000010000000000|none"
	# www.example.test A, exact reply: header, question, one answer via 0xc00c
	"abcd0100000100000000000003777777076578616d706c6504746573740000010001|abcd8500000100010000000003777777076578616d706c6504746573740000010001c00c000100010000012c0004c000020a"
)

# dig in the namespace; the id line normalized so runs can be compared.
dq() {
	koff_nsexec "$ns" dig @127.0.0.1 -p "$port" +tries=1 +time=2 "$@"
}
dig_full() {
	dq "$@" +noall +comments +answer +authority | sed 's/, id: [0-9]*$//; /^;; Query time/d'
}
short_of() { dq "$@" +short | sort | tr '\n' ' ' | sed 's/ $//'; }
status_of() { dq "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }

# Runs every query against the server now in the namespace, checks each
# answer, and saves dig's full answers to $tmp/$1.answers.  Sets SENT to
# the number of requests sent and DROPS to those that get no reply.
run_queries() {
	local label=$1 q args want status short hex reply rc
	local answers="$tmp/$label.answers"
	SENT=0 DROPS=0
	: >"$answers"
	for q in "${plain_queries[@]}"; do
		args=${q%%|*} want=${q#*|}
		# shellcheck disable=SC2086
		koff_expect_eq "$label: $args" "$(short_of $args)" "$want"
		SENT=$((SENT + 1))
	done
	PLAIN_SENT=$SENT
	for q in "${other_queries[@]}"; do
		IFS='|' read -r args status short <<<"$q"
		# shellcheck disable=SC2086
		koff_expect_eq "$label: $args status" "$(status_of $args)" "$status"
		# shellcheck disable=SC2086
		koff_expect_eq "$label: $args answer" "$(short_of $args)" "$short"
		SENT=$((SENT + 2))
	done
	for q in "${plain_queries[@]}" "${other_queries[@]}"; do
		args=${q%%|*}
		# shellcheck disable=SC2086
		{ echo "== $args"; dig_full $args; } >>"$answers"
		SENT=$((SENT + 1))
	done
	for q in "${raw_queries[@]}"; do
		hex=${q%%|*} want=${q#*|}
		reply=$(koff_nsexec "$ns" "$KOFF_UDPCLIENT" -t 500 "$port" "$hex")
		rc=$?
		SENT=$((SENT + 1))
		if [ "$want" = none ]; then
			koff_expect_eq "$label: raw ${hex:0:24}... gets no reply" "$rc" 3
			DROPS=$((DROPS + 1))
		else
			koff_expect_eq "$label: raw ${hex:0:24}... reply" "$reply" "$want"
		fi
		echo "== raw $hex -> $reply" >>"$answers"
	done
}

counter() {
	local log=$1 when=$2 name=$3
	grep "^koff-load: counters ($when):" "$log" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$name=//p"
}

# Requests that reached the handler's port: every one ends in exactly one
# of tx, drop or a fallback (pass_too_big and pass_insn..pass_reply).
handled_total() {
	local log=$1 when=$2 name sum=0 v
	for name in tx drop pass_too_big pass_insn pass_call pass_loop pass_mem pass_div \
		pass_flags pass_jump pass_reply; do
		v=$(counter "$log" "$when" "$name")
		[ -n "$v" ] || koff_fail "counter $name missing from koff-load's output"
		sum=$((sum + v))
	done
	echo "$sum"
}

# ---- with the offload ------------------------------------------------------
log="$tmp/load.log"
koff_bg "$ns" "$log" "$KOFF_LOAD" --dev lo "$tmp/dns" -p "$port"
loader=$KOFF_BG_PID
# The kernel verifies the program first: that may take a while.
koff_wait_for_line "$log" "^listening on $port$" 120 "$loader" ||
	koff_fail "server not started under koff-load: $(tail -n 5 "$log")"
koff_xdp_attached "$ns" lo || koff_fail "no XDP program on lo while the server runs"
# This kernel has may_goto: koff-load takes the variant made for it.
grep -q "^koff-load: koff_xdp from $tmp/dns.6.18.bpf.o attached" "$log" ||
	koff_fail "koff-load did not attach the may_goto variant here: $(head -n 1 "$log")"

# First the plain queries alone: each must be answered by XDP.
for q in "${plain_queries[@]}"; do
	args=${q%%|*}
	# shellcheck disable=SC2086
	koff_expect_eq "xdp warm-up: $args" "$(short_of $args)" "${q#*|}"
done
kill -USR1 "$loader"
koff_wait_for_line "$log" "^koff-load: counters \(now\):" 3 || koff_fail "no counters on SIGUSR1"
koff_expect_eq "every plain A/AAAA query answered in XDP (tx)" \
	"$(counter "$log" now tx)" "${#plain_queries[@]}"
warmup=${#plain_queries[@]}

run_queries xdp
total=$((warmup + SENT))
kill -TERM "$loader"
koff_wait_for_exit "$loader" 5 || koff_fail "koff-load did not stop on SIGTERM"
wait "$loader"
koff_expect_eq "koff-load exit status (server exits 0 on SIGTERM)" $? 0
grep "^koff-load: counters (exit):" "$log" || koff_fail "no counters at exit"
tx=$(counter "$log" exit tx)
drop=$(counter "$log" exit drop)
[ "$tx" -ge $((warmup + PLAIN_SENT)) ] ||
	koff_fail "tx=$tx: fewer than the $((warmup + PLAIN_SENT)) plain queries were answered in XDP"
koff_ok "tx=$tx of $total requests answered in XDP"
[ "$drop" -le "$DROPS" ] || koff_fail "drop=$drop but only $DROPS requests deserve a drop"
koff_expect_eq "every request accounted for (tx+drop+fallbacks)" "$(handled_total "$log" exit)" "$total"
for ((i = 0; i < 40; i++)); do koff_xdp_attached "$ns" lo || break; sleep 0.05; done
koff_xdp_attached "$ns" lo && koff_fail "XDP program still attached after koff-load exited"
koff_ok "detached after koff-load exited"

# ---- userspace only: the same binary, no loader ------------------------------
log="$tmp/plain.log"
koff_bg "$ns" "$log" "$tmp/dns" -p "$port"
server=$KOFF_BG_PID
koff_wait_for_line "$log" "^listening on $port$" 5 || koff_fail "server alone not started: $(cat "$log")"
run_queries userspace
kill -TERM "$server"
koff_wait_for_exit "$server" 3 || koff_fail "server did not stop on SIGTERM"
diff -u "$tmp/userspace.answers" "$tmp/xdp.answers" ||
	koff_fail "answers differ between XDP and userspace"
koff_ok "XDP and userspace give the same $(grep -c '^==' "$tmp/xdp.answers") answers"
echo "t-e2e-dns: all checks passed"
