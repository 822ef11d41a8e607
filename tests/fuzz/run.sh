#!/usr/bin/env bash
# run.sh - the object fuzzing campaign (tests/fuzz/fuzz_objects.c).
#   tests/fuzz/run.sh [--runs N] [--seed S] [--driver-runs N] [--out DIR]
# 1. seeds: the samples and test sources compiled by gcc and clang at
#    several levels (DIR/seeds), plus every regression input of
#    tests/data/fuzz-objects/;
# 2. the regression inputs, each once, in process;
# 3. the seeds, then N mutated inputs in process (libFuzzer, fixed seed S), new coverage
#    kept in DIR/corpus;
# 4. through the real driver (build-asan/koff-link): every input of the
#    corpus step 3 built (each reached new code in process) and the seeds and
#    regression inputs, once with KOFF_CC=true (the lifter is reached) and
#    once with the system linker in the way; then --driver-runs N mutated
#    inputs, half each way.  (libFuzzer sees only the harness's coverage in
#    this mode, so the replayed corpus is what makes it thorough.)
# Limits per input: 60 s (in process) / 20 s (driver), 2048 MB RSS.  The
# in-process build is slow (ASan, UBSan, coverage on every edge: about 8x
# the release build) and the machine may be shared, so the limit is wide;
# the slowest input's time is printed with the figures.
# A crash, sanitizer report, hang or memory blow-up is saved in DIR/crashes
# and the exit status is 1; the figures are printed at the end.
set -u
cd "$(dirname "$0")/../.."
runs=1000 seed=1 driver_runs=0 out=tests/out/fuzz-objects
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2;;
	--seed) seed=$2; shift 2;;
	--driver-runs) driver_runs=$2; shift 2;;
	--out) out=$2; shift 2;;
	*) echo "usage: $0 [--runs N] [--seed S] [--driver-runs N] [--out DIR]" >&2; exit 2;;
	esac
done
fuzzer=build-fuzz/fuzz-objects
[ -x "$fuzzer" ] || { echo "$fuzzer is missing (make $fuzzer)" >&2; exit 2; }
regress=tests/data/fuzz-objects
rm -rf "$out"
mkdir -p "$out/seeds" "$out/corpus" "$out/crashes"

# ---- 1. seeds ------------------------------------------------------------------
srcs=(samples/echo/echo.c samples/dns/dns.c tests/data/badinput/plain.c tests/data/badinput/extcall.c
      tests/data/badinput/twocalls.c tests/data/elfobj_good.c)
for src in "${srcs[@]}"; do
	for cfg in gcc:-O0 gcc:-O2 gcc:-O3 clang:-O2 clang:-Os; do
		cc=${cfg%%:*} opt=${cfg#*:}
		command -v "$cc" >/dev/null || continue
		name=$(basename "$src" .c)-$cc$opt
		"$cc" "$opt" -g -w -I samples -c "$src" -o "$out/seeds/$name.o" 2>/dev/null
	done
done
nseeds=$(ls "$out/seeds" | wc -l)
[ "$nseeds" -gt 0 ] || { echo "no seed compiled" >&2; exit 2; }

common=(-timeout=60 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=131072 -print_final_stats=1
	-artifact_prefix="$out/crashes/")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0

# ---- 2. regression inputs --------------------------------------------------------
# They are not mutated further: some are slow by design (a dns object whose
# mutation inlines 66 copies of a helper), and would slow the campaign down.
nreg=0 seed_dirs=("$out/seeds")
if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
	nreg=$(ls "$regress" | wc -l)
	"$fuzzer" "${common[@]}" "$regress"/* >"$out/regress.log" 2>&1 || status=1
fi

# ---- 3. in process ---------------------------------------------------------------
start=$(date +%s)
"$fuzzer" "${common[@]}" -seed="$seed" -runs="$(( nseeds + runs ))" "$out/corpus" "${seed_dirs[@]}" \
	>"$out/inprocess.log" 2>&1 || status=1
secs=$(( $(date +%s) - start ))

# ---- 4. through the driver -------------------------------------------------------
dsecs=0
if [ "$driver_runs" -gt 0 ]; then
	make -s SANITIZE=1 build-asan/koff-link >&2 || exit 2
	start=$(date +%s)
	replay=("$out/corpus"/* "$out/seeds"/*)
	[ "$nreg" -gt 0 ] && replay+=("$regress"/*)
	for cc in true cc; do
		KOFF_FUZZ_DRIVER=$PWD/build-asan/koff-link KOFF_FUZZ_CC=$cc \
			"$fuzzer" "${common[@]}" -timeout=90 "${replay[@]}" >"$out/replay-$cc.log" 2>&1 || status=1
	done
	# libFuzzer counts the initial inputs in -runs: mutations come after them.
	init=$nseeds
	half=$(( driver_runs / 2 ))
	KOFF_FUZZ_DRIVER=$PWD/build-asan/koff-link KOFF_FUZZ_CC=true \
		"$fuzzer" "${common[@]}" -timeout=90 -seed="$seed" -runs=$((init + half)) "${seed_dirs[@]}" \
		>"$out/driver-true.log" 2>&1 || status=1
	KOFF_FUZZ_DRIVER=$PWD/build-asan/koff-link KOFF_FUZZ_CC=cc \
		"$fuzzer" "${common[@]}" -timeout=90 -seed=$((seed + 1)) -runs=$((init + driver_runs - half)) "${seed_dirs[@]}" \
		>"$out/driver-cc.log" 2>&1 || status=1
	dsecs=$(( $(date +%s) - start ))
fi

# ---- figures -------------------------------------------------------------------
stat() { sed -n "s/^stat::$2: *//p" "$1" | tail -n 1; }
crashes=$(ls "$out/crashes" | wc -l)
echo "seeds: $nseeds objects; regression inputs: $nreg"
echo "in process: $(stat "$out/inprocess.log" number_of_executed_units) inputs in ${secs}s," \
     "peak RSS $(stat "$out/inprocess.log" peak_rss_mb) MB, slowest input < $(( $(stat "$out/inprocess.log" slowest_unit_time_sec) + 1 )) s," \
     "corpus grew to $(ls "$out/corpus" | wc -l) inputs"
[ "$driver_runs" -gt 0 ] &&
	echo "driver: ${#replay[@]} replayed inputs x {KOFF_CC=true, cc}, then" \
	     "$(stat "$out/driver-true.log" number_of_executed_units) with KOFF_CC=true and" \
	     "$(stat "$out/driver-cc.log" number_of_executed_units) with cc (seeds + mutations), in ${dsecs}s"
echo "crashes/sanitizer reports/hangs/memory: $crashes ($(ls "$out/crashes" | tr '\n' ' '))"
grep -h -m1 -E "ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|koff-fuzz:" \
	"$out"/*.log 2>/dev/null | head -5
[ "$crashes" -eq 0 ] || status=1
exit $status
