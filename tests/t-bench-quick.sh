#!/usr/bin/env bash
# t-bench-quick: make bench-quick works and measures what it claims: every
# handler (nop, echo, dns, kv) is linked, its clang reference built from the
# same source, both agree with the native handler on its requests (koffdiff:
# 0 mismatches, 0% fallback), and each gets a lifted/reference ratio, the
# breakdown and the instruction counts by kind.  A few repetitions only:
# the figures themselves are not checked, they are noise at this length.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
command -v clang >/dev/null || koff_skip "needs clang for the reference programs"
out=$(QUICK_REPS=3 QUICK_INNER=2 bash bench/quick.sh 2>&1) || { echo "$out"; koff_fail "bench/quick.sh failed"; }
echo "$out"
for s in nop echo dns kv; do
	line=$(echo "$out" | grep -m1 "^$s ") || koff_fail "no timing line for $s"
	[ "$(echo "$line" | grep -o '0\.0% / 0' | wc -l)" -eq 2 ] ||
		koff_fail "$s: reference and lifted must both agree with native code on every request: $line"
	echo "$line" | awk '{ exit !($5 ~ /^[0-9]+\.[0-9]+$/) }' || koff_fail "$s: no ratio: $line"
	echo "$out" | grep -q "^  $s .*check [0-9]* spill [0-9]* .* total [1-9]" ||
		koff_fail "$s: no instruction counts by kind"
done
echo "$out" | grep -q "fixed part (nop, 1-byte reply)" || koff_fail "no breakdown"
koff_ok "bench-quick measured nop, echo, dns and kv; every program agrees with native code"
