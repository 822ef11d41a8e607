#!/usr/bin/env bash
# t-e2e-levels: the samples built by every compiler and optimisation level
# (gcc, clang 14, clang 19; -O0 -O1 -O2 -O3 -Os; with and without -fPIC: 60
# variants) still serve real traffic end to end.  Each variant is compiled,
# koff-linked and must be offloaded; then it runs under koff-load on lo in
# one private netns (one variant at a time) and real clients check it:
#  - dns: dig queries with their expected status and +short answer, one
#    exact reply byte for byte and one request that must be dropped; the
#    kernel counters must show every plain A/AAAA query answered in XDP and
#    every request accounted for (tx + drop + fallbacks);
#  - echo: tests/udpclient.c sends requests that echo, and requests that
#    samples/echo/echo.c drops or leaves unanswered; replies must match byte
#    for byte and the counters must match the outcomes exactly.
# t-levels.sh checks the same variants with the differential harness; this
# test adds the real path: packet parsing, reply rewrite, XDP_TX on lo.
#
# To keep the cost low the next variant is compiled and linked in the
# background while the current one serves traffic.  A variant that fails is
# reported with its log tail and the run goes on; the test fails at the end.
# A compiler that is not installed skips only its variants (noted); gcc is
# required.  KOFF_LINK=path overrides ./koff-link; KOFF_E2E_LEVELS_ONLY=REGEX
# limits the run to the variants (sample:cc:level:pic) it matches.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"

[ "$(id -u)" -eq 0 ] || koff_skip "needs root to attach XDP programs in a network namespace"
command -v dig >/dev/null || koff_skip "needs dig (bind9-dnsutils)"
command -v jq >/dev/null || koff_skip "needs jq to read the koff-link manifest"
command -v gcc >/dev/null || koff_skip "needs gcc"
koff_require_netns
link=${KOFF_LINK:-./koff-link}
[ -x "$link" ] || koff_fail "$link is missing (make)"
koff_build_loader
koff_build_udpclient

dir="$KOFF_OUT/t-e2e-levels"
rm -rf "$dir"
mkdir -p "$dir"

# ---- the variants --------------------------------------------------------
# One word per variant: sample:cc:level:pic (pic is "nopic" or -fPIC).
variants=()
for cc in gcc clang clang-19; do
	if ! command -v "$cc" >/dev/null; then
		echo "note: $cc is not installed: its 20 variants are skipped"
		continue
	fi
	for level in -O0 -O1 -O2 -O3 -Os; do
		for pic in nopic -fPIC; do
			for sample in dns echo; do
				v="$sample:$cc:$level:$pic"
				[[ "$v" =~ ${KOFF_E2E_LEVELS_ONLY:-.} ]] && variants+=("$v")
			done
		done
	done
