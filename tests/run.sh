#!/usr/bin/env bash
# Runs every test: each tests/t-*.sh script is one test.  A test exits 0 when
# it passed, 77 when it cannot run here (it prints why), anything else when it
# failed.  Ends with the line "N passed, N failed, N skipped".
# Usage: tests/run.sh [pattern]   (only tests whose name contains pattern)
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0 skip=0 failed=()
mkdir -p tests/out
for t in tests/t-*.sh; do
	name=$(basename "$t" .sh)
	[ -n "${1:-}" ] && [[ "$name" != *"$1"* ]] && continue
	log="tests/out/$name.log"
	start=$(date +%s)
	bash "$t" >"$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	case $rc in
	0)  pass=$((pass + 1)); echo "PASS $name (${secs}s)";;
	77) skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$log")";;
	*)  fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name (exit $rc, ${secs}s); last lines of $log:"
	    tail -n 20 "$log" | sed 's/^/    /';;
	esac
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
