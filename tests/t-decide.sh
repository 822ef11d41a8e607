#!/usr/bin/env bash
# t-decide: koff-link's workload decision (--trace, --force, --profile,
# candidates and roles) and the early-fallback pass, on samples/slowpath
# and tests/data/decide/roles.c, measured in the running kernel.
#   - a workload built to favour the offload is offloaded, one built to
#     punish it is not (no OUT.bpf.o, a warning), --force overrides; the
#     manifest and --explain carry the measured numbers and the verdict;
#   - the model weighs the measured userspace cost: made tiny
#     (KOFF_USERSPACE_NS=1), even the favourable workload is not offloaded;
#   - a pcap trace gives the same requests as the hex file;
#   - early fallback: on requests that can only fall back, the kernel time
#     of a fallback drops by more than 10x, with the same outcomes;
#   - candidates: --profile picks the hottest handler, --trace without
#     --entry the one with the best predicted gain, a parser entry drops
#     malformed requests and passes the rest;
#   - a bad trace or profile is one line and no outputs.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to run programs in the kernel"
command -v jq >/dev/null || koff_skip "needs jq to read the manifest"
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
[ -f samples/slowpath/slowpath.o ] || koff_fail "samples/slowpath/slowpath.o is missing (make samples)"
tmp=$(mktemp -d /tmp/koff-decide.XXXXXX)
koff_on_exit "rm -rf '$tmp'"
sp=samples/slowpath
KL=./koff-link

# link NAME TRACE [options]: koff-link the slowpath sample with that trace.
link() {
	local name=$1 trace=$2; shift 2
	$KL $sp/slowpath.o -o "$tmp/$name" --udp-port 7070 --trace "$trace" "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err" || koff_fail "koff-link $name: $(cat "$tmp/$name.err")"
}
get() { jq -r "$2" "$tmp/$1.koff.json"; }
getc() { jq -c "$2" "$tmp/$1.koff.json"; }

link favour $sp/favour.txt --explain
koff_expect_eq "favour: offloaded" "$(get favour .offloaded)" true
koff_expect_eq "favour: verdict" "$(get favour .decision.verdict)" offload
koff_expect_eq "favour: 181 of 200 completed in the kernel" \
	"$(get favour '.decision.answered + .decision.dropped')/$(get favour .decision.trace.requests)" 181/200
[ -f "$tmp/favour.bpf.o" ] || koff_fail "favour: no favour.bpf.o"
# Each fallback site says how many trace requests left from it: together
# the 19 that fell back on the call, all from the one site the trace reaches.
koff_expect_eq "favour: trace requests per fallback site" \
	"$(get favour '[.fallbacks[].trace_requests] | sort | map(tostring) | join(" ")')" "0 19"
koff_expect_eq "favour: --explain says so" "$(grep -c "(19 trace requests)" "$tmp/favour.out")" 1
# The program measured is the one koff-load runs here: the first variant it loads.
measured=$(get favour .decision.program)
[ -f "$tmp/$measured" ] || koff_fail "favour: measured $measured, which was not written"
[ -f "$tmp/favour.6.18.bpf.o" ] && [ "$measured" != favour.6.18.bpf.o ] &&
	koff_fail "favour: measured $measured, but koff-load would run favour.6.18.bpf.o"
for key in kernel_ns_per_completed kernel_ns_per_fallback userspace_ns_per_request ebpf_cost_fraction \
	predicted_gain_ns_per_request margin_ns; do
	[ "$(get favour ".decision.$key | type")" = number ] || koff_fail "favour: decision.$key is not a number"
done
awk -v g="$(get favour .decision.predicted_gain_ns_per_request)" -v m="$(get favour .decision.margin_ns)" \
	'BEGIN { exit !(g > m) }' || koff_fail "favour: gain not above the margin"
