#!/usr/bin/env bash
# t-fuzz-objects: the short, fixed-seed run of the object fuzzer
# (tests/fuzz/run.sh; the long one is `make fuzz-objects`, see docs/fuzzing.md).
# Every regression input of tests/data/fuzz-objects/ (each was a crash, a
# sanitizer report or a hang once) runs first, then 3000 mutated objects in
# process (ELF reader, DWARF, layout, lifter, bpfgen, manifest; ASan+UBSan)
# and, through the real driver (build-asan/koff-link), the corpus that
# built, the seeds and the regression inputs with KOFF_CC=true and cc, and
# 60 more mutations.  Fails on any
# crash, sanitizer report, hang (60 s in process, 20 s driver), memory use
# past 2 GB, driver error that is not one "koff-link: " line, or temporary
# file left behind.
. "$(dirname "$0")/lib.sh"
cd "$KOFF_ROOT"
command -v clang >/dev/null || koff_skip "needs clang (libFuzzer) for the fuzzer"
mkdir -p "$KOFF_OUT"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$KOFF_OUT/fuzzprobe.c"
clang -fsanitize=fuzzer "$KOFF_OUT/fuzzprobe.c" -o "$KOFF_OUT/fuzzprobe" 2>/dev/null ||
	koff_skip "clang has no libFuzzer here (-fsanitize=fuzzer)"
make -s -j2 build-fuzz/fuzz-objects >&2 || koff_fail "cannot build build-fuzz/fuzz-objects"
out=$KOFF_OUT/fuzz-objects-short
tests/fuzz/run.sh --runs 3000 --seed 1 --driver-runs 60 --out "$out"
rc=$?
[ $rc -eq 2 ] && koff_fail "tests/fuzz/run.sh could not run"
[ $rc -eq 0 ] || koff_fail "the fuzzer found a problem: inputs in $out/crashes (make them regression inputs in tests/data/fuzz-objects/)"
n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/inprocess.log" | tail -n 1)
[ "${n:-0}" -ge 3000 ] || koff_fail "only ${n:-0} inputs ran in process, want >= 3000"
koff_ok "$n inputs in process (seeds and mutations) and the driver runs: no crash, no sanitizer report, no hang"
