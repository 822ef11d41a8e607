#!/usr/bin/env bash
# t-diff-harness: proves koffdiff itself, independent of koff-link.
# The hand-written reference XDP programs (bench/ref/) must agree with the
# native handlers: 0 mismatches, 0% fallback on the request files.  And
# deliberately wrong programs must be caught: a flipped reply bit, a wrong
# verdict, a frame modified before XDP_PASS; a program that passes
# everything agrees but must trip --max-fallback-percent.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
SEED=20261125
BPF_CFLAGS="-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Iinclude"

build_koffdiff() {	# sample
	objcopy --localize-symbol=main "samples/$1/$1.o" "$tmp/$1_nomain.o" &&
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 tests/koffdiff.c \
		"$tmp/$1_nomain.o" -lbpf -lelf -lz -o "$tmp/koffdiff-$1" ||
		koff_fail "cannot build koffdiff for samples/$1"
}

build_ref() {	# source output extra-cflags...
	local src=$1 out=$2
	shift 2
	clang $BPF_CFLAGS "$@" -c "bench/ref/$src" -o "$tmp/$out" ||
		koff_fail "cannot compile bench/ref/$src $*"
}

# Runs koffdiff; sets rc and leaves the output in $tmp/last.txt.
diff_run() {	# sample port prog [options]
	local sample=$1 port=$2 prog=$3
	shift 3
	"$tmp/koffdiff-$sample" --port "$port" --mutate 300 --random 300 --seed $SEED "$@" \
		"$tmp/$prog" "samples/$sample/requests.txt" >"$tmp/last.txt" 2>&1
	rc=$?
	echo "== koffdiff-$sample $prog $* (exit $rc)"
	grep -E '^(total|file):|^koff_stats|^too many' "$tmp/last.txt"
}

expect_agree() {	# sample port prog
	diff_run "$1" "$2" "$3" --max-fallback-percent 0
	[ "$rc" -eq 0 ] || { cat "$tmp/last.txt"; koff_fail "$3 disagrees with samples/$1 (exit $rc)"; }
	grep -q '^total: .*, mismatches 0$' "$tmp/last.txt" || koff_fail "$3: no clean total line"
	grep -q '^file: .* pass 0 (fallback 0.0%)' "$tmp/last.txt" || koff_fail "$3: fallbacks on the file"
	koff_ok "$3 agrees with native samples/$1"
}

expect_caught() {	# sample port prog what
	diff_run "$1" "$2" "$3"
	[ "$rc" -eq 1 ] || koff_fail "$3 ($4) was not caught: exit $rc"
	grep -q '^MISMATCH ' "$tmp/last.txt" || koff_fail "$3 ($4): no MISMATCH report"
	grep -q '^total: .*, mismatches [1-9]' "$tmp/last.txt" || koff_fail "$3 ($4): mismatches not counted"
	grep -m1 -A3 '^MISMATCH ' "$tmp/last.txt"
	koff_ok "$3 caught: $4"
}

build_koffdiff echo
build_koffdiff dns
build_ref echo_ref.bpf.c echo_ref.bpf.o
build_ref dns_ref.bpf.c dns_ref.bpf.o
build_ref echo_ref.bpf.c echo_bad_reply.bpf.o -DREF_BREAK_REPLY
build_ref echo_ref.bpf.c echo_bad_verdict.bpf.o -DREF_BREAK_VERDICT
build_ref echo_ref.bpf.c echo_bad_pass.bpf.o -DREF_BREAK_PASS
build_ref dns_ref.bpf.c dns_all_pass.bpf.o -DREF_ALWAYS_PASS

expect_agree echo 7007 echo_ref.bpf.o
expect_agree dns 5353 dns_ref.bpf.o

expect_caught echo 7007 echo_bad_reply.bpf.o "one reply bit flipped"
grep -q 'reply bytes differ' "$tmp/last.txt" || koff_fail "bad reply: wrong diagnosis"
expect_caught echo 7007 echo_bad_verdict.bpf.o "XDP_DROP where native replies"
grep -q 'native replies, XDP does not transmit' "$tmp/last.txt" || koff_fail "bad verdict: wrong diagnosis"
expect_caught echo 7007 echo_bad_pass.bpf.o "frame modified before XDP_PASS"
grep -q 'XDP_PASS but the frame was modified' "$tmp/last.txt" || koff_fail "bad pass: wrong diagnosis"

# A program that only falls back never differs, but the file's requests
# must then trip the fallback limit (exit 2), and all 100% be counted.
diff_run dns 5353 dns_all_pass.bpf.o --max-fallback-percent 10
[ "$rc" -eq 2 ] || koff_fail "all-pass program: expected exit 2 (too many fallbacks), got $rc"
grep -q '^file: .*(fallback 100.0%), mismatches 0$' "$tmp/last.txt" || koff_fail "all-pass: fallback not 100%"
koff_ok "fallback limit enforced"

# koffdiff sets a program's .rodata koff_udp_port to --port before load:
# the echo reference, built for 7007, must then serve 7008 (and its foreign
# checks prove that other ports pass).
diff_run echo 7008 echo_ref.bpf.o
[ "$rc" -eq 0 ] || koff_fail "echo reference on port 7008: exit $rc"
grep -q '^file: *requests 8, tx 5, drop 3, pass 0' "$tmp/last.txt" || koff_fail "--port not applied to koff_udp_port"
koff_ok "--port sets koff_udp_port"
echo "all harness checks passed"