grep -q "^decision: offload: offload pays" "$tmp/favour.out" || koff_fail "favour: --explain has no decision line"
grep -q "userspace ns per request (saved) .* measured on this machine" "$tmp/favour.out" ||
	koff_fail "favour: --explain does not say how the userspace cost was measured"
koff_ok "favour: $(grep '^decision:' "$tmp/favour.out")"

link punish $sp/punish.txt
koff_expect_eq "punish: offloaded" "$(get punish .offloaded)" false
koff_expect_eq "punish: verdict" "$(get punish .decision.verdict)" "no offload"
koff_expect_eq "punish: predicted gain" "$(get punish .decision.predicted_gain)" false
ls "$tmp"/punish*.bpf.o 2>/dev/null && koff_fail "punish: a program was written"
grep -q "warning: handle_request not offloaded: offload does not pay" "$tmp/punish.err" ||
	koff_fail "punish: no warning: $(cat "$tmp/punish.err")"
awk -v w="$(get punish .decision.kernel_ns_per_fallback)" -v c="$(get punish .decision.kernel_ns_per_completed)" \
	'BEGIN { exit !(w > 10 * c) }' || koff_fail "punish: falling back is not the expensive path"
koff_ok "punish: $(get punish .not_offloaded_because)"

link forced $sp/punish.txt --force
koff_expect_eq "punish --force: offloaded" "$(get forced .offloaded)" true
koff_expect_eq "punish --force: override" "$(get forced .decision.override)" "--force"
[ -f "$tmp/forced.bpf.o" ] || koff_fail "punish --force: no program"

KOFF_USERSPACE_NS=1 link cheap $sp/favour.txt
koff_expect_eq "favour, userspace made free: offloaded" "$(get cheap .offloaded)" false
koff_expect_eq "favour, userspace made free: how" "$(get cheap .decision.userspace_how)" \
	"given by KOFF_USERSPACE_NS (not measured)"

python3 tests/data/decide/mkpcap.py $sp/favour.txt 7070 "$tmp/favour.pcap" || koff_fail "cannot write the pcap"
link pcap "$tmp/favour.pcap"
koff_expect_eq "pcap: format" "$(get pcap .decision.trace.format)" pcap
koff_expect_eq "pcap: requests, skipped" "$(get pcap '"\(.decision.trace.requests) \(.decision.trace.skipped_packets)"')" "200 2"
koff_expect_eq "pcap: same outcomes as hex" "$(getc pcap .decision.outcomes)" "$(getc favour .decision.outcomes)"

# Early fallback: late.txt is 90% U requests, which can only fall back.
link late-before $sp/late.txt --no-early-fallback --force
link late-after $sp/late.txt --force
koff_expect_eq "early fallback: same outcomes" "$(getc late-after .decision.outcomes)" \
	"$(getc late-before .decision.outcomes)"
before=$(get late-before .decision.kernel_ns_per_fallback)
after=$(get late-after .decision.kernel_ns_per_fallback)
awk -v b="$before" -v a="$after" 'BEGIN { exit !(a * 10 < b) }' ||
	koff_fail "early fallback: kernel ns per fallback $before before, $after after"
[ "$(get late-after .program.early_fallback_blocks)" -gt 0 ] || koff_fail "early fallback: no block moved"
koff_expect_eq "early fallback: none without it" "$(get late-before .program.early_fallback_blocks)" 0
koff_ok "early fallback: kernel ns per fallback $before -> $after"

# Candidates and roles.
gcc -O2 -g -c tests/data/decide/roles.c -o "$tmp/roles.o" || koff_fail "cannot compile roles.c"
printf 'main;serve;fast_echo 10\nmain;serve;slow_stamp 70\nmain;serve;slow_stamp;getpid 5\nmain;check_request 3\n' \
	>"$tmp/prof.folded"
