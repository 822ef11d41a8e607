#!/usr/bin/env bash
# t-bench-quick: make bench-quick works and measures what it claims: every
# handler (nop, echo, dns, kv, tok, tlv) is linked, its clang reference built from the
# same source, both agree with the native handler on its requests (koffdiff:
# 0 mismatches, 0% fallback), and each gets a lifted/reference ratio, the
# breakdown, the instruction counts by kind, a ratio for the portable, the
# older-kernel (OUT.walked.bpf.o where written) and the --kernel host
# shapes, and executed instructions per request
# (bench/icount) for reference and lifted, with 0 disagreements against the
# kernel; QUICK_RESULTS gets the figures run.sh's targets summary reads.  A few repetitions only:
# the figures themselves are not checked, they are noise at this length.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
command -v clang >/dev/null || koff_skip "needs clang for the reference programs"
results=$(mktemp)
koff_on_exit "rm -f '$results'"
out=$(QUICK_RESULTS=$results QUICK_REPS=3 QUICK_INNER=2 bash bench/quick.sh 2>&1) || { echo "$out"; koff_fail "bench/quick.sh failed"; }
echo "$out"
for s in nop echo dns kv tok tlv; do
	line=$(echo "$out" | grep -m1 "^$s ") || koff_fail "no timing line for $s"
	[ "$(echo "$line" | grep -o '0\.0% / 0' | wc -l)" -eq 2 ] ||
		koff_fail "$s: reference and lifted must both agree with native code on every request: $line"
	echo "$line" | awk '{ exit !($5 ~ /^[0-9]+\.[0-9]+$/) }' || koff_fail "$s: no ratio: $line"
	echo "$out" | grep -q "^  $s .*check [0-9]* spill [0-9]* .* total [1-9]" ||
		koff_fail "$s: no instruction counts by kind"
	echo "$out" | awk -v s="$s" '$1 == s && NF == 8 && $4 ~ /^[0-9]+\.[0-9]+$/ && $6 ~ /^[0-9]+\.[0-9]+$/ &&
		$8 ~ /^[0-9]+\.[0-9]+$/ { ok = 1 } END { exit !ok }' || koff_fail "$s: no portable, older and host shape ratios"
	grep -Eq "^icount $s [0-9]+\.[0-9]+ [0-9]+\.[0-9]+ [0-9]+\.[0-9]+ 0$" "$results" ||
		koff_fail "$s: no executed-instruction counts in QUICK_RESULTS, or icount disagrees with the kernel: $(grep "^icount $s " "$results")"
	for key in "ratio $s" "verifier $s" "fallback $s 0.0 0" "shape $s portable" "shape $s older" "shape $s host"; do
		grep -q "^$key" "$results" || koff_fail "QUICK_RESULTS lacks '$key'"
	done
done
grep -q '^fixed [0-9]' "$results" || koff_fail "QUICK_RESULTS lacks the fixed part's ratio"
echo "$out" | grep -q "fixed part (nop, 1-byte reply)" || koff_fail "no breakdown"
koff_ok "bench-quick measured nop, echo, dns, kv, tok and tlv in every shape; every program agrees with native code"
