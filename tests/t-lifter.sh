#!/usr/bin/env bash
# t-lifter: lifter unit tests, one tiny handler per x86 semantic corner
# (tests/lifter/NAME.c, mostly a naked function holding hand-written
# assembly).  For each handler and compiler:
#   1. koff-link lifts it; the manifest's fallback sites must be exactly the
#      expected ones (counter and reason), none for most handlers;
#   2. koffdiff: the XDP program agrees with the native handler on
#      NAME.req (hand-picked requests hitting every path and the boundary
#      values), 500 mutations and 2000 random requests, with 0% fallback on
#      NAME.req;
#      A handler that may trap natively (div.c) is linked with trapguard.c:
#      a trap makes the native result larger than cap, so koffdiff accepts
#      only XDP_PASS (a fallback) for that request;
#      both for the portable program and, where this host runs it, the
#      6.18 variant (OUT.6.18.bpf.o);
#   3. xdpexpect (when NAME.expect exists): requests the native handler must
#      not see (it would trap, e.g. a division by zero) or that must fall back
#      get exactly the expected verdict and koff_stats counter;
#   4. when NAME.within exists: lifter/reqlen.c finds at least that many of
#      the request accesses below the length (--dump-ir's `within-len`).
# Usage: tests/t-lifter.sh [handler-name-substring]
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
PORT=9000
SEED=${KOFF_SEED:-20261125}
FLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2"

# name  compiler  expected fallback sites (counter:reason-substring, comma
# separated; "-" for none: every path must run in XDP)
HANDLERS=(
	"partial gcc -"
	"flags_cmp gcc -"
	"flags_sub gcc -"
	"flags_logic gcc -"
	"flags_incdec gcc -"
	"flags_add gcc -"
	"flags_jcc gcc -"
	"flags_cmov gcc -"
	"flags_blocks gcc -"
	"carry gcc -"
	"shifts gcc -"
	"rotate gcc -"
	"mul gcc -"
	"divconst gcc -"
	"divconst clang -"
	"div gcc pass_div:division"
	"lea gcc -"
	"stack gcc -"
	"bt gcc -"
	"bitops gcc -"
	"bitscan gcc pass_insn:bsf/bsr_of_0"
	"overflow gcc -"
	"rotvar gcc -"
	"ssepack gcc -"
	"cmpspill gcc pass_call:beyond_its_sign"
	"switch gcc -"
	"switch clang -"
	"jtable gcc -"
	"sse gcc -"
	"shuffle gcc pass_div:division"
	"rep gcc -"
	"libc gcc -"
	"libc clang -"
	"ctype gcc -"
	"ctype clang -"
	"strchr gcc -"
	"reqlen gcc -"
	"reqlen clang -"
	"reqflags gcc -"
	"cmpvalue gcc pass_call:beyond_its_sign"
	"cmpvalue clang pass_call:beyond_its_sign"
	"unsupported gcc pass_insn:rdtsc,pass_insn:cpuid,pass_flags:jp"
)