$KL "$tmp/roles.o" -o "$tmp/prof" --profile "$tmp/prof.folded" >/dev/null 2>&1 || koff_fail "koff-link --profile"
jq -e '.candidates | map(.name) == ["slow_stamp", "fast_echo", "check_request"]' "$tmp/prof.koff.json" >/dev/null ||
	koff_fail "--profile: candidates not ranked by samples: $(jq -c .candidates "$tmp/prof.koff.json")"
koff_expect_eq "--profile: entry" "$(get prof .entry)" slow_stamp
koff_expect_eq "--profile: why" "$(get prof .entry_chosen_because)" "the handler with the most profile samples (75, 85.2%)"
printf '# perf script\nsrv 1 [000] 1.0: 1 cycles:\n\t 401136 fast_echo+0x16 (/srv)\n\t 401000 main+0x5 (/srv)\n\nsrv 1 [000] 1.1: 1 cycles:\n\t 401236 fast_echo+0x20 (/srv)\n\n' \
	>"$tmp/prof.perf"
$KL "$tmp/roles.o" -o "$tmp/perf" --profile "$tmp/prof.perf" >/dev/null 2>&1 || koff_fail "koff-link --profile perf"
koff_expect_eq "--profile perf script: entry" "$(get perf .entry)" fast_echo

# Well-formed requests: the parser passes them all (no gain), fast_echo
# answers them all, slow_stamp falls back on all of them.
printf '5131%s\n' 00 0102 aabbcc 41424344 >"$tmp/wellformed.txt"
$KL "$tmp/roles.o" -o "$tmp/best" --trace "$tmp/wellformed.txt" >/dev/null 2>&1 || koff_fail "koff-link --trace roles"
koff_expect_eq "--trace without --entry: entry" "$(get best .entry)" fast_echo
jq -e '.candidates[] | select(.name == "check_request") | .completed_fraction == 0' "$tmp/best.koff.json" \
	>/dev/null || koff_fail "--trace: the parser should complete nothing of well-formed requests"
jq -e '.candidates[] | select(.name == "slow_stamp") | .predicted_gain_ns_per_request < 0' "$tmp/best.koff.json" \
	>/dev/null || koff_fail "--trace: slow_stamp not measured as a loss"

printf '5131\n5132\n58\n51\n' >"$tmp/parse.txt"
$KL "$tmp/roles.o" -o "$tmp/parser" --entry check_request --trace "$tmp/parse.txt" --force >/dev/null 2>&1 ||
	koff_fail "koff-link --entry check_request"
koff_expect_eq "parser role: outcomes" "$(getc parser .decision.outcomes)" '{"drop":2,"pass_accepted":2}'

# Bad input: one line, exit 1, no outputs.
echo "zz" >"$tmp/bad.txt"
if $KL $sp/slowpath.o -o "$tmp/bad" --trace "$tmp/bad.txt" 2>"$tmp/bad.err"; then koff_fail "a bad trace was accepted"; fi
koff_expect_eq "bad trace: message" "$(cat "$tmp/bad.err")" \
	"koff-link: $tmp/bad.txt:1: not a hex request (one request per line, hex digits, '#' comments)"
ls "$tmp"/bad* | grep -qv 'bad\.\(txt\|err\)$' && koff_fail "bad trace: outputs were written: $(ls "$tmp"/bad*)"
if $KL $sp/slowpath.o -o "$tmp/bad" --force --no-offload 2>"$tmp/bad.err"; then koff_fail "--force --no-offload accepted"; fi
koff_expect_eq "--force --no-offload" "$(cat "$tmp/bad.err")" "koff-link: --force and --no-offload contradict each other"
: >"$tmp/empty.prof"
if $KL $sp/slowpath.o -o "$tmp/bad" --profile "$tmp/empty.prof" 2>"$tmp/bad.err"; then koff_fail "an empty profile was accepted"; fi
grep -q "^koff-link: .*empty.prof: no samples" "$tmp/bad.err" || koff_fail "empty profile: $(cat "$tmp/bad.err")"
koff_ok "bad traces and profiles are refused with one line"