done
[ ${#variants[@]} -gt 0 ] || koff_skip "no variant selected"

# The name of a variant in messages and file names: dns-clang-19-O2-fPIC.
variant_name() {
	local sample cc level pic
	IFS=: read -r sample cc level pic <<<"$1"
	[ "$pic" = nopic ] && pic=""
	echo "$sample-$cc$level$pic"
}

port_of() { [ "${1%%:*}" = dns ] && echo 5353 || echo 7007; }

# Compiles and links one variant into $dir/NAME*; the exit status of the
# step that failed lands in $dir/NAME.built (0 when all went well), the
# compiler's and koff-link's output in $dir/NAME.build.log.
build_variant() {
	local sample cc level pic name out
	IFS=: read -r sample cc level pic <<<"$1"
	name=$(variant_name "$1") out="$dir/$name"
	[ "$pic" = nopic ] && pic=""
	{
		# shellcheck disable=SC2086
		"$cc" $level $pic -g -c "samples/$sample/$sample.c" -o "$out.o" &&
			"$link" "$out.o" -o "$out" --udp-port "$(port_of "$1")"
	} >"$out.build.log" 2>&1
	echo $? >"$out.built"
}

# Builds every variant in order, one at a time: runs beside the traffic.
build_all() {
	local v
	for v in "${variants[@]}"; do build_variant "$v"; done
}

# The pids of the builder and of the loader now running; each is cleared
# once waited for, so the cleanup never signals a recycled pid.
builder="" loader=""
stop_builder() {
	# Its current compiler or koff-link is its child: stop both.
	# shellcheck disable=SC2046
	[ -n "$builder" ] && kill $(ps -o pid= --ppid "$builder") "$builder"
}
stop_loader() { [ -n "$loader" ] && kill -KILL "$loader"; }
koff_on_exit stop_builder
koff_on_exit stop_loader
build_all &
builder=$!

koff_netns_create e2elevels
ns=$KOFF_NETNS

# ---- checks that report instead of exiting -------------------------------
# The first failed check of a variant sets WHY; the variant stops there.
WHY=""
check_eq() {
	local what=$1 got=$2 want=$3
	[ -n "$WHY" ] && return 1
	[ "$got" == "$want" ] && return 0
	WHY="$what: got '$got', want '$want'"
	return 1
}
is_ge() { [ -n "$1" ] && [ "$1" -ge "$2" ]; }
is_le() { [ -n "$1" ] && [ "$1" -le "$2" ]; }
xdp_detached() { ! koff_xdp_attached "$@"; }
check_true() {
	local what=$1
	shift
	[ -n "$WHY" ] && return 1
	"$@" && return 0
	WHY=$what
	return 1
}

# Last value of counter NAME in a "koff-load: counters (exit):" line of LOG.
counter() {
	grep "^koff-load: counters (exit):" "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# Sum of the counters of every request that reached the handler's port:
# each ends in exactly one of tx, drop or a fallback.
handled_total() {
	local log=$1 name sum=0 v
	for name in tx drop pass_too_big pass_insn pass_call pass_loop pass_mem pass_div \
		pass_flags pass_jump pass_reply; do
		v=$(counter "$log" "$name")
		[ -n "$v" ] || { echo "no-$name"; return; }
		sum=$((sum + v))
	done
	echo "$sum"
}

# ---- dns traffic -----------------------------------------------------------
# Plain A/AAAA queries the XDP side must answer itself: "dig args|+short".
dns_plain=(
	"www.example.test A|192.0.2.10"
	"www.example.test AAAA|2001:db8::10"
	"mail.example.test A|192.0.2.25"
	"api.example.test A|192.0.2.30 192.0.2.31"
	"ns1.example.test AAAA|2001:db8::53"
	"example.test A|192.0.2.1"
	"mail.example.test AAAA +noedns|2001:db8::25"
)
# Every other kind of answer: "dig args|status|+short"; TXT and SOA may
# be served by either side.
dns_other=(
	"WwW.ExAmPlE.tEsT A|NOERROR|192.0.2.10"
	"nope.example.test A|NXDOMAIN|"
	"www.example.org A|REFUSED|"
	"www.example.test CH A|REFUSED|"
	"ftp.example.test AAAA|NOERROR|"
	"example.test TXT|NOERROR|\"koff sample zone\""
	"example.test SOA +noedns|NOERROR|ns1.example.test. hostmaster.example.test. 2020092929 3600 900 604800 300"
)
# www.example.test A, its exact reply; and a response (QR=1): dropped.
dns_raw_request=abcd0100000100000000000003777777076578616d706c6504746573740000010001
dns_raw_reply=abcd8500000100010000000003777777076578616d706c6504746573740000010001c00c000100010000012c0004c000020a
dns_raw_response=12348100000100000000000003777777076578616d706c6504746573740000010001

# One dig query: prints "STATUS|answers", the answers being the rdata of
# each answer line (what +short shows), sorted, on one line.
dig_answer() {
	local out status
	# shellcheck disable=SC2086
	out=$(koff_nsexec "$ns" dig @127.0.0.1 -p 5353 +tries=1 +time=2 +noall +comments +answer $1)
	status=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out")
	echo "$status|$(grep -v '^;' <<<"$out" | awk 'NF >= 5 { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' |
		sort | tr '\n' ' ' | sed 's/ $//')"
}

# Sends the dns traffic and checks the answers; SENT, PLAIN, DROPS count
# the requests, the plain ones and those that deserve a drop.
dns_traffic() {
	local q args want status short
	SENT=0 PLAIN=0 DROPS=0
	for q in "${dns_plain[@]}"; do
		args=${q%%|*} want=${q#*|}
		check_eq "dig $args" "$(dig_answer "$args")" "NOERROR|$want" || return
		SENT=$((SENT + 1)) PLAIN=$((PLAIN + 1))
	done
	for q in "${dns_other[@]}"; do
		IFS='|' read -r args status short <<<"$q"
		check_eq "dig $args" "$(dig_answer "$args")" "$status|$short" || return
		SENT=$((SENT + 1))
	done
	check_eq "exact reply to www.example.test A" \
		"$(koff_nsexec "$ns" "$KOFF_UDPCLIENT" -t 2000 5353 "$dns_raw_request")" "$dns_raw_reply" || return
	SENT=$((SENT + 1))
	koff_nsexec "$ns" "$KOFF_UDPCLIENT" -t 200 5353 "$dns_raw_response" >/dev/null
	check_eq "a DNS response (QR=1) gets no reply (udpclient status)" $? 3 || return
	SENT=$((SENT + 1)) DROPS=$((DROPS + 1))
}

dns_counters() {
	local log=$1 tx drop
	tx=$(counter "$log" tx) drop=$(counter "$log" drop)
	check_true "tx='$tx': fewer than the $PLAIN plain queries answered in XDP" \
		is_ge "$tx" "$PLAIN" || return
	check_true "drop='$drop' but only $DROPS requests deserve a drop" \
		is_le "$drop" "$DROPS" || return
	check_eq "every request accounted for (tx+drop+fallbacks)" "$(handled_total "$log")" "$SENT" || return
	SUMMARY="tx=$tx drop=$drop of $SENT requests"
}

# ---- echo traffic ----------------------------------------------------------
# hex_bytes N: N bytes 00 01 ... ff 00 ... in hex.
hex_bytes() {
	local n=$1 i byte out=""
	for ((i = 0; i < n; i++)); do
		printf -v byte '%02x' $((i & 255))
		out+=$byte
	done
	echo "$out"
}

# Echoed unchanged (samples/echo/echo.c): text, one byte, every byte value,
# a '#' that is not first, and exactly cap (1472) bytes.
echo_replied=(
	"$(printf 'hello, koff' | od -An -tx1 | tr -d ' \n')"
	"00"
	"$(hex_bytes 256)"
	"6123"
	"$(hex_bytes 1472)"
)
# Not answered: '#' first (-1: drop), empty (0: no reply, drop in XDP),
# one byte over cap (-1: drop), and a request over the kernel's scratch
# buffer (passed to userspace as pass_too_big, where the handler drops it).
echo_unanswered=(
	"23636f6d6d656e74"
	""
	"$(hex_bytes 1473)"
	"$(hex_bytes 2100)"
)

echo_traffic() {
	local hex i=0
	SENT=0
	for hex in "${echo_replied[@]}"; do
		i=$((i + 1))
		check_eq "echo request $i (${#hex} hex digits)" \
			"$(koff_nsexec "$ns" "$KOFF_UDPCLIENT" -t 2000 7007 "$hex")" "$hex" || return
		SENT=$((SENT + 1))
	done
	for hex in "${echo_unanswered[@]}"; do
		koff_nsexec "$ns" "$KOFF_UDPCLIENT" -t 200 7007 "$hex" >/dev/null
		check_eq "request of $((${#hex} / 2)) bytes gets no reply (udpclient status)" $? 3 || return
		SENT=$((SENT + 1))
	done
}

# The handler has no fallback site: every outcome is known in advance.
echo_counters() {
	local log=$1
	check_eq "echoed in XDP (tx)" "$(counter "$log" tx)" ${#echo_replied[@]} || return
	check_eq "dropped in XDP (# first, empty, over cap)" "$(counter "$log" drop)" 3 || return
	check_eq "over the scratch buffer (pass_too_big)" "$(counter "$log" pass_too_big)" 1 || return
	check_eq "every request accounted for (tx+drop+fallbacks)" "$(handled_total "$log")" "$SENT" || return
	SUMMARY="tx=$(counter "$log" tx) drop=$(counter "$log" drop) of $SENT requests"
}

# ---- one variant -----------------------------------------------------------
# Waits for the builder, checks the manifest, runs the server under
# koff-load, sends the traffic, stops the server and checks the counters.
# Sets WHY (and LOGTAIL, the log to show) on failure.
run_variant() {
	local v=$1 name sample port out log rc i
	name=$(variant_name "$v") sample=${v%%:*} port=$(port_of "$v")
	out="$dir/$name" log="$dir/$name.load.log"
	WHY="" LOGTAIL="$out.build.log" SUMMARY=""
	while [ ! -s "$out.built" ]; do
		kill -0 "$builder" 2>/dev/null || [ -s "$out.built" ] || { WHY="the builder died"; return; }
		sleep 0.05
	done
	check_eq "compile + koff-link exit status" "$(cat "$out.built")" 0 || return
	check_eq "manifest: offloaded ($(jq -r '.not_offloaded_because // ""' "$out.koff.json"))" \
		"$(jq -r .offloaded "$out.koff.json")" true || return

	LOGTAIL=$log
	# ip netns exec execs koff-load: $! is koff-load's own pid.
	ip netns exec "$ns" "$KOFF_LOAD" --dev lo "$out" -p "$port" >"$log" 2>&1 &
	loader=$!
	# The kernel verifies the program first: that may take a while.
	check_true "server not started under koff-load" \
		koff_wait_for_line "$log" "^listening on $port$" 60 "$loader" &&
	check_true "no XDP program on lo while the server runs" koff_xdp_attached "$ns" lo &&
	"${sample}_traffic"

	kill -TERM "$loader" 2>/dev/null
	koff_wait_for_exit "$loader" 5 || kill -KILL "$loader" 2>/dev/null
	wait "$loader"
	rc=$? loader=""
	check_eq "koff-load exit status (server exits 0 on SIGTERM)" $rc 0 || return
	for ((i = 0; i < 40; i++)); do koff_xdp_attached "$ns" lo || break; sleep 0.05; done
	check_true "XDP program still attached after koff-load exited" xdp_detached "$ns" lo || return
	"${sample}_counters" "$log"
}

failed=()
start=$SECONDS
for v in "${variants[@]}"; do
	vstart=$SECONDS
	run_variant "$v"
	name=$(variant_name "$v")
	if [ -n "$WHY" ]; then
		echo "FAIL: $name: $WHY"
		echo "  last lines of $LOGTAIL:"
		tail -n 8 "$LOGTAIL" 2>/dev/null | sed 's/^/    /'
		failed+=("$name")
	else
		echo "ok: $name: $SUMMARY, $(jq -r '"\(.program.insns) insns"' "$dir/$name.koff.json") ($((SECONDS - vstart))s)"
	fi
done
wait "$builder"
builder=""
echo "${#variants[@]} variants in $((SECONDS - start))s"
[ ${#failed[@]} -eq 0 ] || koff_fail "${#failed[@]} of ${#variants[@]} variants failed: ${failed[*]}"
koff_ok "all ${#variants[@]} variants serve real traffic through XDP"