[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
command -v jq >/dev/null || koff_skip "needs jq to read the manifest"
cc $FLAGS -c tests/koffdiff.c -o "$tmp/koffdiff.o" || koff_fail "cannot build tests/koffdiff.c"
cc $FLAGS tests/lifter/xdpexpect.c -lbpf -lelf -lz -o "$tmp/xdpexpect" ||
	koff_fail "cannot build tests/lifter/xdpexpect.c"
echo 'int main(void) { return 0; }' >"$tmp/main.c"
gcc -O2 -g -c "$tmp/main.c" -o "$tmp/main.o" || koff_fail "cannot build main.o"

failures=()
fail_one() { echo "FAILED $1: $2"; failures+=("$1: $2"); }

# Checks the manifest's fallback sites against the expected list.
check_sites() {
	local id=$1 json=$2 expected=$3 sites site e ok
	sites=$(jq -r '.fallbacks[] | "\(.counter):\(.why)"' "$json" | tr ' ' '_') ||
		{ fail_one "$id" "unreadable manifest"; return 1; }
	if [ "$expected" = "-" ]; then
		[ -z "$sites" ] && return 0
		fail_one "$id" "unexpected fallback sites: $(echo $sites)"
		return 1
	fi
	for site in $sites; do
		ok=0
		for e in ${expected//,/ }; do
			[[ "$site" == "${e%%:*}:"*"${e#*:}"* ]] && ok=1
		done
		[ $ok = 1 ] || { fail_one "$id" "unexpected fallback site $site"; return 1; }
	done
	for e in ${expected//,/ }; do
		ok=0
		for site in $sites; do
			[[ "$site" == "${e%%:*}:"*"${e#*:}"* ]] && ok=1
		done
		[ $ok = 1 ] || { fail_one "$id" "expected fallback site $e missing (have: $(echo $sites))"; return 1; }
	done
}

run_handler() {
	local name=$1 compiler=$2 expected=$3 id="$1/$2" src="tests/lifter/$1.c"
	local obj="$tmp/$name-$compiler.o" out="$tmp/$name-$compiler" rc
	echo "=== $id"
	[ -f "$src" ] && [ -f "tests/lifter/$name.req" ] || { fail_one "$id" "missing $src or .req"; return; }
	"$compiler" -O2 -g -c "$src" -o "$obj" || { fail_one "$id" "does not compile"; return; }
	./koff-link "$obj" "$tmp/main.o" -o "$out" --udp-port $PORT >"$out.link.log" 2>&1 ||
		{ cat "$out.link.log"; fail_one "$id" "koff-link failed"; return; }
	check_sites "$id" "$out.koff.json" "$expected" || return
	# A handler that may trap natively is run behind tests/lifter/trapguard.c.
	local guard=
	grep -q lifter_trap_recover "$src" && guard=tests/lifter/trapguard.c
	cc $FLAGS "$tmp/koffdiff.o" "$obj" $guard -lbpf -lelf -lz -o "$out.diff" ||
		{ fail_one "$id" "cannot link koffdiff"; return; }
	# The portable program, and the 6.18 variant where this host runs it
	# (its .rodata loads proved by the verifier, its range checks grouped).
	for prog in "$out.bpf.o" "$out$KOFF_FAST_SUFFIX"; do
		[ -f "$prog" ] || continue
		"$out.diff" --port $PORT --random 2000 --mutate 500 --seed "$SEED" --max-fallback-percent 0 \
			"$prog" "tests/lifter/$name.req"
		rc=$?
		case $rc in
		0) ;;
		1) fail_one "$id" "$(basename "$prog") disagrees with the native handler (MISMATCH above)"; return;;
		2) fail_one "$id" "some of $name.req fell back to userspace ($(basename "$prog"))"; return;;
		*) fail_one "$id" "koffdiff could not run on $(basename "$prog") (exit $rc)"; return;;
		esac
		if [ -f "tests/lifter/$name.expect" ]; then
			"$tmp/xdpexpect" --port $PORT "$prog" "tests/lifter/$name.expect" ||
				{ fail_one "$id" "requests of $name.expect not as expected ($(basename "$prog"))"; return; }
		fi
	done
	check_within_len "$id" "$name" "$obj" "$out" || return
	echo "ok: $id"
}

# NAME.within: the least number of request accesses lifter/reqlen.c must
# find below the request's length, in the IR (the first --dump-ir: a link
# may generate more than once).
check_within_len() {
	local id=$1 name=$2 obj=$3 out=$4 least found
	[ -f "tests/lifter/$name.within" ] || return 0
	least=$(grep -v '^#' "tests/lifter/$name.within")
	found=$(./koff-link "$obj" "$tmp/main.o" -o "$out-ir" --udp-port $PORT --dump-ir 2>&1 >/dev/null |
		awk '/^func / { n++ } n == 1 && / within-len/ { c++ } END { print c + 0 }')
	[ "$found" -ge "$least" ] && return 0
	fail_one "$id" "lifter/reqlen.c found $found request accesses below the length, expected at least $least"
	return 1
}

n=0
for h in "${HANDLERS[@]}"; do
	read -r name compiler expected <<<"$h"
	[ -n "${1:-}" ] && [[ "$name" != *"$1"* ]] && continue
	command -v "$compiler" >/dev/null || { fail_one "$name/$compiler" "no $compiler"; continue; }
	run_handler "$name" "$compiler" "$expected"
	n=$((n + 1))
done
[ $n -gt 0 ] || koff_fail "no handler matched '${1:-}'"
if [ ${#failures[@]} -gt 0 ]; then
	printf '%s\n' "${failures[@]}"
	koff_fail "${#failures[@]} of $n lifter handlers failed"
fi
koff_ok "$n lifter handlers lifted and agree with native code"
