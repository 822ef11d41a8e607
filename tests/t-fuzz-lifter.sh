#!/usr/bin/env bash
# t-fuzz-lifter: the short, fixed-seed run of the generated-programs corpus
# (tests/gen/run.sh; the long one is `make fuzz-lifter`, see COVERAGE.md).
# 10 generated handlers x {gcc -O2, clang -O1, gcc -O0}, 300 requests each
# (+30 mutations, +30 random).  First proves the generated programs free of
# undefined behaviour on those requests (ASan+UBSan, tests/gen/ubcheck.c):
# only then is a difference between native and XDP a lifter bug.  Fails on
# any mismatch or koff-link crash; refusals and fallbacks are printed, not
# failures.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
command -v jq >/dev/null || koff_skip "needs jq to read koff-link's manifest"
for c in gcc clang; do command -v $c >/dev/null || koff_skip "needs $c"; done
[ -x ./koff-link ] || koff_fail "./koff-link is missing (make)"
tmp=$(mktemp -d)
koff_on_exit "rm -rf '$tmp'"
COUNT=10 SEED=1 INPUTS=300

# The generator's promise, checked where it matters: on these very inputs.
warn="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
cc $warn -O2 tests/gen/handlergen.c -o "$tmp/handlergen" || koff_fail "cannot build handlergen"
cc $warn -O1 $san -c tests/gen/ubcheck.c -o "$tmp/ubcheck.o" || koff_fail "cannot build ubcheck"
for s in $(seq $SEED $((SEED + COUNT - 1))); do
	"$tmp/handlergen" "$s" >"$tmp/f$s.c" && "$tmp/handlergen" "$s" --requests $INPUTS >"$tmp/r$s.txt" ||
		koff_fail "handlergen $s failed"
	gcc -O1 -g -w $san -c "$tmp/f$s.c" -o "$tmp/f$s.o" && gcc $san "$tmp/ubcheck.o" "$tmp/f$s.o" -o "$tmp/ub$s" ||
		koff_fail "generated program $s does not compile"
	"$tmp/ub$s" "$tmp/r$s.txt" >"$tmp/ub$s.log" 2>&1 ||
		{ tail -n 5 "$tmp/ub$s.log"; koff_fail "generated program $s has undefined behaviour (handlergen bug)"; }
done
koff_ok "$COUNT generated programs run clean under ASan+UBSan on their requests"

tests/gen/run.sh --count $COUNT --seed $SEED --inputs $INPUTS --jobs 2 --out "$tmp/run" \
	--configs "gcc:-O2 clang:-O1 gcc:-O0"
rc=$?
[ $rc -eq 2 ] && koff_fail "tests/gen/run.sh could not run"
units=$(cat "$tmp"/run/results/*.res | wc -l)
koff_expect_eq "units classified" "$units" $((COUNT * 3))
# A mismatch's reproducer would vanish with $tmp: keep it in tests/out.
if [ -d "$tmp/run/mismatches" ] || [ -d "$tmp/run/crashes" ]; then
	mkdir -p "$KOFF_OUT/fuzz-lifter"
	cp -r "$tmp"/run/mismatches "$tmp"/run/crashes "$KOFF_OUT/fuzz-lifter/" 2>/dev/null
	echo "reproducers kept in $KOFF_OUT/fuzz-lifter/"
fi
[ $rc -eq 0 ] || koff_fail "lifted programs disagree with native code, or koff-link crashed (tables above)"
koff_ok "no mismatch and no crash on $units (function, compiler, level) units"

# Regression: this program's verifier run (450k insns) overflowed a 64 KB
# statistics log with text the verifier later took back, so the kernel said
# -ENOSPC and koff-link refused a program the verifier had accepted.
"$tmp/handlergen" 4022 >"$tmp/big.c" && gcc -O1 -g -c "$tmp/big.c" -o "$tmp/big.o" ||
	koff_fail "cannot build handlergen 4022"
echo 'int main(void){return 0;}' >"$tmp/main.c" && cc -c "$tmp/main.c" -o "$tmp/main.o"
./koff-link "$tmp/big.o" "$tmp/main.o" -o "$tmp/big" --udp-port 5353 >"$tmp/big.log" 2>&1 ||
	{ cat "$tmp/big.log"; koff_fail "koff-link failed on handlergen 4022"; }
koff_expect_eq "handlergen 4022 (gcc -O1, 450k verifier insns) offloaded" \
	"$(jq -r .offloaded "$tmp/big.koff.json")" true

